//! Suspension, resumption and revocation on a paper application or the
//! bank's decision (SPEC §3.4–3.6, rules 1.78–1.80), and the automatic
//! revocation of lapsed suspensions. The rule book decides the next state;
//! the store applies it compare-and-set with its audit row, and the CRL is
//! republished in the same transaction, so it never lags a committed change.

use chrono::{DateTime, Utc};

use ca_core::crl::RevocationReason;
use ca_core::records::{CertificateStatus, StoredCertificate};
use ca_core::rules::{
    check_resumption, check_revocation, check_suspension, compromise_learnt_after_revocation,
    operator_revocation_reason, CertificateAction,
};
use ca_core::{limits, Error, Reason, Result};
use ca_store::{Application, ApplicationOutcome, Event, Outcome, Tx};

use crate::issue::not_found;
use crate::Authority;

/// What an operator records from a paper application.
#[derive(Clone, Copy, Debug)]
enum Change {
    Suspend { days: i64 },
    Resume,
    Revoke { reason: RevocationReason },
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::Suspend { .. } => "suspend",
            Change::Resume => "resume",
            Change::Revoke { .. } => "revoke",
        }
    }
}

impl Authority {
    /// Suspends a certificate for `days` calendar days (1.79); returns the
    /// end of the suspension.
    pub fn suspend(
        &self,
        actor: &str,
        serial: &str,
        days: i64,
        document: &str,
        applicant: Option<&str>,
    ) -> Result<DateTime<Utc>> {
        let object = format!("certificate:{serial}");
        self.recording(actor, "certificate.suspend", object, || {
            match self.apply(actor, serial, document, applicant, Change::Suspend { days })? {
                CertificateStatus::Suspended { until } => Ok(until),
                other => Err(Error::internal(format!(
                    "suspension led to {}",
                    other.code()
                ))),
            }
        })
    }

    /// Resumes a suspended certificate (1.80).
    pub fn resume(
        &self,
        actor: &str,
        serial: &str,
        document: &str,
        applicant: Option<&str>,
    ) -> Result<()> {
        let object = format!("certificate:{serial}");
        self.recording(actor, "certificate.resume", object, || {
            self.apply(actor, serial, document, applicant, Change::Resume)
                .map(|_| ())
        })
    }

    /// Revokes one certificate on an application or the bank's decision
    /// (1.78); `reason` is one an operator may choose.
    pub fn revoke(
        &self,
        actor: &str,
        serial: &str,
        reason: &str,
        document: &str,
        applicant: Option<&str>,
    ) -> Result<()> {
        let object = format!("certificate:{serial}");
        self.recording(actor, "certificate.revoke", object, || {
            let reason = operator_revocation_reason(reason)?;
            self.apply(
                actor,
                serial,
                document,
                applicant,
                Change::Revoke { reason },
            )
            .map(|_| ())
        })
    }

    fn apply(
        &self,
        actor: &str,
        serial: &str,
        document: &str,
        applicant: Option<&str>,
        change: Change,
    ) -> Result<CertificateStatus> {
        // The application's number.
        limits::line("document", document, limits::DOCUMENT)?;
        if let Some(who) = applicant {
            limits::line("person_id", who, limits::NAME)?;
        }
        let now = self.now();
        self.write_verdict(|tx| {
            // A suspension whose period has ended is revoked at that moment,
            // whatever the background work has done (SPEC §3.5): the lapse
            // commits with this action's refusal (and is published after it).
            if let Some(c) = tx.certificate(serial)? {
                if let Some(until) = c.record.lapsed_at(now) {
                    self.lapse(tx, serial, &c.record.person_id, Some(until), now)?;
                }
            }
            let stored = tx
                .certificate(serial)?
                .filter(|c| c.record.status != CertificateStatus::Signing);
            let record = stored.as_ref().map(|c| &c.record);
            let owner = match record {
                Some(r) => tx.person(&r.person_id)?.map(|reg| reg.person),
                None => None,
            };
            let action = CertificateAction {
                now,
                certificate: record,
                owner: owner.as_ref(),
                applicant,
            };
            // A compromise reported after another revocation changes the
            // reason instead of being refused (and still cascades below).
            let upgrade = match (change, &stored) {
                (Change::Revoke { reason }, Some(c)) => {
                    compromise_learnt_after_revocation(c.record.status, c.revocation_reason, reason)
                }
                _ => false,
            };
            let verdict = match change {
                Change::Suspend { days } => check_suspension(&action, days, &self.policies.rules),
                Change::Resume => check_resumption(&action),
                Change::Revoke { .. } => match check_revocation(&action) {
                    Err(reasons)
                        if upgrade
                            && reasons.iter().all(|r| {
                                matches!(r, Reason::CertificateRevoked | Reason::CertificateExpired)
                            }) =>
                    {
                        Ok(CertificateStatus::Revoked)
                    }
                    verdict => verdict,
                },
            };
            let reasons = verdict.as_ref().err().cloned().unwrap_or_default();
            self.record_application(
                tx,
                actor,
                change,
                document,
                serial,
                stored.as_ref(),
                &reasons,
                now,
            )?;
            let next = match verdict {
                Ok(next) => next,
                Err(reasons) => {
                    let message = reasons
                        .iter()
                        .map(|r| r.meaning())
                        .collect::<Vec<_>>()
                        .join("; ");
                    let err = if reasons == [Reason::CertificateNotFound] {
                        not_found(serial)
                    } else {
                        Error::reasons(reasons, message)
                    };
                    return Ok(Err(err));
                }
            };
            let stored = stored.expect("a verdict needs the certificate");
            let changed = match (change, next) {
                (Change::Suspend { .. }, CertificateStatus::Suspended { until }) => {
                    tx.suspend_certificate(serial, now, until)?
                }
                (Change::Resume, CertificateStatus::Active) => tx.resume_certificate(serial)?,
                (Change::Revoke { .. }, CertificateStatus::Revoked) if upgrade => {
                    tx.revoke_again_for_compromise(serial)?
                }
                (Change::Revoke { reason }, CertificateStatus::Revoked) => {
                    tx.revoke_certificate(serial, now, reason, false)?
                }
                (_, other) => {
                    return Err(Error::internal(format!(
                        "{} cannot lead to {}",
                        change.kind(),
                        other.code()
                    )))
                }
            };
            if !changed {
                return Err(Error::wrong_state(
                    "the certificate changed concurrently; try again",
                ));
            }
            let (event, details) = match change {
                Change::Suspend { days } => (
                    "certificate.suspended",
                    serde_json::json!({"days": days, "until": match next {
                        CertificateStatus::Suspended { until } => Some(until),
                        _ => None,
                    }, "document": document}),
                ),
                Change::Resume => (
                    "certificate.resumed",
                    serde_json::json!({"document": document}),
                ),
                Change::Revoke { reason } => (
                    "certificate.revoked",
                    serde_json::json!({"reason": reason.code(), "document": document,
                        "reason_changed_from": upgrade.then(|| stored.revocation_reason.map(|r| r.code()))}),
                ),
            };
            record_change(
                tx,
                actor,
                event,
                serial,
                &stored.record.person_id,
                details,
                now,
            )?;
            if let Change::Revoke {
                reason: RevocationReason::KeyCompromise,
            } = change
            {
                self.revoke_rotations_of(tx, actor, serial, now)?;
            }
            Ok(Ok(next))
        })
    }

