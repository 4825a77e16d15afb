-- mailsig schema, PostgreSQL dialect. Keep in step with ../sqlite/0001_initial.sql.
-- Conventions: ids BIGSERIAL PRIMARY KEY, timestamps epoch milliseconds, booleans 0/1,
-- JSON as TEXT. There is deliberately no column for a subject, a body or signature text.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    display_name  TEXT,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);

CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash    TEXT    NOT NULL UNIQUE,
    label         TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE contact_lists (
    id            BIGSERIAL PRIMARY KEY,
    owner_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE INDEX contact_lists_owner ON contact_lists(owner_id);

CREATE TABLE list_members (
    list_id       BIGINT NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          TEXT    NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (list_id, user_id)
);
CREATE INDEX list_members_user ON list_members(user_id);

CREATE TABLE secrets (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT    NOT NULL,
    name          TEXT    UNIQUE,
    sealed        BYTEA    NOT NULL,
    key_version   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE mailboxes (
    id                BIGSERIAL PRIMARY KEY,
    owner_id          BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('imap', 'graph')),
    address           TEXT    NOT NULL,
    display_name      TEXT,
    target_list_id    BIGINT NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    excluded_domains  TEXT    NOT NULL DEFAULT '[]',
    status            TEXT    NOT NULL DEFAULT 'ok'
                              CHECK (status IN ('ok', 'needs_attention', 'needs_reconsent')),
    status_reason     TEXT,
    settings          TEXT    NOT NULL DEFAULT '{}',
    secret_id         BIGINT REFERENCES secrets(id) ON DELETE SET NULL,
    created_at        BIGINT NOT NULL,
    deleted_at        BIGINT,
    lease_owner       TEXT,
    lease_until       BIGINT NOT NULL DEFAULT 0,
    lease_fencing     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX mailboxes_owner ON mailboxes(owner_id);
CREATE INDEX mailboxes_lease ON mailboxes(lease_until);

CREATE TABLE folder_cursors (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    folder        TEXT    NOT NULL,
    uidvalidity   BIGINT,
    last_uid      BIGINT,
    delta_link    TEXT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, folder)
);

CREATE TABLE suggestions (
    id               BIGSERIAL PRIMARY KEY,
    list_id          BIGINT NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    mailbox_id       BIGINT REFERENCES mailboxes(id) ON DELETE SET NULL,
    sender_email     TEXT    NOT NULL,
    name_key         TEXT,
    company_key      TEXT,
    fields           TEXT    NOT NULL,
    confidence       DOUBLE PRECISION    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'new'
                             CHECK (status IN ('new', 'accepted', 'dismissed', 'merged')),
    message_id_hash  TEXT    NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    deleted_at       BIGINT
);
CREATE INDEX suggestions_list_status ON suggestions(list_id, status, id);
CREATE INDEX suggestions_list_email ON suggestions(list_id, sender_email);
CREATE INDEX suggestions_list_name ON suggestions(list_id, name_key, company_key);

CREATE TABLE suggestion_history (
    id             BIGSERIAL PRIMARY KEY,
    suggestion_id  BIGINT NOT NULL REFERENCES suggestions(id) ON DELETE CASCADE,
    field          TEXT    NOT NULL,
    old_value      TEXT,
    new_value      TEXT,
    at             BIGINT NOT NULL
);
CREATE INDEX suggestion_history_suggestion ON suggestion_history(suggestion_id, id);

CREATE TABLE processed_messages (
    mailbox_id       BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    message_id_hash  TEXT    NOT NULL,
    processed_at     BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, message_id_hash)
);

CREATE TABLE mailbox_counters (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    value         BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, name)
);

CREATE TABLE audit_log (
    id            BIGSERIAL PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor_id      BIGINT,
    action        TEXT    NOT NULL,
    object_kind   TEXT    NOT NULL,
    object_id     BIGINT,
    detail        TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    recipient_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    claimed_by       TEXT,
    claim_until      BIGINT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox(recipient_id, kind, status);
