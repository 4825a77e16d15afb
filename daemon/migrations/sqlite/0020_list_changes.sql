-- The change log behind GET /api/v1/lists/{id}/changes: one row for every change of a suggestion
-- that an export can see (created, status, fields, sender address, moved, deleted). Triggers write
-- it, so every path that writes suggestions (the pipeline's commit, review, list deletion,
-- retention) is covered by construction. Rows outlive their suggestion: a deletion is a tombstone
-- (state 'deleted') that stays after the suggestion itself is purged.
--
-- `seq` is the position: SQLite has one writer at a time, so a committed seq is never followed by
-- a smaller one, and a reader's cursor is simply the next seq.
CREATE TABLE list_changes (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id        INTEGER NOT NULL,
    suggestion_id  INTEGER NOT NULL,
    state          TEXT    NOT NULL
                           CHECK (state IN ('new', 'accepted', 'dismissed', 'merged', 'deleted'))
);
CREATE INDEX list_changes_list ON list_changes(list_id, seq);

CREATE TRIGGER list_changes_insert AFTER INSERT ON suggestions
BEGIN
    INSERT INTO list_changes (list_id, suggestion_id, state)
    VALUES (NEW.list_id, NEW.id,
            CASE WHEN NEW.deleted_at IS NULL THEN NEW.status ELSE 'deleted' END);
END;

CREATE TRIGGER list_changes_update AFTER UPDATE ON suggestions
WHEN OLD.status IS NOT NEW.status OR OLD.fields IS NOT NEW.fields
  OR OLD.sender_email IS NOT NEW.sender_email OR OLD.deleted_at IS NOT NEW.deleted_at
  OR OLD.list_id IS NOT NEW.list_id
BEGIN
    INSERT INTO list_changes (list_id, suggestion_id, state)
    SELECT OLD.list_id, OLD.id, 'deleted' WHERE OLD.list_id IS NOT NEW.list_id;
    INSERT INTO list_changes (list_id, suggestion_id, state)
    VALUES (NEW.list_id, NEW.id,
            CASE WHEN NEW.deleted_at IS NULL THEN NEW.status ELSE 'deleted' END);
END;

CREATE TRIGGER list_changes_delete AFTER DELETE ON suggestions
WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO list_changes (list_id, suggestion_id, state) VALUES (OLD.list_id, OLD.id, 'deleted');
END;

-- The suggestions that exist now enter the log as they are.
INSERT INTO list_changes (list_id, suggestion_id, state)
SELECT list_id, id, status FROM suggestions WHERE deleted_at IS NULL ORDER BY id;
