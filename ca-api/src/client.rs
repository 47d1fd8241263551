//! The client API (SPEC §4): no login; request ids are unguessable.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use ca_core::serial::{parse_serial_hex, serial_hex};
use ca_core::{Error, ErrorKind};
use chrono::Utc;

use crate::documents;
use crate::error::{self, ApiError, ApiResult};
use crate::media::{self, Envelope};
use crate::state::{blocking, AppState};
use ca_core::views;

/// `POST /api/v1/requests`: submit a CMS-wrapped PKCS#10.
#[post("/api/v1/requests")]
pub async fn submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let kind = media::envelope_type(&req).ok_or_else(|| {
        error::unsupported_media_type(
            "send the CMS envelope as application/pkcs7-mime or application/octet-stream (DER), or application/x-pem-file (PEM)",
        )
    })?;
    if kind == Envelope::Pem && !body.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Err(Error::reason(
            ca_core::Reason::MalformedCms,
            "the body is declared PEM but is not",
        )
        .into());
    }
    let authority = state.authority.clone();
    let submission = blocking(move || authority.submit_request(&body)).await?;
    Ok(
        HttpResponse::build(error::submission_status(&submission.request))
            .insert_header((
                header::LOCATION,
                format!("/api/v1/requests/{}", submission.request.id),
            ))
            .json(views::request_for_client(&submission.request)),
    )
}

/// `GET /api/v1/requests/{id}`.
#[get("/api/v1/requests/{id}")]
pub async fn request_status(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let r = blocking(move || authority.request(&id)).await?;
    Ok(HttpResponse::Ok().json(views::request_for_client(&r)))
}

/// `GET /api/v1/requests/{id}/certificate`: 409 while not issued.
#[get("/api/v1/requests/{id}/certificate")]
pub async fn request_certificate(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let der = blocking(move || authority.request_certificate(&id)).await?;
    Ok(media::certificate(&req, &der))
}

/// `GET /api/v1/requests/{id}/act`: the printable acceptance act
/// (Приложение № 8.1), HTML or PDF by `Accept`.
#[get("/api/v1/requests/{id}/act")]
pub async fn request_act(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let data = blocking(move || authority.request_act(&id)).await?;
    let authority = &state.authority;
    let doc = documents::acceptance_act(
        &data,
        &documents::ca_name(authority.ca().certificate()),
        authority.policies().calendar.offset(),
    )?;
    media::document(&req, doc, format!("act-{}", data.request.id)).await
}

/// `GET /api/v1/certificates/{serial}/copy`: the printable paper copy of a
/// certificate (Приложение № 21), HTML or PDF by `Accept`.
#[get("/api/v1/certificates/{serial}/copy")]
pub async fn certificate_copy(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let sn = serial(&path)?;
    let authority = state.authority.clone();
    let data = blocking(move || authority.certificate_copy(&sn)).await?;
    let doc = documents::certificate_copy(&data, state.authority.policies().calendar.offset())?;
    media::document(
        &req,
        doc,
        format!("certificate-{}", data.stored.record.serial),
    )
    .await
}

pub(crate) fn serial(text: &str) -> Result<String, ApiError> {
    parse_serial_hex(&text.to_ascii_lowercase())
        .map(|sn| serial_hex(&sn))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Malformed,
                "a serial number is 1 to 40 hex digits",
            )
            .into()
        })
}

/// `GET /api/v1/certificates/{serial}`: public status.
#[get("/api/v1/certificates/{serial}")]
pub async fn certificate_status(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let serial = serial(&path)?;
    let authority = state.authority.clone();
    let (c, now) =
        blocking(move || Ok((authority.certificate_record(&serial)?, authority.now()))).await?;
    Ok(HttpResponse::Ok().json(views::certificate(
        &c,
        now,
        false,
        &state.authority.policies().profiles,
    )))
}

/// `GET /api/v1/certificates/{serial}/certificate`.
#[get("/api/v1/certificates/{serial}/certificate")]
pub async fn certificate_download(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let serial = serial(&path)?;
    let authority = state.authority.clone();
    let (_, der) = blocking(move || authority.certificate(&serial)).await?;
    let der = der.ok_or_else(|| Error::wrong_state("the certificate is not signed yet"))?;
    Ok(media::certificate(&req, &der))
}

/// `GET /api/v1/ca/certificate`.
#[get("/api/v1/ca/certificate")]
pub async fn ca_certificate(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    media::certificate(&req, state.authority.ca().certificate_der())
}

/// A shared body handed to actix in slices of 64 KiB. actix copies each
/// chunk of a body into the connection's write buffer before writing it,
/// and frees a buffer grown past 128 KiB after the response. Served as one
/// chunk, a million-entry CRL (~45 MB) took a 45 MB buffer per download,
/// allocated anew every time (issue 10: with eight clients downloading it
/// the server peaked at 455 MB resident; 71 MB in slices).
struct Slices {
    rest: web::Bytes,
    len: u64,
}

