-- The second factor of password accounts: TOTP (RFC 6238) with one-time recovery codes.
-- Keep in step with ../postgres/0023_second_factor.sql.

-- One TOTP secret per user, sealed in the vault (a `secrets` row of kind 'totp_secret', so key
-- rotation reseals it with the rest). `confirmed_at` is NULL while enrolment waits for the first
-- code; only a confirmed factor is asked for at sign-in. `last_step` is the highest 30-second
-- step a code was accepted for: a code is accepted once, never again (replay).
CREATE TABLE second_factors (
    user_id       INTEGER  PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_id     INTEGER  NOT NULL REFERENCES secrets(id),
    confirmed_at  INTEGER,
    last_step     INTEGER  NOT NULL DEFAULT 0,
    created_at    INTEGER  NOT NULL
);

-- One-time recovery codes: only the SHA-256 of each code (80 random bits) is kept.
CREATE TABLE recovery_codes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash     TEXT    NOT NULL UNIQUE,
    used_at       INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- A sign-in between its password step and its second step: the SHA-256 of the challenge cookie,
-- the form's CSRF token, and how many codes were tried (a few, then the challenge is gone).
CREATE TABLE sign_in_challenges (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    id_hash       TEXT    NOT NULL UNIQUE,
    user_id       INTEGER  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    attempts      INTEGER  NOT NULL DEFAULT 0,
    expires_at    INTEGER  NOT NULL
);
CREATE INDEX sign_in_challenges_expiry ON sign_in_challenges(expires_at);

-- 1 when the session's sign-in passed a second factor (what `[api] require_second_factor` asks).
ALTER TABLE sessions ADD COLUMN second_factor INTEGER NOT NULL DEFAULT 0;
