//! Operators' decisions on requests (SPEC §3.3): approve, reject, confirm
//! the paper act; what is due; and the reads of one request.

use chrono::{DateTime, Duration, Utc};
use der::Encode;

use ca_core::api::DueItem;
use ca_core::csr::CertificationRequest;
use ca_core::records::{CertificateStatus, OrganizationRecord, Registration, RequestRecord};
use ca_core::request_status::{transition, RequestEvent, RequestStatus};
use ca_core::request_type::RequestType;
use ca_core::rules::{
    check_act_fingerprint, check_approval, check_request, ApprovalContext, RequestContext,
};
use ca_core::{limits, Error, ErrorKind, Reason, Result};
use ca_store::{Event, Outcome, RequestDecision, Tx};

use crate::issue::ToIssue;
use crate::submit::person_by_subject;
use crate::Authority;

/// What the printable acceptance act shows (SPEC §4, `004_*.txt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActData {
    /// The request.
    pub request: RequestRecord,
    /// Subject as requested, RFC 4514.
    pub subject: String,
    /// Subject as requested, attribute by attribute.
    pub subject_name: x509_cert::name::Name,
    /// The public key (SubjectPublicKeyInfo), DER.
    pub public_key_der: Vec<u8>,
    /// The public key, PEM.
    pub public_key_pem: String,
    /// The person and organisation, when known.
    pub person: Option<(Registration, OrganizationRecord)>,
}

fn load(tx: &mut Tx<'_>, id: &str) -> Result<RequestRecord> {
    tx.request(id)?
        .ok_or_else(|| Error::not_found(format!("no request {id}")))
}

/// `WrongState` unless `event` applies to the request now.
fn next_status(r: &RequestRecord, event: RequestEvent) -> Result<RequestStatus> {
    transition(r.status, event).ok_or_else(|| {
        Error::wrong_state(format!(
            "request {} is {}; it cannot be {}",
            r.id,
            r.status.public(),
            match event {
                RequestEvent::ActConfirmed => "confirmed",
                RequestEvent::Reserved => "approved",
                RequestEvent::Signed => "signed",
                RequestEvent::Reject | RequestEvent::Terminate => "rejected",
            }
        ))
    })
}

/// Moves `r` to `to` with `decision`, compare-and-set on the status it was
/// read with; `WrongState` when another decision came first.
fn move_request(
    tx: &mut Tx<'_>,
    r: &RequestRecord,
    to: RequestStatus,
    decision: &RequestDecision<'_>,
) -> Result<()> {
    if tx.set_request_status(&r.id, r.status, to, decision)? {
        Ok(())
    } else {
        Err(Error::wrong_state("the request changed concurrently"))
    }
}

impl Authority {
    /// One request.
    pub fn request(&self, id: &str) -> Result<RequestRecord> {
        self.store.read(|tx| load(tx, id))
    }

    /// Requests, oldest first, optionally those the API shows in one status
    /// (`pending` includes requests being issued).
    pub fn requests(&self, public_status: Option<RequestStatus>) -> Result<Vec<RequestRecord>> {
        let statuses = public_status
            .map(RequestStatus::stored_for_public)
            .unwrap_or_default();
        self.store.read(|tx| tx.requests(&statuses))
    }

    /// The issued certificate of a request; `WrongState` while not issued.
    pub fn request_certificate(&self, id: &str) -> Result<Vec<u8>> {
        self.store.read(|tx| {
            let r = load(tx, id)?;
            let serial = r
                .certificate_serial
                .filter(|_| r.status == RequestStatus::Issued)
                .ok_or_else(|| {
                    Error::wrong_state(format!("request {id} is {}, not issued", r.status.public()))
                })?;
            tx.certificate_der(&serial)?
                .ok_or_else(|| Error::wrong_state("certificate not signed yet"))
        })
    }

    /// What the acceptance act of a request shows.
    pub fn request_act(&self, id: &str) -> Result<ActData> {
        self.store.read(|tx| {
            let request = load(tx, id)?;
            let csr = CertificationRequest::from_der(&request.csr)?;
            let spki = csr
                .request
                .info
                .public_key
                .to_der()
                .map_err(|e| Error::internal(e.to_string()))?;
            // The act page is public: before an operator has confirmed a
            // self-signed request's act, it must not tell whom the subject
            // matched (issue 9 defect 12).
            let undisclosed = request.request_type == RequestType::InitialSelfSigned
                && request.act_confirmed_at.is_none();
            let person = match request.person_id.as_ref().filter(|_| !undisclosed) {
                Some(p) => match tx.person(p)? {
                    Some(reg) => tx.organization(&reg.organization_id)?.map(|o| (reg, o)),
                    None => None,
                },
                None => None,
            };
            Ok(ActData {
                subject: csr.request.info.subject.to_string(),
                subject_name: csr.request.info.subject.clone(),
                public_key_pem: ca_core::der_to_pem("PUBLIC KEY", &spki),
                public_key_der: spki,
                person,
                request,
            })
        })
    }

