-- What an IMAP folder's watcher found on the server and has not processed yet: how many messages
-- its latest listing found beyond the cursor (`waiting`), and since when (ms since the epoch) the
-- oldest of them waits (`waiting_since`: when the watcher first learned of them, from an IDLE
-- wake, a poll or a new connection). Cleared once the watcher has processed them all; kept while
-- it cannot reach the server, so the lag keeps growing. The organisation's mailbox health reads
-- them as the lag of an IMAP mailbox.
ALTER TABLE folder_cursors ADD COLUMN waiting BIGINT NOT NULL DEFAULT 0;
ALTER TABLE folder_cursors ADD COLUMN waiting_since BIGINT;
