-- The user-facing API (issue 7): sign-in passwords and browser sessions.
-- Keep in step with ../postgres/0003_api.sql.

-- argon2id PHC string; NULL means the user cannot sign in with a password (API tokens only).
ALTER TABLE users ADD COLUMN password_hash TEXT;

-- A browser session. Only the SHA-256 of the cookie value is kept, so a copy of the database
-- does not let anyone sign in. The CSRF synchronizer token lives with its session.
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    id_hash       TEXT    NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);