    /// An operator approves a pending request. The signing certificate, the
    /// person and the key are checked again at decision time
    /// ([`check_approval`]); a refusal rejects the request.
    pub fn approve(&self, actor: &str, id: &str) -> Result<RequestRecord> {
        let object = format!("request:{id}");
        self.recording(actor, "request.approve", object, || {
            let now = self.now();
            let reservation = self.write_verdict(|tx| {
                let r = load(tx, id)?;
                next_status(&r, RequestEvent::Reserved)?;
                let person = match &r.person_id {
                    Some(p) => tx.person(p)?,
                    None => None,
                };
                let signer = match &r.signer_serial {
                    Some(serial) => tx
                        .certificate(serial)?
                        .map(|c| c.record)
                        .filter(|c| c.status != CertificateStatus::Signing),
                    None => None,
                };
                let reasons = check_approval(&ApprovalContext {
                    now,
                    signed_by_certificate: r.signer_serial.is_some(),
                    signer: signer.as_ref(),
                    person: person.as_ref().map(|p| &p.person),
                    key_already_certified: tx.key_certified(&r.key_sha256)?,
                });
                if !reasons.is_empty() {
                    self.record_rejection(
                        tx,
                        actor,
                        &r,
                        RequestEvent::Reject,
                        &reasons,
                        Some("refused at approval: the registration changed"),
                        now,
                    )?;
                    return Ok(Err(Error::reasons(
                        reasons,
                        "the request no longer passes the rules; it was rejected",
                    )));
                }
                let reg = person.expect("an authorised person was checked above");
                tx.audit(
                    now,
                    Event {
                        actor,
                        action: "request.approve",
                        object: format!("request:{id}"),
                        outcome: Outcome::Ok,
                        reasons: vec![],
                        details: serde_json::json!({}),
                    },
                )?;
                let csr = CertificationRequest::from_der(&r.csr)?;
                Ok(Ok(self.reserve(
                    tx,
                    actor,
                    ToIssue {
                        person_id: &reg.person.id,
                        profile: r.profile,
                        subject: reg.person.subject.to_name()?,
                        public_key: csr.key.spki().clone(),
                        authority_valid_until: reg.person.authority_valid_until,
                        request_id: Some(id),
                        predecessor: r
                            .signer_serial
                            .as_deref()
                            .filter(|_| r.request_type == RequestType::Rotation),
                        checked_key: None,
                    },
                )?))
            })?;
            self.complete(actor, &reservation)?;
            self.request(id)
        })
    }

