//! CRL publication (SPEC §7, issue 10): numbers strictly increasing across
//! restarts and instances (allocated under the store lock), CRLs built and
//! signed outside the lock and stored only if newest, republished before
//! nextUpdate and after every revocation, suspension and resumption — whose
//! transactions only record the change (O(1) under the lock).

use chrono::{DateTime, Utc};

use ca_core::api::CrlInfo;
use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry, UnsignedCrl};
use ca_core::serial::parse_serial_hex;
use ca_core::{Error, Result};
use ca_store::{CrlKind, DeltaEntry, Event, Listed, NewCrl, Outcome, StoredCrl, Tx};

use crate::Authority;

/// A listed certificate as a CRL entry: suspended ones on hold, revoked ones
/// with their reason. A serial that is not hex (never written by us) is
/// returned as the error, and publication stops rather than leave it out.
fn entry_of(l: Listed) -> std::result::Result<RevokedEntry, String> {
    let Some(serial) = parse_serial_hex(&l.serial) else {
        return Err(l.serial);
    };
    Ok(RevokedEntry {
        serial,
        revoked_at: l.at,
        reason: if l.suspended {
            RevocationReason::CertificateHold
        } else {
            l.reason.unwrap_or(RevocationReason::Unspecified)
        },
        invalidity_date: l.invalidity_date,
    })
}

fn info_of(crl: &NewCrl) -> CrlInfo {
    CrlInfo {
        number: crl.number,
        this_update: crl.this_update,
        next_update: crl.next_update,
        entries: crl.entries,
    }
}

/// A CRL as served: its facts and its DER, shared by every download.
pub type ServedCrl = (CrlInfo, bytes::Bytes);

/// How long the CRL in memory is served as current without asking the
/// store whether another instance published a newer one. This instance's
/// own CRLs replace it at once; another instance's are served within this.
const CRL_RECHECK: chrono::Duration = chrono::Duration::seconds(1);

/// The CRL in memory (full or delta) and when the store was last asked.
#[derive(Default)]
pub(crate) struct CrlSlot {
    served: Option<ServedCrl>,
    checked_at: Option<DateTime<Utc>>,
    /// One download is asking the store: the others serve what is here
    /// meanwhile instead of all asking at once.
    refreshing: bool,
}

impl CrlSlot {
    fn fresh(&self, now: DateTime<Utc>) -> Option<ServedCrl> {
        let checked = self.checked_at?;
        (self.refreshing || (checked <= now && now - checked < CRL_RECHECK))
            .then(|| self.served.clone())
            .flatten()
    }

    /// Keeps `crl` unless a newer one is here already.
    fn keep(&mut self, crl: ServedCrl, now: DateTime<Utc>) {
        if self
            .served
            .as_ref()
            .is_none_or(|(cached, _)| cached.number < crl.0.number)
        {
            self.served = Some(crl);
        }
        self.checked_at = Some(now);
    }
}

/// A CRL encoded, to be signed, with the facts it is stored with.
struct Encoded {
    crl: UnsignedCrl,
    number: u64,
    kind: CrlKind,
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
    entries: u64,
    covers_change: i64,
}

/// Runs `f` on a thread of its own at the lowest priority (nice 19):
/// encoding a full CRL takes seconds of CPU at a million entries, and
/// requests come first. The caller keeps its priority for what others may
/// wait on: the signature (the signer serves issuance too) and the store
/// write, which a nice-19 thread would hold up under load. (Linux's
/// `SCHED_IDLE` was measured too, with `scripts/bench-revocation.sh`:
/// neither the lookups' p99 during a publication nor the time until the
/// CRL was served differed from nice 19 beyond this machine's noise.)
fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let mut job = Some(f);
    let ran = std::thread::scope(|scope| {
        let job = &mut job;
        std::thread::Builder::new()
            .name("crl-encoder".into())
            .spawn_scoped(scope, move || {
                lowest_priority();
                job.take().map(|f| f())
            })
            .ok()
            .map(|encoder| encoder.join())
    });
    match ran {
        Some(Ok(Some(value))) => value,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        // No thread to be had: done here, at this thread's priority.
        Some(Ok(None)) | None => match job.take() {
            Some(f) => f(),
            None => unreachable!("the encoder ran the job and returned its value"),
        },
    }
}

fn lowest_priority() {
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::debug!(error = ?e, "the CRL encoder keeps the default priority");
    }
}

/// What a publication makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// A new base CRL and its (empty) delta, now.
    Base,
    /// The same, when none exists or the current base nears its nextUpdate.
    BaseIfDue,
    /// A full CRL and the delta on the current base, when a recorded change
    /// is not reflected yet.
    Pending,
}

/// How long an instance building a base CRL keeps others from starting
/// one (far longer than a build; a claimant that died frees it then).
const BASE_CLAIM: chrono::Duration = chrono::Duration::minutes(5);

