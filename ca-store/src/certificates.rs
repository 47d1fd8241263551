//! The `certificates` table: reservations (SPEC §7, record before signing),
//! signed certificates, and their compare-and-set state changes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::crl::RevocationReason;
use ca_core::policy::ProfileKind;
use ca_core::records::StoredCertificate;
use ca_core::Result;

use crate::db::db_error;
use crate::mapping::{self, dt, ts, CERT_ACTIVE, REVOKED, SIGNING, SUSPENDED};
use crate::models::CertRow;
use crate::schema::certificates;
use crate::Tx;

/// A certificate to reserve: its serial and the TBSCertificate the CA will
/// sign once this is committed.
#[derive(Clone, Debug)]
pub struct NewCertificate<'a> {
    /// Lowercase hex serial.
    pub serial: &'a str,
    /// The owner.
    pub person_id: &'a str,
    /// The profile.
    pub profile: ProfileKind,
    /// SHA-256 of the certified key, hex.
    pub key_sha256: &'a str,
    /// Validity.
    pub not_before: DateTime<Utc>,
    /// Validity.
    pub not_after: DateTime<Utc>,
    /// The DER TBSCertificate.
    pub tbs: Vec<u8>,
    /// The request it is issued on, if any.
    pub request_id: Option<&'a str>,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// The certificate whose key signed the rotation request (SPEC §3.8).
    pub predecessor_serial: Option<&'a str>,
}

/// A reservation not yet finished: what recovery needs to sign and store it.
#[derive(Clone, Debug)]
pub struct Reservation {
    /// Lowercase hex serial.
    pub serial: String,
    /// The DER TBSCertificate.
    pub tbs: Vec<u8>,
    /// The request it is issued on, if any.
    pub request_id: Option<String>,
    /// The owner.
    pub person_id: String,
    /// The certificate it succeeds on a planned rotation (SPEC §3.8).
    pub predecessor_serial: Option<String>,
}

/// A lapsed suspension: serial, owner, end of the period.
pub type Lapsed = (String, String, Option<DateTime<Utc>>);

