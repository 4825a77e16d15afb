-- Microsoft 365 (Graph) source, SQLite dialect. Keep in step with ../postgres/0002_graph.sql.
-- No column holds mail content: Graph message ids are opaque identifiers, secrets are sealed.

-- A linking in progress: the OAuth `state` (only its SHA-256), who started it, the list the
-- mailbox will feed, and the PKCE verifier sealed by the vault. Taken (deleted) by the callback.
CREATE TABLE oauth_states (
    state_hash       TEXT    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    list_id          INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    verifier_sealed  BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states(expires_at);

-- One change-notification subscription per linked mailbox folder. `id` is Graph's id; the
-- clientState lives sealed in `secrets`.
CREATE TABLE graph_subscriptions (
    id                 TEXT    PRIMARY KEY,
    mailbox_id         INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    folder             TEXT    NOT NULL,
    resource           TEXT    NOT NULL,
    client_state_id    INTEGER REFERENCES secrets(id) ON DELETE SET NULL,
    state              TEXT    NOT NULL DEFAULT 'active'
                               CHECK (state IN ('active', 'reauthorize', 'removed')),
    renewed_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX graph_subscriptions_folder ON graph_subscriptions(mailbox_id, folder);

-- The durable notification queue: the webhook (and delta rounds) insert, workers fetch.
-- `kind` is 'message' (fetch `message_id`) or a lifecycle event for `subscription_id`.
-- One row per (mailbox, message): a notification delivered twice is processed once.
CREATE TABLE graph_jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id       INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL
                             CHECK (kind IN ('message', 'missed', 'reauthorize', 'removed')),
    folder           TEXT    NOT NULL,
    item             TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_by       TEXT,
    claim_until      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    done_at          INTEGER
);
CREATE UNIQUE INDEX graph_jobs_item ON graph_jobs(mailbox_id, kind, item);
CREATE INDEX graph_jobs_due ON graph_jobs(status, next_attempt_at);
