-- API tokens expire and carry a scope.
-- Keep in step with ../postgres/0014_token_scopes.sql.

-- What the token may do: 'read' (safe methods only), 'write' (every change of the user's own
-- data), 'full' (also issuing and revoking tokens and changing the password). Tokens issued
-- before scopes existed could do everything, so they keep 'full'.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
-- Epoch milliseconds after which the token is refused. Tokens issued before expiry existed
-- get the longest lifetime a new token may have (365 days from their creation); a NULL is
-- treated as expired.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
UPDATE api_tokens SET expires_at = created_at + 31536000000 WHERE expires_at IS NULL;
