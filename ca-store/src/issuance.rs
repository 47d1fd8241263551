//! Issuance with "record before signing" (SPEC §7, as Boulder does it): the
//! serial is reserved and the TBSCertificate stored in one transaction, the
//! CA key signs only after that commit, and a second transaction stores the
//! signed certificate. A crash in between leaves a `signing` row with
//! everything needed to finish; [`Registry::complete_interrupted_issuance`]
//! finishes it at start-up. Serials never repeat: the column is the key.

use chrono::{DateTime, Duration, Utc};
use der::{Decode, Encode};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use x509_cert::certificate::TbsCertificate;
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use ca_core::api::CertificateView;
use ca_core::certificate::CertificateParams;
use ca_core::keys::PublicKey;
use ca_core::policy::ProfileKind;
use ca_core::records::{CertificateRecord, CertificateStatus};
use ca_core::serial::{random_serial, serial_hex};
use ca_core::{Error, ErrorKind, Reason, Result};

use crate::audit::{self, Event, Outcome};
use crate::clock::{dt, ts};
use crate::db::{db_error, AnyConnection};
use crate::models::CertRow;
use crate::notify;
use crate::people::{load_person, person_record};
use crate::schema::{certificates, requests};
use crate::Registry;

/// A serial reserved and a TBSCertificate recorded, not yet signed.
#[derive(Debug)]
pub struct Reservation {
    pub(crate) serial: String,
    pub(crate) tbs: TbsCertificate,
    pub(crate) request_id: Option<String>,
    pub(crate) person_id: String,
}

impl Reservation {
    /// The reserved serial.
    pub fn serial(&self) -> &str {
        &self.serial
    }
}

/// SHA-256 of a SubjectPublicKeyInfo's DER, hex: the duplicate-key index.
pub(crate) fn key_sha256(spki: &SubjectPublicKeyInfoOwned) -> Result<String> {
    let der = spki.to_der().map_err(|e| Error::internal(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(der)))
}

/// What to certify.
pub(crate) struct ToIssue<'a> {
    pub person_id: &'a str,
    pub profile: ProfileKind,
    pub subject: Name,
    pub public_key: SubjectPublicKeyInfoOwned,
    pub authority_valid_until: DateTime<Utc>,
    pub request_id: Option<String>,
}

pub(crate) fn status_of(row: &CertRow) -> CertificateStatus {
    match row.status.as_str() {
        "signing" => CertificateStatus::Signing,
        "active" => CertificateStatus::Active,
        "suspended" => CertificateStatus::Suspended {
            until: dt(row.suspended_until.unwrap_or(row.not_after)),
        },
        _ => CertificateStatus::Revoked,
    }
}

pub(crate) fn record_of(row: &CertRow) -> CertificateRecord {
    CertificateRecord {
        serial: row.serial.clone(),
        person_id: row.person_id.clone(),
        profile: ProfileKind::from_code(&row.profile).unwrap_or(ProfileKind::Working),
        status: status_of(row),
        not_before: dt(row.not_before),
        not_after: dt(row.not_after),
    }
}

/// When a planned rotation should be asked for: 30 days before the end, or
/// at the start for shorter certificates.
fn renewal_due(row: &CertRow) -> DateTime<Utc> {
    (dt(row.not_after) - Duration::days(30)).max(dt(row.not_before))
}

pub(crate) fn certificate_view(
    row: &CertRow,
    now: DateTime<Utc>,
    operator: bool,
) -> CertificateView {
    let record = record_of(row);
    CertificateView {
        serial: row.serial.clone(),
        status: record.public_status(now).to_string(),
        not_before: dt(row.not_before),
        not_after: dt(row.not_after),
        suspended_until: (row.status == "suspended")
            .then(|| row.suspended_until.map(dt))
            .flatten(),
        revoked_at: row.revoked_at.map(dt),
        revocation_reason: row.revocation_reason.clone(),
        renewal_due: (row.status == "active").then(|| renewal_due(row)),
        person_id: operator.then(|| row.person_id.clone()),
        profile: operator.then(|| row.profile.clone()),
    }
}

/// `certificate_not_found`, as a 404.
pub(crate) fn not_found(serial: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no certificate {serial}"))
        .with_reasons(&[Reason::CertificateNotFound])
}

pub(crate) fn load_cert(conn: &mut AnyConnection, serial: &str) -> Result<Option<CertRow>> {
    certificates::table
        .find(serial)
        .select(CertRow::as_select())
        .first(conn)
        .optional()
        .map_err(db_error)
}

