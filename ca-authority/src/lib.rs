//! `ca-authority`: the CA's use cases (SPEC §3–§5), one file each, in the
//! place of Boulder's registration authority. Each one loads the facts from
//! the store, asks `ca_core::rules` for the verdict, writes the outcome with
//! its audit row and notification in one store transaction, and — alone in
//! the workspace — calls the CA signer and generates keys. HTTP knows only
//! this crate; this crate knows no HTTP.

#![forbid(unsafe_code)]

mod certificates;
mod checkpoints;
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
use ca_store::Store;

pub use ca_core::clock::{ManualClock, SystemClock};
pub use ca_store::{Notification, StoredCrl};
pub use decide::ActData;
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
    crl_cache: std::sync::Mutex<[Option<publish::ServedCrl>; 2]>,
    ocsp_key: Option<Box<dyn ca_core::signer::CaSigner>>,
    ocsp_responder: std::sync::RwLock<Option<ocsp::DelegatedResponder>>,
}

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
            ocsp_key: None,
            ocsp_responder: Default::default(),
        })
    }

    /// Gives the delegated OCSP responder its key (kept in the key store,
    /// `keystore::open_or_create_ocsp_key`); its certificate is issued by
    /// [`renew_ocsp_responder_if_due`](Self::renew_ocsp_responder_if_due).
    /// Without it, responses are signed with the CA key.
    pub fn with_ocsp_key(mut self, key: Box<dyn ca_core::signer::CaSigner>) -> Self {
        self.ocsp_key = Some(key);
        self
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
