//! `ca-api`: the CA server. See the README for its settings.

use std::process::ExitCode;

use ca_api::config::Config;
use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    // TLS for webhook delivery uses aws-lc-rs, like the CA's own key.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = Config::parse();
    let authority = match ca_api::server::open(&config) {
        Ok(authority) => authority,
        Err(e) => {
            eprintln!("ca-api: {e}");
            return ExitCode::FAILURE;
        }
    };
    match actix_web::rt::System::new().block_on(ca_api::server::serve(config, authority)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ca-api: {e}");
            ExitCode::FAILURE
        }
    }
}
