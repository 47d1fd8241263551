//! Certificate requests (SPEC §3.1–3.3): submission with every check, the
//! states `pending_act` → `pending` → `issued` / `rejected`, operators'
//! decisions, and what is due.

use chrono::{DateTime, Utc};
use der::Encode;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use ca_core::api::{DueItem, RequestView};
use ca_core::csr::CertificationRequest;
use ca_core::envelope::{unwrap_request, Signer};
use ca_core::policy::ProfileKind;
use ca_core::records::{CertificateRecord, PersonRecord};
use ca_core::request_type::RequestType;
use ca_core::rules::{check_request, target_profile, RequestContext, SignerFacts};
use ca_core::serial::serial_hex;
use ca_core::subject::names_match;
use ca_core::{Error, ErrorKind, Reason, Result};

use crate::audit::{self, split_codes, Event, Outcome};
use crate::clock::{dt, ts};
use crate::db::{db_error, AnyConnection};
use crate::issuance::{key_sha256, load_cert, record_of, Reservation, ToIssue};
use crate::models::{OrgRow, PersonRow, RequestRow};
use crate::notify;
use crate::people::{load_person, person_record};
use crate::schema::{certificates, organizations, persons, requests};
use crate::{join_reasons, Registry};

/// The outcome of a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The request.
    pub view: RequestView,
    /// False when the same bytes had been submitted before.
    pub created: bool,
}

/// What the printable acceptance act shows (SPEC §4, `004_*.txt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActData {
    /// Request id.
    pub request_id: String,
    /// Subject as requested, RFC 4514.
    pub subject: String,
    /// e.g. "RSA 2048".
    pub key_algorithm: String,
    /// SHA-256 of the SubjectPublicKeyInfo, hex.
    pub key_sha256: String,
    /// The public key, PEM.
    pub public_key_pem: String,
    /// The person, when known.
    pub person: Option<ca_core::api::Person>,
    /// When received.
    pub received_at: DateTime<Utc>,
}

fn view(r: &RequestRow) -> RequestView {
    RequestView {
        id: r.id.clone(),
        request_type: r.request_type.clone(),
        // `issuing` lasts from the reservation to the stored signature;
        // outside it is still the SPEC's `pending`.
        status: if r.status == "issuing" {
            "pending".into()
        } else {
            r.status.clone()
        },
        reasons: split_codes(&r.reasons),
        decision_due: r.decision_due.map(dt),
        certificate_serial: r.certificate_serial.clone(),
        person_id: r.person_id.clone(),
        profile: Some(r.profile.clone()),
        received_at: Some(dt(r.received_at)),
        comment: r.comment.clone(),
        key_sha256: Some(r.key_sha256.clone()),
    }
}

fn load_request(c: &mut AnyConnection, id: &str) -> Result<RequestRow> {
    requests::table
        .find(id)
        .select(RequestRow::as_select())
        .first(c)
        .optional()
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found(format!("no request {id}")))
}

/// The person an `initial_self_signed` request is for: a registered person
/// whose subject the request carries (authorised ones first).
fn person_by_subject(
    c: &mut AnyConnection,
    csr: &CertificationRequest,
) -> Result<Option<(PersonRow, OrgRow)>> {
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
    let wanted = cn
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let candidates: Vec<(PersonRow, OrgRow)> = persons::table
        .inner_join(organizations::table)
        .select((PersonRow::as_select(), OrgRow::as_select()))
        .load(c)
        .map_err(db_error)?;
    let mut matching: Vec<(PersonRow, OrgRow)> = candidates
        .into_iter()
        .filter(|(p, _)| p.full_name.to_lowercase() == wanted)
        .filter(|(p, o)| {
            person_record(p, o)
                .subject
                .to_name()
                .is_ok_and(|n| names_match(&n, &csr.request.info.subject))
        })
        .collect();
    matching.sort_by_key(|(p, o)| !(p.status == "active" && o.status == "active"));
    Ok(matching.into_iter().next())
}

