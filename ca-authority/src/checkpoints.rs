//! The audit trail anchored (SPEC §7; issue 9 defect 17): its newest rows
//! could be deleted undetected, because a hash chain proves only what
//! precedes its head. A checkpoint is the CA key's signature over a short
//! text naming the number of records and the head's hash; one is written
//! with a CRL publication when the newest is a minute old (a signature
//! inside the write lock for every one of several publications a second
//! was the soak's largest cost under the lock), and at least hourly while
//! the trail grows.
//! `verify` then reports a trail that ends below a checkpoint, a record
//! that differs from it, or a checkpoint that does not verify; an export
//! verifies with `openssl dgst`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use ca_core::api::{AuditCheckpoint, AuditVerification};
use ca_core::Result;
use ca_store::{Checkpoint, Tx};

use crate::Authority;

impl Authority {
    /// The text a checkpoint signs.
    fn statement(&self, records: i64, head_hash: &str, at: DateTime<Utc>) -> String {
        let ca = hex::encode(Sha256::digest(self.ca.certificate_der()));
        format!(
            "Client-Bank CA audit checkpoint\nrecords: {records}\nhead: {head_hash}\nat: {}\nca: {ca}\n",
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }

    /// Checkpoints the audit head inside the caller's transaction (which
    /// holds the store lock, so the head cannot move). Nothing when the
    /// head is checkpointed already, or when the newest checkpoint is less
    /// than `spacing` old. Returns the records covered.
    pub(crate) fn checkpoint_in(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        spacing: Duration,
    ) -> Result<Option<i64>> {
        let Some((records, head_hash)) = tx.audit_head()? else {
            return Ok(None);
        };
        if tx
            .latest_checkpoint()?
            .is_some_and(|c| c.records >= records || (c.at <= now && now - c.at < spacing))
        {
            return Ok(None);
        }
        // Whole seconds, as the statement writes them.
        let at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let statement = self.statement(records, &head_hash, at);
        let signature = self.ca.sign_statement(&statement)?;
        tx.insert_checkpoint(&Checkpoint {
            records,
            at,
            head_hash,
            statement,
            signature,
        })?;
        Ok(Some(records))
    }

    /// A checkpoint when the newest is an hour old (or there is none) and
    /// the trail has grown since (the background work calls this).
    pub fn checkpoint_audit_if_due(&self) -> Result<Option<i64>> {
        let now = self.now();
        let due = self.store.read(|tx| {
            let head = tx.audit_head()?.map(|(records, _)| records);
            let last = tx.latest_checkpoint()?;
            Ok(match (head, last) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(records), Some(c)) => records > c.records && now - c.at >= Duration::hours(1),
            })
        })?;
        if !due {
            return Ok(None);
        }
        self.store
            .write(|tx| self.checkpoint_in(tx, now, Duration::zero()))
    }

    /// Every checkpoint, for export.
    pub fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>> {
        let digest = self
            .ca
            .statement_digest()
            .trim_start_matches('-')
            .to_string();
        Ok(self
            .store
            .read(|tx| tx.checkpoints())?
            .into_iter()
            .map(|c| AuditCheckpoint {
                records: c.records,
                head_hash: c.head_hash,
                at: c.at,
                statement: c.statement,
                signature: <base64ct::Base64 as base64ct::Encoding>::encode_string(&c.signature),
                digest: digest.clone(),
            })
            .collect())
    }

    /// Verifies the audit chain from the start, then every checkpoint: its
    /// signature, and that the trail still holds the record it covered,
    /// unchanged.
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        self.store.read(|tx| {
            let mut v = tx.verify_audit()?;
            let checkpoints = tx.checkpoints()?;
            v.checkpoints = checkpoints.len() as u64;
            v.last_checkpoint = checkpoints.last().map(|c| c.at);
            for c in &checkpoints {
                let when = c.at.to_rfc3339_opts(SecondsFormat::Secs, true);
                let genuine = c.statement == self.statement(c.records, &c.head_hash, c.at)
                    && self.ca.verify_statement(&c.statement, &c.signature);
                let problem = if !genuine {
                    Some(format!(
                        "the checkpoint of {when} ({} records) is not signed by this CA",
                        c.records
                    ))
                } else {
                    match tx.audit_hash_at(c.records)? {
                        Some(h) if h == c.head_hash => None,
                        Some(_) => Some(format!(
                            "record {} differs from the checkpoint of {when}",
                            c.records
                        )),
                        None => Some(format!(
                            "the trail holds {} records, but the checkpoint of {when} covered {}: records were deleted",
                            v.records, c.records
                        )),
                    }
                };
                if let Some(problem) = problem {
                    v.ok = false;
                    v.first_broken = v.first_broken.or(Some(c.records));
                    v.problem.get_or_insert(problem);
                }
            }
            Ok(v)
        })
    }
}
