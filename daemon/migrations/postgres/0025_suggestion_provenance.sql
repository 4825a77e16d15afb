-- Per-message provenance of a suggestion: one row for each committed message that created it,
-- merged into it, matched it without changing it, or proposed a change to it, with the sender
-- authentication of that message. When, which mailbox, the result and its method: never a
-- header, never a message id. `seq` counts the messages behind the suggestion (the newest row
-- holds the total); only the newest rows are kept (store::provenance).
CREATE TABLE suggestion_sightings (
    id             BIGSERIAL PRIMARY KEY,
    suggestion_id  BIGINT NOT NULL REFERENCES suggestions(id) ON DELETE CASCADE,
    mailbox_id     BIGINT REFERENCES mailboxes(id) ON DELETE SET NULL,
    seq            BIGINT NOT NULL,
    outcome        TEXT NOT NULL
                   CHECK (outcome IN ('created', 'merged', 'unchanged', 'change_proposed')),
    auth_result    TEXT NOT NULL
                   CHECK (auth_result IN ('authenticated', 'not_authenticated', 'unknown')),
    auth_method    TEXT NOT NULL
                   CHECK (auth_method IN ('authentication_results', 'dmarc', 'dkim', 'arc', 'none')),
    seen_at        BIGINT NOT NULL
);
CREATE INDEX suggestion_sightings_suggestion ON suggestion_sightings(suggestion_id, id);
