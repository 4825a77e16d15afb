-- A mailbox whose source keeps failing with a transient error (server down, timeouts, a server
-- breaking the protocol) says so: since when, and a fixed sentence naming the kind of failure
-- (never the server's text). Both are cleared by the next successful connection.
ALTER TABLE mailboxes ADD COLUMN reconnecting_since INTEGER;
ALTER TABLE mailboxes ADD COLUMN reconnecting_reason TEXT;
