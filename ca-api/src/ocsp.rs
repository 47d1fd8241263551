//! The OCSP responder's endpoints (RFC 6960 Appendix A): `POST /api/v1/ocsp`
//! with the DER request, and `GET /api/v1/ocsp/{base64 of it}`, which HTTP
//! caches may keep for a minute. OCSP answers every request with HTTP 200
//! and an OCSPResponse; errors are its status (malformedRequest, …).

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64ct::Encoding;

use crate::error::{self, ApiResult};
use crate::state::{blocking, AppState};

const RESPONSE_TYPE: &str = "application/ocsp-response";

fn answer(a: ca_authority::OcspAnswer) -> HttpResponse {
    let cache = match a.cache_seconds {
        Some(s) => format!("public, max-age={s}, no-transform"),
        None => "no-store".into(),
    };
    HttpResponse::Ok()
        .content_type(RESPONSE_TYPE)
        .insert_header((header::CACHE_CONTROL, cache))
        .body(a.der)
}

/// `POST /api/v1/ocsp`: `application/ocsp-request`.
#[post("/api/v1/ocsp")]
pub async fn post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(
        ct.as_deref(),
        Some("application/ocsp-request" | "application/octet-stream")
    ) {
        return Err(error::unsupported_media_type(
            "send the OCSP request as application/ocsp-request",
        ));
    }
    let authority = state.authority.clone();
    Ok(answer(blocking(move || Ok(authority.ocsp(&body))).await?))
}

/// `GET /api/v1/ocsp/{request}`: the DER request in base64 (URL-encoded;
/// the URL-safe alphabet is read too).
#[get("/api/v1/ocsp/{request:.*}")]
pub async fn get(path: web::Path<String>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let text = path.into_inner();
    let text = percent_encoding::percent_decode_str(&text).decode_utf8_lossy();
    let der = base64ct::Base64::decode_vec(text.trim())
        .or_else(|_| base64ct::Base64Url::decode_vec(text.trim()))
        .or_else(|_| base64ct::Base64UrlUnpadded::decode_vec(text.trim()))
        .unwrap_or_default();
    let authority = state.authority.clone();
    Ok(answer(blocking(move || Ok(authority.ocsp(&der))).await?))
}
