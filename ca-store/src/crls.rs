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
use crate::schema::{certificates, crl_changes, crl_parts, crls, store_lock};
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

/// How far below the newest CRL number a prune looks for bodies to delete.
const PRUNE_WINDOW: i64 = 64;

/// The largest part a CRL's body is stored in (see the `crl_parts`
/// migration): what the database copies at once when it writes one.
const PART: usize = 1 << 20;

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
    /// The highest recorded change it reflects.
    pub covers_change: i64,
}

/// A published CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCrl {
    /// Number and times.
    pub info: ca_core::api::CrlInfo,
    /// For a delta CRL, the number of its base CRL.
    pub base: Option<u64>,
    /// The CRL; empty when its body was pruned.
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

/// The latest base CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseCrl {
    /// Its number.
    pub number: u64,
    /// Its nextUpdate.
    pub next_update: DateTime<Utc>,
    /// The highest change it reflects: its deltas list those above.
    pub covers_change: i64,
}

/// A certificate a delta CRL lists: as listed now, or removed (active
/// again since its base) at the time of its last change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaEntry {
    /// Revoked or on hold.
    Listed(Listed),
    /// No longer on hold (removeFromCRL).
    Removed {
        /// Lowercase hex serial.
        serial: String,
        /// When it last changed.
        at: DateTime<Utc>,
    },
}

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

fn stored(row: CrlRow, der: Vec<u8>) -> StoredCrl {
    StoredCrl {
        info: ca_core::api::CrlInfo {
            number: row.number as u64,
            this_update: dt(row.this_update),
            next_update: dt(row.next_update),
            entries: row.entries as u64,
        },
        base: row.base_number.map(|b| b as u64),
        der,
    }
}

