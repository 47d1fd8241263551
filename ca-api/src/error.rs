//! The one place where the core's error kinds become HTTP statuses
//! (SPEC §4 error table), with the `{"error": {code, message, reasons}}` body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use ca_core::api::{ErrorBody, ErrorDetail};
use ca_core::records::RequestRecord;
use ca_core::request_status::RequestStatus;
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
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
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

/// An error actix (or a client's transport) produced with its own status:
/// the status stays, the code is the one this API documents for it.
pub fn transport(status: StatusCode, message: impl Into<String>) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        s if s.is_server_error() => "internal",
        _ => "malformed",
    };
    ApiError::new(status, code, message)
}

/// 413: the body is larger than allowed.
pub fn payload_too_large(message: impl Into<String>) -> ApiError {
    transport(StatusCode::PAYLOAD_TOO_LARGE, message)
}

/// 415: the body's media type is not one the endpoint takes.
pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
    transport(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
}

/// 404 for a path no route serves.
pub fn no_route(method: &str, path: &str) -> ApiError {
    transport(StatusCode::NOT_FOUND, format!("no route {method} {path}"))
}

/// A submission's status (SPEC §4): 422 for a policy refusal (the request
/// is recorded as rejected), 202 otherwise.
pub fn submission_status(request: &RequestRecord) -> StatusCode {
    if request.status == RequestStatus::Rejected {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::ACCEPTED
    }
}

/// `/health`: 200 when ready, 503 when not.
pub fn health_status(ready: bool) -> StatusCode {
    if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Seconds a client waits before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u64 = 5;

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
        ErrorKind::SignerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "signer_unavailable"),
        ErrorKind::StorageUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
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
        let message = if e.kind() == ErrorKind::SignerUnavailable {
            tracing::warn!(error = %e, "the CA key cannot sign");
            "the CA's signing key cannot be used now (its token is unavailable); nothing \
             was signed; try again later"
                .to_string()
        } else if e.kind() == ErrorKind::StorageUnavailable {
            tracing::warn!(error = %e, "the database cannot be used");
            "the CA's database cannot take this now (it is unreachable, full or read-only); \
             nothing was written; try again later"
                .to_string()
        } else if status.is_server_error() {
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
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // RFC 9110 §10.2.3: when to try again.
            response.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        response.json(ErrorBody {
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
