//! Rows as diesel reads and writes them; conversions to the core's records
//! and the API's views live beside each table's operations.

use diesel::prelude::*;

use crate::schema::*;

/// `organizations`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub inn: String,
    pub ogrn: String,
    pub agreement_number: String,
    pub status: String,
    pub webhook_url: Option<String>,
    pub created_at: i64,
    pub terminated_at: Option<i64>,
    pub terminated_document: Option<String>,
    pub contact_email: Option<String>,
}

/// `persons`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = persons)]
pub struct PersonRow {
    pub id: String,
    pub organization_id: String,
    pub full_name: String,
    pub position: String,
    pub email: String,
    pub authority_document: String,
    pub authority_valid_until: i64,
    pub registered_at: i64,
    pub status: String,
    pub terminated_at: Option<i64>,
    pub terminated_document: Option<String>,
}

/// `certificates`, without the TBS and DER (what every lookup but a
/// download needs: a status lookup reads no blob) and the invalidity date
/// (set by revocation, read by CRLs). Inserted with the TBS beside it.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = certificates)]
pub struct CertRow {
    pub serial: String,
    pub person_id: String,
    pub profile: String,
    pub status: String,
    pub key_sha256: String,
    pub not_before: i64,
    pub not_after: i64,
    pub request_id: Option<String>,
    pub created_at: i64,
    pub suspended_at: Option<i64>,
    pub suspended_until: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
    pub predecessor_serial: Option<String>,
}

/// `requests`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = requests)]
pub struct RequestRow {
    pub id: String,
    pub cms_sha256: String,
    pub cms: Vec<u8>,
    pub csr: Vec<u8>,
    pub request_type: String,
    pub status: String,
    pub reasons: String,
    pub comment: Option<String>,
    pub person_id: Option<String>,
    pub profile: String,
    pub signer_serial: Option<String>,
    pub key_sha256: String,
    pub key_algorithm: String,
    pub received_at: i64,
    pub decision_due: Option<i64>,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub act_confirmed_at: Option<i64>,
    pub act_confirmed_by: Option<String>,
    pub certificate_serial: Option<String>,
}

/// `applications`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = applications)]
pub struct ApplicationRow {
    pub id: String,
    pub kind: String,
    pub document: String,
    pub certificate_serial: Option<String>,
    pub person_id: Option<String>,
    pub organization_id: Option<String>,
    pub received_at: i64,
    pub due_at: i64,
    pub outcome: String,
    pub reasons: String,
    pub operator: String,
}

/// `crls`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = crls)]
pub struct CrlRow {
    pub number: i64,
    pub kind: String,
    pub base_number: Option<i64>,
    pub this_update: i64,
    pub next_update: i64,
    pub entries: i64,
    pub covers_change: i64,
}

/// `operators`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = operators)]
pub struct OperatorRow {
    pub username: String,
    pub role: String,
    pub password_hash: String,
    pub must_change_password: i32,
    pub password_changed_at: i64,
    pub failed_attempts: i32,
    pub locked: i32,
    pub disabled: i32,
    pub created_at: i64,
}

/// `audit`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub reasons: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// `audit_checkpoints`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_checkpoints)]
pub struct CheckpointRow {
    pub records: i64,
    pub at: i64,
    pub head_hash: String,
    pub statement: String,
    pub signature: Vec<u8>,
}

/// `outbox`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub created_at: i64,
    pub person_id: Option<String>,
    pub organization_id: Option<String>,
    pub event: String,
    pub payload: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
    pub channel: String,
    pub destination: Option<String>,
}
