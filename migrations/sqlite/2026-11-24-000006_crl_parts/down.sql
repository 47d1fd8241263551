ALTER TABLE crls ADD COLUMN der BLOB NOT NULL DEFAULT x'';
UPDATE crls SET der = (SELECT CAST(group_concat(bytes, x'' ORDER BY part) AS BLOB) FROM crl_parts p WHERE p.number = crls.number)
    WHERE EXISTS (SELECT 1 FROM crl_parts p WHERE p.number = crls.number);
DROP TABLE crl_parts;