    /// Records the paper application; a refusal also gets its audit row and
    /// the person's notification (SPEC §3: every refusal is recorded and
    /// notified).
    #[allow(clippy::too_many_arguments)]
    fn record_application(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        change: Change,
        document: &str,
        serial: &str,
        stored: Option<&StoredCertificate>,
        reasons: &[Reason],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let codes: Vec<&str> = reasons.iter().map(|r| r.code()).collect();
        let kind = change.kind();
        tx.record_application(&Application {
            kind,
            document,
            certificate_serial: Some(serial),
            person_id: stored.map(|c| c.record.person_id.as_str()),
            organization_id: None,
            received_at: now,
            due_at: self.policies.calendar.refusal_due(now),
            outcome: if reasons.is_empty() {
                ApplicationOutcome::Done
            } else {
                ApplicationOutcome::Refused
            },
            reasons: &codes,
            operator: actor,
        })?;
        if reasons.is_empty() {
            return Ok(());
        }
        tx.audit(
            now,
            Event {
                actor,
                action: match change {
                    Change::Suspend { .. } => "certificate.suspend",
                    Change::Resume => "certificate.resume",
                    Change::Revoke { .. } => "certificate.revoke",
                },
                object: format!("certificate:{serial}"),
                outcome: Outcome::Refused,
                reasons: reasons.to_vec(),
                details: serde_json::json!({"document": document}),
            },
        )?;
        if let Some(c) = stored {
            tx.notify(
                now,
                Some(&c.record.person_id),
                &format!("{kind}.refused"),
                serde_json::json!({"serial": serial, "reasons": codes}),
            )?;
        }
        Ok(())
    }

    /// Revokes every certificate whose suspension ended without resumption
    /// (1.79). Safe to run from every instance at once: each certificate is
    /// revoked by exactly one transaction (compare-and-set under the lock).
    pub fn lapse_suspensions(&self) -> Result<Vec<String>> {
        let now = self.now();
        self.write(|tx| {
            let mut revoked = Vec::new();
            for (serial, person, until) in tx.lapsed_suspensions(now)? {
                if self.lapse(tx, &serial, &person, until, now)? {
                    revoked.push(serial);
                }
            }
            Ok(revoked)
        })
    }

    /// Revokes one suspended certificate whose period ended by `now`, with
    /// its audit row and notification, in the caller's transaction. False
    /// when it was resumed or revoked meanwhile.
    fn lapse(
        &self,
        tx: &mut Tx<'_>,
        serial: &str,
        person: &str,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // Revoked now, the moment the CA acts, so the delta CRL on the last
        // full CRL carries it even if this runs late.
        if !tx.lapse_certificate(serial, now)? {
            return Ok(false);
        }
        record_change(
            tx,
            "system",
            "certificate.revoked",
            serial,
            person,
            serde_json::json!({"cause": "suspension ended without resumption",
                "reason": "suspension_lapsed", "suspended_until": until}),
            now,
        )?;
        Ok(true)
    }
}

/// A change of a certificate recorded in the caller's transaction: its
/// audit row and its owner's notification, both carrying `details`.
pub(crate) fn record_change(
    tx: &mut Tx<'_>,
    actor: &str,
    event: &str,
    serial: &str,
    owner: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    // What a CRL must now reflect: published after the commit (issue 10).
    tx.record_crl_change(serial, now)?;
    tx.audit(
        now,
        Event {
            actor,
            action: event,
            object: format!("certificate:{serial}"),
            outcome: Outcome::Ok,
            reasons: vec![],
            details: details.clone(),
        },
    )?;
    tx.notify(
        now,
        Some(owner),
        event,
        serde_json::json!({"serial": serial, "details": details}),
    )
}
