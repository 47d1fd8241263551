-- Planned rotation (SPEC §3.8): the certificate a rotation request was
-- signed with. It limits automatic issuance to a certificate's first
-- successor, revokes the predecessor as superseded, and lets a
-- key-compromise revocation reach every certificate issued on a rotation
-- the compromised key signed.
ALTER TABLE certificates ADD COLUMN predecessor_serial TEXT;
CREATE INDEX certificates_predecessor ON certificates (predecessor_serial);
