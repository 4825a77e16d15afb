-- People of the tenant an org admin chose one by one, SQLite dialect. Keep in step with
-- ../postgres/0056_graph_tenant_users.sql.
-- A chosen user (by their id in Microsoft Graph) and the mailbox linked app-only for them. A
-- mailbox can also be counted by linked groups (graph_tenant_members): it is unlinked only when
-- neither still counts it.
CREATE TABLE graph_tenant_users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    graph_user_id  TEXT    NOT NULL UNIQUE,
    display_name   TEXT,
    mail           TEXT,
    mailbox_id     INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    linked_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX graph_tenant_users_mailbox ON graph_tenant_users(mailbox_id);
