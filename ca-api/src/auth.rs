//! Operator authentication (SPEC §5): argon2id password hashes, password
//! rules and expiry, lockout, bearer tokens kept only as SHA-256 hashes, and
//! role checks.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use ca_core::policy::PasswordPolicy;
use ca_core::{Error, ErrorKind};
use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Operator roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// CA administrator: operators, and everything a registrar does.
    Admin,
    /// Registration desk: organisations, persons, requests, certificates.
    Registrar,
    /// Reads the audit trail and the registry; changes nothing.
    Auditor,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "registrar" => Some(Role::Registrar),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A set of roles allowed on an endpoint, named by a marker type so that the
/// check happens in the extractor, before the body is read.
pub trait Roles {
    /// The roles allowed.
    const ROLES: &'static [Role];
}

/// Who may manage operators.
pub struct Admins;
impl Roles for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
}

/// Who may change the registry.
pub struct Writers;
impl Roles for Writers {
    const ROLES: &'static [Role] = &[Role::Admin, Role::Registrar];
}

/// Who may read the registry.
pub struct Readers;
impl Roles for Readers {
    const ROLES: &'static [Role] = &[Role::Admin, Role::Registrar, Role::Auditor];
}

/// Who may read the audit trail.
pub struct Auditors;
impl Roles for Auditors {
    const ROLES: &'static [Role] = &[Role::Admin, Role::Auditor];
}

/// A logged-in operator whose role is one of `R`'s.
pub struct Authorized<R: Roles> {
    /// The operator.
    pub caller: Caller,
    _roles: std::marker::PhantomData<R>,
}

impl<R: Roles + 'static> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            caller.require(R::ROLES)?;
            Ok(Authorized {
                caller,
                _roles: std::marker::PhantomData,
            })
        })
    }
}

/// A logged-in operator.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// SHA-256 of the session's token (to keep this session on a password change).
    pub token_hash: String,
}

impl Caller {
    /// `Forbidden` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Forbidden,
                format!("the {:?} role may not do this", self.role),
            )
            .into())
        }
    }
}

/// argon2id with the crate's defaults (19 MiB, 2 passes): a slow salted hash.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing: {e}")))
}

/// Checks a password against its stored hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// SPEC §5: at least N characters, with digits, upper- and lower-case letters.
pub fn check_password_rules(password: &str, policy: &PasswordPolicy) -> Result<(), Error> {
    let long = password.chars().count() >= policy.min_length;
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let upper = password.chars().any(char::is_uppercase);
    let lower = password.chars().any(char::is_lowercase);
    if long && digit && upper && lower {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Malformed,
            format!(
                "a password needs at least {} characters, with digits, upper- and lower-case letters",
                policy.min_length
            ),
        ))
    }
}

/// A new bearer token and the hash under which it is stored.
pub fn new_token() -> (String, String) {
    let token = ca_core::random_id() + &ca_core::random_id();
    let hash = token_hash(&token);
    (token, hash)
}

/// SHA-256 of a token, hex: tokens are stored only this way.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A password that meets the rules, for the bootstrap admin.
pub fn generated_password() -> String {
    // 32 hex digits plus a fixed upper/lower/digit tail to meet the rules.
    format!("{}Ca9x", ca_core::random_id())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string());
        let changing_password = req.path() == "/api/v1/admin/password";
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::from(Error::internal("no application state")))?;
            let token = token.ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthenticated,
                    "log in first: Authorization: Bearer <token>",
                )
            })?;
            let hash = token_hash(&token);
            let (reg, lookup) = (state.registry.clone(), hash.clone());
            let op = web::block(move || reg.session_operator(&lookup))
                .await
                .map_err(|e| Error::internal(e.to_string()))??
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unauthenticated,
                        "the session is unknown or has expired; log in again",
                    )
                })?;
            if op.disabled {
                return Err(
                    Error::new(ErrorKind::Unauthenticated, "the account is disabled").into(),
                );
            }
            let max_age = Duration::days(
                state
                    .registry
                    .policies()
                    .rules
                    .passwords
                    .max_age_days
                    .into(),
            );
            let expired = state.registry.now() > op.password_changed_at + max_age;
            if (op.must_change_password || expired) && !changing_password {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "password_change_required",
                    "change the password first (POST /api/v1/admin/password)",
                ));
            }
            let role = Role::parse(&op.role)
                .ok_or_else(|| Error::internal("unknown role in the database"))?;
            Ok(Caller {
                username: op.username,
                role,
                token_hash: hash,
            })
        })
    }
}
