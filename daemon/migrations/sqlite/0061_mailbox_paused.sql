-- When the owner paused the mailbox (ms since the epoch), or NULL while it is watched. Kept apart
-- from `status` (what the source found) so that resuming returns to whatever the status is, and
-- the sources watch only mailboxes that are `ok` and not paused.
ALTER TABLE mailboxes ADD COLUMN paused_at INTEGER;
