//! Organisations, persons and technological certificates (registrar work).

use actix_web::{get, post, web, HttpResponse};
use base64ct::{Base64, Encoding};
use ca_core::api::{
    AuthorityUpdate, NewOrganization, NewPerson, TechCertBody, TechCertIssued, Termination,
};
use ca_core::{Error, ErrorKind, Reason};
use der::Decode;
use serde::Deserialize;

use crate::auth::{Caller, READERS, WRITERS};
use crate::error::ApiResult;
use crate::state::{blocking, AppState};
use crate::tech_key;

/// `POST /api/v1/admin/organizations`.
#[post("/api/v1/admin/organizations")]
pub async fn register_organization(
    caller: Caller,
    body: web::Json<NewOrganization>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    let org =
        blocking(move || reg.register_organization(&caller.username, body.into_inner())).await?;
    Ok(HttpResponse::Created().json(org))
}

/// `GET /api/v1/admin/organizations`.
#[get("/api/v1/admin/organizations")]
pub async fn list_organizations(
    caller: Caller,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.organizations()).await?))
}

/// `GET /api/v1/admin/organizations/{id}`.
#[get("/api/v1/admin/organizations/{id}")]
pub async fn show_organization(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.organization(&id)).await?))
}

/// `POST /api/v1/admin/organizations/{id}/terminate`: the agreement ended.
#[post("/api/v1/admin/organizations/{id}/terminate")]
pub async fn terminate_organization(
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Termination>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(
        blocking(move || reg.terminate_organization(&caller.username, &id, &body.document)).await?,
    ))
}

/// `POST /api/v1/admin/persons`.
#[post("/api/v1/admin/persons")]
pub async fn register_person(
    caller: Caller,
    body: web::Json<NewPerson>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    let person = blocking(move || reg.register_person(&caller.username, body.into_inner())).await?;
    Ok(HttpResponse::Created().json(person))
}

/// Filter of the person list.
#[derive(Deserialize)]
pub struct PersonFilter {
    organization: Option<String>,
}

/// `GET /api/v1/admin/persons?organization=`.
#[get("/api/v1/admin/persons")]
pub async fn list_persons(
    caller: Caller,
    q: web::Query<PersonFilter>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.persons(q.organization.as_deref())).await?))
}

/// `GET /api/v1/admin/persons/{id}`.
#[get("/api/v1/admin/persons/{id}")]
pub async fn show_person(
    caller: Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.person(&id)).await?))
}

/// `POST /api/v1/admin/persons/{id}/authority`: extend or replace the power of attorney.
#[post("/api/v1/admin/persons/{id}/authority")]
pub async fn update_authority(
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<AuthorityUpdate>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    let b = body.into_inner();
    Ok(HttpResponse::Ok().json(
        blocking(move || {
            reg.update_authority(
                &caller.username,
                &id,
                &b.authority_document,
                b.authority_valid_until,
            )
        })
        .await?,
    ))
}

/// `POST /api/v1/admin/persons/{id}/terminate`: the authority ended.
#[post("/api/v1/admin/persons/{id}/terminate")]
pub async fn terminate_person(
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<Termination>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok()
        .json(blocking(move || reg.terminate_person(&caller.username, &id, &body.document)).await?))
}

/// `POST /api/v1/admin/persons/{id}/technological-certificate`: from the
/// person's CSR, or with a key generated here and handed over as a
/// PIN-protected PKCS#12 (1.76.1–1.76.2).
#[post("/api/v1/admin/persons/{id}/technological-certificate")]
pub async fn technological_certificate(
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<TechCertBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    caller.require(WRITERS)?;
    let reg = state.registry.clone();
    let body = body.into_inner();
    let issued = blocking(move || {
        let policy = reg.policies().rules.passwords.clone();
        match (body.csr_pem, body.pin) {
            (Some(pem), None) => {
                let (label, der) = der::pem::decode_vec(pem.as_bytes())
                    .map_err(|e| Error::reason(Reason::MalformedCsr, format!("bad PEM: {e}")))?;
                if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
                    return Err(Error::reason(
                        Reason::MalformedCsr,
                        format!("PEM label {label:?} is not a CSR"),
                    ));
                }
                let csr = ca_core::csr::CertificationRequest::from_der(&der)?;
                let (serial, cert) =
                    reg.issue_technological(&caller.username, &id, csr.request.info.public_key)?;
                Ok(TechCertIssued {
                    serial,
                    certificate_pem: ca_core::der_to_pem("CERTIFICATE", &cert),
                    pkcs12_base64: None,
                })
            }
            (None, Some(pin)) => {
                if pin.chars().count() < policy.min_length {
                    return Err(Error::new(
                        ErrorKind::Malformed,
                        format!("the PIN needs at least {} characters", policy.min_length),
                    ));
                }
                let key = tech_key::generate()?;
                let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&key.spki_der)
                    .map_err(|e| Error::internal(e.to_string()))?;
                let (serial, cert) = reg.issue_technological(&caller.username, &id, spki)?;
                let p12 = tech_key::pkcs12(&key, &cert, reg.ca().certificate_der(), &pin)?;
                Ok(TechCertIssued {
                    serial,
                    certificate_pem: ca_core::der_to_pem("CERTIFICATE", &cert),
                    pkcs12_base64: Some(Base64::encode_string(&p12)),
                })
            }
            _ => Err(Error::new(
                ErrorKind::Malformed,
                "give either csr_pem, or pin to have the key generated",
            )),
        }
    })
    .await?;
    Ok(HttpResponse::Created().json(issued))
}
