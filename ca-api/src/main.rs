//! `ca-api`: the CA server. See the README for its settings.

use std::process::ExitCode;

use ca_api::config::{Command, Config};
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
    if let Some(Command::Check { json }) = &config.command {
        return check(&config, *json);
    }
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

/// `ca-api check`: the consistency report; exit 0 when consistent.
fn check(config: &Config, json: bool) -> ExitCode {
    let report = ca_api::server::open_for_check(config).and_then(|a| a.check_consistency());
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ca-api check: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for c in &report.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            println!("{mark} {:<32} {}", c.check, c.detail);
        }
        println!(
            "{}",
            if report.ok {
                "consistent"
            } else {
                "NOT consistent"
            }
        );
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
