-- The CA registry, written once for both backends; BLOB becomes BLOB
-- (SQLite) or BYTEA (PostgreSQL) — see generate.sh. Times are Unix seconds
-- (BIGINT), identifiers are random hex text.

-- Every write transaction first updates this row: it serialises writers
-- (a row lock in PostgreSQL, the write lock in SQLite), so multi-step rules
-- like "revoke once" and the audit hash chain need no further locking.
CREATE TABLE store_lock (
    id INTEGER PRIMARY KEY,
    writes BIGINT NOT NULL
);
INSERT INTO store_lock (id, writes) VALUES (1, 0);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    inn TEXT NOT NULL,
    ogrn TEXT NOT NULL,
    agreement_number TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'terminated')),
    webhook_url TEXT,
    created_at BIGINT NOT NULL,
    terminated_at BIGINT,
    terminated_document TEXT
);
CREATE UNIQUE INDEX organizations_inn ON organizations (inn);

CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    full_name TEXT NOT NULL,
    position TEXT NOT NULL,
    email TEXT NOT NULL,
    authority_document TEXT NOT NULL,
    authority_valid_until BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'terminated')),
    terminated_at BIGINT,
    terminated_document TEXT
);
CREATE INDEX persons_organization ON persons (organization_id);

CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons (id),
    profile TEXT NOT NULL CHECK (profile IN ('technological', 'working', 'additional')),
    -- 'signing': reserved and recorded, not yet signed (SPEC §7).
    status TEXT NOT NULL CHECK (status IN ('signing', 'active', 'suspended', 'revoked')),
    key_sha256 TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    tbs BLOB NOT NULL,
    der BLOB,
    request_id TEXT,
    created_at BIGINT NOT NULL,
    suspended_at BIGINT,
    suspended_until BIGINT,
    revoked_at BIGINT,
    revocation_reason TEXT,
    invalidity_date BIGINT
);
-- duplicate_key: a public key is certified once, ever.
CREATE UNIQUE INDEX certificates_key ON certificates (key_sha256);
CREATE INDEX certificates_person ON certificates (person_id);
CREATE INDEX certificates_status ON certificates (status, suspended_until);

CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    -- Idempotency: the same bytes submitted again are the same request.
    cms_sha256 TEXT NOT NULL UNIQUE,
    cms BLOB NOT NULL,
    csr BLOB NOT NULL,
    request_type TEXT NOT NULL CHECK (request_type IN ('initial', 'rotation', 'initial_self_signed')),
    status TEXT NOT NULL CHECK (status IN ('pending_act', 'pending', 'issuing', 'rejected', 'issued')),
    reasons TEXT NOT NULL,
    comment TEXT,
    person_id TEXT REFERENCES persons (id),
    profile TEXT NOT NULL,
    signer_serial TEXT,
    key_sha256 TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    decision_due BIGINT,
    decided_at BIGINT,
    decided_by TEXT,
    act_confirmed_at BIGINT,
    act_confirmed_by TEXT,
    certificate_serial TEXT
);
CREATE INDEX requests_status ON requests (status, decision_due);

CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('suspend', 'resume', 'revoke', 'authority_ended', 'agreement_ended')),
    document TEXT NOT NULL,
    certificate_serial TEXT,
    person_id TEXT,
    organization_id TEXT,
    received_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('done', 'refused')),
    reasons TEXT NOT NULL,
    operator TEXT NOT NULL
);

-- kind: 'base' (scheduled or explicit full CRL, the base of deltas),
-- 'full' (full CRL published after a change), 'delta' (cumulative since base).
CREATE TABLE crls (
    number BIGINT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('base', 'full', 'delta')),
    base_number BIGINT,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    der BLOB NOT NULL
);

CREATE TABLE operators (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'registrar', 'auditor')),
    password_hash TEXT NOT NULL,
    must_change_password INTEGER NOT NULL,
    password_changed_at BIGINT NOT NULL,
    failed_attempts INTEGER NOT NULL,
    locked INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES operators (username),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Append-only; each row's hash covers the previous row's hash.
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reasons TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    person_id TEXT,
    organization_id TEXT,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (delivered_at, next_attempt_at);
