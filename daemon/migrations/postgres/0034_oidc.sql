-- Sign-in with OpenID Connect.

-- A sign-in started at a provider and not yet finished: one row per started sign-in, keyed by the
-- SHA-256 of its `state`, deleted when the callback takes it (so a state and its code work once)
-- or when it expires. The PKCE verifier is sealed in the vault, bound to this row.
CREATE TABLE oidc_logins (
    state_hash       TEXT    PRIMARY KEY,
    provider         TEXT    NOT NULL,
    nonce_hash       TEXT    NOT NULL,
    verifier_sealed  BYTEA   NOT NULL,
    next_path        TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins(expires_at);

-- Which account at which provider is which user (the provider's `sub`, stable per provider).
CREATE TABLE oidc_identities (
    provider    TEXT    NOT NULL,
    sub         TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (provider, sub)
);
CREATE INDEX oidc_identities_user ON oidc_identities(user_id);

-- A browser session opened through a provider: which one, and its ID token sealed (bound to the
-- session row), kept only as the id_token_hint of signing out at the provider. Goes with the session.
CREATE TABLE oidc_sessions (
    session_id        BIGINT  PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    provider          TEXT    NOT NULL,
    id_token_sealed   BYTEA   NOT NULL
);