impl Tx<'_> {
    /// One certificate, signed or reserved.
    pub fn certificate(&mut self, serial: &str) -> Result<Option<StoredCertificate>> {
        certificates::table
            .find(serial)
            .select(CertRow::as_select())
            .first(self.c)
            .optional()
            .map_err(db_error)?
            .map(|r| mapping::certificate(&r))
            .transpose()
    }

    /// A signed certificate's DER.
    pub fn certificate_der(&mut self, serial: &str) -> Result<Option<Vec<u8>>> {
        let der: Option<Option<Vec<u8>>> = certificates::table
            .find(serial)
            .select(certificates::der)
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(der.flatten())
    }

    /// Certificates past their reservation, oldest first, optionally of one
    /// person.
    pub fn certificates(&mut self, person: Option<&str>) -> Result<Vec<StoredCertificate>> {
        let mut q = certificates::table
            .filter(certificates::status.ne(SIGNING))
            .order(certificates::created_at.asc())
            .select(CertRow::as_select())
            .into_boxed();
        if let Some(p) = person {
            q = q.filter(certificates::person_id.eq(p.to_string()));
        }
        let rows: Vec<CertRow> = q.load(self.c).map_err(db_error)?;
        rows.iter().map(mapping::certificate).collect()
    }

    /// Whether a key (by SHA-256 of its canonical SubjectPublicKeyInfo) is
    /// in any certificate, reserved ones included: the `duplicate_key` fact.
    pub fn key_certified(&mut self, key_sha256: &str) -> Result<bool> {
        let n: i64 = certificates::table
            .filter(certificates::key_sha256.eq(key_sha256))
            .count()
            .get_result(self.c)
            .map_err(db_error)?;
        Ok(n > 0)
    }

    /// Reserves the serial and records the TBSCertificate (status
    /// `signing`). A serial taken before fails on the primary key.
    pub fn reserve_certificate(&mut self, new: &NewCertificate<'_>) -> Result<()> {
        diesel::insert_into(certificates::table)
            .values((
                CertRow {
                    serial: new.serial.to_string(),
                    person_id: new.person_id.to_string(),
                    profile: new.profile.code().to_string(),
                    status: SIGNING.into(),
                    key_sha256: new.key_sha256.to_string(),
                    not_before: ts(new.not_before),
                    not_after: ts(new.not_after),
                    request_id: new.request_id.map(str::to_string),
                    created_at: ts(new.created_at),
                    suspended_at: None,
                    suspended_until: None,
                    revoked_at: None,
                    revocation_reason: None,
                    predecessor_serial: new.predecessor_serial.map(str::to_string),
                },
                certificates::tbs.eq(&new.tbs[..]),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// Stores the signature of a reservation: `signing` → `active`. False
    /// when it was finished (or revoked) meanwhile.
    pub fn store_signed(&mut self, serial: &str, der: &[u8]) -> Result<bool> {
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq(SIGNING)),
        )
        .set((
            certificates::der.eq(Some(der.to_vec())),
            certificates::status.eq(CERT_ACTIVE),
        ))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Reservations still `signing`, made at or before `made_by` (all when
    /// `None`).
    pub fn reservations(&mut self, made_by: Option<DateTime<Utc>>) -> Result<Vec<Reservation>> {
        let rows: Vec<(CertRow, Vec<u8>)> = certificates::table
            .filter(certificates::status.eq(SIGNING))
            .filter(certificates::created_at.le(made_by.map_or(i64::MAX, ts)))
            .select((CertRow::as_select(), certificates::tbs))
            .load(self.c)
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(r, tbs)| Reservation {
                serial: r.serial,
                tbs,
                request_id: r.request_id,
                person_id: r.person_id,
                predecessor_serial: r.predecessor_serial,
            })
            .collect())
    }

    /// `active` → `suspended` until `until`. False when not active.
    pub fn suspend_certificate(
        &mut self,
        serial: &str,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq(CERT_ACTIVE)),
        )
        .set((
            certificates::status.eq(SUSPENDED),
            certificates::suspended_at.eq(Some(ts(at))),
            certificates::suspended_until.eq(Some(ts(until))),
        ))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// `suspended` → `active`. False when not suspended.
    pub fn resume_certificate(&mut self, serial: &str) -> Result<bool> {
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq(SUSPENDED)),
        )
        .set((
            certificates::status.eq(CERT_ACTIVE),
            certificates::suspended_at.eq(None::<i64>),
            certificates::suspended_until.eq(None::<i64>),
        ))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Any state but `revoked` → `revoked` (Boulder's `UPDATE … WHERE
    /// status != 'revoked'`); `include_reserved` also revokes a reservation
    /// not yet signed (terminations). False when already revoked.
    pub fn revoke_certificate(
        &mut self,
        serial: &str,
        at: DateTime<Utc>,
        reason: RevocationReason,
        include_reserved: bool,
    ) -> Result<bool> {
        let from: &[&str] = if include_reserved {
            &[CERT_ACTIVE, SUSPENDED, SIGNING]
        } else {
            &[CERT_ACTIVE, SUSPENDED]
        };
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq_any(from)),
        )
        .set((
            certificates::status.eq(REVOKED),
            certificates::revoked_at.eq(Some(ts(at))),
            certificates::revocation_reason.eq(Some(reason.code())),
        ))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// `suspended` whose period ended by `at` → `revoked` (1.79). The
    /// reason is left unspecified, as the seed names none. False when it
    /// was resumed or revoked meanwhile.
    pub fn lapse_certificate(&mut self, serial: &str, at: DateTime<Utc>) -> Result<bool> {
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq(SUSPENDED))
                .filter(certificates::suspended_until.le(ts(at))),
        )
        .set((
            certificates::status.eq(REVOKED),
            certificates::revoked_at.eq(Some(ts(at))),
            certificates::revocation_reason.eq(Some(RevocationReason::Unspecified.code())),
        ))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Serials and owners of these persons' certificates not yet revoked
    /// (reservations included), by serial.
    pub fn open_certificates_of(&mut self, person_ids: &[String]) -> Result<Vec<(String, String)>> {
        certificates::table
            .filter(certificates::person_id.eq_any(person_ids))
            .filter(certificates::status.eq_any([CERT_ACTIVE, SUSPENDED, SIGNING]))
            .select((certificates::serial, certificates::person_id))
            .order(certificates::serial.asc())
            .load(self.c)
            .map_err(db_error)
    }

    /// Suspended certificates whose period ended by `now`: serial, owner,
    /// end of the period.
    pub fn lapsed_suspensions(&mut self, now: DateTime<Utc>) -> Result<Vec<Lapsed>> {
        let rows: Vec<(String, String, Option<i64>)> = certificates::table
            .filter(certificates::status.eq(SUSPENDED))
            .filter(certificates::suspended_until.le(ts(now)))
            .select((
                certificates::serial,
                certificates::person_id,
                certificates::suspended_until,
            ))
            .load(self.c)
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(s, p, u)| (s, p, u.map(dt)))
            .collect())
    }

    /// The certificates issued (or reserved) on rotation requests signed by
    /// `serial`'s key: serial, owner and state, by serial.
    pub fn successors(&mut self, serial: &str) -> Result<Vec<StoredCertificate>> {
        let rows: Vec<CertRow> = certificates::table
            .filter(certificates::predecessor_serial.eq(serial))
            .select(CertRow::as_select())
            .order(certificates::serial.asc())
            .load(self.c)
            .map_err(db_error)?;
        rows.iter().map(mapping::certificate).collect()
    }

    /// Certificates of `profile` not yet revoked whose successor was signed
    /// at or before `before` (SPEC §3.8: revoked as superseded after the
    /// profile's grace period): serial and owner.
    pub fn superseded_due(
        &mut self,
        profile: ProfileKind,
        before: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>> {
        // From the successors, by the predecessor index (`> ''` is the
        // range form an index serves; `IS NOT NULL` scans the table): the
        // background work runs this every round, and a scan of every
        // active certificate there grew with the registry (issue 14's soak).
        let mut predecessors: Vec<String> = certificates::table
            .filter(certificates::predecessor_serial.gt(""))
            .filter(certificates::status.ne(SIGNING))
            .filter(certificates::created_at.le(ts(before)))
            .select(certificates::predecessor_serial.assume_not_null())
            .load(self.c)
            .map_err(db_error)?;
        predecessors.sort();
        predecessors.dedup();
        let mut due = Vec::new();
        for chunk in predecessors.chunks(500) {
            due.extend(
                certificates::table
                    .filter(certificates::serial.eq_any(chunk))
                    .filter(certificates::profile.eq(profile.code()))
                    .filter(certificates::status.eq_any([CERT_ACTIVE, SUSPENDED]))
                    .select((certificates::serial, certificates::person_id))
                    .load::<(String, String)>(self.c)
                    .map_err(db_error)?,
            );
        }
        due.sort();
        Ok(due)
    }

    /// A revoked certificate's reason becomes `keyCompromise` (RFC 5280
    /// §5.3.1: a compromise learnt after a revocation for another cause);
    /// the revocation time stays. False unless it was revoked for another
    /// reason.
    pub fn revoke_again_for_compromise(&mut self, serial: &str) -> Result<bool> {
        let compromise = RevocationReason::KeyCompromise.code();
        let n = diesel::update(
            certificates::table
                .find(serial)
                .filter(certificates::status.eq(REVOKED))
                .filter(certificates::revocation_reason.ne(compromise)),
        )
        .set(certificates::revocation_reason.eq(Some(compromise)))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }
}
