-- Sender authentication. Each suggestion keeps the strongest verdict any of its messages had
-- (authenticated / not_authenticated / unknown, and the method that decided it); a suggestion
-- that no authenticated message backs is shown as "unverified sender". Never a header.
ALTER TABLE suggestions ADD COLUMN auth_result TEXT NOT NULL DEFAULT 'unknown'
    CHECK (auth_result IN ('authenticated', 'not_authenticated', 'unknown'));
ALTER TABLE suggestions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'none'
    CHECK (auth_method IN ('authentication_results', 'dmarc', 'dkim', 'arc', 'none'));

-- What an authenticated message said that differs from an accepted contact: the contact is not
-- changed; its editors accept or dismiss the proposal in the merge view. `proposed` holds the
-- message's extracted fields (JSON, like suggestions.fields), `diff` the field-level differences
-- with the old values ([{"field", "old", "new"}]).
CREATE TABLE change_suggestions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id        INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    suggestion_id  INTEGER NOT NULL REFERENCES suggestions(id) ON DELETE CASCADE,
    proposed       TEXT    NOT NULL,
    diff           TEXT    NOT NULL,
    auth_result    TEXT    NOT NULL,
    auth_method    TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'open'
                           CHECK (status IN ('open', 'accepted', 'dismissed')),
    created_at     INTEGER NOT NULL,
    decided_at     INTEGER,
    decided_by     INTEGER REFERENCES users(id) ON DELETE SET NULL
);
CREATE INDEX change_suggestions_list ON change_suggestions(list_id, status, id);
CREATE INDEX change_suggestions_suggestion ON change_suggestions(suggestion_id, status);

-- Change alerts ("Jane Doe: new title") in the digest and the API, per list; on by default.
ALTER TABLE contact_lists ADD COLUMN change_alerts INTEGER NOT NULL DEFAULT 1;

-- The authserv-ids whose Authentication-Results count for one mailbox, as a JSON list; NULL
-- follows the mailbox's provider (Microsoft 365, Gmail, none).
ALTER TABLE mailboxes ADD COLUMN trusted_authserv_ids TEXT;
