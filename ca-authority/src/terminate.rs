//! Terminations (SPEC §3.6, 1.78): the end of a person's authority revokes
//! all of that person's certificates; the end of an organisation's agreement
//! revokes all certificates of all its persons. Their open requests are
//! rejected, with the person notified.

use chrono::{DateTime, Utc};

use ca_core::api::Revoked;
use ca_core::crl::RevocationReason;
use ca_core::request_status::RequestEvent;
use ca_core::{limits, Error, Reason, Result};
use ca_store::{Application, ApplicationOutcome, Event, Outcome, Tx};

use crate::Authority;

/// Which termination.
#[derive(Clone, Copy)]
enum Termination<'a> {
    Person {
        id: &'a str,
        organization_id: &'a str,
    },
    Organization {
        id: &'a str,
    },
}

impl Authority {
    /// Ends a person's authority: all their certificates are revoked (1.78).
    pub fn terminate_person(
        &self,
        actor: &str,
        person_id: &str,
        document: &str,
    ) -> Result<Revoked> {
        let object = format!("person:{person_id}");
        self.terminating(actor, "person.terminate", object, document, |tx, now| {
            let reg = tx
                .person(person_id)?
                .ok_or_else(|| Error::not_found(format!("no person {person_id}")))?;
            if !tx.terminate_person(person_id, now, document)? {
                return Err(Error::wrong_state(
                    "the person's authority is already terminated",
                ));
            }
            let revoked = self.revoke_all_of(
                tx,
                actor,
                std::slice::from_ref(&reg.person.id),
                RevocationReason::AffiliationChanged,
                document,
                now,
            )?;
            self.record_termination(
                tx,
                actor,
                Termination::Person {
                    id: person_id,
                    organization_id: &reg.organization_id,
                },
                document,
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
        let object = format!("organization:{organization_id}");
        self.terminating(
            actor,
            "organization.terminate",
            object,
            document,
            |tx, now| {
                tx.organization(organization_id)?.ok_or_else(|| {
                    Error::not_found(format!("no organisation {organization_id}"))
                })?;
                if !tx.terminate_organization(organization_id, now, document)? {
                    return Err(Error::wrong_state("the agreement is already terminated"));
                }
                let people = tx.person_ids_of(organization_id)?;
                let revoked = self.revoke_all_of(
                    tx,
                    actor,
                    &people,
                    RevocationReason::CessationOfOperation,
                    document,
                    now,
                )?;
                self.record_termination(
                    tx,
                    actor,
                    Termination::Organization {
                        id: organization_id,
                    },
                    document,
                    &revoked,
                    now,
                )?;
                Ok(Revoked { revoked })
            },
        )
    }

    /// A termination's frame: the document checked, `change` run in one
    /// write transaction at `now`, a refusal recorded.
    fn terminating(
        &self,
        actor: &str,
        action: &str,
        object: String,
        document: &str,
        mut change: impl FnMut(&mut Tx<'_>, DateTime<Utc>) -> Result<Revoked>,
    ) -> Result<Revoked> {
        self.recording(actor, action, object, || {
            limits::line("document", document, limits::DOCUMENT)?;
            let now = self.now();
            self.write(|tx| change(tx, now))
        })
    }

    /// Revokes every certificate of these persons not yet revoked
    /// (reservations included) and rejects their open requests, inside the
    /// caller's transaction.
    fn revoke_all_of(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        person_ids: &[String],
        reason: RevocationReason,
        document: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        for (serial, person) in tx.open_certificates_of(person_ids)? {
            if !tx.revoke_certificate(&serial, now, reason, true)? {
                continue;
            }
            tx.record_crl_change(&serial, now)?;
            tx.audit(
                now,
                Event {
                    actor,
                    action: "certificate.revoked",
                    object: format!("certificate:{serial}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({"reason": reason.code(), "document": document}),
                },
            )?;
            tx.notify(
                now,
                Some(&person),
                "certificate.revoked",
                serde_json::json!({"serial": serial, "reason": reason.code()}),
            )?;
            revoked.push(serial);
        }
        for request in tx.open_requests_of(person_ids)? {
            self.record_rejection(
                tx,
                actor,
                &request,
                RequestEvent::Terminate,
                &[Reason::PersonNotActive],
                Some("the person's authority or the organisation's agreement ended"),
                now,
            )?;
        }
        Ok(revoked)
    }

    fn record_termination(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        which: Termination<'_>,
        document: &str,
        revoked: &[String],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (kind, person, organization, action, object) = match which {
            Termination::Person {
                id,
                organization_id,
            } => (
                "authority_ended",
                Some(id),
                Some(organization_id),
                "person.terminate",
                format!("person:{id}"),
            ),
            Termination::Organization { id } => (
                "agreement_ended",
                None,
                Some(id),
                "organization.terminate",
                format!("organization:{id}"),
            ),
        };
        tx.record_application(&Application {
            kind,
            document,
            certificate_serial: None,
            person_id: person,
            organization_id: organization,
            received_at: now,
            due_at: self.policies.calendar.refusal_due(now),
            outcome: ApplicationOutcome::Done,
            reasons: &[],
            operator: actor,
        })?;
        tx.audit(
            now,
            Event {
                actor,
                action,
                object,
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"document": document, "revoked": revoked}),
            },
        )?;
        Ok(())
    }
}
