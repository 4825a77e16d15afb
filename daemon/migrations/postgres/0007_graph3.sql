-- Microsoft 365 linking bound to where it started (postgres dialect; keep in step with
-- ../sqlite/0007_graph3.sql). 'web' and 'api' linkings complete only in a browser signed in as the
-- user who started them; 'cli' (the operator) needs no session. Linkings pending at the upgrade
-- take the strict default: at worst their owner starts again (they expire within 15 minutes).
ALTER TABLE oauth_states ADD COLUMN origin TEXT NOT NULL DEFAULT 'web'
    CHECK (origin IN ('web', 'api', 'cli'));
