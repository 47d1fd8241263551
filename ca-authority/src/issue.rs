//! Issuance with "record before signing" (SPEC §7, as Boulder does it): the
//! serial is reserved and the TBSCertificate stored in one transaction, the
//! CA key signs only after that commit, and a second transaction stores the
//! signed certificate. A crash in between leaves a `signing` row with
//! everything needed to finish; [`Authority::complete_interrupted_issuance`]
//! finishes it at start-up. Serials never repeat: the column is the key.

use chrono::{DateTime, Duration, Utc};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::certificate::TbsCertificate;
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use ca_core::certificate::CertificateParams;
use ca_core::keys::PublicKey;
use ca_core::policy::ProfileKind;
use ca_core::records::StoredCertificate;
use ca_core::request_status::RequestStatus;
use ca_core::serial::{random_serial, serial_hex};
use ca_core::{Error, ErrorKind, Reason, Result};
use ca_store::{Event, NewCertificate, Outcome, RequestDecision, Reservation, Tx};

use crate::Authority;

/// What the paper copy of a certificate shows (Appendix 21).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyData {
    /// The certificate's record.
    pub stored: StoredCertificate,
    /// The signed certificate.
    pub der: Vec<u8>,
    /// The owner and organisation as registered.
    pub person: Option<(
        ca_core::records::Registration,
        ca_core::records::OrganizationRecord,
    )>,
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
    pub request_id: Option<&'a str>,
    /// The certificate whose key signed the rotation (SPEC §3.8).
    pub predecessor: Option<&'a str>,
    /// The key hash the caller found uncertified earlier in the same
    /// transaction (the rule book's `duplicate_key` check): not asked again.
    pub checked_key: Option<&'a str>,
}

/// A certificate as shown outside: reservations are not.
fn shown(tx: &mut Tx<'_>, serial: &str) -> Result<StoredCertificate> {
    tx.certificate(serial)?
        .filter(|c| c.record.status != ca_core::records::CertificateStatus::Signing)
        .ok_or_else(|| not_found(serial))
}

/// `certificate_not_found`, as a 404.
pub(crate) fn not_found(serial: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no certificate {serial}"))
        .with_reasons(&[Reason::CertificateNotFound])
}

