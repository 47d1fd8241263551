//! Organisations, persons and technological certificates (registrar work).

use actix_web::{get, post, web, HttpResponse};
use base64ct::{Base64, Encoding};
use ca_core::api::{
    AuthorityUpdate, NewOrganization, NewPerson, TechCertBody, TechCertIssued, Termination,
};
use ca_core::{Error, ErrorKind, Reason};
use der::Decode;
use serde::Deserialize;

use crate::auth::{Authorized, Readers, Writers};
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::{blocking, AppState};
use crate::tech_key;

/// `POST /api/v1/admin/organizations`.
#[post("/api/v1/admin/organizations")]
pub async fn register_organization(
    who: Authorized<Writers>,
    body: JsonBody<NewOrganization>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let reg = state.registry.clone();
    let org = blocking(move || reg.register_organization(&caller.username, body)).await?;
    Ok(HttpResponse::Created().json(org))
}

/// `GET /api/v1/admin/organizations`.
#[get("/api/v1/admin/organizations")]
pub async fn list_organizations(
    _who: Authorized<Readers>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.organizations()).await?))
}

/// `GET /api/v1/admin/organizations/{id}`.
#[get("/api/v1/admin/organizations/{id}")]
pub async fn show_organization(
    _who: Authorized<Readers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.organization(&id)).await?))
}

/// `POST /api/v1/admin/organizations/{id}/terminate`: the agreement ended.
#[post("/api/v1/admin/organizations/{id}/terminate")]
pub async fn terminate_organization(
    who: Authorized<Writers>,
    id: web::Path<String>,
    body: JsonBody<Termination>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(
        blocking(move || reg.terminate_organization(&caller.username, &id, &body.document)).await?,
    ))
}

/// `POST /api/v1/admin/persons`.
#[post("/api/v1/admin/persons")]
pub async fn register_person(
    who: Authorized<Writers>,
    body: JsonBody<NewPerson>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let reg = state.registry.clone();
    let person = blocking(move || reg.register_person(&caller.username, body)).await?;
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
    _who: Authorized<Readers>,
    q: web::Query<PersonFilter>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.persons(q.organization.as_deref())).await?))
}

/// `GET /api/v1/admin/persons/{id}`.
#[get("/api/v1/admin/persons/{id}")]
pub async fn show_person(
    _who: Authorized<Readers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok().json(blocking(move || reg.person(&id)).await?))
}

/// `POST /api/v1/admin/persons/{id}/authority`: extend or replace the power of attorney.
#[post("/api/v1/admin/persons/{id}/authority")]
pub async fn update_authority(
    who: Authorized<Writers>,
    id: web::Path<String>,
    body: JsonBody<AuthorityUpdate>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let reg = state.registry.clone();
    let b = body;
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
    who: Authorized<Writers>,
    id: web::Path<String>,
    body: JsonBody<Termination>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let reg = state.registry.clone();
    Ok(HttpResponse::Ok()
        .json(blocking(move || reg.terminate_person(&caller.username, &id, &body.document)).await?))
}

/// `POST /api/v1/admin/persons/{id}/technological-certificate`: from the
/// person's CSR, or with a key generated here and handed over as a
/// PIN-protected PKCS#12 (1.76.1–1.76.2).
#[post("/api/v1/admin/persons/{id}/technological-certificate")]
pub async fn technological_certificate(
    who: Authorized<Writers>,
    id: web::Path<String>,
    body: JsonBody<TechCertBody>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let reg = state.registry.clone();
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
