//! Planned rotation's lineage (SPEC §3.6, §3.8): a predecessor is revoked as
//! `superseded` once its successor is issued (after the profile's grace),
//! and a key-compromise revocation reaches every certificate issued on a
//! rotation the compromised key signed, and theirs.

use chrono::{DateTime, Duration, Utc};

use ca_core::crl::RevocationReason;
use ca_core::policy::ProfileKind;
use ca_core::records::CertificateStatus;
use ca_core::Result;
use ca_store::Tx;

use crate::certificates::record_change;

use crate::Authority;

impl Authority {
    /// Revokes `predecessor` as superseded by `successor`, inside the
    /// caller's transaction, and republishes. Nothing when it is revoked
    /// already.
    pub(crate) fn supersede(
        &self,
        tx: &mut Tx<'_>,
        predecessor: &str,
        successor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(owner) = tx.certificate(predecessor)?.map(|c| c.record.person_id) else {
            return Ok(false);
        };
        if !tx.revoke_certificate(predecessor, now, RevocationReason::Superseded, false)? {
            return Ok(false);
        }
        let details = serde_json::json!({"reason": RevocationReason::Superseded.code(),
            "cause": "successor issued on planned rotation", "successor": successor});
        record_change(
            tx,
            "system",
            "certificate.revoked",
            predecessor,
            &owner,
            details,
            now,
        )?;
        Ok(true)
    }

    /// Revokes, as superseded, every predecessor whose successor was issued
    /// longer ago than its profile's grace period (SPEC §3.8). Run by the
    /// background work of every instance; each revocation happens once
    /// (compare-and-set under the store lock). Returns the serials revoked.
    pub fn supersede_predecessors(&self) -> Result<Vec<String>> {
        let now = self.now();
        let due = |tx: &mut Tx<'_>| -> Result<Vec<String>> {
            let mut due = Vec::new();
            for kind in ProfileKind::ALL {
                let grace = self.policies.profiles.get(kind).supersede_grace_days;
                let before = now - Duration::days(grace.into());
                due.extend(tx.superseded_due(kind, before)?.into_iter().map(|(s, _)| s));
            }
            Ok(due)
        };
        // Looked for first without the write lock: usually there is none.
        if self.store.read(due)?.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let mut revoked = Vec::new();
            for serial in due(tx)? {
                let successor = tx
                    .successors(&serial)?
                    .into_iter()
                    .find(|c| c.record.status != CertificateStatus::Signing)
                    .map(|c| c.record.serial)
                    .unwrap_or_default();
                if self.supersede(tx, &serial, &successor, now)? {
                    revoked.push(serial);
                }
            }
            Ok(revoked)
        })
    }

    /// Revokes for keyCompromise every certificate issued (or reserved) on
    /// a rotation signed by `serial`'s key, and theirs, transitively (SPEC
    /// §3.6), inside the caller's transaction. Returns the serials revoked.
    pub(crate) fn revoke_rotations_of(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        let mut queue = vec![serial.to_string()];
        while let Some(signer) = queue.pop() {
            for successor in tx.successors(&signer)? {
                let s = successor.record.serial;
                queue.push(s.clone());
                let changed =
                    tx.revoke_certificate(&s, now, RevocationReason::KeyCompromise, true)?
                        || tx.revoke_again_for_compromise(&s)?;
                if !changed {
                    continue;
                }
                let details = serde_json::json!({"reason": RevocationReason::KeyCompromise.code(),
                    "cause": "issued on a rotation signed by a compromised key",
                    "compromised": serial, "signed_by": signer});
                record_change(
                    tx,
                    actor,
                    "certificate.revoked",
                    &s,
                    &successor.record.person_id,
                    details,
                    now,
                )?;
                revoked.push(s);
            }
        }
        Ok(revoked)
    }
}
