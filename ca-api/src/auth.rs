//! Who is calling (SPEC §5): the bearer token resolved to an operator by
//! `ca-authority`, and the role sets each endpoint allows. Passwords,
//! lockout and sessions are the authority's business.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use ca_core::{Error, ErrorKind, Reason};

use crate::error::ApiError;
use crate::state::AppState;

pub use ca_core::records::Role;

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
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let endpoint = endpoint(req);
        Box::pin(async move {
            let caller = caller.await?;
            if let Err(refusal) = caller.require(R::ROLES) {
                return Err(record(state, &caller.username, endpoint, refusal).await);
            }
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
    pub fn require(&self, roles: &[Role]) -> Result<(), Error> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Forbidden,
                format!("the {} role may not do this", self.role.code()),
            ))
        }
    }
}

/// `METHOD /path` of a request, for the audit trail.
fn endpoint(req: &HttpRequest) -> String {
    format!("{} {}", req.method(), req.path())
}

/// Writes a refusal made here to the audit trail (SPEC §5: every refusal)
/// and turns it into the answer; a failure to record it is the answer
/// instead.
pub(crate) async fn record(
    state: Option<web::Data<AppState>>,
    who: &str,
    endpoint: String,
    refusal: Error,
) -> ApiError {
    let Some(state) = state else {
        return Error::internal("no application state").into();
    };
    let (authority, who) = (state.authority.clone(), who.to_string());
    match web::block(move || authority.record_access_refusal(&who, &endpoint, refusal)).await {
        Ok(e) => e.into(),
        Err(e) => Error::internal(e.to_string()).into(),
    }
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
        // Changing the password and logging out stay possible while a
        // password change is due.
        let changing_password = matches!(
            req.path(),
            "/api/v1/admin/password" | "/api/v1/admin/session"
        );
        let endpoint = endpoint(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::from(Error::internal("no application state")))?;
            let token = token.ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthenticated,
                    "log in first: Authorization: Bearer <token>",
                )
            })?;
            let hash = ca_authority::passwords::token_hash(&token);
            let (authority, lookup) = (state.authority.clone(), hash.clone());
            let state = Some(state);
            let who = web::block(move || authority.authenticate(&lookup))
                .await
                .map_err(|e| Error::internal(e.to_string()))??;
            if who.must_change_password && !changing_password {
                let refusal = Error::new(
                    ErrorKind::Forbidden,
                    "change the password first (POST /api/v1/admin/password)",
                )
                .with_reasons(&[Reason::PasswordChangeRequired]);
                let who = who.operator.username;
                return Err(record(state, &who, endpoint, refusal).await);
            }
            let (username, role) = (who.operator.username, who.operator.role);
            Ok(Caller {
                username,
                role,
                token_hash: hash,
            })
        })
    }
}
