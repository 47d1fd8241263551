//! The `crls` table and the certificate listings CRLs are built from (SPEC
//! §7): numbers strictly increasing across restarts and instances (taken
//! under the store lock, primary key on the number).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::crl::RevocationReason;
use ca_core::Result;

use crate::db::db_error;
use crate::mapping::{dt, ts, REVOKED, SUSPENDED};
use crate::models::CrlRow;
use crate::schema::{certificates, crls};
use crate::Tx;

/// Which CRL a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrlKind {
    /// A full CRL on schedule or on request: the base of the deltas.
    Base,
    /// A full CRL published after a change.
    Full,
    /// Changes since the base (RFC 5280 §5.2.4).
    Delta {
        /// The base CRL's number.
        base: u64,
    },
}

impl CrlKind {
    fn code(self) -> &'static str {
        match self {
            CrlKind::Base => "base",
            CrlKind::Full => "full",
            CrlKind::Delta { .. } => "delta",
        }
    }
}

/// A signed CRL to store.
#[derive(Clone, Debug)]
pub struct NewCrl {
    /// Its number.
    pub number: u64,
    /// Full or delta.
    pub kind: CrlKind,
    /// thisUpdate.
    pub this_update: DateTime<Utc>,
    /// nextUpdate.
    pub next_update: DateTime<Utc>,
    /// How many entries it lists.
    pub entries: u64,
    /// The DER.
    pub der: Vec<u8>,
}

/// A published CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCrl {
    /// Number and times.
    pub info: ca_core::api::CrlInfo,
    /// For a delta CRL, the number of its base CRL.
    pub base: Option<u64>,
    /// The CRL.
    pub der: Vec<u8>,
}

/// A certificate as a CRL lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Lowercase hex serial.
    pub serial: String,
    /// On hold (suspended) rather than revoked.
    pub suspended: bool,
    /// When revoked, or when suspended.
    pub at: DateTime<Utc>,
    /// The stored revocation reason.
    pub reason: Option<RevocationReason>,
    /// invalidityDate, if recorded.
    pub invalidity_date: Option<DateTime<Utc>>,
}

/// The latest base CRL: number, thisUpdate, nextUpdate.
pub type BaseCrl = (u64, DateTime<Utc>, DateTime<Utc>);

