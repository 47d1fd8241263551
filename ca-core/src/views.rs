//! The API's JSON views (SPEC §4), rendered from the core's records in one
//! place. What clients see and what the store keeps are allowed to differ:
//! a request being issued is shown as `pending`, a certificate past its
//! notAfter as `expired`.

use chrono::{DateTime, Utc};

use crate::api::{CertificateView, Operator, Organization, Person, RequestView};
use crate::policy::Profiles;
use crate::records::{
    CertificateStatus, OperatorRecord, OrganizationRecord, Registration, RequestRecord,
    StoredCertificate,
};

/// A request as client software and operators see it.
pub fn request(r: &RequestRecord) -> RequestView {
    RequestView {
        id: r.id.clone(),
        request_type: r.request_type.code().into(),
        status: r.status.public().code().into(),
        reasons: r.reasons.clone(),
        decision_due: r.decision_due,
        certificate_serial: r.certificate_serial.clone(),
        person_id: r.person_id.clone(),
        profile: Some(r.profile.code().into()),
        received_at: Some(r.received_at),
        comment: r.comment.clone(),
        key_sha256: Some(r.key_sha256.clone()),
    }
}

/// A request as client software sees it: without the registry's person
/// id, which would tell an anonymous self-signed request whether its
/// subject is registered (issue 9 defect 12).
pub fn request_for_client(r: &RequestRecord) -> RequestView {
    RequestView {
        person_id: None,
        ..request(r)
    }
}

/// Requests.
pub fn requests(rs: &[RequestRecord]) -> Vec<RequestView> {
    rs.iter().map(request).collect()
}

/// A certificate's status; owner and profile only for operators. The
/// renewal date comes from the certificate's profile (SPEC §3.8).
pub fn certificate(
    c: &StoredCertificate,
    now: DateTime<Utc>,
    operator: bool,
    profiles: &Profiles,
) -> CertificateView {
    let record = &c.record;
    CertificateView {
        serial: record.serial.clone(),
        status: record.public_status(now).to_string(),
        not_before: record.not_before,
        not_after: record.not_after,
        suspended_until: match record.status {
            CertificateStatus::Suspended { until } => Some(until),
            _ => None,
        },
        revoked_at: c.revoked_at,
        revocation_reason: c.revocation_reason.map(|r| r.code().to_string()),
        renewal_due: record.renewal_due(profiles.get(record.profile)),
        person_id: operator.then(|| record.person_id.clone()),
        profile: operator.then(|| record.profile.code().to_string()),
    }
}

/// An organisation.
pub fn organization(o: &OrganizationRecord) -> Organization {
    Organization {
        id: o.id.clone(),
        name: o.name.clone(),
        inn: o.inn.clone(),
        ogrn: o.ogrn.clone(),
        agreement_number: o.agreement_number.clone(),
        status: status(o.active).into(),
        webhook_url: o.webhook_url.clone(),
        contact_email: o.contact_email.clone(),
        created_at: o.created_at,
    }
}

/// A person, with the subject their requests must carry.
pub fn person(r: &Registration) -> Person {
    Person {
        id: r.person.id.clone(),
        organization_id: r.organization_id.clone(),
        full_name: r.full_name.clone(),
        position: r.position.clone(),
        email: r.email.clone(),
        authority_document: r.authority_document.clone(),
        authority_valid_until: r.person.authority_valid_until,
        status: status(r.person.active).into(),
        registered_at: r.person.registered_at,
        expected_subject: r.person.subject.rfc4514(),
    }
}

/// An operator (no hashes).
pub fn operator(o: &OperatorRecord) -> Operator {
    Operator {
        username: o.username.clone(),
        role: o.role.code().into(),
        locked: o.locked,
        disabled: o.disabled,
        must_change_password: o.must_change_password,
    }
}

fn status(active: bool) -> &'static str {
    if active {
        "active"
    } else {
        "terminated"
    }
}
