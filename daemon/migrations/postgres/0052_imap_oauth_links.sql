-- IMAP mailboxes linked by signing in at an OAuth provider from the pages or the API, PostgreSQL
-- dialect. Keep in step with ../sqlite/0052_imap_oauth_links.sql.
-- A linking in progress: the OAuth `state` (only its SHA-256), who started it and where ('web'
-- or 'api'; both complete only in a browser signed in as that user), the list the mailbox will
-- feed, and the pending link (provider, server settings, PKCE verifier) sealed by the vault.
-- Taken (deleted) by the callback; expired rows are dropped when a new one is written.
CREATE TABLE imap_oauth_links (
    state_hash  TEXT    PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    list_id     BIGINT  NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    origin      TEXT    NOT NULL CHECK (origin IN ('web', 'api')),
    sealed      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX imap_oauth_links_expiry ON imap_oauth_links(expires_at);
