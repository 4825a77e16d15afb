-- What the reviewer chose in the merge view against the entry of the connected book that holds
-- the contact: per field, the book's value (`book`: the entry keeps it, nothing is added) or
-- the contact's own (`ours`: it replaces the entry's). Fields not named are filled only where
-- the entry is blank. Field names only, never values; the choice holds for `entry_id` alone.
CREATE TABLE book_choices (
    suggestion_id  BIGINT NOT NULL PRIMARY KEY REFERENCES suggestions(id) ON DELETE CASCADE,
    list_id        BIGINT NOT NULL REFERENCES address_books(list_id) ON DELETE CASCADE,
    entry_id       TEXT    NOT NULL,
    book_fields    TEXT    NOT NULL,
    our_fields     TEXT    NOT NULL
);
