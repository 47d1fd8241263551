//! CRL publication (SPEC §7): numbers strictly increasing across restarts
//! and instances (taken under the store lock), the stored CRL replaced
//! atomically (a new row in the same transaction as the change it reflects),
//! republished before nextUpdate and after every revocation, suspension and
//! resumption.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use ca_core::api::CrlInfo;
use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry};
use ca_core::serial::parse_serial_hex;
use ca_core::{Error, Result};
use ca_store::{CrlKind, Event, Listed, NewCrl, Outcome, StoredCrl, Tx};

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

/// A CRL as served: its facts and its DER, shared by every download.
pub type ServedCrl = (CrlInfo, Arc<[u8]>);

impl Authority {
    /// Numbers, signs and stores a CRL (full, or delta on `base`) inside the
    /// caller's transaction, which holds the store lock: the number is the
    /// next of the one sequence full and delta CRLs share.
    fn sign_and_store<I>(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        now: DateTime<Utc>,
        kind: CrlKind,
        entries: I,
    ) -> Result<CrlInfo>
    where
        I: IntoIterator<Item = std::result::Result<RevokedEntry, String>>,
    {
        let number = tx.next_crl_number()?;
        let base = match kind {
            CrlKind::Delta { base } => Some(base),
            CrlKind::Base | CrlKind::Full => None,
        };
        let params = CrlParams {
            number,
            this_update: now,
            next_update: now + self.policies.ca.crl_period,
            delta_base: base,
        };
        let mut bad = None;
        let mut count = 0u64;
        let iter = entries.into_iter().filter_map(|e| {
            count += 1;
            e.map_err(|serial| bad = Some(serial)).ok()
        });
        let der = self.ca.build_crl(&params, iter)?;
        if let Some(serial) = bad {
            return Err(Error::internal(format!(
                "stored serial {serial:?} is not hex"
            )));
        }
        let crl = NewCrl {
            number,
            kind,
            this_update: now,
            next_update: params.next_update,
            entries: count,
            der,
        };
        tx.insert_crl(&crl)?;
        tx.prune_crl_bodies()?;
        tx.audit(
            now,
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
                details: serde_json::json!({"kind": match kind {
                    CrlKind::Base => "base", CrlKind::Full => "full", CrlKind::Delta { .. } => "delta",
                }, "base": base, "entries": count, "next_update": params.next_update}),
            },
        )?;
        Ok(CrlInfo {
            number,
            this_update: now,
            next_update: params.next_update,
            entries: count,
        })
    }

    /// Builds, signs and stores a new full CRL inside the caller's
    /// transaction (which holds the store lock).
    fn publish_full(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        now: DateTime<Utc>,
        kind: CrlKind,
    ) -> Result<CrlInfo> {
        // A revoked certificate stays listed until at least one CRL after its
        // expiry (SPEC §7): keep those that expired within one CRL period.
        let listed = tx.listed_certificates(now - self.policies.ca.crl_period)?;
        self.sign_and_store(tx, actor, now, kind, listed.into_iter().map(entry_of))
    }

    /// A new base CRL and an (empty) delta on it, so the delta endpoint is
    /// always as fresh as the full CRL. Returns the base's facts.
    fn publish_base(&self, tx: &mut Tx<'_>, actor: &str, now: DateTime<Utc>) -> Result<CrlInfo> {
        let base = self.publish_full(tx, actor, now, CrlKind::Base)?;
        self.publish_delta_in(tx, actor, now)?;
        self.checkpoint_in(tx, now)?;
        Ok(base)
    }

    /// After a revocation, suspension or resumption (SPEC §3.6: republished
    /// at once): a new full CRL, then the cumulative delta on the current
    /// base. The delta's number is above every full CRL's, so a relying party
    /// may apply it to any full CRL it holds from the base on.
    pub(crate) fn publish_after_change(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CrlInfo> {
        let full = self.publish_full(tx, actor, now, CrlKind::Full)?;
        self.publish_delta_in(tx, actor, now)?;
        self.checkpoint_in(tx, now)?;
        Ok(full)
    }

    /// A delta CRL (RFC 5280 §5.2.4) on the latest base CRL: every certificate
    /// revoked or suspended since its thisUpdate, and removeFromCRL for those
    /// resumed since — cumulative, so one delta brings the base up to date.
    /// Nothing when there is no base yet.
    fn publish_delta_in(
        &self,
        tx: &mut Tx<'_>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CrlInfo>> {
        let Some((base, since, _)) = tx.latest_base_crl()? else {
            return Ok(None);
        };
        let changed = tx.listed_since(since)?;
        // One entry per certificate (RFC 5280 §5.1.2.6): a certificate
        // resumed twice since the base is removed once, at its last
        // resumption.
        let mut resumed: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for (serial, at) in tx.resumed_since(since)? {
            let last = resumed.entry(serial).or_insert(at);
            *last = (*last).max(at);
        }
        let removals = resumed.into_iter().map(|(serial, at)| {
            let parsed = parse_serial_hex(&serial).ok_or(serial)?;
            Ok(RevokedEntry {
                serial: parsed,
                revoked_at: at,
                reason: RevocationReason::RemoveFromCrl,
                invalidity_date: None,
            })
        });
        let entries = changed.into_iter().map(entry_of).chain(removals);
        self.sign_and_store(tx, actor, now, CrlKind::Delta { base }, entries)
            .map(Some)
    }

    /// Publishes a CRL now.
    pub fn publish_crl(&self, actor: &str) -> Result<CrlInfo> {
        let now = self.now();
        self.store.write(|tx| self.publish_base(tx, actor, now))
    }

    /// Publishes a new base (and its delta) when there is none yet or the
    /// current base is within the overlap of its nextUpdate; full CRLs
    /// published after changes end no earlier, so this covers them too. Run
    /// from every instance: under the lock only the first one to see it due
    /// publishes.
    pub fn publish_crl_if_due(&self) -> Result<Option<CrlInfo>> {
        let now = self.now();
        let overlap = self.policies.ca.crl_overlap;
        self.store.write(|tx| match tx.latest_base_crl()? {
            Some((_, _, next)) if now < next - overlap => Ok(None),
            _ => self.publish_base(tx, "system", now).map(Some),
        })
    }

    /// The current full CRL and its facts.
    pub fn current_crl(&self) -> Result<Option<ServedCrl>> {
        self.cached_crl(false)
    }

    /// The latest delta CRL and its facts.
    pub fn current_delta_crl(&self) -> Result<Option<ServedCrl>> {
        self.cached_crl(true)
    }

    /// The latest full or delta CRL from memory (SPEC §7: CRLs are served
    /// from memory). Each call reads only the latest number, so a CRL
    /// published by any instance is served from the next request on; the
    /// CRL itself is read from the store once per number, not once per
    /// download (issue 10: a million-entry CRL read for every request, even
    /// a 304, starved every other reader).
    fn cached_crl(&self, delta: bool) -> Result<Option<ServedCrl>> {
        let Some(number) = self.store.read(|tx| tx.latest_crl_number(delta))? else {
            return Ok(None);
        };
        let slot = usize::from(delta);
        if let Some((info, der)) = &self.crl_cache.lock().unwrap_or_else(|p| p.into_inner())[slot] {
            if info.number == number {
                return Ok(Some((info.clone(), der.clone())));
            }
        }
        let Some(crl) = self.store.read(|tx| tx.latest_crl(delta))? else {
            return Ok(None);
        };
        let entry = (crl.info, Arc::<[u8]>::from(crl.der));
        let mut cache = self.crl_cache.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have cached a newer one meanwhile.
        if cache[slot]
            .as_ref()
            .is_none_or(|(cached, _)| cached.number < entry.0.number)
        {
            cache[slot] = Some(entry.clone());
        }
        Ok(Some(entry))
    }

    pub fn crl(&self, number: u64) -> Result<Option<StoredCrl>> {
        self.store.read(|tx| tx.crl(number))
    }

    /// Every CRL number ever published, ascending (tests and audits).
    pub fn crl_numbers(&self) -> Result<Vec<u64>> {
        self.store.read(|tx| tx.crl_numbers())
    }
}
