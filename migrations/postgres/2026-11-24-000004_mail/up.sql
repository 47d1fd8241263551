-- E-mail notifications and printable documents (issue 13).
-- An organisation's contact address gets a copy of its persons' mail.
ALTER TABLE organizations ADD COLUMN contact_email TEXT;
-- Each outbox row is one delivery on one channel, addressed when the event
-- is recorded: a webhook row to the organisation's URL, an e-mail row to
-- the person (and the organisation's contact address).
ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'webhook';
ALTER TABLE outbox ADD COLUMN destination TEXT;
UPDATE outbox SET destination = (
    SELECT webhook_url FROM organizations WHERE organizations.id = outbox.organization_id
) WHERE delivered_at IS NULL;
CREATE INDEX outbox_due ON outbox (channel, delivered_at, next_attempt_at);
-- One renewal reminder per certificate, on any number of instances: the
-- primary key is the claim.
CREATE TABLE renewal_reminders (
    serial TEXT PRIMARY KEY,
    sent_at BIGINT NOT NULL
);
