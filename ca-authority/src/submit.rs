//! Submission of a certificate request (SPEC §3.1–3.3): unwrap and verify
//! the envelope, decide its type, run the rule book, record the outcome,
//! and issue at once where the profile auto-approves.

use sha2::{Digest, Sha256};

use ca_core::csr::CertificationRequest;
use ca_core::envelope::{unwrap_request, Signer};
use ca_core::records::{Registration, RequestRecord};
use ca_core::request_status::RequestStatus;
use ca_core::request_type::RequestType;
use ca_core::rules::{
    auto_approval, check_request, disclosed_reasons, subject_differences, target_profile,
    RequestContext, SignerFacts,
};
use ca_core::serial::serial_hex;
use ca_core::subject::names_match;
use ca_core::{Error, Reason, Result};
use ca_store::{Event, Outcome, Tx};

use crate::issue::{key_sha256, ToIssue};
use crate::Authority;

/// The outcome of a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The request as recorded.
    pub request: RequestRecord,
    /// False when the same bytes had been submitted before.
    pub created: bool,
}

/// The person an `initial_self_signed` request is for: a registered person
/// whose subject the request carries (authorised ones first).
pub(crate) fn person_by_subject(
    tx: &mut Tx<'_>,
    csr: &CertificationRequest,
) -> Result<Option<Registration>> {
    let cn = csr
        .request
        .info
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == ca_core::oids::COMMON_NAME)
        .and_then(|atv| ca_core::subject::attribute_text(&atv.value));
    let Some(cn) = cn else { return Ok(None) };
    let wanted = cn.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut matching: Vec<Registration> = tx
        .persons_named(&wanted)?
        .into_iter()
        .filter(|r| {
            r.person
                .subject
                .to_name()
                .is_ok_and(|n| names_match(&n, &csr.request.info.subject))
        })
        .collect();
    matching.sort_by_key(|r| !r.person.is_authorised());
    Ok(matching.into_iter().next())
}

impl Authority {
    /// Submits a request envelope (DER, BER or PEM). Structural failures
    /// return `Malformed` errors (and leave only an audit record); a policy
    /// refusal is recorded as `rejected` and returned as a normal record.
    pub fn submit_request(&self, body: &[u8]) -> Result<Submission> {
        let cms_sha256 = hex::encode(Sha256::digest(body));
        let object = format!("envelope:{cms_sha256}");
        self.recording("client", "request.submit", object, || {
            self.submit(body, cms_sha256)
        })
    }

