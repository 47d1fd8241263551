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

/// A response body that goes out a slice at a time, its length declared up
/// front.
trait SliceSource: Unpin {
    /// The whole body's length in octets.
    fn total(&self) -> u64;
    /// Nothing more to send.
    fn is_done(&self) -> bool;
    /// The next slice (called only while not done).
    fn next_slice(&mut self) -> web::Bytes;
}

/// A sliced body that gives its worker back before each slice (it asks to
/// be polled again and answers "not yet" every other poll). actix writes a
/// response for as long as the socket takes bytes, and a local client
/// drains a socket as fast as it is filled, so without this one download
/// of a big CRL held its worker until the last byte, and the status
/// lookups on that worker waited (issue 10: crl_downloads.rs, DER only,
/// debug build: lookups during the downloads p50 4.1 → 1.0-1.5 ms, p99
/// 26 → 13-17 ms, twice as many answered; `scripts/bench-peers.sh` with
/// the 1M CRL, release: p99 14-19 → 7-9 ms).
struct Yielding<S> {
    source: S,
    yielded: bool,
}

impl<S: SliceSource> Yielding<S> {
    fn new(source: S) -> Yielding<S> {
        Yielding {
            source,
            yielded: false,
        }
    }
}

impl<S: SliceSource> actix_web::body::MessageBody for Yielding<S> {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.source.total())
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.source.is_done() {
            return std::task::Poll::Ready(None);
        }
        this.yielded = !this.yielded;
        if this.yielded {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(Some(Ok(this.source.next_slice())))
    }
}

/// Shared bytes handed to actix in slices of 64 KiB. actix copies each
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

impl SliceSource for Slices {
    fn total(&self) -> u64 {
        self.len
    }

    fn is_done(&self) -> bool {
        self.rest.is_empty()
    }

    fn next_slice(&mut self) -> web::Bytes {
        let n = self.rest.len().min(SLICE);
        // A view into the shared bytes, not a copy.
        self.rest.split_to(n)
    }
}

/// PEM encoded from the shared DER slice by slice as the connection takes
/// it: a PEM download holds one slice of text, not a PEM copy of the whole
/// CRL (~60 MB for a million entries) made anew for every client.
struct PemSlices {
    label: &'static str,
    der: web::Bytes,
    stage: PemStage,
    len: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum PemStage {
    Begin,
    Body,
    End,
    Done,
}

/// One PEM line: 48 octets of DER, 64 characters of base64 (RFC 7468).
const PEM_LINE: usize = 48;

impl PemSlices {
    fn new(label: &'static str, der: web::Bytes) -> PemSlices {
        let text = der.len().div_ceil(3) * 4;
        let lines = text.div_ceil(64);
        let frame = format!("-----BEGIN {label}-----\n-----END {label}-----\n").len();
        PemSlices {
            label,
            len: (frame + text + lines) as u64,
            der,
            stage: PemStage::Begin,
        }
    }
}

impl SliceSource for PemSlices {
    fn total(&self) -> u64 {
        self.len
    }

    fn is_done(&self) -> bool {
        self.stage == PemStage::Done
    }

    fn next_slice(&mut self) -> web::Bytes {
        let chunk = match self.stage {
            PemStage::Begin => {
                self.stage = if self.der.is_empty() {
                    PemStage::End
                } else {
                    PemStage::Body
                };
                format!("-----BEGIN {}-----\n", self.label).into_bytes()
            }
            PemStage::Body => {
                // Whole lines per slice (a multiple of 48 octets is one of
                // 3, so padding can only come at the very end).
                let n = self.der.len().min(SLICE / 64 * PEM_LINE);
                let part = self.der.split_to(n);
                if self.der.is_empty() {
                    self.stage = PemStage::End;
                }
                let chars = n.div_ceil(3) * 4;
                let mut text = vec![0u8; chars + chars.div_ceil(64)];
                // One call for the whole slice: base64ct breaks the lines.
                let written = {
                    let mut encoder = base64ct::Encoder::<base64ct::Base64>::new_wrapped(
                        &mut text,
                        64,
                        base64ct::LineEnding::LF,
                    )
                    .expect("a line of 64 is allowed");
                    encoder.encode(&part).expect("the buffer fits the slice");
                    encoder.finish().expect("the buffer fits the slice").len()
                };
                // Lines are separated; the last one ends here.
                text.truncate(written);
                text.push(b'\n');
                text
            }
            PemStage::End | PemStage::Done => {
                self.stage = PemStage::Done;
                format!("-----END {}-----\n", self.label).into_bytes()
            }
        };
        chunk.into()
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
            .body(Yielding::new(PemSlices::new("X509 CRL", der)))
    } else {
        // The cached bytes themselves, shared, not copied per download.
        resp.content_type("application/pkix-crl")
            .body(Yielding::new(Slices::new(der)))
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use actix_web::body::{BodySize, MessageBody};
    use actix_web::web;

    use super::{PemSlices, Slices, Yielding};

    /// Counts the times a body asked to be polled again.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Everything a body yields and the size of each chunk, polled as actix
    /// does; a "not yet" must come with a wake-up, or the download stalls.
    fn collect(mut body: impl MessageBody + Unpin) -> (Vec<u8>, Vec<usize>, usize) {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut out, mut sizes, mut pending) = (Vec::new(), Vec::new(), 0);
        loop {
            match Pin::new(&mut body).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    sizes.push(chunk.len());
                    out.extend_from_slice(&chunk);
                }
                Poll::Ready(None) => break,
                Poll::Ready(Some(Err(_))) => panic!("a body error"),
                Poll::Pending => {
                    pending += 1;
                    assert_eq!(wakes.0.load(Ordering::SeqCst), pending, "not woken");
                }
            }
        }
        (out, sizes, pending)
    }

    #[test]
    fn pem_in_slices_is_the_pem_of_the_whole() {
        // Lengths around line and slice boundaries and every padding case.
        for len in [
            1, 2, 3, 47, 48, 49, 95, 96, 1000, 49_151, 49_152, 49_153, 200_001,
        ] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let body = Yielding::new(PemSlices::new("X509 CRL", web::Bytes::from(der.clone())));
            let declared = body.size();
            let (out, sizes, pending) = collect(body);
            let whole = ca_core::der_to_pem("X509 CRL", &der);
            assert!(out == whole.as_bytes(), "length {len}");
            assert_eq!(
                declared,
                BodySize::Sized(whole.len() as u64),
                "length {len}"
            );
            // No chunk much larger than a slice of DER as text.
            assert!(sizes.iter().all(|&n| n <= 66_560), "{sizes:?}");
            // The worker given back before each slice.
            assert_eq!(pending, sizes.len(), "length {len}");
        }
        // Nothing to encode is the two boundary lines, not a panic.
        let empty = Yielding::new(PemSlices::new("X509 CRL", web::Bytes::new()));
        assert_eq!(empty.size(), BodySize::Sized(48));
        let (out, _, _) = collect(empty);
        assert_eq!(out, b"-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n");
    }

    #[test]
    fn a_body_goes_out_whole_in_slices() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut body = Yielding::new(Slices::new(web::Bytes::from(bytes.clone())));
        assert_eq!(body.size(), BodySize::Sized(100_000));
        let (out, sizes, pending) = collect(&mut body);
        assert_eq!(sizes, [65_536, 34_464]);
        // The worker given back before each slice.
        assert_eq!(pending, 2);
        assert!(out == bytes);
        // The length stays what the response declared.
        assert_eq!(body.size(), BodySize::Sized(100_000));
    }
}