    /// Rejects `r` (compare-and-set on its status) with its audit row and
    /// the person's notification, inside the caller's transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_rejection(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        r: &RequestRecord,
        event: RequestEvent,
        reasons: &[Reason],
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let to = next_status(r, event)?;
        let codes: Vec<String> = reasons.iter().map(|x| x.code().to_string()).collect();
        move_request(
            tx,
            r,
            to,
            &RequestDecision {
                reasons: Some(&codes),
                comment,
                decided: Some((actor, now)),
                ..RequestDecision::default()
            },
        )?;
        tx.audit(
            now,
            Event {
                actor,
                action: "request.reject",
                object: format!("request:{}", r.id),
                outcome: Outcome::Refused,
                reasons: reasons.to_vec(),
                details: serde_json::json!({"comment": comment}),
            },
        )?;
        tx.notify(
            now,
            r.person_id.as_deref(),
            "request.rejected",
            serde_json::json!({
                "request_id": r.id, "reasons": codes, "comment": comment,
            }),
        )
    }

    /// An operator rejects a pending request with reason codes and a comment.
    pub fn reject(
        &self,
        actor: &str,
        id: &str,
        reasons: &[String],
        comment: Option<&str>,
    ) -> Result<RequestRecord> {
        let object = format!("request:{id}");
        self.recording(actor, "request.reject", object, || {
            let codes = reasons
                .iter()
                .map(|r| {
                    Reason::from_code(r)
                        .ok_or_else(|| Error::invalid("unknown reason code (see the SPEC's list)"))
                })
                .collect::<Result<Vec<_>>>()?;
            if codes.is_empty() {
                return Err(Error::invalid("at least one reason code is required"));
            }
            if let Some(text) = comment {
                limits::text("comment", text, limits::COMMENT)?;
            }
            let now = self.now();
            self.write(|tx| {
                let r = load(tx, id)?;
                self.record_rejection(tx, actor, &r, RequestEvent::Reject, &codes, comment, now)?;
                load(tx, id)
            })
        })
    }

    /// An operator confirms the signed paper acceptance act of an
    /// `initial_self_signed` request (1.77), giving the key fingerprint read
    /// from it. A fingerprint of another key is refused and the request
    /// keeps waiting; then the registration checks held back at submission
    /// run (`rules::disclosed_reasons`): a refusal rejects the request, else it
    /// becomes `pending` for the person it is for.
    pub fn confirm_act(&self, actor: &str, id: &str, fingerprint: &str) -> Result<RequestRecord> {
        let object = format!("request:{id}");
        self.recording(actor, "request.confirm_act", object, || {
            let now = self.now();
            self.write_verdict(|tx| {
                let r = load(tx, id)?;
                let to = next_status(&r, RequestEvent::ActConfirmed)?;
                if let Err(refusal) = check_act_fingerprint(fingerprint, &r.key_sha256) {
                    return if refusal.kind() == ErrorKind::Refused {
                        tx.audit(
                            now,
                            Event {
                                actor,
                                action: "request.confirm_act",
                                object: format!("request:{id}"),
                                outcome: Outcome::Refused,
                                reasons: refusal.reason_codes().to_vec(),
                                details: serde_json::json!({"message": refusal.message()}),
                            },
                        )?;
                        Ok(Err(refusal))
                    } else {
                        Err(refusal)
                    };
                }
                let csr = CertificationRequest::from_der(&r.csr)?;
                // Registered meanwhile, perhaps: looked for again.
                let person = match &r.person_id {
                    Some(p) => tx.person(p)?,
                    None => person_by_subject(tx, &csr)?,
                };
                let reasons = check_request(&RequestContext {
                    now,
                    request_type: r.request_type,
                    csr: &csr,
                    person: person.as_ref().map(|p| &p.person),
                    signer: None,
                    profile: self.policies.profiles.get(r.profile),
                    key_already_certified: tx.key_certified(&r.key_sha256)?,
                    rules: &self.policies.rules,
                });
                if !reasons.is_empty() {
                    self.record_rejection(
                        tx,
                        actor,
                        &r,
                        RequestEvent::Reject,
                        &reasons,
                        Some("refused when the acceptance act was confirmed"),
                        now,
                    )?;
                    return Ok(Err(Error::reasons(
                        reasons,
                        "the request does not match the registration; it was rejected",
                    )));
                }
                let person_id = person.as_ref().map(|p| p.person.id.clone());
                move_request(
                    tx,
                    &r,
                    to,
                    &RequestDecision {
                        act_confirmed: Some((actor, now)),
                        decision_due: Some(self.policies.calendar.issuance_due(now)),
                        person_id: person_id.as_deref(),
                        ..RequestDecision::default()
                    },
                )?;
                tx.audit(
                    now,
                    Event {
                        actor,
                        action: "request.confirm_act",
                        object: format!("request:{id}"),
                        outcome: Outcome::Ok,
                        reasons: vec![],
                        details: serde_json::json!({"key_sha256": r.key_sha256, "person": person_id}),
                    },
                )?;
                Ok(Ok(load(tx, id)?))
            })
        })
    }

    /// Rejects, as `registration_expired`, every self-signed request whose
    /// paper act was not confirmed within the registration window of its
    /// receipt (defect 12: unconfirmed requests no longer pile up). Run by
    /// the background work; each request is rejected once (compare-and-set).
    pub fn expire_pending_acts(&self) -> Result<Vec<String>> {
        let now = self.now();
        let window = Duration::days(self.policies.rules.registration_window_days.into());
        let due = self
            .store
            .read(|tx| tx.requests_received_before(RequestStatus::PendingAct, now - window))?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let mut expired = Vec::new();
            for stale in &due {
                let Some(r) = tx.request(&stale.id)? else {
                    continue;
                };
                if r.status != RequestStatus::PendingAct {
                    continue;
                }
                self.record_rejection(
                    tx,
                    "system",
                    &r,
                    RequestEvent::Reject,
                    &[Reason::RegistrationExpired],
                    Some("the signed acceptance act did not arrive within the registration window"),
                    now,
                )?;
                expired.push(r.id);
            }
            Ok(expired)
        })
    }

    /// Pending requests with their due times, overdue first, then by due time.
    pub fn due(&self) -> Result<Vec<DueItem>> {
        let now = self.now();
        let pending = self
            .store
            .read(|tx| tx.requests(&[RequestStatus::Pending]))?;
        let mut items: Vec<DueItem> = pending
            .into_iter()
            .filter_map(|r| {
                let due = r.decision_due?;
                Some(DueItem {
                    kind: "request".into(),
                    id: r.id,
                    status: r.status.public().code().into(),
                    due,
                    overdue: due < now,
                })
            })
            .collect();
        items.sort_by_key(|i| (!i.overdue, i.due));
        Ok(items)
    }
}