impl Registry {
    /// Submits a request envelope (DER, BER or PEM). Structural failures
    /// return `Malformed` errors (and leave only an audit record); a policy
    /// refusal is recorded as `rejected` and returned as a normal view.
    pub fn submit_request(&self, body: &[u8]) -> Result<Submission> {
        let now = self.now();
        let cms_sha256 = hex::encode(Sha256::digest(body));
        if let Some(existing) = self.read(|c| {
            requests::table
                .filter(requests::cms_sha256.eq(&cms_sha256))
                .select(RequestRow::as_select())
                .first(c)
                .optional()
                .map_err(db_error)
        })? {
            return Ok(Submission {
                view: view(&existing),
                created: false,
            });
        }
        let unwrapped = match unwrap_request(body, self.ca().trust_anchor()) {
            Ok(u) => u,
            Err(e) => return Err(self.refuse_input(e, &cms_sha256, now)),
        };
        let csr = &unwrapped.csr;
        let key_hash = key_sha256(csr.key.spki())?;
        // Who a self-signed request is for is found before the write lock is
        // taken (it reads every registration), then loaded again inside it.
        let claimed = match &unwrapped.signer {
            Signer::RequestKey => self.read(|c| person_by_subject(c, csr))?.map(|(p, _)| p.id),
            Signer::Certificate(_) => None,
        };
        let (reservation, row) = self.write(|c| {
            if let Some(existing) = requests::table
                .filter(requests::cms_sha256.eq(&cms_sha256))
                .select(RequestRow::as_select())
                .first(c)
                .optional()
                .map_err(db_error)?
            {
                return Ok((None, existing));
            }
            // Who signed, and for whom.
            let (signer_row, signer_cert, person) = match &unwrapped.signer {
                Signer::Certificate(cert) => {
                    let serial = serial_hex(&cert.tbs_certificate.serial_number);
                    let row = load_cert(c, &serial)?.filter(|r| r.status != "signing").ok_or_else(|| {
                        Error::reason(Reason::UnknownSigner, "the signing certificate is not in this CA's registry")
                    })?;
                    let person = load_person(c, &row.person_id)?;
                    (Some(row), Some(cert.as_ref().clone()), person)
                }
                Signer::RequestKey => (None, None, match &claimed {
                    Some(id) => load_person(c, id)?,
                    None => None,
                }),
            };
            let signer_record = signer_row.as_ref().map(record_of);
            let signer_profile = signer_record.as_ref().map(|r| r.profile);
            let request_type = RequestType::decide(&unwrapped.signer, signer_profile)?;
            let profile = target_profile(request_type, signer_profile, csr, &self.policies().profiles);
            let duplicate = certificates::table
                .filter(certificates::key_sha256.eq(&key_hash))
                .count()
                .get_result::<i64>(c)
                .map_err(db_error)?
                > 0;
            let person_rec = person.as_ref().map(|(p, o)| person_record(p, o));
            let reasons = self.request_reasons(request_type, csr, person_rec.as_ref(), signer_record.as_ref(), signer_cert.as_ref(), profile, duplicate, now);
            let auto = reasons.is_empty() && self.policies().profiles.get(profile).auto_approves(request_type);
            let status = match (reasons.is_empty(), request_type) {
                (false, _) => "rejected",
                (true, RequestType::InitialSelfSigned) => "pending_act",
                (true, _) => "pending",
            };
            let row = RequestRow {
                id: ca_core::random_id(),
                cms_sha256: cms_sha256.clone(),
                cms: unwrapped.cms_der.clone(),
                csr: csr.der.clone(),
                request_type: request_type.code().into(),
                status: status.into(),
                reasons: join_reasons(&reasons),
                comment: None,
                person_id: person.as_ref().map(|(p, _)| p.id.clone()),
                profile: profile.code().into(),
                signer_serial: signer_row.as_ref().map(|r| r.serial.clone()),
                key_sha256: key_hash.clone(),
                key_algorithm: csr.key.algorithm().to_string(),
                received_at: ts(now),
                decision_due: (status == "pending").then(|| ts(self.policies().calendar.issuance_due(now))),
                decided_at: (status == "rejected").then_some(ts(now)),
                decided_by: (status == "rejected").then(|| "system".to_string()),
                act_confirmed_at: None,
                act_confirmed_by: None,
                certificate_serial: None,
            };
            diesel::insert_into(requests::table).values(&row).execute(c).map_err(db_error)?;
            audit::append(c, ts(now), Event {
                actor: "client",
                action: "request.submit",
                object: format!("request:{}", row.id),
                outcome: if reasons.is_empty() { Outcome::Ok } else { Outcome::Refused },
                reasons: reasons.clone(),
                details: serde_json::json!({"type": row.request_type, "status": row.status, "person": row.person_id,
                    "signer": row.signer_serial, "key_sha256": row.key_sha256}),
            })?;
            if !reasons.is_empty() {
                notify::queue(c, ts(now), row.person_id.as_deref(), "request.rejected", serde_json::json!({
                    "request_id": row.id, "reasons": reasons.iter().map(|r| r.code()).collect::<Vec<_>>(),
                }))?;
            }
            let reservation = if auto {
                let (p, _) = person.as_ref().expect("an accepted request has a person");
                let rec = person_rec.as_ref().expect("an accepted request has a person");
                Some(self.reserve(c, "system", ToIssue {
                    person_id: &p.id,
                    profile,
                    subject: rec.subject.to_name()?,
                    public_key: csr.key.spki().clone(),
                    authority_valid_until: rec.authority_valid_until,
                    request_id: Some(row.id.clone()),
                })?)
            } else {
                None
            };
            Ok((reservation, row))
        }).map_err(|e| {
            if e.kind() == ErrorKind::Malformed { self.refuse_input(e, &cms_sha256, now) } else { e }
        })?;
        let mut row = row;
        if let Some(r) = reservation {
            self.complete("system", &r)?;
            row.status = "issued".into();
            row.certificate_serial = Some(r.serial.clone());
        }
        Ok(Submission {
            view: view(&row),
            created: true,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn request_reasons(
        &self,
        request_type: RequestType,
        csr: &CertificationRequest,
        person: Option<&PersonRecord>,
        signer_record: Option<&CertificateRecord>,
        signer_cert: Option<&Certificate>,
        profile: ProfileKind,
        duplicate: bool,
        now: DateTime<Utc>,
    ) -> Vec<Reason> {
        let signer = match (signer_record, signer_cert) {
            (Some(record), Some(certificate)) => Some(SignerFacts {
                record,
                certificate,
            }),
            _ => None,
        };
        let mut reasons = check_request(&RequestContext {
            now,
            request_type,
            csr,
            person,
            signer,
            profile: self.policies().profiles.get(profile),
            key_already_certified: duplicate,
            rules: &self.policies().rules,
        });
        // A signing certificate must belong to the person it speaks for.
        if let (Some(rec), Some(p)) = (signer_record, person) {
            if rec.person_id != p.id && !reasons.contains(&Reason::PersonNotActive) {
                reasons.push(Reason::PersonNotActive);
            }
        }
        reasons
    }

    /// Records a structural refusal in the audit trail (nothing else is
    /// stored, SPEC §3.2) and hands the error back. If even the audit row
    /// cannot be written, that failure is returned instead.
    fn refuse_input(&self, e: Error, cms_sha256: &str, now: DateTime<Utc>) -> Error {
        let written = self.write(|c| {
            audit::append(
                c,
                ts(now),
                Event {
                    actor: "client",
                    action: "request.submit",
                    object: format!("envelope:{cms_sha256}"),
                    outcome: Outcome::Refused,
                    reasons: e.reason_codes().to_vec(),
                    details: serde_json::json!({"message": e.message()}),
                },
            )
        });
        match written {
            Ok(()) => e,
            Err(audit_failure) => audit_failure,
        }
    }

    /// One request.
    pub fn request(&self, id: &str) -> Result<RequestView> {
        self.read(|c| load_request(c, id).map(|r| view(&r)))
    }

    /// Requests, optionally in one status, oldest first.
    pub fn requests(&self, status: Option<&str>) -> Result<Vec<RequestView>> {
        self.read(|c| {
            let mut q = requests::table
                .select(RequestRow::as_select())
                .order(requests::received_at.asc())
                .into_boxed();
            if let Some(s) = status {
                q = q.filter(requests::status.eq(s.to_string()));
            }
            let rows: Vec<RequestRow> = q.load(c).map_err(db_error)?;
            Ok(rows.iter().map(view).collect())
        })
    }

    /// The issued certificate of a request; `WrongState` while not issued.
    pub fn request_certificate(&self, id: &str) -> Result<Vec<u8>> {
        self.read(|c| {
            let r = load_request(c, id)?;
            let serial = r
                .certificate_serial
                .filter(|_| r.status == "issued")
                .ok_or_else(|| {
                    Error::wrong_state(format!("request {id} is {}, not issued", r.status))
                })?;
            load_cert(c, &serial)?
                .and_then(|row| row.der)
                .ok_or_else(|| Error::wrong_state("certificate not signed yet"))
        })
    }

    /// What the acceptance act of a request shows.
    pub fn request_act(&self, id: &str) -> Result<ActData> {
        self.read(|c| {
            let r = load_request(c, id)?;
            let csr = CertificationRequest::from_der(&r.csr)?;
            let spki = csr
                .request
                .info
                .public_key
                .to_der()
                .map_err(|e| Error::internal(e.to_string()))?;
            let person = match &r.person_id {
                Some(p) => load_person(c, p)?.map(|(p, o)| crate::people::person_view(p, &o)),
                None => None,
            };
            Ok(ActData {
                request_id: r.id.clone(),
                subject: csr.request.info.subject.to_string(),
                key_algorithm: r.key_algorithm.clone(),
                key_sha256: r.key_sha256.clone(),
                public_key_pem: ca_core::der_to_pem("PUBLIC KEY", &spki),
                person,
                received_at: dt(r.received_at),
            })
        })
    }

    /// An operator approves a pending request. The person and key are
    /// checked again at decision time; a refusal rejects the request.
    pub fn approve(&self, actor: &str, id: &str) -> Result<RequestView> {
        let now = self.now();
        let reservation: Reservation = self.write_verdict(|c| {
            let r = load_request(c, id)?;
            if r.status != "pending" {
                return Err(Error::wrong_state(format!(
                    "request {id} is {}, not pending",
                    r.status
                )));
            }
            let csr = CertificationRequest::from_der(&r.csr)?;
            let person = match &r.person_id {
                Some(p) => load_person(c, p)?,
                None => None,
            };
            let rec = person.as_ref().map(|(p, o)| person_record(p, o));
            let mut reasons = Vec::new();
            // The certificate that signed the request may have been revoked
            // or suspended since (a stolen technological key, say).
            if let Some(signer) = &r.signer_serial {
                let usable = load_cert(c, signer)?.is_some_and(|row| row.status == "active");
                if !usable {
                    reasons.push(Reason::SignerCertificateInvalid);
                }
            }
            if !rec.as_ref().is_some_and(PersonRecord::is_authorised) {
                reasons.push(Reason::PersonNotActive);
            }
            if rec.as_ref().is_some_and(|p| now > p.authority_valid_until) {
                reasons.push(Reason::AuthorityExpired);
            }
            let taken = certificates::table
                .filter(certificates::key_sha256.eq(&r.key_sha256))
                .count()
                .get_result::<i64>(c)
                .map_err(db_error)?;
            if taken > 0 {
                reasons.push(Reason::DuplicateKey);
            }
            if !reasons.is_empty() {
                self.decide_rejection(
                    c,
                    actor,
                    &r,
                    &reasons,
                    Some("refused at approval: the registration changed"),
                    now,
                )?;
                return Ok(Err(Error::reasons(
                    reasons,
                    "the request no longer passes the rules; it was rejected",
                )));
            }
            let rec = rec.expect("authorised person checked above");
            let profile = ProfileKind::from_code(&r.profile).unwrap_or(ProfileKind::Working);
            diesel::update(
                requests::table
                    .find(id)
                    .filter(requests::status.eq("pending")),
            )
            .set((
                requests::decided_by.eq(Some(actor)),
                requests::decided_at.eq(Some(ts(now))),
            ))
            .execute(c)
            .map_err(db_error)?;
            audit::append(
                c,
                ts(now),
                Event {
                    actor,
                    action: "request.approve",
                    object: format!("request:{id}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({}),
                },
            )?;
            Ok(Ok(self.reserve(
                c,
                actor,
                ToIssue {
                    person_id: &rec.id,
                    profile,
                    subject: rec.subject.to_name()?,
                    public_key: csr.key.spki().clone(),
                    authority_valid_until: rec.authority_valid_until,
                    request_id: Some(id.to_string()),
                },
            )?))
        })?;
        self.complete(actor, &reservation)?;
        self.request(id)
    }

    fn decide_rejection(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        r: &RequestRow,
        reasons: &[Reason],
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let n = diesel::update(
            requests::table
                .find(&r.id)
                .filter(requests::status.eq(&r.status)),
        )
        .set((
            requests::status.eq("rejected"),
            requests::reasons.eq(join_reasons(reasons)),
            requests::comment.eq(comment),
            requests::decided_at.eq(Some(ts(now))),
            requests::decided_by.eq(Some(actor)),
        ))
        .execute(c)
        .map_err(db_error)?;
        if n != 1 {
            return Err(Error::wrong_state("the request changed concurrently"));
        }
        audit::append(
            c,
            ts(now),
            Event {
                actor,
                action: "request.reject",
                object: format!("request:{}", r.id),
                outcome: Outcome::Refused,
                reasons: reasons.to_vec(),
                details: serde_json::json!({"comment": comment}),
            },
        )?;
        notify::queue(
            c,
            ts(now),
            r.person_id.as_deref(),
            "request.rejected",
            serde_json::json!({
                "request_id": r.id, "reasons": reasons.iter().map(|x| x.code()).collect::<Vec<_>>(), "comment": comment,
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
    ) -> Result<RequestView> {
        let codes = reasons
            .iter()
            .map(|r| {
                Reason::from_code(r)
                    .ok_or_else(|| Error::invalid(format!("unknown reason code {r:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        if codes.is_empty() {
            return Err(Error::invalid("at least one reason code is required"));
        }
        let now = self.now();
        self.write(|c| {
            let r = load_request(c, id)?;
            if r.status != "pending" && r.status != "pending_act" {
                return Err(Error::wrong_state(format!(
                    "request {id} is {}, not pending",
                    r.status
                )));
            }
            self.decide_rejection(c, actor, &r, &codes, comment, now)?;
            load_request(c, id).map(|r| view(&r))
        })
    }

    /// An operator confirms the signed paper acceptance act of an
    /// `initial_self_signed` request (1.77): it becomes `pending`.
    pub fn confirm_act(&self, actor: &str, id: &str) -> Result<RequestView> {
        let now = self.now();
        self.write(|c| {
            let r = load_request(c, id)?;
            if r.status != "pending_act" {
                return Err(Error::wrong_state(format!(
                    "request {id} is {}, not waiting for its act",
                    r.status
                )));
            }
            diesel::update(
                requests::table
                    .find(id)
                    .filter(requests::status.eq("pending_act")),
            )
            .set((
                requests::status.eq("pending"),
                requests::act_confirmed_at.eq(Some(ts(now))),
                requests::act_confirmed_by.eq(Some(actor)),
                requests::decision_due.eq(Some(ts(self.policies().calendar.issuance_due(now)))),
            ))
            .execute(c)
            .map_err(db_error)?;
            audit::append(
                c,
                ts(now),
                Event {
                    actor,
                    action: "request.confirm_act",
                    object: format!("request:{id}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({"key_sha256": r.key_sha256}),
                },
            )?;
            load_request(c, id).map(|r| view(&r))
        })
    }

    /// Pending requests with their due times, overdue first, then by due time.
    pub fn due(&self) -> Result<Vec<DueItem>> {
        let now = self.now();
        self.read(|c| {
            let rows: Vec<(String, String, Option<i64>)> = requests::table
                .filter(requests::status.eq("pending"))
                .select((requests::id, requests::status, requests::decision_due))
                .load(c)
                .map_err(db_error)?;
            let mut items: Vec<DueItem> = rows
                .into_iter()
                .filter_map(|(id, status, due)| {
                    let due = dt(due?);
                    Some(DueItem {
                        kind: "request".into(),
                        id,
                        status,
                        due,
                        overdue: due < now,
                    })
                })
                .collect();
            items.sort_by_key(|i| (!i.overdue, i.due));
            Ok(items)
        })
    }
}
