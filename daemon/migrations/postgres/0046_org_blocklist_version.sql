-- The org-wide sender blocklist as every replica follows it, and the audit log's filters.
-- Keep in step with ../sqlite/0046_org_blocklist_version.sql.

-- Bumped in the transaction of every change of `org_blocklist`: each replica polls it and reads
-- the list again when it moved, so a change made anywhere reaches every running pipeline.
ALTER TABLE org_settings ADD COLUMN blocklist_version BIGINT NOT NULL DEFAULT 0;
-- The configuration file's `[filters] excluded_domains` as last applied (one entry a line):
-- an entry the file gains later is added once; one removed on the admin page stays removed.
ALTER TABLE org_settings ADD COLUMN blocklist_file TEXT;

-- The audit viewer filters by actor and by action, newest first.
CREATE INDEX audit_log_actor ON audit_log(actor_id, id);
CREATE INDEX audit_log_action ON audit_log(action, id);
