-- The change log behind GET /api/v1/lists/{id}/changes: one row for every change of a suggestion
-- that an export can see (created, status, fields, sender address, moved, deleted). A trigger
-- writes it, so every path that writes suggestions (the pipeline's commit, review, list deletion,
-- retention) is covered by construction. Rows outlive their suggestion: a deletion is a tombstone
-- (state 'deleted') that stays after the suggestion itself is purged.
--
-- `xid` is the position: with many writers, sequence values commit out of order, so a reader
-- that remembered the largest seq it saw could miss a smaller one committed later. A reader's
-- cursor is instead the xmin of its snapshot: every transaction below it has ended, so the rows
-- with xid below the cursor never change again. `seq` orders the rows of one suggestion (its row
-- lock makes seq order the commit order there).
CREATE TABLE list_changes (
    seq            BIGSERIAL PRIMARY KEY,
    xid            BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    list_id        BIGINT NOT NULL,
    suggestion_id  BIGINT NOT NULL,
    state          TEXT   NOT NULL
                          CHECK (state IN ('new', 'accepted', 'dismissed', 'merged', 'deleted'))
);
CREATE INDEX list_changes_list ON list_changes(list_id, xid);

CREATE FUNCTION list_changes_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.deleted_at IS NULL THEN
            INSERT INTO list_changes (list_id, suggestion_id, state)
            VALUES (OLD.list_id, OLD.id, 'deleted');
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status IS NOT DISTINCT FROM NEW.status
           AND OLD.fields IS NOT DISTINCT FROM NEW.fields
           AND OLD.sender_email IS NOT DISTINCT FROM NEW.sender_email
           AND OLD.deleted_at IS NOT DISTINCT FROM NEW.deleted_at
           AND OLD.list_id IS NOT DISTINCT FROM NEW.list_id THEN
            RETURN NULL;
        END IF;
        IF OLD.list_id IS DISTINCT FROM NEW.list_id THEN
            INSERT INTO list_changes (list_id, suggestion_id, state)
            VALUES (OLD.list_id, OLD.id, 'deleted');
        END IF;
    END IF;
    INSERT INTO list_changes (list_id, suggestion_id, state)
    VALUES (NEW.list_id, NEW.id,
            CASE WHEN NEW.deleted_at IS NULL THEN NEW.status ELSE 'deleted' END);
    RETURN NULL;
END
$$;

CREATE TRIGGER list_changes AFTER INSERT OR UPDATE OR DELETE ON suggestions
FOR EACH ROW EXECUTE FUNCTION list_changes_record();

-- The suggestions that exist now enter the log as they are.
INSERT INTO list_changes (list_id, suggestion_id, state)
SELECT list_id, id, status FROM suggestions WHERE deleted_at IS NULL ORDER BY id;