/// Numbers and coverage taken under the lock, before anything is built.
struct Allocation {
    full: u64,
    delta: u64,
    /// The highest change the CRLs reflect.
    covers: i64,
    /// The base the delta is on: its number and the change it covers.
    base: Option<(u64, i64)>,
    /// A full CRL after changes, or a new base.
    kind: CrlKind,
}

impl Authority {
    /// Publishes (SPEC §7, issue 10): numbers and coverage are taken in a
    /// short transaction under the store lock; the CRLs are built and
    /// signed outside it, from reads that see at least every change up to
    /// the coverage; then each is stored only if still the newest of its
    /// kind (another instance may have been quicker). Nothing here holds
    /// the lock while a CRL is built or signed.
    fn publish(&self, plan: Plan, actor: &str) -> Result<Option<CrlInfo>> {
        let now = self.now();
        let overlap = self.policies.ca.crl_overlap;
        let allocation = self.store.write(|tx| {
            let latest_base = tx.latest_base_crl()?;
            match plan {
                Plan::Pending if !tx.crl_publication_pending()? => return Ok(None),
                Plan::BaseIfDue => {
                    let fresh = latest_base
                        .as_ref()
                        .is_some_and(|b| now < b.next_update - overlap);
                    // Another instance is building one.
                    if fresh || now < tx.base_crl_claimed_until()? {
                        return Ok(None);
                    }
                }
                _ => {}
            }
            if plan != Plan::Pending {
                tx.claim_base_crl(now + BASE_CLAIM)?;
            }
            let covers = tx.latest_crl_change()?;
            // A delta that would carry too many changes since its base: a
            // new base instead (and, with it, an empty delta).
            let rebase = plan == Plan::Pending
                && latest_base.as_ref().is_some_and(|b| {
                    covers - b.covers_change > i64::from(self.policies.ca.delta_limit)
                });
            if rebase {
                tx.claim_base_crl(now + BASE_CLAIM)?;
            }
            let full = tx.next_crl_number()?;
            let base = match plan {
                Plan::Base | Plan::BaseIfDue => Some((full, covers)),
                Plan::Pending if rebase => Some((full, covers)),
                Plan::Pending => latest_base.map(|b| (b.number, b.covers_change)),
            };
            // The delta's number is above the full CRL's, so a relying
            // party may apply it to any full CRL it holds from the base on.
            let delta = match base {
                Some(_) => tx.next_crl_number()?,
                None => 0,
            };
            Ok(Some(Allocation {
                full,
                delta,
                covers,
                base,
                kind: if plan == Plan::Pending && !rebase {
                    CrlKind::Full
                } else {
                    CrlKind::Base
                },
            }))
        })?;
        let Some(a) = allocation else {
            return Ok(None);
        };
        fail::fail_point!("publish.after_allocation");
        let kind = a.kind;
        // After a change on an existing base, the delta (small: only what
        // changed since the base) is built and stored first, so relying
        // parties that read deltas have the change in milliseconds while
        // the full CRL is built.
        let mut delta = match a.base {
            Some((base, base_covers)) => Some(self.build_delta(&a, base, base_covers, now)?),
            None => None,
        };
        if kind == CrlKind::Full {
            if let Some(d) = delta.take() {
                if self.store.write(|tx| self.store_crl(tx, actor, now, &d))? {
                    self.remember(d);
                }
            }
        }
        // A revoked certificate stays listed until at least one CRL after its
        // expiry (SPEC §7): keep those that expired within one CRL period.
        let horizon = now - self.policies.ca.crl_period;
        let encoded = in_background(|| {
            self.store.read(|tx| {
                tx.with_listed_certificates(horizon, |listed| {
                    self.encode(a.full, kind, now, a.covers, listed.map(entry_of))
                })
            })
        })?;
        let full = self.sign(encoded)?;
        fail::fail_point!("publish.after_signing");
        let stored = self.store.write(|tx| {
            if !self.store_crl(tx, actor, now, &full)? {
                // A newer one is stored; its publisher made the delta.
                return Ok((false, false));
            }
            // A new base's delta, stored with it (it names the base).
            let delta_stored = match &delta {
                Some(d) => self.store_crl(tx, actor, now, d)?,
                None => false,
            };
            tx.prune_crl_bodies()?;
            tx.prune_crl_changes()?;
            self.checkpoint_in(tx, now, chrono::Duration::minutes(1))?;
            Ok((true, delta_stored))
        })?;
        fail::fail_point!("publish.after_store");
        if !stored.0 {
            return Ok(None);
        }
        let info = info_of(&full);
        self.remember(full);
        if let (true, Some(d)) = (stored.1, delta) {
            self.remember(d);
        }
        Ok(Some(info))
    }

