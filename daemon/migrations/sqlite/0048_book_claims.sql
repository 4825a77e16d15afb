-- The sync worker's claim on a connected book: the replica working on it (`claimed_by`) until
-- `claim_until` (ms since the epoch). A round claims the book, works, and gives it back; a
-- replica that dies leaves a claim that expires by itself. One replica works on a book at a time.
ALTER TABLE address_books ADD COLUMN claimed_by TEXT;
ALTER TABLE address_books ADD COLUMN claim_until INTEGER;
