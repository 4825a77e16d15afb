-- Signed outgoing webhooks per list. `webhooks` holds each endpoint (its secret sealed in the
-- vault, `secrets`) and the change-log position up to which its events are queued
-- (`event_cursor`, a position of `list_changes`, see 0020). `webhook_deliveries` is the durable
-- outbox: one row per event and endpoint, with the JSON body exactly as it is sent (contact
-- fields only), retried with backoff. `webhook_attempts` is the delivery log: one row per HTTP
-- attempt, with the status code or a fixed outcome word, never text from the receiver.
CREATE TABLE webhooks (
    id             BIGSERIAL PRIMARY KEY,
    list_id        BIGINT  NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    url            TEXT    NOT NULL,
    events         TEXT    NOT NULL,
    secret_id      BIGINT  NOT NULL,
    event_cursor   BIGINT  NOT NULL,
    created_by     BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    created_at     BIGINT  NOT NULL
);
CREATE INDEX webhooks_list ON webhooks(list_id);

CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    webhook_id       BIGINT  NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event            TEXT    NOT NULL
                             CHECK (event IN ('suggestion.created', 'suggestion.accepted', 'contact.changed')),
    suggestion_id    BIGINT  NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    claimed_by       TEXT,
    claim_until      BIGINT,
    created_at       BIGINT  NOT NULL,
    delivered_at     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);

CREATE TABLE webhook_attempts (
    id             BIGSERIAL PRIMARY KEY,
    delivery_id    BIGINT  NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    webhook_id     BIGINT  NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    at             BIGINT  NOT NULL,
    http_status    BIGINT,
    outcome        TEXT    NOT NULL
);
CREATE INDEX webhook_attempts_hook ON webhook_attempts(webhook_id, id);
