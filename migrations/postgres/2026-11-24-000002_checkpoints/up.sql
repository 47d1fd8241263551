-- Signed checkpoints of the audit trail's head (SPEC §7: the audit trail is
-- anchored). Each holds the number of records and the hash of the last one
-- at that moment, and the CA key's signature over a text statement of both,
-- so a trail cut short below a checkpoint (or rewritten) is detected, also
-- by openssl from an export.
CREATE TABLE audit_checkpoints (
    records BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    statement TEXT NOT NULL,
    signature BYTEA NOT NULL
);
