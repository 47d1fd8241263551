//! Operators' decisions on requests (SPEC §3.3).

use actix_web::{get, post, web, HttpResponse};
use ca_core::api::RejectBody;
use serde::Deserialize;

use crate::auth::{Caller, READERS, WRITERS};
use crate::error::ApiResult;
use crate::state::{blocking, AppState};

/// Filter of the request list.
#[derive(Deserialize)]
pub struct RequestFilter {
    status: Option<String>,
}

/// `GET /api/v1/admin/requests?status=`: with due times.
#[get("/api/v1/admin/requests")]
pub async fn list(
    caller: Caller,
    q: web::Query<RequestFilter>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.requests(q.status.as_deref())).await?))
}

/// `GET /api/v1/admin/requests/{id}`.
#[get("/api/v1/admin/requests/{id}")]
pub async fn show(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.request(&id)).await?))
}

/// `POST /api/v1/admin/requests/{id}/approve`.
#[post("/api/v1/admin/requests/{id}/approve")]
pub async fn approve(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.approve(&caller.username, &id)).await?))
}

/// `POST /api/v1/admin/requests/{id}/reject`: `{reasons, comment}`.
#[post("/api/v1/admin/requests/{id}/reject")]
pub async fn reject(
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<RejectBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    let b = body.into_inner();
    Ok(HttpResponse::Ok().json(
        blocking(move || reg.reject(&caller.username, &id, &b.reasons, b.comment.as_deref()))
            .await?,
    ))
}

/// `POST /api/v1/admin/requests/{id}/confirm-act`: the signed paper act is in.
#[post("/api/v1/admin/requests/{id}/confirm-act")]
pub async fn confirm_act(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.confirm_act(&caller.username, &id)).await?))
}

/// `GET /api/v1/admin/due`: pending items with due times, overdue first.
#[get("/api/v1/admin/due")]
pub async fn due(caller: Caller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    caller.require(READERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.due()).await?))
}
