//! CRL publication (SPEC §7): numbers strictly increasing across restarts
//! and instances (taken under the store lock, primary key on the number), the
//! stored CRL replaced atomically (a new row in the same transaction as the
//! change it reflects), republished before nextUpdate and after every
//! revocation, suspension and resumption.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::api::CrlInfo;
use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry};
use ca_core::serial::parse_serial_hex;
use ca_core::{Error, Result};

use crate::audit::{self, Event, Outcome};
use crate::clock::{dt, ts};
use crate::db::{db_error, AnyConnection};
use crate::models::CrlRow;
use crate::schema::{applications, certificates, crls};
use crate::Registry;

/// A published CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCrl {
    /// Number and times.
    pub info: CrlInfo,
    /// For a delta CRL, the number of its base CRL.
    pub base: Option<u64>,
    /// The CRL.
    pub der: Vec<u8>,
}

/// serial, status, revoked_at, suspended_at, revocation_reason, invalidity_date
type ListedRow = (
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// The columns a CRL entry is made from, in [`ListedRow`] order.
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

/// A listed certificate as a CRL entry: suspended ones on hold, revoked ones
/// with their reason. A serial that is not hex (never written by us) is
/// returned as the error, and publication stops rather than leave it out.
fn entry_of(row: ListedRow) -> std::result::Result<RevokedEntry, String> {
    let (serial, status, revoked_at, suspended_at, reason, invalidity) = row;
    let Some(serial_number) = parse_serial_hex(&serial) else {
        return Err(serial);
    };
    let (at, reason) = if status == "suspended" {
        (suspended_at.unwrap_or(0), RevocationReason::CertificateHold)
    } else {
        (
            revoked_at.unwrap_or(0),
            reason
                .as_deref()
                .and_then(RevocationReason::from_code)
                .unwrap_or(RevocationReason::Unspecified),
        )
    };
    Ok(RevokedEntry {
        serial: serial_number,
        revoked_at: dt(at),
        reason,
        invalidity_date: invalidity.map(dt),
    })
}

fn info(row: &CrlRow) -> CrlInfo {
    CrlInfo {
        number: row.number as u64,
        this_update: dt(row.this_update),
        next_update: dt(row.next_update),
        entries: row.entries as u64,
    }
}

/// Which CRL is being published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A full CRL on schedule or on request: the base of the deltas that follow.
    Base,
    /// A full CRL published at once after a change.
    Full,
    /// Everything changed since the base, on the base.
    Delta { base: i64 },
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Base => "base",
            Kind::Full => "full",
            Kind::Delta { .. } => "delta",
        }
    }
}

