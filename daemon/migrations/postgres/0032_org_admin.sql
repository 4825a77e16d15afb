-- Organisation administration: the org role, disabled accounts, account invitations and the
-- org-wide sender blocklist. Keep in step with ../sqlite/0032_org_admin.sql.

-- 'user' or 'admin' (`domain::OrgRole`). An admin manages users, the blocklist and the audit
-- log of the whole deployment; list roles stay per list.
ALTER TABLE users ADD COLUMN org_role TEXT NOT NULL DEFAULT 'user';
-- Set while an admin has disabled the account: sign-in is refused, sessions and tokens ended.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- An invitation to an account: only the SHA-256 of the link's token is kept. Used once.
CREATE TABLE account_invitations (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash    TEXT    NOT NULL UNIQUE,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    used_at       BIGINT
);
CREATE INDEX account_invitations_user ON account_invitations(user_id);

-- Senders whose mail is never read, for every mailbox: a whole domain or one address
-- (lower-cased). `seeded` rows came from the config file's `[filters]` on the first start.
CREATE TABLE org_blocklist (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT    NOT NULL,
    value         TEXT    NOT NULL UNIQUE,
    created_at    BIGINT  NOT NULL
);

-- One row: when the blocklist took the config file's list as its initial value (NULL: not yet).
CREATE TABLE org_settings (
    id                    BIGINT  PRIMARY KEY CHECK (id = 1),
    blocklist_seeded_at   BIGINT
);
INSERT INTO org_settings (id, blocklist_seeded_at) VALUES (1, NULL);
