//! The JSON request and response bodies of the REST API (SPEC §4), shared by
//! the server and the operator CLI so both sides agree by construction.
//! Times are RFC 3339 UTC; serials lowercase hex; field names snake_case.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `{"error": {...}}`: every error response.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error's code, message and reason codes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// A stable code: a reason code, or a generic one (`not_found`, …).
    pub code: String,
    /// For people.
    pub message: String,
    /// All reason codes.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// A certificate request as client software and operators see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestView {
    /// Unguessable id.
    pub id: String,
    /// `initial`, `rotation` or `initial_self_signed`.
    #[serde(rename = "type")]
    pub request_type: String,
    /// `pending_act`, `pending`, `rejected` or `issued`.
    pub status: String,
    /// Reason codes of a refusal.
    pub reasons: Vec<String>,
    /// When a decision is due (pending items).
    pub decision_due: Option<DateTime<Utc>>,
    /// The issued certificate's serial.
    pub certificate_serial: Option<String>,
    /// The person the request is for, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// The profile the certificate is (to be) issued under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// When it was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    /// The operator's comment on a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// SHA-256 of the requested public key (SubjectPublicKeyInfo DER), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
}

/// Public status of one certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertificateView {
    /// Lowercase hex.
    pub serial: String,
    /// `active`, `suspended`, `revoked` or `expired`.
    pub status: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// End of a suspension.
    pub suspended_until: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why (a RFC 5280 reason name in snake_case).
    pub revocation_reason: Option<String>,
    /// When a planned key rotation should be requested.
    pub renewal_due: Option<DateTime<Utc>>,
    /// Owner (operator views only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// Profile (operator views only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// Register an organisation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewOrganization {
    /// Name as in the agreement.
    pub name: String,
    /// ИНН (10 digits for a legal entity).
    pub inn: String,
    /// ОГРН (13 digits).
    pub ogrn: String,
    /// The Client-Bank agreement's number.
    pub agreement_number: String,
    /// Where notifications for its persons are posted (optional).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The organisation's e-mail address: it gets a copy of every letter
    /// to its persons (optional).
    #[serde(default)]
    pub contact_email: Option<String>,
}

/// An organisation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// ИНН.
    pub inn: String,
    /// ОГРН.
    pub ogrn: String,
    /// Agreement number.
    pub agreement_number: String,
    /// `active` or `terminated`.
    pub status: String,
    /// Notification webhook.
    pub webhook_url: Option<String>,
    /// Contact e-mail address.
    pub contact_email: Option<String>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// Register an authorised person.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewPerson {
    /// The organisation.
    pub organization_id: String,
    /// Full name (ФИО).
    pub full_name: String,
    /// Position.
    pub position: String,
    /// E-mail for notifications.
    pub email: String,
    /// Power of attorney: document number.
    pub authority_document: String,
    /// Power of attorney: valid until.
    pub authority_valid_until: DateTime<Utc>,
}

/// An authorised person.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Person {
    /// Id.
    pub id: String,
    /// The organisation.
    pub organization_id: String,
    /// Full name.
    pub full_name: String,
    /// Position.
    pub position: String,
    /// E-mail.
    pub email: String,
    /// Power of attorney number.
    pub authority_document: String,
    /// Power of attorney end.
    pub authority_valid_until: DateTime<Utc>,
    /// `active` or `terminated`.
    pub status: String,
    /// Registration time (start of the registration window).
    pub registered_at: DateTime<Utc>,
    /// The subject a request must carry, RFC 4514.
    pub expected_subject: String,
}

/// Extend or replace a power of attorney.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorityUpdate {
    /// Document number.
    pub authority_document: String,
    /// New end.
    pub authority_valid_until: DateTime<Utc>,
}

/// A paper document that ends something (authority, agreement).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Termination {
    /// The document's number.
    pub document: String,
}

/// The certificates a termination revoked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revoked {
    /// Serials.
    pub revoked: Vec<String>,
}

/// Suspend a certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SuspendBody {
    /// Calendar days.
    pub days: i64,
    /// The paper application's number.
    pub document: String,
    /// The applicant, when the application names a person.
    #[serde(default)]
    pub person_id: Option<String>,
}

