-- Replicas (issue 9): every running daemon keeps a heartbeat row, so the others know how many
-- replicas share the mailboxes and can each claim a fair share of the leases.
CREATE TABLE replicas (
    id               TEXT   PRIMARY KEY,
    started_at       BIGINT NOT NULL,
    heartbeat_at     BIGINT NOT NULL,
    -- The replica counts as live until this time (epoch ms).
    heartbeat_until  BIGINT NOT NULL
);
CREATE INDEX replicas_heartbeat ON replicas(heartbeat_until);
CREATE INDEX mailboxes_lease_owner ON mailboxes(lease_owner);
