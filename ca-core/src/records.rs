//! What the rules need to know about people and certificates: plain records
//! the store loads, so the rules stay pure functions of their inputs.

use chrono::{DateTime, Utc};

use crate::policy::ProfileKind;
use crate::subject::SubjectSpec;

/// An authorised person and the state of their organisation's agreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRecord {
    /// The person's id.
    pub id: String,
    /// The person's authority has not been terminated.
    pub active: bool,
    /// The organisation's agreement has not been terminated.
    pub organization_active: bool,
    /// When the power of attorney ends.
    pub authority_valid_until: DateTime<Utc>,
    /// When the person was registered (start of the registration window).
    pub registered_at: DateTime<Utc>,
    /// The subject the person's certificates carry.
    pub subject: SubjectSpec,
}

impl PersonRecord {
    /// Authorised now: neither the person nor the organisation terminated.
    pub fn is_authorised(&self) -> bool {
        self.active && self.organization_active
    }
}

/// A certificate's stored state (SPEC §3.4–3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateStatus {
    /// Recorded with its reserved serial, not yet signed (SPEC §7).
    Signing,
    /// In use.
    Active,
    /// On hold until the given time.
    Suspended {
        /// End of the suspension period.
        until: DateTime<Utc>,
    },
    /// Permanently revoked.
    Revoked,
}

impl CertificateStatus {
    /// The stored name.
    pub fn code(self) -> &'static str {
        match self {
            CertificateStatus::Signing => "signing",
            CertificateStatus::Active => "active",
            CertificateStatus::Suspended { .. } => "suspended",
            CertificateStatus::Revoked => "revoked",
        }
    }
}

/// A certificate as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Lowercase hex serial.
    pub serial: String,
    /// The owner.
    pub person_id: String,
    /// The profile it was issued under.
    pub profile: ProfileKind,
    /// Its state.
    pub status: CertificateStatus,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
}

impl CertificateRecord {
    /// The status the public API reports: stored state, with `expired` once
    /// past notAfter (a revoked certificate stays `revoked`).
    pub fn public_status(&self, now: DateTime<Utc>) -> &'static str {
        match self.status {
            CertificateStatus::Revoked => "revoked",
            _ if now > self.not_after => "expired",
            s => s.code(),
        }
    }

    /// Within its validity period at `now`.
    pub fn is_within_validity(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}
