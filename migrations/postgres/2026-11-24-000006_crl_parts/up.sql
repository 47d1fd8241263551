-- A CRL's body is stored in parts of at most 1 MiB (issue 10): a
-- million-entry CRL is ~45 MB, and writing it as one value made the
-- database build a second whole copy of it in memory (SQLite assembles the
-- row, PostgreSQL's client library the message), and emptying an old body
-- rewrote its row, a third. Parts are written and deleted one small value
-- at a time. The body moves out of `crls`, which keeps each CRL's number,
-- times and entry count for ever; a body nothing serves any more is
-- deleted. Dropping the old column makes an instance from before this
-- change fail loudly on CRLs rather than serve an empty one.
CREATE TABLE crl_parts (
    number BIGINT NOT NULL REFERENCES crls (number),
    part INTEGER NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (number, part)
);
INSERT INTO crl_parts (number, part, bytes)
    SELECT number, 0, der FROM crls WHERE length(der) > 0;
ALTER TABLE crls DROP COLUMN der;
