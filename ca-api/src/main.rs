//! `ca-api`: the CA server.

mod config;

use std::process::ExitCode;

use actix_web::{get, http::header, web, App, HttpRequest, HttpResponse, HttpServer};
use ca_core::policy::Policies;
use ca_core::{keystore, CertificateAuthority};
use clap::Parser;
use zeroize::Zeroizing;

use crate::config::Config;

struct State {
    ca: CertificateAuthority,
}

#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[get("/api/v1/ca/certificate")]
async fn ca_certificate(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let der = state.ca.certificate_der();
    let wants_pem = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-pem-file"));
    if wants_pem {
        let pem = ca_core::der_to_pem("CERTIFICATE", der);
        HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .body(pem)
    } else {
        HttpResponse::Ok()
            .content_type("application/pkix-cert")
            .body(der.to_vec())
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ca-api: {e}");
            ExitCode::FAILURE
        }
    }
}

#[actix_web::main]
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::parse();
    let policies = Policies::load(&config.policies_dir())?;
    let passphrase = std::env::var("CA_KEY_PASSPHRASE").ok().map(Zeroizing::new);
    let (ca, opened) = keystore::open_or_create(
        &config.data_dir,
        &policies.ca,
        passphrase.as_ref().map(|p| p.as_bytes()),
        chrono::Utc::now(),
    )?;
    tracing::info!(?opened, data_dir = %config.data_dir.display(), "CA ready");
    let state = web::Data::new(State { ca });
    tracing::info!(listen = %config.listen, "serving");
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(health)
            .service(ca_certificate)
    })
    .bind(&config.listen)?
    .run()
    .await?;
    Ok(())
}
