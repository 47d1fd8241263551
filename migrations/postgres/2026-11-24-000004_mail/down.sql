DROP TABLE renewal_reminders;
DROP INDEX outbox_due;
ALTER TABLE outbox DROP COLUMN destination;
ALTER TABLE outbox DROP COLUMN channel;
ALTER TABLE organizations DROP COLUMN contact_email;
