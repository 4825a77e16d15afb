-- Address books connected to a list (a CardDAV collection, an Outlook contact folder), the
-- local index of their entries that the duplicate check looks up, and the write-back of
-- accepted contacts.
--
-- `address_books`: one per list at most. `location` is the collection URL or folder id,
-- `settings` the adapter's JSON (user name, CA file, region, …; never a password: that is the
-- sealed `secret_id`). `sync_state` is where the last read of changes stopped (a sync token, a
-- delta link). `status_reason` is a fixed word, never server text.
CREATE TABLE address_books (
    list_id        INTEGER PRIMARY KEY REFERENCES contact_lists(id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('carddav', 'outlook')),
    location       TEXT    NOT NULL,
    settings       TEXT    NOT NULL DEFAULT '{}',
    secret_id      INTEGER,
    sync_state     TEXT,
    status         TEXT    NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'needs_attention')),
    status_reason  TEXT,
    last_sync_at   INTEGER,
    created_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL
);

-- One row per entry of a connected book: its version, the fields mailsig compares and shows
-- (JSON), and the name, phonetic-name and company keys. `created_by_mailsig` marks entries
-- mailsig created: only those may it ever delete.
CREATE TABLE book_entries (
    list_id             INTEGER NOT NULL REFERENCES address_books(list_id) ON DELETE CASCADE,
    entry_id            TEXT    NOT NULL,
    etag                TEXT    NOT NULL,
    fields              TEXT    NOT NULL,
    name_key            TEXT,
    phonetic_key        TEXT,
    company_key         TEXT,
    created_by_mailsig  INTEGER NOT NULL DEFAULT 0,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (list_id, entry_id)
);
CREATE INDEX book_entries_name ON book_entries(list_id, name_key, company_key);
CREATE INDEX book_entries_phonetic ON book_entries(list_id, phonetic_key, company_key);

-- The e-mail and phone keys of each entry (an entry has any number of both).
CREATE TABLE book_entry_keys (
    list_id   INTEGER NOT NULL,
    entry_id  TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('email', 'phone')),
    key       TEXT    NOT NULL,
    PRIMARY KEY (list_id, kind, key, entry_id),
    FOREIGN KEY (list_id, entry_id) REFERENCES book_entries(list_id, entry_id) ON DELETE CASCADE
);
CREATE INDEX book_entry_keys_entry ON book_entry_keys(list_id, entry_id);

-- Which entry of the book holds an accepted suggestion, whether mailsig created it, and when it
-- was last written there (a suggestion changed after `pushed_at` is written again).
CREATE TABLE book_links (
    suggestion_id  INTEGER PRIMARY KEY REFERENCES suggestions(id) ON DELETE CASCADE,
    list_id        INTEGER NOT NULL REFERENCES address_books(list_id) ON DELETE CASCADE,
    entry_id       TEXT    NOT NULL,
    created        INTEGER NOT NULL,
    pushed_at      INTEGER NOT NULL
);
CREATE INDEX book_links_entry ON book_links(list_id, entry_id);