    /// The delta CRL on `base` for the allocation's changes.
    fn build_delta(
        &self,
        a: &Allocation,
        base: u64,
        base_covers: i64,
        now: DateTime<Utc>,
    ) -> Result<NewCrl> {
        let changed = self
            .store
            .read(|tx| tx.delta_entries(base_covers, a.covers))?;
        let entries = changed.into_iter().map(|e| match e {
            DeltaEntry::Listed(l) => entry_of(l),
            DeltaEntry::Removed { serial, at } => Ok(RevokedEntry {
                serial: parse_serial_hex(&serial).ok_or(serial)?,
                revoked_at: at,
                reason: RevocationReason::RemoveFromCrl,
                invalidity_date: None,
            }),
        });
        self.sign(self.encode(a.delta, CrlKind::Delta { base }, now, a.covers, entries)?)
    }

    /// Serves a CRL just stored from memory at once (no read back from the
    /// store, no second copy), unless a newer one is served already.
    fn remember(&self, crl: NewCrl) {
        let slot = usize::from(matches!(crl.kind, CrlKind::Delta { .. }));
        let info = info_of(&crl);
        let now = self.now();
        self.crl_cache.lock().unwrap_or_else(|p| p.into_inner())[slot]
            .keep((info, bytes::Bytes::from(crl.der)), now);
    }

    /// Encodes one CRL, to be signed by [`sign`](Self::sign). A stored
    /// serial that is not hex stops publication rather than be left out.
    fn encode<I>(
        &self,
        number: u64,
        kind: CrlKind,
        now: DateTime<Utc>,
        covers: i64,
        entries: I,
    ) -> Result<Encoded>
    where
        I: IntoIterator<Item = std::result::Result<RevokedEntry, String>>,
    {
        let params = CrlParams {
            number,
            this_update: now,
            next_update: now + self.policies.ca.crl_period,
            delta_base: match kind {
                CrlKind::Delta { base } => Some(base),
                CrlKind::Base | CrlKind::Full => None,
            },
        };
        let mut bad = None;
        let mut count = 0u64;
        let iter = entries.into_iter().filter_map(|e| {
            count += 1;
            e.map_err(|serial| bad = Some(serial)).ok()
        });
        let crl = self.ca.encode_crl(&params, iter)?;
        if let Some(serial) = bad {
            return Err(Error::internal(format!(
                "stored serial {serial:?} is not hex"
            )));
        }
        Ok(Encoded {
            crl,
            number,
            kind,
            this_update: now,
            next_update: params.next_update,
            entries: count,
            covers_change: covers,
        })
    }

    /// Signs an encoded CRL.
    fn sign(&self, e: Encoded) -> Result<NewCrl> {
        Ok(NewCrl {
            der: self.ca.sign_crl(e.crl)?,
            number: e.number,
            kind: e.kind,
            this_update: e.this_update,
            next_update: e.next_update,
            entries: e.entries,
            covers_change: e.covers_change,
        })
    }

    /// Stores a built CRL with its audit row, if it is still the newest of
    /// its kind. False when a newer one is stored.
    fn store_crl(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        now: DateTime<Utc>,
        crl: &NewCrl,
    ) -> Result<bool> {
        if !tx.insert_crl_if_newest(crl)? {
            return Ok(false);
        }
        let base = match crl.kind {
            CrlKind::Delta { base } => Some(base),
            CrlKind::Base | CrlKind::Full => None,
        };
        tx.audit(
            now,
            Event {
                actor,
                action: if base.is_some() {
                    "crl.publish_delta"
                } else {
                    "crl.publish"
                },
                object: format!("crl:{}", crl.number),
                outcome: Outcome::Ok,
                reasons: vec![],
                details: serde_json::json!({"kind": match crl.kind {
                    CrlKind::Base => "base", CrlKind::Full => "full", CrlKind::Delta { .. } => "delta",
                }, "base": base, "entries": crl.entries, "next_update": crl.next_update,
                   "covers_change": crl.covers_change}),
            },
        )?;
        Ok(true)
    }

    /// Publishes a CRL now (a new base and its delta).
    pub fn publish_crl(&self, actor: &str) -> Result<CrlInfo> {
        // A newer one stored meanwhile by another instance serves as well.
        match self.publish(Plan::Base, actor)? {
            Some(info) => Ok(info),
            None => self
                .current_crl()?
                .map(|(info, _)| info)
                .ok_or_else(|| Error::internal("no CRL after publication")),
        }
    }

    /// Publishes a new base (and its delta) when there is none yet or the
    /// current base is within the overlap of its nextUpdate; full CRLs
    /// published after changes end no earlier, so this covers them too. Run
    /// from every instance.
    pub fn publish_crl_if_due(&self) -> Result<Option<CrlInfo>> {
        self.publish(Plan::BaseIfDue, "system")
    }

