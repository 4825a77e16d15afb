-- Sharing a list by e-mail records an invitation, whether or not a user has that address, so
-- the answer does not tell which addresses are registered. The invitation becomes a
-- membership when a user with that e-mail signs in or lists their lists.
-- Keep in step with ../postgres/0015_list_invitations.sql.
CREATE TABLE list_invitations (
    list_id       INTEGER NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    -- Lower-cased and trimmed, as users.email.
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('editor', 'viewer')),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (list_id, email)
);
CREATE INDEX list_invitations_email ON list_invitations(email);
