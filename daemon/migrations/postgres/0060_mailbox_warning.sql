-- A fixed sentence a mailbox's source sets while it keeps working but cannot work fully, and
-- clears when that passes: today the Microsoft 365 source when Graph's validation handshake
-- against the notification URL fails (no change notifications, so the source polls with delta
-- instead). The mailbox shows as needs attention with this reason while its status stays `ok`,
-- so it keeps running.
ALTER TABLE mailboxes ADD COLUMN source_warning TEXT;
