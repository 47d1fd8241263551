//! Certificates (suspend, resume, revoke), CRL publication and the audit
//! trail, for operators.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use ca_core::api::{ResumeBody, RevokeBody, SuspendBody};
use ca_core::Error;
use serde::Deserialize;

use crate::auth::{Auditors, Authorized, Readers, Writers};
use crate::client::serial;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::media;
use crate::state::{blocking, AppState};
use ca_core::views;

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
    let q_status = q.status.clone();
    let authority = state.authority.clone();
    let (certs, now) = blocking(move || {
        Ok((
            authority.certificates(q.person.as_deref())?,
            authority.now(),
        ))
    })
    .await?;
    let listed: Vec<_> = certs
        .iter()
        .map(|c| views::certificate(c, now, true, &state.authority.policies().profiles))
        .filter(|v| q_status.as_deref().is_none_or(|s| v.status == s))
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// `GET /api/v1/admin/certificates/{serial}`: status with owner and profile.
#[get("/api/v1/admin/certificates/{serial}")]
pub async fn show(
    _who: Authorized<Readers>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let s = serial(&path)?;
    let authority = state.authority.clone();
    let (c, now) =
        blocking(move || Ok((authority.certificate_record(&s)?, authority.now()))).await?;
    Ok(HttpResponse::Ok().json(views::certificate(
        &c,
        now,
        true,
        &state.authority.policies().profiles,
    )))
}

/// Runs one change of a certificate's state, then answers with its new view.
async fn change<F>(state: &AppState, username: String, path: &str, f: F) -> ApiResult<HttpResponse>
where
    F: FnOnce(&ca_authority::Authority, &str, &str) -> ca_core::Result<()> + Send + 'static,
{
    let s = serial(path)?;
    let authority = state.authority.clone();
    let (c, now) = blocking(move || {
        f(&authority, &username, &s)?;
        Ok((authority.certificate_record(&s)?, authority.now()))
    })
    .await?;
    Ok(HttpResponse::Ok().json(views::certificate(
        &c,
        now,
        true,
        &state.authority.policies().profiles,
    )))
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
    change(
        &state,
        who.caller.username,
        &path,
        move |authority, user, s| {
            authority
                .suspend(user, s, b.days, &b.document, b.person_id.as_deref())
                .map(|_| ())
        },
    )
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
    change(
        &state,
        who.caller.username,
        &path,
        move |authority, user, s| authority.resume(user, s, &b.document, b.person_id.as_deref()),
    )
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
    change(
        &state,
        who.caller.username,
        &path,
        move |authority, user, s| {
            authority.revoke(user, s, &b.reason, &b.document, b.person_id.as_deref())
        },
    )
    .await
}

/// `POST /api/v1/admin/crl`: publish a CRL now.
#[post("/api/v1/admin/crl")]
pub async fn publish_crl(
    who: Authorized<Writers>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let authority = state.authority.clone();
    Ok(HttpResponse::Created()
        .json(blocking(move || authority.publish_crl(&caller.username)).await?))
}

/// `GET /api/v1/admin/crl`: the current CRL's facts (or the CRL itself with
/// `Accept: application/pkix-crl` / `application/x-pem-file`).
#[get("/api/v1/admin/crl")]
pub async fn show_crl(
    req: HttpRequest,
    _who: Authorized<Readers>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let (info, der) = blocking(move || authority.current_crl())
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
    let authority = state.authority.clone();
    Ok(HttpResponse::Ok().json(
        blocking(move || authority.audit_records(q.after.unwrap_or(0), q.limit.unwrap_or(100)))
            .await?,
    ))
}

/// `GET /api/v1/admin/audit/checkpoints`: the signed checkpoints of the
/// audit trail's head, to keep elsewhere and verify with openssl.
#[get("/api/v1/admin/audit/checkpoints")]
pub async fn audit_checkpoints(
    _who: Authorized<Auditors>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    Ok(HttpResponse::Ok().json(blocking(move || authority.audit_checkpoints()).await?))
}

/// `GET /api/v1/admin/audit/verify`.
#[get("/api/v1/admin/audit/verify")]
pub async fn verify_audit(
    _who: Authorized<Auditors>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    Ok(HttpResponse::Ok().json(blocking(move || authority.verify_audit()).await?))
}
