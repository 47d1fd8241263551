//! Media types (SPEC §4): binary PKI objects by their registered types, PEM
//! when the client asks for it.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

/// `Accept: application/x-pem-file` asks for PEM.
pub fn wants_pem(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/x-pem-file"))
}

/// `Accept: application/pdf` asks for a document as PDF (HTML otherwise).
pub fn wants_pdf(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/pdf"))
}

/// A printable document as PDF or HTML, by `Accept`. Rendering a PDF
/// takes milliseconds of CPU: it runs off the request workers.
pub async fn document(
    req: &HttpRequest,
    doc: crate::documents::Document,
    file_name: String,
) -> Result<HttpResponse, crate::error::ApiError> {
    if wants_pdf(req) {
        let pdf = crate::state::blocking(move || crate::documents::pdf::render(&doc)).await?;
        Ok(HttpResponse::Ok()
            .content_type("application/pdf")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{file_name}.pdf\""),
            ))
            .body(pdf))
    } else {
        Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(crate::documents::html::render(&doc)))
    }
}

/// A certificate as DER (`application/pkix-cert`) or PEM.
pub fn certificate(req: &HttpRequest, der: &[u8]) -> HttpResponse {
    if wants_pem(req) {
        HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .body(ca_core::der_to_pem("CERTIFICATE", der))
    } else {
        HttpResponse::Ok()
            .content_type("application/pkix-cert")
            .body(der.to_vec())
    }
}

/// How a request body is encoded, judged by its Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// DER or BER.
    Binary,
    /// PEM text.
    Pem,
}

/// The request body types accepted for a CMS envelope; `None` → 415.
pub fn envelope_type(req: &HttpRequest) -> Option<Envelope> {
    let ct = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/pkcs7-mime"
        | "application/pkcs7"
        | "application/octet-stream"
        | "application/cms" => Some(Envelope::Binary),
        "application/x-pem-file" | "text/plain" => Some(Envelope::Pem),
        _ => None,
    }
}