impl Authority {
    /// Step 1, inside the caller's transaction: reserve a serial and record
    /// the TBSCertificate. `duplicate_key` when the key was certified before.
    pub(crate) fn reserve(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        what: ToIssue<'_>,
    ) -> Result<Reservation> {
        let now = self.now();
        let profile = self.policies.profiles.get(what.profile);
        // Certified and hashed in its canonical encoding (see keys.rs).
        let public_key = PublicKey::from_spki(&what.public_key)
            .map_err(|e| Error::reason(Reason::WeakKey, e.0))?
            .spki()
            .clone();
        let key_hash = key_sha256(&public_key)?;
        if what.checked_key != Some(key_hash.as_str()) && tx.key_certified(&key_hash)? {
            return Err(Error::reason(
                Reason::DuplicateKey,
                "this public key has already been certified",
            ));
        }
        let authority = profile
            .cap_at_authority
            .then_some(what.authority_valid_until);
        let (not_before, not_after) = profile.validity(now, authority, self.ca.not_after())?;
        let serial = random_serial()?;
        let tbs = self.ca.prepare_certificate(&CertificateParams {
            serial: serial.clone(),
            subject: what.subject,
            public_key,
            not_before,
            not_after,
            profile,
        })?;
        let serial = serial_hex(&serial);
        if let Some(id) = what.request_id {
            // The request leaves `pending` in the same transaction, so no
            // second approval or a rejection can race the signature.
            let moved = tx.set_request_status(
                id,
                RequestStatus::Pending,
                RequestStatus::Issuing,
                &RequestDecision {
                    decided: Some((actor, now)),
                    ..RequestDecision::default()
                },
            )?;
            if !moved {
                return Err(Error::wrong_state(format!(
                    "request {id} is no longer pending"
                )));
            }
        }
        let tbs_der = tbs.to_der().map_err(|e| Error::internal(e.to_string()))?;
        tx.reserve_certificate(&NewCertificate {
            serial: &serial,
            person_id: what.person_id,
            profile: what.profile,
            key_sha256: &key_hash,
            not_before,
            not_after,
            tbs: tbs_der.clone(),
            request_id: what.request_id,
            created_at: now,
            predecessor_serial: what.predecessor,
        })?;
        tx.audit(
            now,
            Event {
                actor,
                action: "certificate.reserve",
                object: format!("certificate:{serial}"),
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"person": what.person_id, "profile": what.profile.code(),
                "request": what.request_id, "not_after": not_after, "predecessor": what.predecessor}),
            },
        )?;
        Ok(Reservation {
            serial,
            tbs: tbs_der,
            request_id: what.request_id.map(str::to_string),
            person_id: what.person_id.to_string(),
            predecessor_serial: what.predecessor.map(str::to_string),
        })
    }

    /// Steps 2 and 3: sign, then store the certificate and mark its request
    /// issued. Idempotent: a reservation finished meanwhile is left alone.
    pub(crate) fn complete(&self, actor: &str, r: &Reservation) -> Result<Vec<u8>> {
        fail::fail_point!("issue.after_reservation");
        let tbs = TbsCertificate::from_der(&r.tbs)
            .map_err(|e| Error::internal(format!("stored TBS: {e}")))?;
        let der = self.ca.sign_certificate(&tbs)?;
        fail::fail_point!("issue.after_signing");
        let now = self.now();
        let stored = self.write(|tx| {
            if !tx.store_signed(&r.serial, &der)? {
                return tx
                    .certificate_der(&r.serial)?
                    .ok_or_else(|| Error::wrong_state("certificate not signed"));
            }
            if let Some(id) = &r.request_id {
                tx.set_request_status(
                    id,
                    RequestStatus::Issuing,
                    RequestStatus::Issued,
                    &RequestDecision {
                        certificate_serial: Some(&r.serial),
                        decided: Some((actor, now)),
                        ..RequestDecision::default()
                    },
                )?;
            }
            tx.audit(
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
            // The organisation hears of every issuance, automatic ones
            // included: a rotation it did not ask for is how a stolen key
            // shows itself (issue 9).
            tx.notify(
                now,
                Some(&r.person_id),
                "certificate.issued",
                serde_json::json!({
                    "serial": r.serial, "request_id": r.request_id,
                    "automatic": actor == "system", "predecessor": r.predecessor_serial,
                }),
            )?;
            if let Some(predecessor) = &r.predecessor_serial {
                let profile = tx.certificate(predecessor)?.map(|c| c.record.profile);
                if profile.is_some_and(|p| self.policies.profiles.get(p).supersede_grace_days == 0)
                {
                    self.supersede(tx, predecessor, &r.serial, now)?;
                }
            }
            Ok(der.clone())
        });
        fail::fail_point!("issue.after_store");
        stored
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
        self.complete_reservations(Some(self.now() - age))
    }

    fn complete_reservations(&self, made_by: Option<DateTime<Utc>>) -> Result<Vec<String>> {
        let pending = self.store.read(|tx| tx.reservations(made_by))?;
        let mut done = Vec::new();
        for r in pending {
            self.complete("system", &r)?;
            done.push(r.serial);
        }
        Ok(done)
    }

    /// A certificate's record and, when signed, its DER; reservations are
    /// not shown.
    pub fn certificate(&self, serial: &str) -> Result<(StoredCertificate, Option<Vec<u8>>)> {
        self.store
            .read(|tx| Ok((shown(tx, serial)?, tx.certificate_der(serial)?)))
    }

    /// A certificate's record alone (a status lookup reads no DER).
    pub fn certificate_record(&self, serial: &str) -> Result<StoredCertificate> {
        self.store.read(|tx| shown(tx, serial))
    }

    /// What the printable paper copy of a certificate shows (Appendix 21):
    /// the signed certificate and its owner as registered. The certificate
    /// itself is public; so is what the copy adds from the registry (the
    /// organisation's ИНН and ОГРН are in the subject already).
    pub fn certificate_copy(&self, serial: &str) -> Result<CopyData> {
        self.store.read(|tx| {
            let stored = shown(tx, serial)?;
            let der = tx
                .certificate_der(serial)?
                .ok_or_else(|| Error::wrong_state("certificate not signed yet"))?;
            let person = match tx.person(&stored.record.person_id)? {
                Some(reg) => tx.organization(&reg.organization_id)?.map(|o| (reg, o)),
                None => None,
            };
            Ok(CopyData {
                stored,
                der,
                person,
            })
        })
    }

    /// Certificates past their reservation, optionally of one person.
    pub fn certificates(&self, person: Option<&str>) -> Result<Vec<StoredCertificate>> {
        self.store.read(|tx| tx.certificates(person))
    }
}
