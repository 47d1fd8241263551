//! Suspension, resumption and revocation (SPEC §3.4–3.6, rules 1.78–1.80):
//! on a paper application, on termination of authority or agreement, and
//! automatically when a suspension lapses. Each change is compare-and-set on
//! the certificate's status and republishes the CRL in the same transaction,
//! so the CRL never lags a committed revocation.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::api::Revoked;
use ca_core::crl::RevocationReason;
use ca_core::rules::{check_resumption, check_revocation, check_suspension, CertificateAction};
use ca_core::{Error, Reason, Result};

use crate::audit::{self, Event, Outcome};
use crate::clock::{dt, ts};
use crate::db::{db_error, AnyConnection};
use crate::issuance::{load_cert, not_found, record_of};
use crate::models::{ApplicationRow, CertRow};
use crate::notify;
use crate::people::{load_person, person_record, ACTIVE, TERMINATED};
use crate::schema::{applications, certificates, organizations, persons, requests};
use crate::{join_reasons, Registry};

/// What an operator records from a paper application.
#[derive(Clone, Copy, Debug)]
enum Application {
    Suspend { days: i64 },
    Resume,
    Revoke { reason: RevocationReason },
}

impl Application {
    fn kind(&self) -> &'static str {
        match self {
            Application::Suspend { .. } => "suspend",
            Application::Resume => "resume",
            Application::Revoke { .. } => "revoke",
        }
    }
}

impl Registry {
    /// Suspends a certificate for `days` calendar days (1.79).
    pub fn suspend(
        &self,
        actor: &str,
        serial: &str,
        days: i64,
        document: &str,
        applicant: Option<&str>,
    ) -> Result<DateTime<Utc>> {
        self.apply(
            actor,
            serial,
            document,
            applicant,
            Application::Suspend { days },
        )
        .map(|until| until.expect("suspension has an end"))
    }

    /// Resumes a suspended certificate (1.80).
    pub fn resume(
        &self,
        actor: &str,
        serial: &str,
        document: &str,
        applicant: Option<&str>,
    ) -> Result<()> {
        self.apply(actor, serial, document, applicant, Application::Resume)
            .map(|_| ())
    }

    /// Revokes one certificate on an application or the bank's decision (1.78).
    pub fn revoke(
        &self,
        actor: &str,
        serial: &str,
        reason: RevocationReason,
        document: &str,
        applicant: Option<&str>,
    ) -> Result<()> {
        if !RevocationReason::OPERATOR_CHOICES.contains(&reason) {
            return Err(Error::invalid(format!(
                "{} is not a reason an operator can choose",
                reason.code()
            )));
        }
        self.apply(
            actor,
            serial,
            document,
            applicant,
            Application::Revoke { reason },
        )
        .map(|_| ())
    }