/// The slice size: small enough that the write buffer it is copied into
/// stays one actix keeps between responses, large enough for few writes
/// (measured: 32 KiB slices served the 100,000-entry CRL at 1.05x nginx,
/// 64 KiB at 1.20x, in `scripts/bench-peers.sh`).
const SLICE: usize = 64 * 1024;

impl Slices {
    fn new(bytes: web::Bytes) -> Slices {
        Slices {
            len: bytes.len() as u64,
            rest: bytes,
        }
    }
}

impl actix_web::body::MessageBody for Slices {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.len)
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        if self.rest.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let n = self.rest.len().min(SLICE);
        // A view into the shared bytes, not a copy.
        std::task::Poll::Ready(Some(Ok(self.rest.split_to(n))))
    }
}

/// A CRL with caching headers derived from its nextUpdate, and 304 when the
/// client already has it.
fn crl_response(req: &HttpRequest, info: &ca_core::api::CrlInfo, der: web::Bytes) -> HttpResponse {
    let etag = format!("\"crl-{}\"", info.number);
    let max_age = (info.next_update - Utc::now()).num_seconds().max(0);
    let expires = info
        .next_update
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .insert_header((header::EXPIRES, expires));
    if matches {
        resp.finish()
    } else if media::wants_pem(req) {
        resp.content_type("application/x-pem-file")
            .body(Slices::new(ca_core::der_to_pem("X509 CRL", &der).into()))
    } else {
        // The cached bytes themselves, shared, not copied per download.
        resp.content_type("application/pkix-crl")
            .body(Slices::new(der))
    }
}

/// `GET /api/v1/crl`: the current full CRL, cacheable until its nextUpdate.
#[get("/api/v1/crl")]
pub async fn crl(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    // The usual case: the CRL in memory, checked against the store less
    // than a second ago; no blocking call.
    if let Some((info, der)) = state.authority.fresh_crl(false) {
        return Ok(crl_response(&req, &info, der));
    }
    let authority = state.authority.clone();
    let (info, der) = blocking(move || authority.current_crl())
        .await?
        .ok_or_else(|| Error::new(ErrorKind::Unavailable, "no CRL has been published yet"))?;
    Ok(crl_response(&req, &info, der))
}

/// `GET /api/v1/crl/delta`: the latest delta CRL (changes since its base,
/// removeFromCRL for resumed certificates); 404 before the first one.
#[get("/api/v1/crl/delta")]
pub async fn delta_crl(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if let Some((info, der)) = state.authority.fresh_crl(true) {
        return Ok(crl_response(&req, &info, der));
    }
    let authority = state.authority.clone();
    let (info, der) = blocking(move || authority.current_delta_crl())
        .await?
        .ok_or_else(|| Error::not_found("no delta CRL has been published yet"))?;
    Ok(crl_response(&req, &info, der))
}

/// `GET /health`: readiness — the database takes writes and the CA key can
/// sign (its token is there); 503 naming what is not ready. A database that
/// answers reads but refuses writes (disk full, read-only) is `read_only`:
/// relying parties are still served.
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let authority = state.authority.clone();
    let (database, signer) = blocking(move || {
        let database = match authority.check_store_writable() {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "health: the database takes no writes");
                if authority.operator_count().is_ok() {
                    "read_only"
                } else {
                    "unreachable"
                }
            }
        };
        Ok((database, authority.ca().check_signer()))
    })
    .await
    .unwrap_or(("unreachable", Err(ca_core::Error::internal("worker"))));
    if let Err(e) = &signer {
        // The details (token, PKCS#11 code) are for the log, not the public.
        tracing::warn!(error = %e, "health: the CA key cannot sign");
    }
    let ready = database == "ok" && signer.is_ok();
    let body = serde_json::json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": database,
        "signer": if signer.is_ok() { "ok" } else { "unavailable" },
    });
    HttpResponse::build(error::health_status(ready)).json(body)
}

/// `GET /health/live`: liveness — the process answers (what an orchestrator
/// restarts on); readiness is `/health`.
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "alive"}))
}

/// `GET /api/v1/openapi.json`: the machine-readable API description.
#[get("/api/v1/openapi.json")]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::OPENAPI)
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use actix_web::body::{BodySize, MessageBody};
    use actix_web::web;

    use super::Slices;

    #[test]
    fn a_body_goes_out_whole_in_slices() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut body = Slices::new(web::Bytes::from(bytes.clone()));
        assert_eq!(body.size(), BodySize::Sized(100_000));
        let mut cx = Context::from_waker(Waker::noop());
        let (mut out, mut sizes) = (Vec::new(), Vec::new());
        while let Poll::Ready(Some(Ok(chunk))) = Pin::new(&mut body).poll_next(&mut cx) {
            sizes.push(chunk.len());
            out.extend_from_slice(&chunk);
        }
        assert_eq!(sizes, [65_536, 34_464]);
        assert!(out == bytes);
        // The length stays what the response declared.
        assert_eq!(body.size(), BodySize::Sized(100_000));
    }
}