    /// Publishes what recorded changes call for (SPEC §3.6: at once after a
    /// revocation, suspension or resumption): a full CRL and the delta on
    /// the current base. Called after such a change commits, by the
    /// background work of every instance, and at start, so a change whose
    /// publication a crash interrupted is published by the next instance
    /// that looks. None when nothing is pending.
    pub fn publish_pending(&self) -> Result<Option<CrlInfo>> {
        self.publish(Plan::Pending, "system")
    }

    /// Whether a recorded change is not yet in the newest full CRL.
    pub fn publication_pending(&self) -> Result<bool> {
        self.store.read(|tx| tx.crl_publication_pending())
    }

    /// The current full CRL and its facts.
    pub fn current_crl(&self) -> Result<Option<ServedCrl>> {
        self.cached_crl(false)
    }

    /// The latest delta CRL and its facts.
    pub fn current_delta_crl(&self) -> Result<Option<ServedCrl>> {
        self.cached_crl(true)
    }

    /// The full (or delta) CRL in memory when the store was asked less than
    /// a second ago: no database read and no blocking call, for the
    /// download handler's fast path.
    pub fn fresh_crl(&self, delta: bool) -> Option<ServedCrl> {
        let now = self.now();
        self.crl_cache.lock().unwrap_or_else(|p| p.into_inner())[usize::from(delta)].fresh(now)
    }

    /// The latest full or delta CRL from memory (SPEC §7: CRLs are served
    /// from memory). The store is asked for the latest number at most once
    /// a second ([`CRL_RECHECK`]), so a CRL published by another instance
    /// is served within a second; the CRL itself is read from the store once
    /// per number, never per download (issue 10: a million-entry CRL read
    /// for every request, even a 304, starved every other reader).
    fn cached_crl(&self, delta: bool) -> Result<Option<ServedCrl>> {
        let now = self.now();
        let slot = usize::from(delta);
        {
            let mut cache = self.crl_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(served) = cache[slot].fresh(now) {
                return Ok(Some(served));
            }
            cache[slot].refreshing = true;
        }
        // However the asking ends, the next download may ask again.
        struct Asked<'a>(&'a Authority, usize);
        impl Drop for Asked<'_> {
            fn drop(&mut self) {
                self.0.crl_cache.lock().unwrap_or_else(|p| p.into_inner())[self.1].refreshing =
                    false;
            }
        }
        let _asked = Asked(self, slot);
        self.count_crl_store_read();
        let Some(number) = self.store.read(|tx| tx.latest_crl_number(delta))? else {
            return Ok(None);
        };
        {
            let mut cache = self.crl_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(served) = cache[slot].served.clone() {
                if served.0.number >= number {
                    cache[slot].checked_at = Some(now);
                    return Ok(Some(served));
                }
            }
        }
        self.count_crl_store_read();
        let Some(crl) = self.store.read(|tx| tx.latest_crl(delta))? else {
            return Ok(None);
        };
        let entry = (crl.info, bytes::Bytes::from(crl.der));
        // Another thread may have cached a newer one meanwhile.
        let mut cache = self.crl_cache.lock().unwrap_or_else(|p| p.into_inner());
        cache[slot].keep(entry, now);
        Ok(cache[slot].served.clone())
    }

    fn count_crl_store_read(&self) {
        self.crl_store_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many times serving the current CRLs has asked the store since
    /// start: at most once a second per kind for the latest number, once
    /// per new CRL for its bytes, never per download.
    pub fn crl_store_reads(&self) -> u64 {
        self.crl_store_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn crl(&self, number: u64) -> Result<Option<StoredCrl>> {
        self.store.read(|tx| tx.crl(number))
    }

    /// Every CRL number ever published, ascending (tests and audits).
    pub fn crl_numbers(&self) -> Result<Vec<u64>> {
        self.store.read(|tx| tx.crl_numbers())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::in_background;

    /// This thread's name and nice value (`/proc/thread-self/stat`, field
    /// 19).
    fn name_and_nice() -> (String, i32) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let (head, tail) = stat.rsplit_once(')').unwrap();
        let name = head.split_once('(').unwrap().1.to_string();
        let nice = tail.split_whitespace().nth(16).unwrap().parse().unwrap();
        (name, nice)
    }

    #[test]
    fn the_encoder_runs_at_the_lowest_priority_and_the_caller_keeps_its_own() {
        let before = name_and_nice();
        let (name, nice) = in_background(name_and_nice);
        assert_eq!(name, "crl-encoder");
        assert_eq!(nice, 19);
        assert_eq!(name_and_nice(), before);
        assert_ne!(before.1, 19);
    }

    #[test]
    fn a_panic_in_the_encoder_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| in_background(|| panic!("encoding failed")));
        assert!(caught.is_err());
    }
}
