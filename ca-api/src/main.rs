//! `ca-api`: the CA server. See the README for its settings.

use std::process::ExitCode;

use ca_api::config::{Command, Config};
use clap::Parser;

fn main() -> ExitCode {
    fixed_malloc_thresholds();
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

/// Fixes glibc's mmap and trim thresholds at their default, 128 KiB (issue
/// 10). Left dynamic, glibc raises both after the first large buffer is
/// freed (up to 32 and 64 MiB), and from then on keeps up to 64 MiB of
/// freed memory per arena: with a million-entry CRL (~45 MB) that was ~20
/// MB more resident after every publication (the server's resident size
/// sampled during publications: peak 152 MB over three, 132 MB fixed).
/// Fixed, a large buffer is always mapped apart and returned whole when
/// freed. Settings a deployment gives in glibc's own
/// `MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_` win.
fn fixed_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (setting, variable) in [
        (libc::M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"),
        (libc::M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: called first thing in main, before any other thread
            // exists; mallopt only changes the allocator's parameters.
            unsafe { libc::mallopt(setting, 128 * 1024) };
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
