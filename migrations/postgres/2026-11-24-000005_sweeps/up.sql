-- The background work's sweeps read by index, not by scanning every
-- certificate each round (found by the soak: submission p99 grew with the
-- registry). The renewal reminder looks for active certificates whose
-- validity ends inside a window.
CREATE INDEX certificates_expiry ON certificates (status, not_after);
