//! Operator sessions, passwords and operators (SPEC §5).

use actix_web::{delete, get, post, web, HttpResponse};
use ca_core::api::{LoginBody, NewOperator, PasswordChange};

use crate::auth::{Admins, Authorized, Caller};
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::{blocking, AppState};
use ca_core::views;

/// `POST /api/v1/admin/session`: log in.
#[post("/api/v1/admin/session")]
pub async fn login(
    body: JsonBody<LoginBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let LoginBody { username, password } = body.take()?;
    let authority = state.authority.clone();
    let session = state
        .hashing(move || authority.login(&username, &password))
        .await?;
    Ok(HttpResponse::Ok().json(session))
}

/// `DELETE /api/v1/admin/session`: log out; the token ends on the server.
#[delete("/api/v1/admin/session")]
pub async fn logout(caller: Caller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    blocking(move || authority.logout(&caller.username, &caller.token_hash)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/admin/password`: change one's own password.
#[post("/api/v1/admin/password")]
pub async fn change_password(
    caller: Caller,
    body: JsonBody<PasswordChange>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let PasswordChange {
        old_password,
        new_password,
    } = body.take()?;
    let authority = state.authority.clone();
    state
        .hashing(move || {
            authority.change_password(
                &caller.username,
                &caller.token_hash,
                &old_password,
                &new_password,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/admin/operators`: add an operator (admin).
#[post("/api/v1/admin/operators")]
pub async fn add_operator(
    who: Authorized<Admins>,
    body: JsonBody<NewOperator>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let new: NewOperator = body;
    let authority = state.authority.clone();
    let op = state
        .hashing(move || {
            authority.add_operator(&caller.username, &new.username, &new.role, &new.password)
        })
        .await?;
    Ok(HttpResponse::Created().json(views::operator(&op)))
}

/// `GET /api/v1/admin/operators` (admin).
#[get("/api/v1/admin/operators")]
pub async fn list_operators(
    _who: Authorized<Admins>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let ops = blocking(move || authority.operators()).await?;
    Ok(HttpResponse::Ok().json(ops.iter().map(views::operator).collect::<Vec<_>>()))
}

/// `POST /api/v1/admin/operators/{username}/disable` (admin).
#[post("/api/v1/admin/operators/{username}/disable")]
pub async fn disable_operator(
    who: Authorized<Admins>,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let authority = state.authority.clone();
    let op = blocking(move || authority.disable_operator(&caller.username, &name)).await?;
    Ok(HttpResponse::Ok().json(views::operator(&op)))
}

/// `POST /api/v1/admin/operators/{username}/unlock` (admin): after lockout.
#[post("/api/v1/admin/operators/{username}/unlock")]
pub async fn unlock_operator(
    who: Authorized<Admins>,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let authority = state.authority.clone();
    let op = blocking(move || authority.unlock_operator(&caller.username, &name)).await?;
    Ok(HttpResponse::Ok().json(views::operator(&op)))
}
