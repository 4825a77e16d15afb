-- Replicas (issue 9): the outbox row names the replica whose worker claimed it, so another
-- replica may take the row over as soon as that replica's heartbeat (table `replicas`) has
-- expired, instead of waiting for the claim's own lease (15 minutes) to run out.
ALTER TABLE outbox ADD COLUMN claim_replica TEXT;
