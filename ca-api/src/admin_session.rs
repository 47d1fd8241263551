//! Operator sessions, passwords and operators (SPEC §5).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use ca_core::api::{LoginBody, NewOperator, PasswordChange, Session};
use ca_core::{Error, ErrorKind};
use chrono::Duration;

use crate::auth::{self, Admins, Authorized, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::{blocking, AppState};

fn bad_credentials() -> ApiError {
    Error::new(ErrorKind::Unauthenticated, "wrong user name or password").into()
}

/// `POST /api/v1/admin/session`: log in.
#[post("/api/v1/admin/session")]
pub async fn login(
    body: JsonBody<LoginBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let LoginBody { username, password } = body;
    let reg = state.registry.clone();
    let policy = reg.policies().rules.passwords.clone();
    let outcome = state.hashing(move || {
        let Some(op) = reg.operator(&username)? else {
            // Same work and answer as a wrong password: no user enumeration.
            let _ = auth::verify_password("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &password);
            reg.login_failed(&username, policy.lockout_after)?;
            return Ok(Err(bad_credentials()));
        };
        if op.disabled {
            reg.audit_event(&username, "operator.login", &format!("operator:{username}"), true, serde_json::json!({"why": "disabled"}))?;
            return Ok(Err(ApiError::new(StatusCode::FORBIDDEN, "account_disabled", "the account is disabled")));
        }
        if op.locked {
            reg.audit_event(&username, "operator.login", &format!("operator:{username}"), true, serde_json::json!({"why": "locked"}))?;
            return Ok(Err(ApiError::new(StatusCode::FORBIDDEN, "account_locked", "the account is locked after wrong passwords; an admin can unlock it")));
        }
        if !auth::verify_password(&op.password_hash, &password) {
            let locked = reg.login_failed(&username, policy.lockout_after)?;
            return Ok(Err(if locked {
                ApiError::new(StatusCode::FORBIDDEN, "account_locked", "too many wrong passwords: the account is now locked")
            } else {
                bad_credentials()
            }));
        }
        let (token, hash) = auth::new_token();
        let now = reg.now();
        let expires_at = now + Duration::minutes(policy.session_minutes.into());
        reg.login_succeeded(&username, &hash, expires_at)?;
        let expired = now > op.password_changed_at + Duration::days(policy.max_age_days.into());
        Ok(Ok(Session { token, expires_at, must_change_password: op.must_change_password || expired }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(outcome?))
}

/// `POST /api/v1/admin/password`: change one's own password.
#[post("/api/v1/admin/password")]
pub async fn change_password(
    caller: Caller,
    body: JsonBody<PasswordChange>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let PasswordChange {
        old_password,
        new_password,
    } = body;
    let reg = state.registry.clone();
    let lockout_after = reg.policies().rules.passwords.lockout_after;
    let outcome = state
        .hashing(move || {
            let op = reg
                .operator(&caller.username)?
                .ok_or_else(|| Error::not_found("operator vanished"))?;
            if !auth::verify_password(&op.password_hash, &old_password) {
                // A wrong old password counts towards the lockout, like a wrong
                // login: a stolen session must not allow unlimited guessing.
                let locked = reg.login_failed(&caller.username, lockout_after)?;
                return Ok(Err(if locked {
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        "account_locked",
                        "too many wrong passwords: the account is now locked",
                    )
                } else {
                    Error::new(ErrorKind::Forbidden, "the old password is wrong").into()
                }));
            }
            if old_password == new_password {
                return Err(Error::new(
                    ErrorKind::Malformed,
                    "the new password must differ from the old one",
                ));
            }
            auth::check_password_rules(&new_password, &reg.policies().rules.passwords)?;
            reg.set_password(
                &caller.username,
                &auth::hash_password(&new_password)?,
                &caller.token_hash,
            )?;
            Ok(Ok(()))
        })
        .await?;
    outcome?;
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
    let reg = state.registry.clone();
    let op = state
        .hashing(move || {
            auth::check_password_rules(&new.password, &reg.policies().rules.passwords)?;
            reg.add_operator(
                &caller.username,
                &new.username,
                &new.role,
                &auth::hash_password(&new.password)?,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(op))
}

/// `GET /api/v1/admin/operators` (admin).
#[get("/api/v1/admin/operators")]
pub async fn list_operators(
    _who: Authorized<Admins>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.operators()).await?))
}

/// `POST /api/v1/admin/operators/{username}/disable` (admin).
#[post("/api/v1/admin/operators/{username}/disable")]
pub async fn disable_operator(
    who: Authorized<Admins>,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    if *name == caller.username {
        return Err(Error::wrong_state("an admin cannot disable their own account").into());
    }
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok()
        .json(blocking(move || reg.disable_operator(&caller.username, &name)).await?))
}

/// `POST /api/v1/admin/operators/{username}/unlock` (admin): after lockout.
#[post("/api/v1/admin/operators/{username}/unlock")]
pub async fn unlock_operator(
    who: Authorized<Admins>,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let caller = who.caller;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok()
        .json(blocking(move || reg.unlock_operator(&caller.username, &name)).await?))
}
