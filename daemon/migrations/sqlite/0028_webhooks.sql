-- Signed outgoing webhooks per list. `webhooks` holds each endpoint (its secret sealed in the
-- vault, `secrets`) and the change-log position up to which its events are queued
-- (`event_cursor`, a position of `list_changes`, see 0020). `webhook_deliveries` is the durable
-- outbox: one row per event and endpoint, with the JSON body exactly as it is sent (contact
-- fields only), retried with backoff. `webhook_attempts` is the delivery log: one row per HTTP
-- attempt, with the status code or a fixed outcome word, never text from the receiver.
CREATE TABLE webhooks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id        INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    url            TEXT    NOT NULL,
    events         TEXT    NOT NULL,
    secret_id      INTEGER NOT NULL,
    event_cursor   INTEGER NOT NULL,
    created_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX webhooks_list ON webhooks(list_id);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event            TEXT    NOT NULL
                             CHECK (event IN ('suggestion.created', 'suggestion.accepted', 'contact.changed')),
    suggestion_id    INTEGER NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    claimed_by       TEXT,
    claim_until      INTEGER,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);

CREATE TABLE webhook_attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id    INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    webhook_id     INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    at             INTEGER NOT NULL,
    http_status    INTEGER,
    outcome        TEXT    NOT NULL
);
CREATE INDEX webhook_attempts_hook ON webhook_attempts(webhook_id, id);
