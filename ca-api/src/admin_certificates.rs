//! Certificates (suspend, resume, revoke), CRL publication and the audit
//! trail, for operators.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use ca_core::api::{ResumeBody, RevokeBody, SuspendBody};
use ca_core::crl::RevocationReason;
use ca_core::Error;
use serde::Deserialize;

use crate::auth::{Auditors, Authorized, Readers, Writers};
use crate::client::serial;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::media;
use crate::state::{blocking, AppState};

/// Filter of the certificate list.
#[derive(Deserialize)]
pub struct CertificateFilter {
    person: Option<String>,
    status: Option<String>,
}

/// `GET /api/v1/admin/certificates?person=&status=`.
#[get("/api/v1/admin/certificates")]
pub async fn list(
    _who: Authorized<Readers>,
    q: web::Query<CertificateFilter>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok()
        .json(blocking(move || reg.certificates(q.person.as_deref(), q.status.as_deref())).await?))
}

/// `GET /api/v1/admin/certificates/{serial}`: status with owner and profile.
#[get("/api/v1/admin/certificates/{serial}")]
pub async fn show(
    _who: Authorized<Readers>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let s = serial(&path)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.certificate(&s, true)).await?.0))
}

/// Runs one change of a certificate's state, then answers with its new view.
async fn change<F>(state: &AppState, username: String, path: &str, f: F) -> ApiResult<HttpResponse>
where
    F: FnOnce(&ca_store::Registry, &str, &str) -> ca_core::Result<()> + Send + 'static,
{
    let s = serial(path)?;
    let reg = state.registry.clone();
    let view = blocking(move || {
        f(&reg, &username, &s)?;
        reg.certificate(&s, true).map(|(v, _)| v)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/admin/certificates/{serial}/suspend`: `{days, document}`.
#[post("/api/v1/admin/certificates/{serial}/suspend")]
pub async fn suspend(
    who: Authorized<Writers>,
    path: web::Path<String>,
    body: JsonBody<SuspendBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let b = body.take()?;
    change(&state, who.caller.username, &path, move |reg, user, s| {
        reg.suspend(user, s, b.days, &b.document, b.person_id.as_deref())
            .map(|_| ())
    })
    .await
}

/// `POST /api/v1/admin/certificates/{serial}/resume`: `{document}`.
#[post("/api/v1/admin/certificates/{serial}/resume")]
pub async fn resume(
    who: Authorized<Writers>,
    path: web::Path<String>,
    body: JsonBody<ResumeBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let b = body.take()?;
    change(&state, who.caller.username, &path, move |reg, user, s| {
        reg.resume(user, s, &b.document, b.person_id.as_deref())
    })
    .await
}

/// `POST /api/v1/admin/certificates/{serial}/revoke`: `{reason, document}`.
#[post("/api/v1/admin/certificates/{serial}/revoke")]
pub async fn revoke(
    who: Authorized<Writers>,
    path: web::Path<String>,
    body: JsonBody<RevokeBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let b = body.take()?;
    let reason = RevocationReason::from_code(&b.reason).ok_or_else(|| {
        let choices: Vec<&str> = RevocationReason::OPERATOR_CHOICES
            .iter()
            .map(|r| r.code())
            .collect();
        Error::invalid(format!("reason must be one of {choices:?}"))
    })?;
    change(&state, who.caller.username, &path, move |reg, user, s| {
        reg.revoke(user, s, reason, &b.document, b.person_id.as_deref())
    })
    .await
}

/// `POST /api/v1/admin/crl`: publish a CRL now.
#[post("/api/v1/admin/crl")]
pub async fn publish_crl(
    who: Authorized<Writers>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let reg = state.registry.clone();
    Ok(HttpResponse::Created().json(blocking(move || reg.publish_crl(&caller.username)).await?))
}

/// `GET /api/v1/admin/crl`: the current CRL's facts (or the CRL itself with
/// `Accept: application/pkix-crl` / `application/x-pem-file`).
#[get("/api/v1/admin/crl")]
pub async fn show_crl(
    req: HttpRequest,
    _who: Authorized<Readers>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    let (info, der) = blocking(move || reg.current_crl())
        .await?
        .ok_or_else(|| Error::not_found("no CRL has been published yet"))?;
    if media::wants_pem(&req) {
        return Ok(HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .body(ca_core::der_to_pem("X509 CRL", &der)));
    }
    Ok(HttpResponse::Ok().json(info))
}

/// Paging of the audit trail.
#[derive(Deserialize)]
pub struct AuditPage {
    after: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/v1/admin/audit?after=&limit=`.
#[get("/api/v1/admin/audit")]
pub async fn audit(
    _who: Authorized<Auditors>,
    q: web::Query<AuditPage>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(
        blocking(move || reg.audit_records(q.after.unwrap_or(0), q.limit.unwrap_or(100))).await?,
    ))
}

/// `GET /api/v1/admin/audit/verify`.
#[get("/api/v1/admin/audit/verify")]
pub async fn verify_audit(
    _who: Authorized<Auditors>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.verify_audit()).await?))
}
