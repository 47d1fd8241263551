//! `ca-api`: the CA's REST server (SPEC §4). Handlers are thin: extract,
//! check the role, call one use case of `ca-authority` off the async workers, map
//! the result. Errors become HTTP statuses in `error.rs` only.

pub mod admin_certificates;
pub mod admin_outbox;
pub mod admin_registry;
pub mod admin_requests;
pub mod admin_session;
pub mod auth;
pub mod background;
pub mod client;
pub mod config;
pub mod documents;
pub mod error;
pub mod extract;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod ocsp;
pub mod server;
pub mod state;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{error::JsonPayloadError, web, HttpRequest, HttpResponse};

use crate::error::ApiError;

/// The OpenAPI description served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route: (method, path). The OpenAPI test checks the document
/// against this list, and the route test checks each one answers.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/requests"),
    ("GET", "/api/v1/requests/{id}"),
    ("GET", "/api/v1/requests/{id}/certificate"),
    ("GET", "/api/v1/requests/{id}/act"),
    ("GET", "/api/v1/certificates/{serial}/copy"),
    ("GET", "/api/v1/certificates/{serial}"),
    ("GET", "/api/v1/certificates/{serial}/certificate"),
    ("GET", "/api/v1/ca/certificate"),
    ("GET", "/api/v1/crl"),
    ("GET", "/api/v1/crl/delta"),
    ("POST", "/api/v1/admin/session"),
    ("DELETE", "/api/v1/admin/session"),
    ("POST", "/api/v1/admin/password"),
    ("POST", "/api/v1/admin/organizations"),
    ("GET", "/api/v1/admin/organizations"),
    ("GET", "/api/v1/admin/organizations/{id}"),
    ("POST", "/api/v1/admin/organizations/{id}/terminate"),
    ("POST", "/api/v1/admin/persons"),
    ("GET", "/api/v1/admin/persons"),
    ("GET", "/api/v1/admin/persons/{id}"),
    ("POST", "/api/v1/admin/persons/{id}/authority"),
    ("POST", "/api/v1/admin/persons/{id}/terminate"),
    (
        "POST",
        "/api/v1/admin/persons/{id}/technological-certificate",
    ),
    ("GET", "/api/v1/admin/requests"),
    ("GET", "/api/v1/admin/requests/{id}"),
    ("POST", "/api/v1/admin/requests/{id}/approve"),
    ("POST", "/api/v1/admin/requests/{id}/reject"),
    ("POST", "/api/v1/admin/requests/{id}/confirm-act"),
    ("GET", "/api/v1/admin/certificates"),
    ("GET", "/api/v1/admin/certificates/{serial}"),
    ("POST", "/api/v1/admin/certificates/{serial}/suspend"),
    ("POST", "/api/v1/admin/certificates/{serial}/resume"),
    ("POST", "/api/v1/admin/certificates/{serial}/revoke"),
    ("POST", "/api/v1/admin/crl"),
    ("GET", "/api/v1/admin/crl"),
    ("GET", "/api/v1/admin/outbox"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/audit/verify"),
    ("GET", "/api/v1/admin/audit/checkpoints"),
    ("POST", "/api/v1/ocsp"),
    ("GET", "/api/v1/ocsp/{request}"),
    ("GET", "/api/v1/admin/due"),
    ("POST", "/api/v1/admin/operators"),
    ("GET", "/api/v1/admin/operators"),
    ("POST", "/api/v1/admin/operators/{username}/disable"),
    ("POST", "/api/v1/admin/operators/{username}/unlock"),
];

/// Registers every route, the body limits and the JSON error handlers.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<state::AppState>, max_body: usize) {
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(max_body))
        .app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            ApiError::from(ca_core::Error::invalid(format!("bad query: {e}"))).into()
        }))
        .service(client::health)
        .service(client::live)
        .service(client::openapi)
        .service(client::submit)
        .service(client::request_status)
        .service(client::request_certificate)
        .service(client::request_act)
        .service(client::certificate_copy)
        .service(client::certificate_status)
        .service(client::certificate_download)
        .service(client::ca_certificate)
        .service(client::crl)
        .service(client::delta_crl)
        .service(ocsp::post)
        .service(ocsp::get)
        .service(admin_session::login)
        .service(admin_session::logout)
        .service(admin_session::change_password)
        .service(admin_session::add_operator)
        .service(admin_session::list_operators)
        .service(admin_session::disable_operator)
        .service(admin_session::unlock_operator)
        .service(admin_registry::register_organization)
        .service(admin_registry::list_organizations)
        .service(admin_registry::show_organization)
        .service(admin_registry::terminate_organization)
        .service(admin_registry::register_person)
        .service(admin_registry::list_persons)
        .service(admin_registry::show_person)
        .service(admin_registry::update_authority)
        .service(admin_registry::terminate_person)
        .service(admin_registry::technological_certificate)
        .service(admin_requests::list)
        .service(admin_requests::show)
        .service(admin_requests::approve)
        .service(admin_requests::reject)
        .service(admin_requests::confirm_act)
        .service(admin_requests::due)
        .service(admin_certificates::list)
        .service(admin_certificates::show)
        .service(admin_certificates::suspend)
        .service(admin_certificates::resume)
        .service(admin_certificates::revoke)
        .service(admin_certificates::publish_crl)
        .service(admin_certificates::show_crl)
        .service(admin_outbox::outbox)
        .service(admin_certificates::audit)
        .service(admin_certificates::verify_audit)
        .service(admin_certificates::audit_checkpoints)
        .default_service(web::to(not_found));
}

fn json_error(e: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let err = match &e {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            error::payload_too_large("the body is too large")
        }
        JsonPayloadError::ContentType => {
            error::unsupported_media_type("send JSON (application/json)")
        }
        other => ApiError::from(ca_core::Error::invalid(format!("bad JSON body: {other}"))),
    };
    err.into()
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(error::no_route(req.method().as_str(), req.path()))
}

/// Refuses, with a recorded 400, any request whose decoded path or query
/// holds a control character (issue 9 defect 9: a NUL in an id reached
/// PostgreSQL, which answered with a 500; ids, serials and query values
/// never legitimately hold one). Wrap the App with
/// `middleware::from_fn(ca_api::refuse_control_characters)`.
pub async fn refuse_control_characters(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let decoded = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .chars()
            .any(char::is_control)
    };
    if decoded(req.path()) || decoded(req.query_string()) {
        let refusal = ca_core::Error::invalid("the URL holds a control character");
        let endpoint = format!("{} {}", req.method(), req.path());
        let state = req.app_data::<web::Data<state::AppState>>().cloned();
        let answer = auth::record(state, "client", endpoint, refusal).await;
        return Ok(req.error_response(answer).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Rewrites any error response not already in the JSON error shape (actix's
/// own 413 for an oversized body, 400 for a broken payload, …) into it.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let message = status.canonical_reason().unwrap_or("error").to_lowercase();
        let (req, _) = res.into_parts();
        let body: HttpResponse<BoxBody> =
            actix_web::ResponseError::error_response(&error::transport(status, message));
        let res: ServiceResponse<EitherBody<B, BoxBody>> =
            ServiceResponse::new(req, body).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}
