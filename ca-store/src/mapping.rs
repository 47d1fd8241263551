//! The one schema mapping: rows to the core's records and back. Statuses
//! are stored under the codes of their core types; this is the only place
//! that turns a stored text into a status.

use chrono::{DateTime, Utc};

use ca_core::crl::RevocationReason;
use ca_core::policy::ProfileKind;
use ca_core::records::{
    CertificateRecord, CertificateStatus, OperatorRecord, OrganizationRecord, PersonRecord,
    Registration, RequestRecord, Role, StoredCertificate,
};
use ca_core::request_status::RequestStatus;
use ca_core::request_type::RequestType;
use ca_core::subject::SubjectSpec;
use ca_core::{Error, Result};

use crate::models::{CertRow, OperatorRow, OrgRow, PersonRow, RequestRow};

/// Unix seconds of a time.
pub(crate) fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// The time of Unix seconds.
pub(crate) fn dt(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// A person's or an agreement's stored state.
pub(crate) const ACTIVE: &str = "active";
/// Their state once ended.
pub(crate) const TERMINATED: &str = "terminated";

/// Stored certificate status codes, as the core names them.
pub(crate) const SIGNING: &str = "signing";
pub(crate) const CERT_ACTIVE: &str = "active";
pub(crate) const SUSPENDED: &str = "suspended";
pub(crate) const REVOKED: &str = "revoked";

/// Stored reason codes, comma-joined.
pub(crate) fn join_codes<'a>(codes: impl IntoIterator<Item = &'a str>) -> String {
    codes.into_iter().collect::<Vec<_>>().join(",")
}

/// A comma-joined list of codes.
pub(crate) fn split_codes(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::internal(format!("stored {what} {value:?} is not one we write"))
}

pub(crate) fn certificate_status(row: &CertRow) -> Result<CertificateStatus> {
    Ok(match row.status.as_str() {
        SIGNING => CertificateStatus::Signing,
        CERT_ACTIVE => CertificateStatus::Active,
        SUSPENDED => CertificateStatus::Suspended {
            until: dt(row.suspended_until.unwrap_or(row.not_after)),
        },
        REVOKED => CertificateStatus::Revoked,
        other => return Err(corrupt("certificate status", other)),
    })
}

pub(crate) fn channel(code: &str) -> Result<crate::Channel> {
    [crate::Channel::Email, crate::Channel::Webhook]
        .into_iter()
        .find(|c| c.code() == code)
        .ok_or_else(|| corrupt("notification channel", code))
}

pub(crate) fn profile(code: &str) -> Result<ProfileKind> {
    ProfileKind::from_code(code).ok_or_else(|| corrupt("profile", code))
}

pub(crate) fn certificate(row: &CertRow) -> Result<StoredCertificate> {
    Ok(StoredCertificate {
        record: CertificateRecord {
            serial: row.serial.clone(),
            person_id: row.person_id.clone(),
            profile: profile(&row.profile)?,
            status: certificate_status(row)?,
            not_before: dt(row.not_before),
            not_after: dt(row.not_after),
        },
        key_sha256: row.key_sha256.clone(),
        request_id: row.request_id.clone(),
        created_at: dt(row.created_at),
        suspended_at: row.suspended_at.map(dt),
        revoked_at: row.revoked_at.map(dt),
        revocation_reason: row
            .revocation_reason
            .as_deref()
            .map(|r| RevocationReason::from_code(r).ok_or_else(|| corrupt("reason", r)))
            .transpose()?,
        predecessor_serial: row.predecessor_serial.clone(),
    })
}

pub(crate) fn organization(r: &OrgRow) -> OrganizationRecord {
    OrganizationRecord {
        id: r.id.clone(),
        name: r.name.clone(),
        inn: r.inn.clone(),
        ogrn: r.ogrn.clone(),
        agreement_number: r.agreement_number.clone(),
        active: r.status == ACTIVE,
        webhook_url: r.webhook_url.clone(),
        contact_email: r.contact_email.clone(),
        created_at: dt(r.created_at),
    }
}

pub(crate) fn registration(p: &PersonRow, o: &OrgRow) -> Registration {
    Registration {
        person: PersonRecord {
            id: p.id.clone(),
            active: p.status == ACTIVE,
            organization_active: o.status == ACTIVE,
            authority_valid_until: dt(p.authority_valid_until),
            registered_at: dt(p.registered_at),
            subject: SubjectSpec::for_registration(&o.name, &o.ogrn, &p.position, &p.full_name),
        },
        organization_id: p.organization_id.clone(),
        full_name: p.full_name.clone(),
        position: p.position.clone(),
        email: p.email.clone(),
        authority_document: p.authority_document.clone(),
    }
}

pub(crate) fn request(r: RequestRow) -> Result<RequestRecord> {
    Ok(RequestRecord {
        request_type: r
            .request_type
            .parse::<RequestType>()
            .map_err(|_| corrupt("request type", &r.request_type))?,
        status: RequestStatus::from_code(&r.status)
            .ok_or_else(|| corrupt("request status", &r.status))?,
        reasons: split_codes(&r.reasons),
        profile: profile(&r.profile)?,
        received_at: dt(r.received_at),
        decision_due: r.decision_due.map(dt),
        decided_at: r.decided_at.map(dt),
        act_confirmed_at: r.act_confirmed_at.map(dt),
        id: r.id,
        cms_sha256: r.cms_sha256,
        cms: r.cms,
        csr: r.csr,
        comment: r.comment,
        person_id: r.person_id,
        signer_serial: r.signer_serial,
        key_sha256: r.key_sha256,
        key_algorithm: r.key_algorithm,
        decided_by: r.decided_by,
        act_confirmed_by: r.act_confirmed_by,
        certificate_serial: r.certificate_serial,
    })
}

pub(crate) fn request_row(r: &RequestRecord) -> RequestRow {
    RequestRow {
        id: r.id.clone(),
        cms_sha256: r.cms_sha256.clone(),
        cms: r.cms.clone(),
        csr: r.csr.clone(),
        request_type: r.request_type.code().into(),
        status: r.status.code().into(),
        reasons: join_codes(r.reasons.iter().map(String::as_str)),
        comment: r.comment.clone(),
        person_id: r.person_id.clone(),
        profile: r.profile.code().into(),
        signer_serial: r.signer_serial.clone(),
        key_sha256: r.key_sha256.clone(),
        key_algorithm: r.key_algorithm.clone(),
        received_at: ts(r.received_at),
        decision_due: r.decision_due.map(ts),
        decided_at: r.decided_at.map(ts),
        decided_by: r.decided_by.clone(),
        act_confirmed_at: r.act_confirmed_at.map(ts),
        act_confirmed_by: r.act_confirmed_by.clone(),
        certificate_serial: r.certificate_serial.clone(),
    }
}

pub(crate) fn operator(r: OperatorRow) -> Result<OperatorRecord> {
    Ok(OperatorRecord {
        role: Role::from_code(&r.role).ok_or_else(|| corrupt("role", &r.role))?,
        username: r.username,
        password_hash: r.password_hash,
        must_change_password: r.must_change_password != 0,
        password_changed_at: dt(r.password_changed_at),
        failed_attempts: r.failed_attempts,
        locked: r.locked != 0,
        disabled: r.disabled != 0,
    })
}
