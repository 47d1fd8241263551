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

    /// When a planned rotation should be asked for (SPEC §3.8): the opening
    /// of the profile's renewal window; only while active.
    pub fn renewal_due(&self, profile: &crate::policy::Profile) -> Option<DateTime<Utc>> {
        (self.status == CertificateStatus::Active)
            .then(|| profile.renewal_opens(self.not_before, self.not_after))
    }

    /// When a suspension whose period has ended by `now` lapsed: it is a
    /// revocation from that moment, whatever the background work has done
    /// (SPEC §3.4–3.5). `None` unless suspended and over.
    pub fn lapsed_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.status {
            CertificateStatus::Suspended { until } if until <= now => Some(until),
            _ => None,
        }
    }

    /// Within its validity period at `now`.
    pub fn is_within_validity(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// A certificate as stored: the rules' record and what else the registry
/// keeps about it (SPEC §4 certificate status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCertificate {
    /// What the rules judge.
    pub record: CertificateRecord,
    /// SHA-256 of the certified SubjectPublicKeyInfo, hex.
    pub key_sha256: String,
    /// The request it was issued on, if any.
    pub request_id: Option<String>,
    /// When its serial was reserved.
    pub created_at: DateTime<Utc>,
    /// When it was suspended (while suspended).
    pub suspended_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revocation_reason: Option<crate::crl::RevocationReason>,
    /// The certificate whose key signed the rotation request this one was
    /// issued on (SPEC §3.8): its lineage.
    pub predecessor_serial: Option<String>,
}

/// A client organisation (SPEC §2: Клиент and its agreement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationRecord {
    /// Id.
    pub id: String,
    /// Name as in the agreement.
    pub name: String,
    /// ИНН, 10 digits.
    pub inn: String,
    /// ОГРН, 13 digits.
    pub ogrn: String,
    /// The agreement's number.
    pub agreement_number: String,
    /// The agreement has not been terminated.
    pub active: bool,
    /// Where notifications are posted, if given.
    pub webhook_url: Option<String>,
    /// Where a copy of its persons' mail goes, if given.
    pub contact_email: Option<String>,
    /// When registered.
    pub created_at: DateTime<Utc>,
}

/// A registered authorised person: what the rules see, and the rest of
/// the registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// What the rules judge (status, authority, subject).
    pub person: PersonRecord,
    /// The organisation.
    pub organization_id: String,
    /// Full name (ФИО), whitespace normalised.
    pub full_name: String,
    /// Position (должность).
    pub position: String,
    /// Contact address.
    pub email: String,
    /// Power of attorney document.
    pub authority_document: String,
}

/// A certificate request as stored (SPEC §3.1–3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Unguessable id.
    pub id: String,
    /// SHA-256 of the envelope as received: resubmission is idempotent.
    pub cms_sha256: String,
    /// The envelope (DER after the BER step).
    pub cms: Vec<u8>,
    /// The PKCS#10.
    pub csr: Vec<u8>,
    /// Decided from the signer.
    pub request_type: crate::request_type::RequestType,
    /// Where it stands.
    pub status: crate::request_status::RequestStatus,
    /// Reason codes of a refusal.
    pub reasons: Vec<String>,
    /// An operator's comment on a rejection.
    pub comment: Option<String>,
    /// The person it is for, when known.
    pub person_id: Option<String>,
    /// The profile it is (to be) issued under.
    pub profile: ProfileKind,
    /// Serial of the certificate that signed the envelope.
    pub signer_serial: Option<String>,
    /// SHA-256 of the requested key.
    pub key_sha256: String,
    /// e.g. "RSA 2048".
    pub key_algorithm: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When a decision is due (pending ones).
    pub decision_due: Option<DateTime<Utc>>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided (`system` for the rules).
    pub decided_by: Option<String>,
    /// When the paper act was confirmed.
    pub act_confirmed_at: Option<DateTime<Utc>>,
    /// Who confirmed it.
    pub act_confirmed_by: Option<String>,
    /// The issued certificate.
    pub certificate_serial: Option<String>,
}

/// Operator roles (SPEC §4 operator API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// CA administrator: operators, and everything a registrar does.
    Admin,
    /// Registration desk: organisations, persons, requests, certificates.
    Registrar,
    /// Reads the audit trail and the registry; changes nothing.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Registrar, Role::Auditor];

    /// The stored and wire name.
    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Registrar => "registrar",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a stored or wire name.
    pub fn from_code(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// An operator as authentication sees it (SPEC §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRecord {
    /// Name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// The slow salted hash (PHC string).
    pub password_hash: String,
    /// Must change the password before anything else.
    pub must_change_password: bool,
    /// When the password was last set.
    pub password_changed_at: DateTime<Utc>,
    /// Wrong passwords in a row.
    pub failed_attempts: i32,
    /// Locked after too many wrong passwords.
    pub locked: bool,
    /// Disabled by an admin.
    pub disabled: bool,
}
