-- Sealed secrets are bound to their purpose and row as associated data (vault record version 2).
-- Records sealed before that (version 1) are re-sealed once by the daemon, which needs the
-- master key and so cannot happen in SQL; this row records that it happened. From then on a
-- version-1 record never opens, so an old record copied into another row is refused.
-- Keep in step with ../sqlite/0030_vault_binding.sql.
CREATE TABLE vault_format (
    id          BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    bound_at    BIGINT NOT NULL
);
