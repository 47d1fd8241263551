//! Operators' decisions on requests (SPEC §3.3).

use actix_web::{get, post, web, HttpResponse};
use ca_core::api::{ConfirmActBody, RejectBody};
use ca_core::request_status::RequestStatus;
use ca_core::Error;
use serde::Deserialize;

use crate::auth::{Authorized, Readers, Writers};
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::{blocking, AppState};
use ca_core::views;

/// Filter of the request list.
#[derive(Deserialize)]
pub struct RequestFilter {
    status: Option<String>,
}

/// `GET /api/v1/admin/requests?status=`: with due times.
#[get("/api/v1/admin/requests")]
pub async fn list(
    _who: Authorized<Readers>,
    q: web::Query<RequestFilter>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let status = match q.status.as_deref() {
        Some(s) => Some(RequestStatus::from_code(s).ok_or_else(|| {
            Error::invalid("status must be pending_act, pending, issued or rejected")
        })?),
        None => None,
    };
    let authority = state.authority.clone();
    let requests = blocking(move || authority.requests(status)).await?;
    Ok(HttpResponse::Ok().json(views::requests(&requests)))
}

/// `GET /api/v1/admin/requests/{id}`.
#[get("/api/v1/admin/requests/{id}")]
pub async fn show(
    _who: Authorized<Readers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let r = blocking(move || authority.request(&id)).await?;
    Ok(HttpResponse::Ok().json(views::request(&r)))
}

/// `POST /api/v1/admin/requests/{id}/approve`.
#[post("/api/v1/admin/requests/{id}/approve")]
pub async fn approve(
    who: Authorized<Writers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let authority = state.authority.clone();
    let r = blocking(move || authority.approve(&caller.username, &id)).await?;
    Ok(HttpResponse::Ok().json(views::request(&r)))
}

/// `POST /api/v1/admin/requests/{id}/reject`: `{reasons, comment}`.
#[post("/api/v1/admin/requests/{id}/reject")]
pub async fn reject(
    who: Authorized<Writers>,
    id: web::Path<String>,
    body: JsonBody<RejectBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let authority = state.authority.clone();
    let b = body;
    let r =
        blocking(move || authority.reject(&caller.username, &id, &b.reasons, b.comment.as_deref()))
            .await?;
    Ok(HttpResponse::Ok().json(views::request(&r)))
}

/// `POST /api/v1/admin/requests/{id}/confirm-act`: the signed paper act is
/// in; `{fingerprint}` as read from it.
#[post("/api/v1/admin/requests/{id}/confirm-act")]
pub async fn confirm_act(
    who: Authorized<Writers>,
    id: web::Path<String>,
    body: JsonBody<ConfirmActBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let authority = state.authority.clone();
    let r =
        blocking(move || authority.confirm_act(&caller.username, &id, &body.fingerprint)).await?;
    Ok(HttpResponse::Ok().json(views::request(&r)))
}

/// `GET /api/v1/admin/due`: pending items with due times, overdue first.
#[get("/api/v1/admin/due")]
pub async fn due(_who: Authorized<Readers>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    Ok(HttpResponse::Ok().json(blocking(move || authority.due()).await?))
}
