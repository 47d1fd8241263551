ALTER TABLE crls ADD COLUMN der BYTEA NOT NULL DEFAULT '\x';
UPDATE crls SET der = (SELECT string_agg(bytes, '\x'::bytea ORDER BY part) FROM crl_parts p WHERE p.number = crls.number)
    WHERE EXISTS (SELECT 1 FROM crl_parts p WHERE p.number = crls.number);
DROP TABLE crl_parts;
