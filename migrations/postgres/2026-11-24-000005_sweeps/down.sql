DROP INDEX certificates_expiry;