type ListedRow = (
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const LISTED: (
    certificates::serial,
    certificates::status,
    certificates::revoked_at,
    certificates::suspended_at,
    certificates::revocation_reason,
    certificates::invalidity_date,
) = (
    certificates::serial,
    certificates::status,
    certificates::revoked_at,
    certificates::suspended_at,
    certificates::revocation_reason,
    certificates::invalidity_date,
);

fn listed(row: ListedRow) -> Listed {
    let (serial, status, revoked_at, suspended_at, reason, invalidity) = row;
    let suspended = status == SUSPENDED;
    Listed {
        serial,
        suspended,
        at: dt(if suspended { suspended_at } else { revoked_at }.unwrap_or(0)),
        reason: reason.as_deref().and_then(RevocationReason::from_code),
        invalidity_date: invalidity.map(dt),
    }
}

fn stored(row: CrlRow) -> StoredCrl {
    StoredCrl {
        info: ca_core::api::CrlInfo {
            number: row.number as u64,
            this_update: dt(row.this_update),
            next_update: dt(row.next_update),
            entries: row.entries as u64,
        },
        base: row.base_number.map(|b| b as u64),
        der: row.der,
    }
}

impl Tx<'_> {
    /// The number the next CRL takes: one above every CRL stored, full or
    /// delta (one sequence).
    pub fn next_crl_number(&mut self) -> Result<u64> {
        let last: Option<i64> = crls::table
            .select(diesel::dsl::max(crls::number))
            .first(self.c)
            .map_err(db_error)?;
        Ok(last.unwrap_or(0) as u64 + 1)
    }

    /// Stores a signed CRL.
    pub fn insert_crl(&mut self, crl: &NewCrl) -> Result<()> {
        diesel::insert_into(crls::table)
            .values(CrlRow {
                number: crl.number as i64,
                kind: crl.kind.code().to_string(),
                base_number: match crl.kind {
                    CrlKind::Delta { base } => Some(base as i64),
                    _ => None,
                },
                this_update: ts(crl.this_update),
                next_update: ts(crl.next_update),
                entries: crl.entries as i64,
                der: crl.der.clone(),
            })
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// The latest base CRL: number, thisUpdate, nextUpdate.
    pub fn latest_base_crl(&mut self) -> Result<Option<BaseCrl>> {
        let row: Option<(i64, i64, i64)> = crls::table
            .filter(crls::kind.eq(CrlKind::Base.code()))
            .order(crls::number.desc())
            .select((crls::number, crls::this_update, crls::next_update))
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(row.map(|(n, t, u)| (n as u64, dt(t), dt(u))))
    }

    /// The newest CRL's nextUpdate, without reading the CRL itself.
    pub fn latest_crl_next_update(&mut self) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = crls::table
            .order(crls::number.desc())
            .select(crls::next_update)
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(next.map(crate::mapping::dt))
    }

    /// The latest full (or, with `delta`, delta) CRL.
    pub fn latest_crl(&mut self, delta: bool) -> Result<Option<StoredCrl>> {
        let q = crls::table
            .order(crls::number.desc())
            .select(CrlRow::as_select());
        let row: Option<CrlRow> = if delta {
            q.filter(crls::base_number.is_not_null()).first(self.c)
        } else {
            q.filter(crls::base_number.is_null()).first(self.c)
        }
        .optional()
        .map_err(db_error)?;
        Ok(row.map(stored))
    }

    /// The number of the latest full (or, with `delta`, delta) CRL, without
    /// reading the CRL: what a cache of it checks on every request.
    pub fn latest_crl_number(&mut self, delta: bool) -> Result<Option<u64>> {
        let q = crls::table.order(crls::number.desc()).select(crls::number);
        let n: Option<i64> = if delta {
            q.filter(crls::base_number.is_not_null()).first(self.c)
        } else {
            q.filter(crls::base_number.is_null()).first(self.c)
        }
        .optional()
        .map_err(db_error)?;
        Ok(n.map(|n| n as u64))
    }

    /// Frees the bodies of CRLs nothing serves any more (issue 10: at a
    /// million entries every publication added ~35 MB that was never read
    /// again): all but the latest base, the latest full and the latest
    /// delta CRL keep their number, times and entry count — the history —
    /// with an empty body. Returns how many were emptied.
    pub fn prune_crl_bodies(&mut self) -> Result<usize> {
        let base: Option<i64> = crls::table
            .filter(crls::kind.eq(CrlKind::Base.code()))
            .select(diesel::dsl::max(crls::number))
            .first(self.c)
            .map_err(db_error)?;
        let keep: Vec<i64> = [
            base,
            self.latest_crl_number(false)?.map(|n| n as i64),
            self.latest_crl_number(true)?.map(|n| n as i64),
        ]
        .into_iter()
        .flatten()
        .collect();
        diesel::update(
            crls::table
                .filter(crls::number.ne_all(keep))
                .filter(crls::der.ne(Vec::<u8>::new())),
        )
        .set(crls::der.eq(Vec::<u8>::new()))
        .execute(self.c)
        .map_err(db_error)
    }

    /// One CRL by number.
    pub fn crl(&mut self, number: u64) -> Result<Option<StoredCrl>> {
        let row: Option<CrlRow> = crls::table
            .find(number as i64)
            .select(CrlRow::as_select())
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(row.map(stored))
    }

    /// Every CRL number, ascending.
    pub fn crl_numbers(&mut self) -> Result<Vec<u64>> {
        let n: Vec<i64> = crls::table
            .select(crls::number)
            .order(crls::number.asc())
            .load(self.c)
            .map_err(db_error)?;
        Ok(n.into_iter().map(|x| x as u64).collect())
    }

    /// Revoked and suspended certificates whose notAfter is at or after
    /// `horizon`, by serial: a full CRL's entries.
    pub fn listed_certificates(&mut self, horizon: DateTime<Utc>) -> Result<Vec<Listed>> {
        let rows: Vec<ListedRow> = certificates::table
            .filter(certificates::status.eq_any([REVOKED, SUSPENDED]))
            .filter(certificates::not_after.ge(ts(horizon)))
            .select(LISTED)
            .order(certificates::serial.asc())
            .load(self.c)
            .map_err(db_error)?;
        Ok(rows.into_iter().map(listed).collect())
    }

    /// Certificates revoked or suspended at or after `since`: a delta CRL's
    /// entries.
    pub fn listed_since(&mut self, since: DateTime<Utc>) -> Result<Vec<Listed>> {
        let since = ts(since);
        let rows: Vec<ListedRow> = certificates::table
            .filter(
                certificates::status
                    .eq(REVOKED)
                    .and(certificates::revoked_at.ge(since))
                    .or(certificates::status
                        .eq(SUSPENDED)
                        .and(certificates::suspended_at.ge(since))),
            )
            .select(LISTED)
            .order(certificates::serial.asc())
            .load(self.c)
            .map_err(db_error)?;
        Ok(rows.into_iter().map(listed).collect())
    }
}
