DROP INDEX crls_kind;
DROP TABLE crl_changes;
ALTER TABLE crls DROP COLUMN covers_change;
ALTER TABLE store_lock DROP COLUMN last_crl_number;
ALTER TABLE store_lock DROP COLUMN base_claimed_until;
