-- Publication outside the write lock (issue 10). A change to a
-- certificate's status records a row here in its own transaction, under the
-- store lock; CRLs are built after the commit, outside the lock, and each
-- records the highest change it covers. A change above the newest full
-- CRL's is pending (also after a crash: the next instance that looks
-- publishes it); a delta CRL lists the certificates changed above its base.
CREATE TABLE crl_changes (
    id BIGSERIAL PRIMARY KEY,
    serial TEXT NOT NULL,
    at BIGINT NOT NULL
);
ALTER TABLE crls ADD COLUMN covers_change BIGINT NOT NULL DEFAULT 0;
-- The newest base (or full) CRL is looked up at every publication: by
-- index, not by scanning every CRL since the base (found by the soak).
CREATE INDEX crls_kind ON crls (kind, number);
-- CRL numbers are allocated under the lock before the CRL exists.
ALTER TABLE store_lock ADD COLUMN last_crl_number BIGINT NOT NULL DEFAULT 0;
-- A base CRL being built: others do not start one before this time.
ALTER TABLE store_lock ADD COLUMN base_claimed_until BIGINT NOT NULL DEFAULT 0;
UPDATE store_lock SET last_crl_number = (SELECT COALESCE(MAX(number), 0) FROM crls);
