DROP INDEX certificates_predecessor;
ALTER TABLE certificates DROP COLUMN predecessor_serial;
