-- Undo for a reviewer's merge: the suggestion's values, confidence and status from just before
-- the merge, kept for a short while (the store deletes entries older than an hour whenever it
-- writes one) so that the confirmation's Undo can put them back. `merged_fields` is what the merge
-- wrote: an Undo is refused once the suggestion holds anything else or left `merged`.
-- Erasing the suggestion erases its entries (cascade).
CREATE TABLE merge_undo (
    id             BIGSERIAL PRIMARY KEY,
    suggestion_id  BIGINT  NOT NULL REFERENCES suggestions(id) ON DELETE CASCADE,
    user_id        BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fields         TEXT    NOT NULL,
    confidence     DOUBLE PRECISION NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('new', 'accepted', 'dismissed', 'merged')),
    merged_fields  TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL
);
CREATE INDEX merge_undo_suggestion ON merge_undo(suggestion_id);
CREATE INDEX merge_undo_created ON merge_undo(created_at);
