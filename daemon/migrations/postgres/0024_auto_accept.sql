-- Auto-accept per list (off by default): new suggestions from authenticated senders whose every
-- shown field is at least as sure as the threshold are accepted as they arrive ('on'), or only
-- marked as what would have been accepted ('dry_run').
ALTER TABLE contact_lists ADD COLUMN auto_accept TEXT NOT NULL DEFAULT 'off'
    CHECK (auto_accept IN ('off', 'dry_run', 'on'));
ALTER TABLE contact_lists ADD COLUMN auto_accept_threshold DOUBLE PRECISION NOT NULL DEFAULT 0.95;

-- What auto-accept did to a suggestion when it arrived: 'accepted', or 'would_accept' in a dry
-- run; NULL when it left it alone.
ALTER TABLE suggestions ADD COLUMN auto_accept TEXT
    CHECK (auto_accept IN ('accepted', 'would_accept'));
