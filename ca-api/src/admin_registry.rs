//! Organisations, persons and technological certificates (registrar work).

use actix_web::{get, post, web, HttpResponse};
use base64ct::{Base64, Encoding};
use ca_authority::TechnologicalKey;
use ca_core::api::{
    AuthorityUpdate, NewOrganization, NewPerson, TechCertBody, TechCertIssued, Termination,
};
use ca_core::Error;
use serde::Deserialize;

use crate::auth::{Authorized, Readers, Writers};
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::{blocking, AppState};
use ca_core::views;

/// `POST /api/v1/admin/organizations`.
#[post("/api/v1/admin/organizations")]
pub async fn register_organization(
    who: Authorized<Writers>,
    body: JsonBody<NewOrganization>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let body = body.take()?;
    let caller = who.caller;
    let authority = state.authority.clone();
    let org = blocking(move || authority.register_organization(&caller.username, body)).await?;
    Ok(HttpResponse::Created().json(views::organization(&org)))
}

/// `GET /api/v1/admin/organizations`.
#[get("/api/v1/admin/organizations")]
pub async fn list_organizations(
    _who: Authorized<Readers>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let orgs = blocking(move || authority.organizations()).await?;
    Ok(HttpResponse::Ok().json(orgs.iter().map(views::organization).collect::<Vec<_>>()))
}

/// `GET /api/v1/admin/organizations/{id}`.
#[get("/api/v1/admin/organizations/{id}")]
pub async fn show_organization(
    _who: Authorized<Readers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let org = blocking(move || authority.organization(&id)).await?;
    Ok(HttpResponse::Ok().json(views::organization(&org)))
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
    let authority = state.authority.clone();
    Ok(HttpResponse::Ok().json(
        blocking(move || authority.terminate_organization(&caller.username, &id, &body.document))
            .await?,
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
    let authority = state.authority.clone();
    let person = blocking(move || authority.register_person(&caller.username, body)).await?;
    Ok(HttpResponse::Created().json(views::person(&person)))
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
    let authority = state.authority.clone();
    let persons = blocking(move || authority.persons(q.organization.as_deref())).await?;
    Ok(HttpResponse::Ok().json(persons.iter().map(views::person).collect::<Vec<_>>()))
}

/// `GET /api/v1/admin/persons/{id}`.
#[get("/api/v1/admin/persons/{id}")]
pub async fn show_person(
    _who: Authorized<Readers>,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let authority = state.authority.clone();
    let person = blocking(move || authority.person(&id)).await?;
    Ok(HttpResponse::Ok().json(views::person(&person)))
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
    let authority = state.authority.clone();
    let b = body;
    let person = blocking(move || {
        authority.update_authority(
            &caller.username,
            &id,
            &b.authority_document,
            b.authority_valid_until,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(views::person(&person)))
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
    let authority = state.authority.clone();
    Ok(HttpResponse::Ok().json(
        blocking(move || authority.terminate_person(&caller.username, &id, &body.document)).await?,
    ))
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
    let authority = state.authority.clone();
    let key = match (body.csr_pem, body.pin) {
        (Some(pem), None) => TechnologicalKey::Csr(pem),
        (None, Some(pin)) => TechnologicalKey::Generated { pin },
        _ => {
            return Err(
                Error::invalid("give either csr_pem, or pin to have the key generated").into(),
            )
        }
    };
    let done =
        blocking(move || authority.technological_certificate(&caller.username, &id, key)).await?;
    let issued = TechCertIssued {
        serial: done.serial,
        certificate_pem: ca_core::der_to_pem("CERTIFICATE", &done.certificate),
        pkcs12_base64: done.pkcs12.map(|p| Base64::encode_string(&p)),
    };
    Ok(HttpResponse::Created().json(issued))
}
