//! Operators' decisions on requests (SPEC §3.3).

use actix_web::{get, post, web, HttpResponse};
use ca_core::api::RejectBody;
use serde::Deserialize;

use crate::auth::{Authorized, Readers, Writers};
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::{blocking, AppState};

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
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.requests(q.status.as_deref())).await?))
}

/// `GET /api/v1/admin/requests/{id}`.
#[get("/api/v1/admin/requests/{id}")]
pub async fn show(
    _who: Authorized<Readers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.request(&id)).await?))
}

/// `POST /api/v1/admin/requests/{id}/approve`.
#[post("/api/v1/admin/requests/{id}/approve")]
pub async fn approve(
    who: Authorized<Writers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.approve(&caller.username, &id)).await?))
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
    let reg = state.registry.clone();
    let b = body;
    Ok(HttpResponse::Ok().json(
        blocking(move || reg.reject(&caller.username, &id, &b.reasons, b.comment.as_deref()))
            .await?,
    ))
}

/// `POST /api/v1/admin/requests/{id}/confirm-act`: the signed paper act is in.
#[post("/api/v1/admin/requests/{id}/confirm-act")]
pub async fn confirm_act(
    who: Authorized<Writers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.confirm_act(&caller.username, &id)).await?))
}

/// `GET /api/v1/admin/due`: pending items with due times, overdue first.
#[get("/api/v1/admin/due")]
pub async fn due(_who: Authorized<Readers>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.due()).await?))
}