/// Resume a certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResumeBody {
    /// The paper application's number.
    pub document: String,
    /// The applicant.
    #[serde(default)]
    pub person_id: Option<String>,
}

/// Revoke a certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevokeBody {
    /// RFC 5280 reason in snake_case (`key_compromise`, …, `unspecified`).
    pub reason: String,
    /// The application's or decision's number.
    pub document: String,
    /// The applicant.
    #[serde(default)]
    pub person_id: Option<String>,
}

/// Reject a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RejectBody {
    /// Reason codes.
    pub reasons: Vec<String>,
    /// A comment for the person.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Confirm the signed paper acceptance act of a self-signed request (1.77).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfirmActBody {
    /// The key's SHA-256 fingerprint as read from the signed act (hex;
    /// colons and spaces allowed).
    pub fingerprint: String,
}

/// A technological certificate from a CSR (PEM or base64 DER), or generated.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TechCertBody {
    /// The person's PKCS#10, PEM; absent to have the CA generate the key.
    #[serde(default)]
    pub csr_pem: Option<String>,
    /// PIN protecting the generated PKCS#12.
    #[serde(default)]
    pub pin: Option<String>,
}

/// The issued technological certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TechCertIssued {
    /// Serial.
    pub serial: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The PIN-protected PKCS#12 (base64), when the CA generated the key.
    #[serde(default)]
    pub pkcs12_base64: Option<String>,
}

/// A CRL's facts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CrlInfo {
    /// CRL number.
    pub number: u64,
    /// thisUpdate.
    pub this_update: DateTime<Utc>,
    /// nextUpdate.
    pub next_update: DateTime<Utc>,
    /// Entries.
    pub entries: u64,
}

/// One audit record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the chain.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: an operator, `client`, or `system`.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub object: String,
    /// `ok`, `refused` or `error`.
    pub outcome: String,
    /// Reason codes.
    pub reasons: Vec<String>,
    /// More, as JSON text.
    pub details: String,
    /// This record's hash (hex SHA-256 over the previous hash and the fields).
    pub hash: String,
}

/// The audit chain's integrity.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditVerification {
    /// True when every link holds.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// The first record whose hash or link does not hold.
    pub first_broken: Option<i64>,
    /// Signed checkpoints of the head checked (SPEC §7).
    #[serde(default)]
    pub checkpoints: u64,
    /// When the newest checkpoint was made.
    #[serde(default)]
    pub last_checkpoint: Option<DateTime<Utc>>,
    /// What is wrong, for people (a broken link, records deleted below a
    /// checkpoint, a checkpoint whose signature does not verify).
    #[serde(default)]
    pub problem: Option<String>,
}

/// A signed checkpoint of the audit trail's head, as exported.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// Records the trail held.
    pub records: i64,
    /// The last one's hash.
    pub head_hash: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The text the CA key signed.
    pub statement: String,
    /// The signature, base64.
    pub signature: String,
    /// The `openssl dgst` digest option that verifies it.
    pub digest: String,
}

/// A pending item with its due time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DueItem {
    /// `request`.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its status.
    pub status: String,
    /// Due.
    pub due: DateTime<Utc>,
    /// Past due.
    pub overdue: bool,
}

/// Log in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginBody {
    /// Operator name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A login's result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// Bearer token.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The password must be changed before anything else.
    pub must_change_password: bool,
}

/// Change one's password.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PasswordChange {
    /// Current password.
    pub old_password: String,
    /// New password.
    pub new_password: String,
}

/// Add an operator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewOperator {
    /// Name.
    pub username: String,
    /// `admin`, `registrar` or `auditor`.
    pub role: String,
    /// First password (must be changed at first login).
    pub password: String,
}

/// An operator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Operator {
    /// Name.
    pub username: String,
    /// Role.
    pub role: String,
    /// Locked after wrong passwords.
    pub locked: bool,
    /// Disabled by an admin.
    pub disabled: bool,
    /// Must change the password at next login.
    pub must_change_password: bool,
}