impl Registry {
    /// Step 1, inside the caller's transaction: reserve a serial and record
    /// the TBSCertificate. `duplicate_key` when the key was certified before.
    pub(crate) fn reserve(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        what: ToIssue<'_>,
    ) -> Result<Reservation> {
        let now = self.now();
        let profile = self.policies().profiles.get(what.profile);
        // Certified and hashed in its canonical encoding (see keys.rs).
        let public_key = PublicKey::from_spki(&what.public_key)
            .map_err(|e| Error::reason(Reason::WeakKey, e.0))?
            .spki()
            .clone();
        let key_hash = key_sha256(&public_key)?;
        let taken = certificates::table
            .filter(certificates::key_sha256.eq(&key_hash))
            .count()
            .get_result::<i64>(c)
            .map_err(db_error)?;
        if taken > 0 {
            return Err(Error::reason(
                Reason::DuplicateKey,
                "this public key has already been certified",
            ));
        }
        let authority = profile
            .cap_at_authority
            .then_some(what.authority_valid_until);
        let (not_before, not_after) = profile.validity(now, authority, self.ca().not_after())?;
        let serial = random_serial()?;
        let tbs = self.ca().prepare_certificate(&CertificateParams {
            serial: serial.clone(),
            subject: what.subject,
            public_key,
            not_before,
            not_after,
            profile,
        })?;
        let serial = serial_hex(&serial);
        let row = CertRow {
            serial: serial.clone(),
            person_id: what.person_id.to_string(),
            profile: what.profile.code().to_string(),
            status: "signing".into(),
            key_sha256: key_hash,
            not_before: ts(not_before),
            not_after: ts(not_after),
            tbs: tbs.to_der().map_err(|e| Error::internal(e.to_string()))?,
            der: None,
            request_id: what.request_id.clone(),
            created_at: ts(now),
            suspended_at: None,
            suspended_until: None,
            revoked_at: None,
            revocation_reason: None,
            invalidity_date: None,
        };
        if let Some(id) = &what.request_id {
            // The request leaves `pending` in the same transaction, so no
            // second approval or a rejection can race the signature.
            let n = diesel::update(
                requests::table
                    .find(id)
                    .filter(requests::status.eq("pending")),
            )
            .set(requests::status.eq("issuing"))
            .execute(c)
            .map_err(db_error)?;
            if n != 1 {
                return Err(Error::wrong_state(format!(
                    "request {id} is no longer pending"
                )));
            }
        }
        diesel::insert_into(certificates::table)
            .values(&row)
            .execute(c)
            .map_err(db_error)?;
        audit::append(
            c,
            ts(now),
            Event {
                actor,
                action: "certificate.reserve",
                object: format!("certificate:{serial}"),
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"person": what.person_id, "profile": what.profile.code(),
                "request": what.request_id, "not_after": not_after}),
            },
        )?;
        Ok(Reservation {
            serial,
            tbs,
            request_id: what.request_id,
            person_id: what.person_id.to_string(),
        })
    }

    /// Steps 2 and 3: sign, then store the certificate and mark its request
    /// issued. Idempotent: a reservation finished meanwhile is left alone.
    pub(crate) fn complete(&self, actor: &str, r: &Reservation) -> Result<Vec<u8>> {
        let der = self.ca().sign_certificate(&r.tbs)?;
        let now = ts(self.now());
        self.write(|c| {
            let updated = diesel::update(
                certificates::table
                    .find(&r.serial)
                    .filter(certificates::status.eq("signing")),
            )
            .set((
                certificates::der.eq(Some(der.clone())),
                certificates::status.eq("active"),
            ))
            .execute(c)
            .map_err(db_error)?;
            if updated == 0 {
                let row = load_cert(c, &r.serial)?
                    .ok_or_else(|| Error::not_found("reservation vanished"))?;
                return row
                    .der
                    .ok_or_else(|| Error::wrong_state("certificate not signed"));
            }
            if let Some(id) = &r.request_id {
                diesel::update(
                    requests::table
                        .find(id)
                        .filter(requests::status.eq("issuing")),
                )
                .set((
                    requests::status.eq("issued"),
                    requests::certificate_serial.eq(Some(&r.serial)),
                    requests::decided_at.eq(Some(now)),
                ))
                .execute(c)
                .map_err(db_error)?;
            }
            audit::append(
                c,
                now,
                Event {
                    actor,
                    action: "certificate.issue",
                    object: format!("certificate:{}", r.serial),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({"request": r.request_id, "person": r.person_id}),
                },
            )?;
            notify::queue(
                c,
                now,
                Some(&r.person_id),
                "certificate.issued",
                serde_json::json!({
                    "serial": r.serial, "request_id": r.request_id,
                }),
            )?;
            Ok(der.clone())
        })
    }

    /// Finishes every issuance a crash interrupted between reservation and
    /// storing the signed certificate. Returns the serials finished.
    pub fn complete_interrupted_issuance(&self) -> Result<Vec<String>> {
        self.complete_reservations(None)
    }

    /// The same for reservations at least `age` old: run by the background
    /// work of every instance, so an issuance interrupted by a failed second
    /// transaction does not wait for a restart. (A reservation being signed
    /// right now is younger; finishing one twice is harmless anyway.)
    pub fn complete_reservations_older_than(&self, age: Duration) -> Result<Vec<String>> {
        self.complete_reservations(Some(ts(self.now() - age)))
    }

    fn complete_reservations(&self, made_by: Option<i64>) -> Result<Vec<String>> {
        let pending: Vec<CertRow> = self.read(|c| {
            certificates::table
                .filter(certificates::status.eq("signing"))
                .filter(certificates::created_at.le(made_by.unwrap_or(i64::MAX)))
                .select(CertRow::as_select())
                .load(c)
                .map_err(db_error)
        })?;
        let mut done = Vec::new();
        for row in pending {
            let tbs = TbsCertificate::from_der(&row.tbs)
                .map_err(|e| Error::internal(format!("stored TBS: {e}")))?;
            let r = Reservation {
                serial: row.serial.clone(),
                tbs,
                request_id: row.request_id.clone(),
                person_id: row.person_id.clone(),
            };
            self.complete("system", &r)?;
            done.push(row.serial);
        }
        Ok(done)
    }

    /// Issues a technological certificate for a person's key (1.76.1–1.76.2).
    pub fn issue_technological(
        &self,
        actor: &str,
        person_id: &str,
        public_key: SubjectPublicKeyInfoOwned,
    ) -> Result<(String, Vec<u8>)> {
        let reservation = self.reserve_technological(actor, person_id, public_key)?;
        let der = self.finish_issuance(actor, &reservation)?;
        Ok((reservation.serial, der))
    }

    /// Signs and stores a reserved certificate (the second step of
    /// [`issue_technological`](Self::issue_technological)).
    pub fn finish_issuance(&self, actor: &str, reservation: &Reservation) -> Result<Vec<u8>> {
        self.complete(actor, reservation)
    }

    /// The first step of [`issue_technological`](Self::issue_technological):
    /// checks the person and key, reserves the serial and records the
    /// TBSCertificate, and stops before signing.
    pub fn reserve_technological(
        &self,
        actor: &str,
        person_id: &str,
        public_key: SubjectPublicKeyInfoOwned,
    ) -> Result<Reservation> {
        let key =
            PublicKey::from_spki(&public_key).map_err(|e| Error::reason(Reason::WeakKey, e.0))?;
        self.policies()
            .profiles
            .get(ProfileKind::Technological)
            .check_key(key.algorithm())?;
        let now = self.now();
        self.write(|c| {
            let (p, o) = load_person(c, person_id)?
                .ok_or_else(|| Error::not_found(format!("no person {person_id}")))?;
            let record = person_record(&p, &o);
            if !record.is_authorised() {
                return Err(Error::reason(
                    Reason::PersonNotActive,
                    "the person is not authorised",
                ));
            }
            if now > record.authority_valid_until {
                return Err(Error::reason(
                    Reason::AuthorityExpired,
                    "the power of attorney has expired",
                ));
            }
            let subject = record.subject.to_name()?;
            self.reserve(
                c,
                actor,
                ToIssue {
                    person_id,
                    profile: ProfileKind::Technological,
                    subject,
                    public_key,
                    authority_valid_until: record.authority_valid_until,
                    request_id: None,
                },
            )
        })
    }

    /// A certificate's status and, when signed, its DER.
    pub fn certificate(
        &self,
        serial: &str,
        operator: bool,
    ) -> Result<(CertificateView, Option<Vec<u8>>)> {
        let now = self.now();
        self.read(|c| {
            let row = load_cert(c, serial)?
                .filter(|r| r.status != "signing")
                .ok_or_else(|| not_found(serial))?;
            Ok((certificate_view(&row, now, operator), row.der))
        })
    }

    /// Certificates, optionally of one person and in one public status.
    pub fn certificates(
        &self,
        person: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<CertificateView>> {
        let now = self.now();
        self.read(|c| {
            let mut q = certificates::table
                .filter(certificates::status.ne("signing"))
                .order(certificates::created_at.asc())
                .select(CertRow::as_select())
                .into_boxed();
            if let Some(p) = person {
                q = q.filter(certificates::person_id.eq(p.to_string()));
            }
            let rows: Vec<CertRow> = q.load(c).map_err(db_error)?;
            Ok(rows
                .iter()
                .map(|r| certificate_view(r, now, true))
                .filter(|v| status.is_none_or(|s| v.status == s))
                .collect())
        })
    }
}