impl Registry {
    /// Numbers, signs and stores a CRL (full, or delta on `base`) inside the
    /// caller's transaction, which holds the store lock: the number is the
    /// next of the one sequence full and delta CRLs share.
    fn sign_and_store<I>(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        now: DateTime<Utc>,
        kind: Kind,
        entries: I,
    ) -> Result<CrlInfo>
    where
        I: IntoIterator<Item = std::result::Result<RevokedEntry, String>>,
    {
        let last: Option<i64> = crls::table
            .select(diesel::dsl::max(crls::number))
            .first(c)
            .map_err(db_error)?;
        let number = last.unwrap_or(0) + 1;
        let base = match kind {
            Kind::Delta { base } => Some(base),
            Kind::Base | Kind::Full => None,
        };
        let params = CrlParams {
            number: number as u64,
            this_update: now,
            next_update: now + self.policies().ca.crl_period,
            delta_base: base.map(|b| b as u64),
        };
        let mut bad = None;
        let mut count = 0i64;
        let iter = entries.into_iter().filter_map(|e| {
            count += 1;
            e.map_err(|serial| bad = Some(serial)).ok()
        });
        let der = self.ca().build_crl(&params, iter)?;
        if let Some(serial) = bad {
            return Err(Error::internal(format!(
                "stored serial {serial:?} is not hex"
            )));
        }
        let row = CrlRow {
            number,
            kind: kind.code().to_string(),
            base_number: base,
            this_update: ts(now),
            next_update: ts(params.next_update),
            entries: count,
            der,
        };
        diesel::insert_into(crls::table)
            .values(&row)
            .execute(c)
            .map_err(db_error)?;
        audit::append(
            c,
            ts(now),
            Event {
                actor,
                action: if base.is_some() {
                    "crl.publish_delta"
                } else {
                    "crl.publish"
                },
                object: format!("crl:{number}"),
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"kind": kind.code(), "base": base, "entries": count, "next_update": params.next_update}),
            },
        )?;
        Ok(info(&row))
    }

    /// Builds, signs and stores a new full CRL inside the caller's
    /// transaction (which holds the store lock).
    fn publish_full(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        now: DateTime<Utc>,
        kind: Kind,
    ) -> Result<CrlInfo> {
        // A revoked certificate stays listed until at least one CRL after its
        // expiry (SPEC §7): keep those that expired within one CRL period.
        let horizon = ts(now - self.policies().ca.crl_period);
        let rows: Vec<ListedRow> = certificates::table
            .filter(certificates::status.eq_any(["revoked", "suspended"]))
            .filter(certificates::not_after.ge(horizon))
            .select(LISTED)
            .order(certificates::serial.asc())
            .load(c)
            .map_err(db_error)?;
        self.sign_and_store(c, actor, now, kind, rows.into_iter().map(entry_of))
    }

    /// A new base CRL and an (empty) delta on it, so the delta endpoint is
    /// always as fresh as the full CRL. Returns the base's facts.
    pub(crate) fn publish_base(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CrlInfo> {
        let base = self.publish_full(c, actor, now, Kind::Base)?;
        self.publish_delta_in(c, actor, now)?;
        Ok(base)
    }

    /// After a revocation, suspension or resumption (SPEC §3.6: republished
    /// at once): a new full CRL, then the cumulative delta on the current
    /// base. The delta's number is above every full CRL's, so a relying party
    /// may apply it to any full CRL it holds from the base on.
    pub(crate) fn publish_after_change(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CrlInfo> {
        let full = self.publish_full(c, actor, now, Kind::Full)?;
        self.publish_delta_in(c, actor, now)?;
        Ok(full)
    }

    /// A delta CRL (RFC 5280 §5.2.4) on the latest base CRL: every certificate
    /// revoked or suspended since its thisUpdate, and removeFromCRL for those
    /// resumed since — cumulative, so one delta brings the base up to date.
    /// Nothing when there is no base yet.
    fn publish_delta_in(
        &self,
        c: &mut AnyConnection,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CrlInfo>> {
        let base: Option<(i64, i64)> = crls::table
            .filter(crls::kind.eq("base"))
            .order(crls::number.desc())
            .select((crls::number, crls::this_update))
            .first(c)
            .optional()
            .map_err(db_error)?;
        let Some((base_number, since)) = base else {
            return Ok(None);
        };
        let changed: Vec<ListedRow> = certificates::table
            .filter(
                certificates::status
                    .eq("revoked")
                    .and(certificates::revoked_at.ge(since))
                    .or(certificates::status
                        .eq("suspended")
                        .and(certificates::suspended_at.ge(since))),
            )
            .select(LISTED)
            .load(c)
            .map_err(db_error)?;
        let resumed: Vec<(Option<String>, i64)> = applications::table
            .inner_join(
                certificates::table
                    .on(applications::certificate_serial.eq(certificates::serial.nullable())),
            )
            .filter(applications::kind.eq("resume"))
            .filter(applications::outcome.eq("done"))
            .filter(applications::received_at.ge(since))
            .filter(certificates::status.eq("active"))
            .select((applications::certificate_serial, applications::received_at))
            .load(c)
            .map_err(db_error)?;
        let removals = resumed.into_iter().map(|(serial, at)| {
            let serial = serial.unwrap_or_default();
            let parsed = parse_serial_hex(&serial).ok_or(serial)?;
            Ok(RevokedEntry {
                serial: parsed,
                revoked_at: dt(at),
                reason: RevocationReason::RemoveFromCrl,
                invalidity_date: None,
            })
        });
        let entries = changed.into_iter().map(entry_of).chain(removals);
        self.sign_and_store(c, actor, now, Kind::Delta { base: base_number }, entries)
            .map(Some)
    }

    /// Publishes a CRL now.
    pub fn publish_crl(&self, actor: &str) -> Result<CrlInfo> {
        let now = self.now();
        self.write(|c| self.publish_base(c, actor, now))
    }

    /// Publishes a new base (and its delta) when there is none yet or the
    /// current base is within the overlap of its nextUpdate; full CRLs
    /// published after changes end no earlier, so this covers them too. Run from every instance: under the lock
    /// only the first one to see it due publishes.
    pub fn publish_crl_if_due(&self) -> Result<Option<CrlInfo>> {
        let now = self.now();
        let overlap = self.policies().ca.crl_overlap;
        self.write(|c| {
            let latest: Option<i64> = crls::table
                .filter(crls::kind.eq("base"))
                .order(crls::number.desc())
                .select(crls::next_update)
                .first(c)
                .optional()
                .map_err(db_error)?;
            match latest {
                Some(next) if now < dt(next) - overlap => Ok(None),
                _ => self.publish_base(c, "system", now).map(Some),
            }
        })
    }

    /// The current full CRL and its facts.
    pub fn current_crl(&self) -> Result<Option<(CrlInfo, Vec<u8>)>> {
        self.latest_crl(false)
    }

    fn latest_crl(&self, delta: bool) -> Result<Option<(CrlInfo, Vec<u8>)>> {
        self.read(|c| {
            let q = crls::table
                .order(crls::number.desc())
                .select(CrlRow::as_select());
            let row: Option<CrlRow> = if delta {
                q.filter(crls::base_number.is_not_null()).first(c)
            } else {
                q.filter(crls::base_number.is_null()).first(c)
            }
            .optional()
            .map_err(db_error)?;
            Ok(row.map(|r| (info(&r), r.der)))
        })
    }

    /// One CRL by number (full or delta).
    pub fn crl(&self, number: u64) -> Result<Option<StoredCrl>> {
        self.read(|c| {
            let row: Option<CrlRow> = crls::table
                .find(number as i64)
                .select(CrlRow::as_select())
                .first(c)
                .optional()
                .map_err(db_error)?;
            Ok(row.map(|r| StoredCrl {
                info: info(&r),
                base: r.base_number.map(|b| b as u64),
                der: r.der,
            }))
        })
    }

    /// The latest delta CRL and its facts.
    pub fn current_delta_crl(&self) -> Result<Option<(CrlInfo, Vec<u8>)>> {
        self.latest_crl(true)
    }

    /// Every CRL number ever published, ascending (tests and audits).
    pub fn crl_numbers(&self) -> Result<Vec<u64>> {
        self.read(|c| {
            let n: Vec<i64> = crls::table
                .select(crls::number)
                .order(crls::number.asc())
                .load(c)
                .map_err(db_error)?;
            Ok(n.into_iter().map(|x| x as u64).collect())
        })
    }
}
