//! `ca-authority`: the CA's use cases (SPEC §3–§5), one file each, in the
//! place of Boulder's registration authority. Each one loads the facts from
//! the store, asks `ca_core::rules` for the verdict, writes the outcome with
//! its audit row and notification in one store transaction, and — alone in
//! the workspace — calls the CA signer and generates keys. HTTP knows only
//! this crate; this crate knows no HTTP.

#![forbid(unsafe_code)]

mod certificates;
mod checkpoints;
mod consistency;
mod decide;
mod issue;
mod notifications;
mod ocsp;
mod operators;
pub mod passwords;
mod publish;
mod refusals;
mod registry;
mod rotation;
mod submit;
mod technological;
mod terminate;

use std::sync::Arc;

use ca_core::clock::Clock;
use ca_core::policy::Policies;
use ca_core::{CertificateAuthority, Result};
use ca_store::{Store, Tx};

pub use ca_core::clock::{ManualClock, SystemClock};
pub use ca_store::{Channel, Notification, OutboxFilter, OutboxStatus, StoredCrl};
pub use consistency::{ConsistencyReport, Finding};
pub use decide::ActData;
pub use issue::CopyData;
pub use ocsp::{OcspAnswer, HTTP_CACHE_SECONDS};
pub use operators::{Authenticated, LoginOutcome};
pub use submit::Submission;
pub use technological::{TechnologicalIssued, TechnologicalKey};

/// The CA at work: its store, its key (through the signer inside the
/// [`CertificateAuthority`]), its policies and its clock.
pub struct Authority {
    store: Store,
    ca: Arc<CertificateAuthority>,
    policies: Arc<Policies>,
    clock: Arc<dyn Clock>,
    anonymous_logins: std::sync::Mutex<operators::AnonymousLogins>,
    ocsp_cache: std::sync::Mutex<ocsp::OcspCache>,
    /// The latest full and delta CRL, as served ([full, delta]).
    crl_cache: std::sync::Mutex<[publish::CrlSlot; 2]>,
    /// How often serving a CRL asked the store (the metrics' proof that
    /// downloads are served from memory).
    crl_store_reads: std::sync::atomic::AtomicU64,
    ocsp_key: Option<Box<dyn ca_core::signer::CaSigner>>,
    ocsp_responder: std::sync::RwLock<Option<ocsp::DelegatedResponder>>,
    /// Wakes the publisher thread after a change commits; unset: changes
    /// are published by the committing thread, after its commit.
    publisher: std::sync::OnceLock<std::sync::mpsc::SyncSender<()>>,
    /// Since when, and why, writes have been failing for a storage fault
    /// (issue 14): the first write that succeeds again is audited.
    storage_fault: std::sync::Mutex<Option<(chrono::DateTime<chrono::Utc>, String)>>,
    /// Held while readiness writes: checks that arrive meanwhile wait for
    /// that write and take its answer instead of queueing their own.
    readiness_check: std::sync::Mutex<()>,
}

/// How long a successful write proves the store takes writes, for
/// readiness (`/health`): a write is a commit with an fsync under the one
/// write lock, and `/health` is public and polled.
const READY_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

impl Authority {
    /// Opens the database at `url` (migrating it) for `ca` under `policies`.
    pub fn open(
        url: &str,
        ca: Arc<CertificateAuthority>,
        policies: Arc<Policies>,
        clock: Arc<dyn Clock>,
    ) -> Result<Authority> {
        Ok(Authority {
            store: Store::open(url)?,
            ca,
            policies,
            clock,
            anonymous_logins: Default::default(),
            ocsp_cache: Default::default(),
            crl_cache: Default::default(),
            crl_store_reads: Default::default(),
            ocsp_key: None,
            ocsp_responder: Default::default(),
            publisher: Default::default(),
            storage_fault: Default::default(),
            readiness_check: Default::default(),
        })
    }

    /// At most `writes` concurrent writes share one commit (see
    /// `ca_store::Store::write`); 1: each commits alone.
    pub fn set_commit_group_max(&self, writes: usize) {
        self.store.set_commit_group_max(writes);
    }

    /// Gives the delegated OCSP responder its key (kept in the key store,
    /// `keystore::open_or_create_ocsp_key`); its certificate is issued by
    /// [`renew_ocsp_responder_if_due`](Self::renew_ocsp_responder_if_due).
    /// Without it, responses are signed with the CA key.
    pub fn with_ocsp_key(mut self, key: Box<dyn ca_core::signer::CaSigner>) -> Self {
        self.ocsp_key = Some(key);
        self
    }