    fn submit(&self, body: &[u8], cms_sha256: String) -> Result<Submission> {
        let now = self.now();
        if let Some(existing) = self.store.read(|tx| tx.request_by_envelope(&cms_sha256))? {
            // The attempt is recorded too (issue 9 defect 6); the answer is
            // the request as it stands.
            self.write(|tx| {
                tx.audit(
                    now,
                    Event {
                        actor: "client",
                        action: "request.resubmit",
                        object: format!("request:{}", existing.id),
                        outcome: Outcome::Ok,
                        reasons: vec![],
                        details: serde_json::json!({"status": existing.status.code()}),
                    },
                )
            })?;
            return Ok(Submission {
                request: existing,
                created: false,
            });
        }
        let unwrapped = unwrap_request(body, self.ca.trust_anchor())?;
        let csr = &unwrapped.csr;
        let key_hash = key_sha256(csr.key.spki())?;
        // Who a self-signed request is for is found before the write lock is
        // taken (it reads every registration), then loaded again inside it.
        let claimed = match &unwrapped.signer {
            Signer::RequestKey => self
                .store
                .read(|tx| person_by_subject(tx, csr))?
                .map(|r| r.person.id),
            Signer::Certificate(_) => None,
        };
        let outcome = self.write(|tx| {
            if let Some(existing) = tx.request_by_envelope(&cms_sha256)? {
                return Ok((None, existing));
            }
            // Who signed, and for whom.
            let (signer, signer_cert, person) = match &unwrapped.signer {
                Signer::Certificate(cert) => {
                    let serial = serial_hex(&cert.tbs_certificate.serial_number);
                    let stored = tx
                        .certificate(&serial)?
                        .filter(|c| {
                            c.record.status != ca_core::records::CertificateStatus::Signing
                        })
                        .ok_or_else(|| {
                            Error::reason(
                                Reason::UnknownSigner,
                                "the signing certificate is not in this CA's registry",
                            )
                        })?;
                    let person = tx.person(&stored.record.person_id)?;
                    (Some(stored.record), Some(cert.as_ref().clone()), person)
                }
                Signer::RequestKey => (
                    None,
                    None,
                    match &claimed {
                        Some(id) => tx.person(id)?,
                        None => None,
                    },
                ),
            };
            let signer_profile = signer.as_ref().map(|r| r.profile);
            let request_type = RequestType::decide(&unwrapped.signer, signer_profile)?;
            let profile = target_profile(
                request_type,
                signer_profile,
                csr,
                &self.policies.profiles,
            );
            let facts = match (&signer, &signer_cert) {
                (Some(record), Some(certificate)) => Some(SignerFacts {
                    record,
                    certificate,
                    has_successor: !tx.successors(&record.serial)?.is_empty(),
                }),
                _ => None,
            };
            let ctx = RequestContext {
                now,
                request_type,
                csr,
                person: person.as_ref().map(|r| &r.person),
                signer: facts,
                profile: self.policies.profiles.get(profile),
                key_already_certified: tx.key_certified(&key_hash)?,
                rules: &self.policies.rules,
            };
            // A self-signed request hears nothing about the registration
            // until its paper act is confirmed (defect 12).
            let (reasons, held_back) = disclosed_reasons(request_type, check_request(&ctx));
            // Held-back reasons refuse as much as shown ones do.
            let auto = if reasons.is_empty() && held_back.is_empty() {
                auto_approval(&ctx)
            } else {
                Err("refused")
            };
            let status = match (reasons.is_empty(), request_type) {
                (false, _) => RequestStatus::Rejected,
                (true, RequestType::InitialSelfSigned) => RequestStatus::PendingAct,
                (true, _) => RequestStatus::Pending,
            };
            let refused = status == RequestStatus::Rejected;
            let differences = subject_differences(&ctx);
            let record = RequestRecord {
                id: ca_core::random_id(),
                cms_sha256: cms_sha256.clone(),
                cms: unwrapped.cms_der.clone(),
                csr: csr.der.clone(),
                request_type,
                status,
                reasons: reasons.iter().map(|r| r.code().to_string()).collect(),
                comment: None,
                person_id: person.as_ref().map(|r| r.person.id.clone()),
                profile,
                signer_serial: signer.as_ref().map(|r| r.serial.clone()),
                key_sha256: key_hash.clone(),
                key_algorithm: csr.key.algorithm().to_string(),
                received_at: now,
                decision_due: (status == RequestStatus::Pending)
                    .then(|| self.policies.calendar.issuance_due(now)),
                decided_at: refused.then_some(now),
                decided_by: refused.then(|| "system".to_string()),
                act_confirmed_at: None,
                act_confirmed_by: None,
                certificate_serial: None,
            };
            tx.insert_request(&record)?;
            tx.audit(
                now,
                Event {
                    actor: "client",
                    action: "request.submit",
                    object: format!("request:{}", record.id),
                    outcome: if refused { Outcome::Refused } else { Outcome::Ok },
                    reasons: reasons.clone(),
                    details: serde_json::json!({"type": request_type.code(), "status": status.code(),
                        "person": record.person_id, "signer": record.signer_serial,
                        "key_sha256": record.key_sha256, "differences": differences,
                        "waits_for_operator": auto.err().filter(|_| !refused),
                        "held_back": held_back.iter().map(|r| r.code()).collect::<Vec<_>>()}),
                },
            )?;
            if refused {
                tx.notify(
                    now,
                    record.person_id.as_deref(),
                    "request.rejected",
                    serde_json::json!({
                        "request_id": record.id, "reasons": record.reasons,
                        "differences": differences,
                    }),
                )?;
            }
            let reservation = match (auto, &person) {
                (Ok(()), Some(reg)) => Some(self.reserve(
                    tx,
                    "system",
                    ToIssue {
                        person_id: &reg.person.id,
                        profile,
                        subject: reg.person.subject.to_name()?,
                        public_key: csr.key.spki().clone(),
                        authority_valid_until: reg.person.authority_valid_until,
                        request_id: Some(&record.id),
                        predecessor: record
                            .signer_serial
                            .as_deref()
                            .filter(|_| request_type == RequestType::Rotation),
                        // The rules saw it uncertified: they refuse otherwise.
                        checked_key: Some(&key_hash),
                    },
                )?),
                _ => None,
            };
            Ok((reservation, record))
        });
        let (reservation, mut record) = outcome?;
        if let Some(r) = reservation {
            self.complete("system", &r)?;
            record.status = RequestStatus::Issued;
            record.certificate_serial = Some(r.serial.clone());
        }
        Ok(Submission {
            request: record,
            created: true,
        })
    }
}