impl Tx<'_> {
    /// The number the next CRL takes: one above every number allocated
    /// before, full or delta (one sequence, taken under the store lock).
    pub fn next_crl_number(&mut self) -> Result<u64> {
        // Allocated before the CRL exists (it is built outside the lock);
        // never below a stored number, so old databases continue their
        // sequence. A number whose CRL was never stored stays a gap.
        let (last, stored): (i64, Option<i64>) = (
            store_lock::table
                .filter(store_lock::id.eq(1))
                .select(store_lock::last_crl_number)
                .first(self.c)
                .map_err(db_error)?,
            crls::table
                .select(diesel::dsl::max(crls::number))
                .first(self.c)
                .map_err(db_error)?,
        );
        let next = last.max(stored.unwrap_or(0)) + 1;
        diesel::update(store_lock::table.filter(store_lock::id.eq(1)))
            .set(store_lock::last_crl_number.eq(next))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(next as u64)
    }

    /// Stores a signed CRL if no newer one of its kind is stored (compare-and-set: CRLs are built outside the lock, and a
    /// slower publisher must not replace a newer CRL). False when skipped.
    pub fn insert_crl_if_newest(&mut self, crl: &NewCrl) -> Result<bool> {
        // Deltas among deltas, bases among bases (a base may lose only to
        // a newer base, never starve behind full CRLs published after
        // changes), and full CRLs among everything that is served as full.
        let newest = match crl.kind {
            CrlKind::Delta { .. } => self.latest_crl_number(true)?,
            CrlKind::Full => self.latest_crl_number(false)?,
            CrlKind::Base => crls::table
                .filter(crls::kind.eq(CrlKind::Base.code()))
                .select(diesel::dsl::max(crls::number))
                .first::<Option<i64>>(self.c)
                .map_err(db_error)?
                .map(|n| n as u64),
        };
        if newest.is_some_and(|n| n >= crl.number) {
            return Ok(false);
        }
        diesel::insert_into(crls::table)
            .values((
                crls::number.eq(crl.number as i64),
                crls::kind.eq(crl.kind.code()),
                crls::base_number.eq(match crl.kind {
                    CrlKind::Delta { base } => Some(base as i64),
                    _ => None,
                }),
                crls::this_update.eq(ts(crl.this_update)),
                crls::next_update.eq(ts(crl.next_update)),
                crls::entries.eq(crl.entries as i64),
                crls::covers_change.eq(crl.covers_change),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        // Borrowed, not copied, one part at a time.
        for (part, bytes) in crl.der.chunks(PART).enumerate() {
            diesel::insert_into(crl_parts::table)
                .values((
                    crl_parts::number.eq(crl.number as i64),
                    crl_parts::part.eq(part as i32),
                    crl_parts::bytes.eq(bytes),
                ))
                .execute(self.c)
                .map_err(db_error)?;
        }
        Ok(true)
    }

    /// A CRL row with its body.
    fn with_body(&mut self, row: Option<CrlRow>) -> Result<Option<StoredCrl>> {
        let Some(row) = row else {
            return Ok(None);
        };
        let der = self.crl_body(row.number)?;
        Ok(Some(stored(row, der)))
    }

    /// A CRL's body, its parts in order (empty when it was pruned).
    fn crl_body(&mut self, number: i64) -> Result<Vec<u8>> {
        use diesel::connection::DefaultLoadingMode;
        let parts = crl_parts::table
            .filter(crl_parts::number.eq(number))
            .order(crl_parts::part.asc())
            .select(crl_parts::bytes)
            .load_iter::<Vec<u8>, DefaultLoadingMode>(self.c)
            .map_err(db_error)?;
        let mut der = Vec::new();
        for part in parts {
            der.extend_from_slice(&part.map_err(db_error)?);
        }
        Ok(der)
    }

    /// Until when a base CRL being built is claimed (see
    /// [`claim_base_crl`](Self::claim_base_crl)).
    pub fn base_crl_claimed_until(&mut self) -> Result<DateTime<Utc>> {
        let until: i64 = store_lock::table
            .filter(store_lock::id.eq(1))
            .select(store_lock::base_claimed_until)
            .first(self.c)
            .map_err(db_error)?;
        Ok(dt(until))
    }

    /// Claims the building of a base CRL until `until`, so other instances
    /// that find one due meanwhile leave it (a claimant that dies frees it
    /// when the time passes).
    pub fn claim_base_crl(&mut self, until: DateTime<Utc>) -> Result<()> {
        diesel::update(store_lock::table.filter(store_lock::id.eq(1)))
            .set(store_lock::base_claimed_until.eq(ts(until)))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// Records that `serial`'s status changed at `at`, in the changing
    /// transaction: a CRL is due (see the `crl_changes` migration).
    pub fn record_crl_change(&mut self, serial: &str, at: DateTime<Utc>) -> Result<()> {
        diesel::insert_into(crl_changes::table)
            .values((crl_changes::serial.eq(serial), crl_changes::at.eq(ts(at))))
            .execute(self.c)
            .map_err(db_error)?;
        self.crl_changed = true;
        Ok(())
    }

    /// The highest recorded change (0 when none).
    pub fn latest_crl_change(&mut self) -> Result<i64> {
        let id: Option<i64> = crl_changes::table
            .select(diesel::dsl::max(crl_changes::id))
            .first(self.c)
            .map_err(db_error)?;
        Ok(id.unwrap_or(0))
    }

    /// The change the newest base (`base`) or newest full CRL covers (0
    /// when there is none).
    fn covered_change(&mut self, base: bool) -> Result<i64> {
        let q = crls::table
            .order(crls::number.desc())
            .select(crls::covers_change);
        let covered: Option<i64> = if base {
            q.filter(crls::kind.eq(CrlKind::Base.code())).first(self.c)
        } else {
            q.filter(crls::base_number.is_null()).first(self.c)
        }
        .optional()
        .map_err(db_error)?;
        Ok(covered.unwrap_or(0))
    }

    /// Whether a change is recorded that the newest full CRL does not reflect.
    pub fn crl_publication_pending(&mut self) -> Result<bool> {
        Ok(self.latest_crl_change()? > self.covered_change(false)?)
    }

    /// What a delta CRL lists for the changes in (`after`, `upto`]: each
    /// certificate once, as listed now or as removed.
    pub fn delta_entries(&mut self, after: i64, upto: i64) -> Result<Vec<DeltaEntry>> {
        let changed: Vec<(String, Option<i64>)> = crl_changes::table
            .filter(crl_changes::id.gt(after))
            .filter(crl_changes::id.le(upto))
            .group_by(crl_changes::serial)
            .select((crl_changes::serial, diesel::dsl::max(crl_changes::at)))
            .order(crl_changes::serial.asc())
            .load(self.c)
            .map_err(db_error)?;
        let mut entries = Vec::with_capacity(changed.len());
        for chunk in changed.chunks(500) {
            let serials: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
            let rows: Vec<ListedRow> = certificates::table
                .filter(certificates::serial.eq_any(&serials))
                .filter(certificates::status.eq_any([REVOKED, SUSPENDED]))
                .select(LISTED)
                .load(self.c)
                .map_err(db_error)?;
            let mut listed: std::collections::HashMap<String, Listed> = rows
                .into_iter()
                .map(listed)
                .map(|l| (l.serial.clone(), l))
                .collect();
            for (serial, at) in chunk {
                entries.push(match listed.remove(serial) {
                    Some(l) => DeltaEntry::Listed(l),
                    None => DeltaEntry::Removed {
                        serial: serial.clone(),
                        at: dt(at.unwrap_or(0)),
                    },
                });
            }
        }
        Ok(entries)
    }

    /// Forgets changes every current CRL reflects: at or below what both
    /// the newest base and the newest full CRL cover.
    pub fn prune_crl_changes(&mut self) -> Result<usize> {
        let upto = self.covered_change(true)?.min(self.covered_change(false)?);
        diesel::delete(crl_changes::table.filter(crl_changes::id.le(upto)))
            .execute(self.c)
            .map_err(db_error)
    }

    /// The latest base CRL.
    pub fn latest_base_crl(&mut self) -> Result<Option<BaseCrl>> {
        let row: Option<(i64, i64, i64)> = crls::table
            .filter(crls::kind.eq(CrlKind::Base.code()))
            .order(crls::number.desc())
            .select((crls::number, crls::next_update, crls::covers_change))
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(row.map(|(n, u, c)| BaseCrl {
            number: n as u64,
            next_update: dt(u),
            covers_change: c,
        }))
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
        self.with_body(row)
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

    /// Deletes the bodies of CRLs nothing serves any more (issue 10: at a
    /// million entries every publication added ~35 MB that was never read
    /// again): all but the latest base, the latest full and the latest
    /// delta CRL keep their number, times and entry count — the history —
    /// and no body. Returns how many parts were deleted.
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
        // Every publication prunes, so bodies remain only on the CRLs kept
        // and on the few stored since the last prune: look at the newest
        // numbers only, not at every CRL ever published (a scan under the
        // store lock that grew with every publication, found by the soak).
        let newest = crls::table
            .select(diesel::dsl::max(crls::number))
            .first::<Option<i64>>(self.c)
            .map_err(db_error)?
            .unwrap_or(0);
        diesel::delete(
            crl_parts::table
                .filter(crl_parts::number.ge(newest - PRUNE_WINDOW))
                .filter(crl_parts::number.ne_all(keep)),
        )
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
        self.with_body(row)
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
    /// `horizon`: a full CRL's entries, handed to `f` as they are read from
    /// a database cursor (issue 10: a million rows are never held at once).
    /// In the order of the index that finds them, not by serial: RFC 5280
    /// asks for no order, and sorting a million rows took about 0.4 s of a
    /// 2.7 s publication. An error reading a row is returned after `f`.
    pub fn with_listed_certificates<T>(
        &mut self,
        horizon: DateTime<Utc>,
        f: impl FnOnce(&mut dyn Iterator<Item = Listed>) -> Result<T>,
    ) -> Result<T> {
        use diesel::connection::DefaultLoadingMode;
        let rows = certificates::table
            .filter(certificates::status.eq_any([REVOKED, SUSPENDED]))
            .filter(certificates::not_after.ge(ts(horizon)))
            .select(LISTED)
            .load_iter::<ListedRow, DefaultLoadingMode>(self.c)
            .map_err(db_error)?;
        let mut failed = None;
        let mut listed_rows = rows.filter_map(|r| match r {
            Ok(row) => Some(listed(row)),
            Err(e) => {
                failed.get_or_insert(e);
                None
            }
        });
        let out = f(&mut listed_rows);
        drop(listed_rows);
        match failed {
            Some(e) => Err(db_error(e)),
            None => out,
        }
    }
}