    fn apply(
        &self,
        actor: &str,
        serial: &str,
        document: &str,
        applicant: Option<&str>,
        app: Application,
    ) -> Result<Option<DateTime<Utc>>> {
        if document.trim().is_empty() {
            return Err(Error::invalid(
                "document (the application's number) is required",
            ));
        }
        let now = self.now();
        let rules = self.policies().rules.clone();
        self.write_verdict(|c| {
            let row = load_cert(c, serial)?.filter(|r| r.status != "signing");
            let record = row.as_ref().map(record_of);
            let owner = match &row {
                Some(r) => load_person(c, &r.person_id)?.map(|(p, o)| person_record(&p, &o)),
                None => None,
            };
            let action = CertificateAction {
                now,
                certificate: record.as_ref(),
                owner: owner.as_ref(),
                applicant,
            };
            let verdict = match app {
                Application::Suspend { days } => check_suspension(&action, days, &rules).map(Some),
                Application::Resume => check_resumption(&action).map(|_| None),
                Application::Revoke { .. } => check_revocation(&action).map(|_| None),
            };
            let reasons = verdict.as_ref().err().cloned().unwrap_or_default();
            self.record_application(
                c,
                actor,
                app.kind(),
                document,
                serial,
                row.as_ref(),
                &reasons,
                now,
            )?;
            let until = match verdict {
                Ok(until) => until,
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
            let row = row.expect("checked above");
            let (status, event) = match app {
                Application::Suspend { .. } => ("suspended", "certificate.suspended"),
                Application::Resume => ("active", "certificate.resumed"),
                Application::Revoke { .. } => ("revoked", "certificate.revoked"),
            };
            let changed = match app {
                Application::Suspend { .. } => diesel::update(
                    certificates::table
                        .find(serial)
                        .filter(certificates::status.eq("active")),
                )
                .set((
                    certificates::status.eq(status),
                    certificates::suspended_at.eq(Some(ts(now))),
                    certificates::suspended_until.eq(until.map(ts)),
                ))
                .execute(c),
                Application::Resume => diesel::update(
                    certificates::table
                        .find(serial)
                        .filter(certificates::status.eq("suspended")),
                )
                .set((
                    certificates::status.eq(status),
                    certificates::suspended_at.eq(None::<i64>),
                    certificates::suspended_until.eq(None::<i64>),
                ))
                .execute(c),
                Application::Revoke { reason } => diesel::update(
                    certificates::table
                        .find(serial)
                        .filter(certificates::status.eq_any(["active", "suspended"])),
                )
                .set((
                    certificates::status.eq(status),
                    certificates::revoked_at.eq(Some(ts(now))),
                    certificates::revocation_reason.eq(Some(reason.code())),
                ))
                .execute(c),
            }
            .map_err(db_error)?;
            if changed != 1 {
                return Err(Error::wrong_state(
                    "the certificate changed concurrently; try again",
                ));
            }
            let details = match app {
                Application::Suspend { days } => {
                    serde_json::json!({"days": days, "until": until, "document": document})
                }
                Application::Revoke { reason } => {
                    serde_json::json!({"reason": reason.code(), "document": document})
                }
                _ => serde_json::json!({"document": document}),
            };
            audit::append(
                c,
                ts(now),
                Event {
                    actor,
                    action: event,
                    object: format!("certificate:{serial}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: details.clone(),
                },
            )?;
            notify::queue(
                c,
                ts(now),
                Some(&row.person_id),
                event,
                serde_json::json!({"serial": serial, "details": details}),
            )?;
            self.publish_after_change(c, actor, now)?;
            Ok(Ok(until))
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn record_application(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        kind: &str,
        document: &str,
        serial: &str,
        row: Option<&CertRow>,
        reasons: &[Reason],
        now: DateTime<Utc>,
    ) -> Result<()> {
        diesel::insert_into(applications::table)
            .values(ApplicationRow {
                id: ca_core::random_id(),
                kind: kind.to_string(),
                document: document.to_string(),
                certificate_serial: Some(serial.to_string()),
                person_id: row.map(|r| r.person_id.clone()),
                organization_id: None,
                received_at: ts(now),
                due_at: ts(self.policies().calendar.refusal_due(now)),
                outcome: if reasons.is_empty() {
                    "done"
                } else {
                    "refused"
                }
                .into(),
                reasons: join_reasons(reasons),
                operator: actor.to_string(),
            })
            .execute(c)
            .map_err(db_error)?;
        if !reasons.is_empty() {
            audit::append(
                c,
                ts(now),
                Event {
                    actor,
                    action: match kind {
                        "suspend" => "certificate.suspend",
                        "resume" => "certificate.resume",
                        _ => "certificate.revoke",
                    },
                    object: format!("certificate:{serial}"),
                    outcome: Outcome::Refused,
                    reasons: reasons.to_vec(),
                    details: serde_json::json!({"document": document}),
                },
            )?;
            if let Some(r) = row {
                notify::queue(
                    c,
                    ts(now),
                    Some(&r.person_id),
                    &format!("{kind}.refused"),
                    serde_json::json!({
                        "serial": serial, "reasons": reasons.iter().map(|r| r.code()).collect::<Vec<_>>(),
                    }),
                )?;
            }
        }
        Ok(())
    }

    /// Revokes every certificate of these persons not yet revoked; also
    /// rejects their pending requests. Inside the caller's transaction.
    fn revoke_all_of(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        person_ids: &[String],
        reason: RevocationReason,
        document: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let serials: Vec<String> = certificates::table
            .filter(certificates::person_id.eq_any(person_ids))
            .filter(certificates::status.eq_any(["active", "suspended", "signing"]))
            .select(certificates::serial)
            .order(certificates::serial.asc())
            .load(c)
            .map_err(db_error)?;
        for serial in &serials {
            let person: String = certificates::table
                .find(serial)
                .select(certificates::person_id)
                .first(c)
                .map_err(db_error)?;
            diesel::update(
                certificates::table
                    .find(serial)
                    .filter(certificates::status.ne("revoked")),
            )
            .set((
                certificates::status.eq("revoked"),
                certificates::revoked_at.eq(Some(ts(now))),
                certificates::revocation_reason.eq(Some(reason.code())),
            ))
            .execute(c)
            .map_err(db_error)?;
            audit::append(
                c,
                ts(now),
                Event {
                    actor,
                    action: "certificate.revoked",
                    object: format!("certificate:{serial}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({"reason": reason.code(), "document": document}),
                },
            )?;
            notify::queue(
                c,
                ts(now),
                Some(&person),
                "certificate.revoked",
                serde_json::json!({"serial": serial, "reason": reason.code()}),
            )?;
        }
        diesel::update(
            requests::table
                .filter(requests::person_id.eq_any(person_ids))
                .filter(requests::status.eq_any(["pending", "pending_act", "issuing"])),
        )
        .set((
            requests::status.eq("rejected"),
            requests::reasons.eq(Reason::PersonNotActive.code()),
            requests::decided_at.eq(Some(ts(now))),
            requests::decided_by.eq(Some(actor)),
        ))
        .execute(c)
        .map_err(db_error)?;
        Ok(serials)
    }

    /// Ends a person's authority: all their certificates are revoked (1.78).
    pub fn terminate_person(
        &self,
        actor: &str,
        person_id: &str,
        document: &str,
    ) -> Result<Revoked> {
        if document.trim().is_empty() {
            return Err(Error::invalid("document is required"));
        }
        let now = self.now();
        self.write(|c| {
            let (p, _) = load_person(c, person_id)?
                .ok_or_else(|| Error::not_found(format!("no person {person_id}")))?;
            if p.status != ACTIVE {
                return Err(Error::wrong_state(
                    "the person's authority is already terminated",
                ));
            }
            diesel::update(
                persons::table
                    .find(person_id)
                    .filter(persons::status.eq(ACTIVE)),
            )
            .set((
                persons::status.eq(TERMINATED),
                persons::terminated_at.eq(Some(ts(now))),
                persons::terminated_document.eq(Some(document)),
            ))
            .execute(c)
            .map_err(db_error)?;
            let revoked = self.revoke_all_of(
                c,
                actor,
                std::slice::from_ref(&p.id),
                RevocationReason::AffiliationChanged,
                document,
                now,
            )?;
            self.record_termination(
                c,
                actor,
                "authority_ended",
                document,
                Some(person_id),
                Some(&p.organization_id),
                &revoked,
                now,
            )?;
            Ok(Revoked { revoked })
        })
    }

    /// Ends an organisation's agreement: all certificates of all its persons
    /// are revoked (1.78).
    pub fn terminate_organization(
        &self,
        actor: &str,
        organization_id: &str,
        document: &str,
    ) -> Result<Revoked> {
        if document.trim().is_empty() {
            return Err(Error::invalid("document is required"));
        }
        let now = self.now();
        self.write(|c| {
            let status: String = organizations::table
                .find(organization_id)
                .select(organizations::status)
                .first(c)
                .optional()
                .map_err(db_error)?
                .ok_or_else(|| Error::not_found(format!("no organisation {organization_id}")))?;
            if status != ACTIVE {
                return Err(Error::wrong_state("the agreement is already terminated"));
            }
            diesel::update(organizations::table.find(organization_id))
                .set((
                    organizations::status.eq(TERMINATED),
                    organizations::terminated_at.eq(Some(ts(now))),
                    organizations::terminated_document.eq(Some(document)),
                ))
                .execute(c)
                .map_err(db_error)?;
            let people: Vec<String> = persons::table
                .filter(persons::organization_id.eq(organization_id))
                .select(persons::id)
                .load(c)
                .map_err(db_error)?;
            let revoked = self.revoke_all_of(
                c,
                actor,
                &people,
                RevocationReason::CessationOfOperation,
                document,
                now,
            )?;
            self.record_termination(
                c,
                actor,
                "agreement_ended",
                document,
                None,
                Some(organization_id),
                &revoked,
                now,
            )?;
            Ok(Revoked { revoked })
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn record_termination(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        kind: &str,
        document: &str,
        person: Option<&str>,
        org: Option<&str>,
        revoked: &[String],
        now: DateTime<Utc>,
    ) -> Result<()> {
        diesel::insert_into(applications::table)
            .values(ApplicationRow {
                id: ca_core::random_id(),
                kind: kind.to_string(),
                document: document.to_string(),
                certificate_serial: None,
                person_id: person.map(str::to_string),
                organization_id: org.map(str::to_string),
                received_at: ts(now),
                due_at: ts(self.policies().calendar.refusal_due(now)),
                outcome: "done".into(),
                reasons: String::new(),
                operator: actor.to_string(),
            })
            .execute(c)
            .map_err(db_error)?;
        audit::append(
            c,
            ts(now),
            Event {
                actor,
                action: if kind == "authority_ended" {
                    "person.terminate"
                } else {
                    "organization.terminate"
                },
                object: match person {
                    Some(p) => format!("person:{p}"),
                    None => format!("organization:{}", org.unwrap_or_default()),
                },
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"document": document, "revoked": revoked}),
            },
        )?;
        self.publish_after_change(c, actor, now)?;
        Ok(())
    }

    /// Revokes every certificate whose suspension ended without resumption
    /// (1.79). Safe to run from every instance at once: each certificate is
    /// revoked by exactly one transaction (compare-and-set under the lock).
    pub fn lapse_suspensions(&self) -> Result<Vec<String>> {
        let now = self.now();
        self.write(|c| {
            let lapsed: Vec<(String, String, Option<i64>)> = certificates::table
                .filter(certificates::status.eq("suspended"))
                .filter(certificates::suspended_until.le(ts(now)))
                .select((certificates::serial, certificates::person_id, certificates::suspended_until))
                .load(c)
                .map_err(db_error)?;
            let mut revoked = Vec::new();
            for (serial, person, until) in lapsed {
                // Revoked now, the moment the CA acts, so the delta CRL on
                // the last full CRL carries it even if this runs late.
                let at = ts(now);
                let n = diesel::update(certificates::table.find(&serial).filter(certificates::status.eq("suspended")))
                    .set((certificates::status.eq("revoked"), certificates::revoked_at.eq(Some(at)), certificates::revocation_reason.eq(Some(RevocationReason::Unspecified.code()))))
                    .execute(c)
                    .map_err(db_error)?;
                if n != 1 {
                    continue;
                }
                audit::append(c, ts(now), Event {
                    actor: "system",
                    action: "certificate.revoked",
                    object: format!("certificate:{serial}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({"cause": "suspension ended without resumption", "suspended_until": until.map(dt)}),
                })?;
                notify::queue(c, ts(now), Some(&person), "certificate.revoked", serde_json::json!({"serial": serial, "cause": "suspension_lapsed"}))?;
                revoked.push(serial);
            }
            if !revoked.is_empty() {
                self.publish_after_change(c, "system", now)?;
            }
            Ok(revoked)
        })
    }
}
