-- Webhook operations. An endpoint's change-log window is queued in batches of suggestions, each
-- batch in its own transaction: `window_upto` is the horizon of the window being queued (0 when
-- none is open) and `window_after` the last suggestion id of it already queued; `event_cursor`
-- moves to `window_upto` with the last batch. Delivered and failed deliveries are purged after
-- the retention of `[webhooks]`; the index finds delivered ones by their delivery time (failed
-- ones are found by `webhook_deliveries_due`, their `next_attempt_at` being the failure time).
ALTER TABLE webhooks ADD COLUMN window_upto INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN window_after INTEGER NOT NULL DEFAULT 0;
CREATE INDEX webhook_deliveries_done ON webhook_deliveries(status, delivered_at);