    /// A write transaction of a use case; a change of certificate status it
    /// recorded is published after the commit, outside the lock.
    pub(crate) fn write<T>(&self, f: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let result = self.store.write(f);
        self.note_storage(&result);
        self.after_write();
        result
    }

    /// [`write`](Self::write) for operations whose refusal is committed
    /// and then reported (`ca_store::Store::write_verdict`).
    pub(crate) fn write_verdict<T>(
        &self,
        f: impl FnMut(&mut Tx<'_>) -> Result<Result<T>>,
    ) -> Result<T> {
        let result = self.store.write_verdict(f);
        self.note_storage(&result);
        self.after_write();
        result
    }

    /// Remembers a storage fault; on the first write that succeeds after
    /// one, records the recovery in the audit trail (issue 14).
    fn note_storage<T>(&self, result: &Result<T>) {
        let mut fault = self.storage_fault.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Err(e) if e.kind() == ca_core::ErrorKind::StorageUnavailable => {
                if fault.is_none() {
                    tracing::error!(error = %e, "storage fault: writes fail");
                    *fault = Some((self.now(), e.message().to_string()));
                }
            }
            Ok(_) => {
                if let Some((since, error)) = fault.take() {
                    drop(fault);
                    let now = self.now();
                    let recorded = self.store.write(|tx| {
                        tx.audit(
                            now,
                            ca_store::Event {
                                actor: "system",
                                action: "storage.recovered",
                                object: "store".into(),
                                outcome: ca_store::Outcome::Ok,
                                reasons: vec![],
                                details: serde_json::json!({"failing_since": since, "error": error}),
                            },
                        )
                    });
                    match recorded {
                        Ok(()) => tracing::warn!(%since, "storage recovered; writes succeed again"),
                        // Not recorded: keep the fault for the next write.
                        Err(_) => {
                            *self.storage_fault.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some((since, error))
                        }
                    }
                }
            }
            Err(_) => {}
        }
    }

    /// Whether the store takes writes now (readiness, issue 14): yes if a
    /// write succeeded within the last second and none has failed since;
    /// otherwise a write transaction that takes the store lock and nothing
    /// else, one at a time (issue 10: every `/health` call was a commit of
    /// its own, so polling or flooding it queued fsyncs before issuance).
    pub fn check_store_writable(&self) -> Result<()> {
        let _one_at_a_time = self
            .readiness_check
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // After a fault, the write that finds the store back records it.
        let faulted = self
            .storage_fault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if !faulted && self.store.committed_within(READY_RECHECK) {
            return Ok(());
        }
        self.write(|_| Ok(()))
    }

    fn after_write(&self) {
        if !self.store.take_crl_changed() {
            return;
        }
        match self.publisher.get() {
            // The publisher thread coalesces a burst of changes.
            Some(wake) => {
                let _ = wake.try_send(());
            }
            None => {
                if let Err(e) = self.publish_pending() {
                    tracing::warn!(error = %e, "publication after a change failed; the background work retries it");
                }
            }
        }
    }

    /// Publishes changes on a thread of their own (the server): the request
    /// that revoked returns after its commit, and the CRLs follow within the
    /// time it takes to build them; changes made meanwhile are published
    /// together. The thread ends with the authority.
    pub fn start_publisher(self: &Arc<Self>) {
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        if self.publisher.set(wake).is_err() {
            return;
        }
        let authority = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("crl-publisher".into())
            .spawn(move || {
                // At the default priority: it holds the write lock and the
                // signer at times. Encoding a large CRL, the CPU-heavy part,
                // runs at the lowest (publish.rs, `in_background`).
                while woken.recv().is_ok() {
                    let Some(authority) = authority.upgrade() else {
                        break;
                    };
                    if let Err(e) = authority.publish_pending() {
                        tracing::warn!(error = %e, "publication failed; the background work retries it");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no publisher thread; changes are published by the background work");
        }
    }

    /// Leaves changes to [`publish_pending`](Self::publish_pending) alone
    /// (called by the background work): for tests of what a crash between
    /// a change and its publication leaves.
    pub fn defer_publication(&self) {
        let (wake, _) = std::sync::mpsc::sync_channel::<()>(1);
        let _ = self.publisher.set(wake);
    }

    /// The CA's public side (certificate, name, URLs).
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The current time, from the injected clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Audit records after `after` (at most 1000).
    pub fn audit_records(&self, after: i64, limit: i64) -> Result<Vec<ca_core::api::AuditRecord>> {
        self.store
            .read(|tx| tx.audit_records(after, limit.clamp(1, 1000)))
    }
}
