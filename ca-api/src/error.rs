//! The one place where the core's error kinds become HTTP statuses
//! (SPEC §4 error table), with the `{"error": {code, message, reasons}}` body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use ca_core::api::{ErrorBody, ErrorDetail};
use ca_core::{Error, ErrorKind};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    reasons: Vec<String>,
}

impl ApiError {
    /// An error with an explicit status and code (transport-level: 413, 415…).
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            reasons: vec![],
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The status of each kind: exhaustive, so a new kind must be placed here.
fn status_of(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::Malformed => (StatusCode::BAD_REQUEST, "malformed"),
        ErrorKind::Refused => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        ErrorKind::WrongState => (StatusCode::CONFLICT, "wrong_state"),
        ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        ErrorKind::Config | ErrorKind::KeyStore | ErrorKind::Internal => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, generic) = status_of(e.kind());
        let reasons: Vec<String> = e
            .reason_codes()
            .iter()
            .map(|r| r.code().to_string())
            .collect();
        let code = reasons
            .first()
            .cloned()
            .unwrap_or_else(|| generic.to_string());
        let message = if status.is_server_error() {
            // Details of our own failures go to the log, not to the client.
            tracing::error!(error = %e, "request failed");
            "the server could not complete the request".to_string()
        } else {
            e.message().to_string()
        };
        ApiError {
            status,
            code,
            message,
            reasons,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            error: ErrorDetail {
                code: self.code.clone(),
                message: self.message.clone(),
                reasons: self.reasons.clone(),
            },
        })
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
