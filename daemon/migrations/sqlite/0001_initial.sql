-- mailsig schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql.
-- Conventions: ids INTEGER PRIMARY KEY AUTOINCREMENT, timestamps epoch milliseconds, booleans 0/1,
-- JSON as TEXT. There is deliberately no column for a subject, a body or signature text.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    display_name  TEXT,
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash    TEXT    NOT NULL UNIQUE,
    label         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE contact_lists (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);
CREATE INDEX contact_lists_owner ON contact_lists(owner_id);

CREATE TABLE list_members (
    list_id       INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          TEXT    NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (list_id, user_id)
);
CREATE INDEX list_members_user ON list_members(user_id);

CREATE TABLE secrets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL,
    name          TEXT    UNIQUE,
    sealed        BLOB    NOT NULL,
    key_version   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE mailboxes (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('imap', 'graph')),
    address           TEXT    NOT NULL,
    display_name      TEXT,
    target_list_id    INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    excluded_domains  TEXT    NOT NULL DEFAULT '[]',
    status            TEXT    NOT NULL DEFAULT 'ok'
                              CHECK (status IN ('ok', 'needs_attention', 'needs_reconsent')),
    status_reason     TEXT,
    settings          TEXT    NOT NULL DEFAULT '{}',
    secret_id         INTEGER REFERENCES secrets(id) ON DELETE SET NULL,
    created_at        INTEGER NOT NULL,
    deleted_at        INTEGER,
    lease_owner       TEXT,
    lease_until       INTEGER NOT NULL DEFAULT 0,
    lease_fencing     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mailboxes_owner ON mailboxes(owner_id);
CREATE INDEX mailboxes_lease ON mailboxes(lease_until);

CREATE TABLE folder_cursors (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    folder        TEXT    NOT NULL,
    uidvalidity   INTEGER,
    last_uid      INTEGER,
    delta_link    TEXT,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, folder)
);

CREATE TABLE suggestions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id          INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    mailbox_id       INTEGER REFERENCES mailboxes(id) ON DELETE SET NULL,
    sender_email     TEXT    NOT NULL,
    name_key         TEXT,
    company_key      TEXT,
    fields           TEXT    NOT NULL,
    confidence       REAL    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'new'
                             CHECK (status IN ('new', 'accepted', 'dismissed', 'merged')),
    message_id_hash  TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER
);
CREATE INDEX suggestions_list_status ON suggestions(list_id, status, id);
CREATE INDEX suggestions_list_email ON suggestions(list_id, sender_email);
CREATE INDEX suggestions_list_name ON suggestions(list_id, name_key, company_key);

CREATE TABLE suggestion_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    suggestion_id  INTEGER NOT NULL REFERENCES suggestions(id) ON DELETE CASCADE,
    field          TEXT    NOT NULL,
    old_value      TEXT,
    new_value      TEXT,
    at             INTEGER NOT NULL
);
CREATE INDEX suggestion_history_suggestion ON suggestion_history(suggestion_id, id);

CREATE TABLE processed_messages (
    mailbox_id       INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    message_id_hash  TEXT    NOT NULL,
    processed_at     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, message_id_hash)
);

CREATE TABLE mailbox_counters (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    value         INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, name)
);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor_id      INTEGER,
    action        TEXT    NOT NULL,
    object_kind   TEXT    NOT NULL,
    object_id     INTEGER,
    detail        TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    recipient_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    claimed_by       TEXT,
    claim_until      INTEGER,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox(recipient_id, kind, status);
