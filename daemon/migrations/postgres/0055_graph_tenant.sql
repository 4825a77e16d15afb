-- The tenant-wide Microsoft 365 rollout, PostgreSQL dialect. Keep in step with
-- ../sqlite/0055_graph_tenant.sql.
-- One row: the Microsoft Entra tenant whose administrator granted the app's application
-- permissions (admin consent), who did it and when. Mailboxes linked for the organisation read
-- mail with app-only tokens of this tenant.
CREATE TABLE graph_tenant_grant (
    id          BIGINT  PRIMARY KEY CHECK (id = 1),
    tenant_id   TEXT    NOT NULL,
    granted_by  BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    granted_at  BIGINT  NOT NULL
);

-- An admin consent in progress: the `state` (only its SHA-256), the admin who started it and the
-- session (row id) it must come back in. Taken (deleted) by the callback; expired rows are dropped when a
-- new one is written.
CREATE TABLE graph_admin_consents (
    state_hash    TEXT    PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id    BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);

-- A mail-enabled group whose members' mailboxes are linked app-only. `delta_link` is where the
-- next round of the delta on its members starts (NULL: the first round lists every member). The
-- membership round runs on one replica at a time: a claim on the row (`claimed_by` until
-- `claim_until`, ms since the epoch), given back after the round, expiring by itself.
CREATE TABLE graph_tenant_groups (
    id            BIGSERIAL PRIMARY KEY,
    group_id      TEXT    NOT NULL UNIQUE,
    display_name  TEXT,
    mail          TEXT,
    delta_link    TEXT,
    claimed_by    TEXT,
    claim_until   BIGINT,
    linked_by     BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    created_at    BIGINT  NOT NULL
);

-- A member of a linked group and the mailbox linked for them.
CREATE TABLE graph_tenant_members (
    group_row      BIGINT  NOT NULL REFERENCES graph_tenant_groups(id) ON DELETE CASCADE,
    graph_user_id  TEXT    NOT NULL,
    mailbox_id     BIGINT  NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    PRIMARY KEY (group_row, graph_user_id)
);
CREATE INDEX graph_tenant_members_mailbox ON graph_tenant_members(mailbox_id);
