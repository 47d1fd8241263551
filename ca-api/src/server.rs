//! Start-up: policies, CA key store, database, recovery, the bootstrap admin,
//! then the HTTP server with the background work beside it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use ca_authority::{Authority, SystemClock};
use ca_core::policy::Policies;
use ca_core::{keystore, Error};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::state::AppState;
use ca_authority::passwords;

/// Opens everything the server needs, as the first start and every later
/// start do.
pub fn open(config: &Config) -> Result<Arc<Authority>, Error> {
    let policies = Policies::load(&config.policies_dir())?;
    let passphrase = std::env::var("CA_KEY_PASSPHRASE").ok().map(Zeroizing::new);
    let (ca, opened) = keystore::open_or_create(
        &config.data_dir,
        &policies.ca,
        passphrase.as_ref().map(|p| p.as_bytes()),
        chrono::Utc::now(),
    )?;
    tracing::info!(?opened, data_dir = %config.data_dir.display(), "CA key store ready");
    let ocsp_key = keystore::open_or_create_ocsp_key(
        &config.data_dir,
        passphrase.as_ref().map(|p| p.as_bytes()),
    )?;
    let url = config.database_url();
    let authority = Arc::new(
        Authority::open(
            &url,
            Arc::new(ca),
            Arc::new(policies),
            Arc::new(SystemClock),
        )?
        .with_ocsp_key(Box::new(ocsp_key)),
    );
    tracing::info!(
        database = if url.starts_with("postgres") {
            "postgresql"
        } else {
            "sqlite"
        },
        "database ready"
    );
    let finished = authority.complete_interrupted_issuance()?;
    if !finished.is_empty() {
        tracing::warn!(serials = ?finished, "finished issuance interrupted by a crash");
    }
    bootstrap_admin(&authority)?;
    if let Some(serial) = authority.renew_ocsp_responder_if_due()? {
        tracing::info!(%serial, "OCSP responder certificate issued");
    }
    if let Some(crl) = authority.publish_crl_if_due()? {
        tracing::info!(number = crl.number, "CRL published at start");
    }
    Ok(authority)
}

/// The first start creates `admin` with `CA_BOOTSTRAP_ADMIN_PASSWORD`, or a
/// generated password printed once to standard output (never to the log).
fn bootstrap_admin(authority: &Authority) -> Result<(), Error> {
    if authority.operator_count()? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("CA_BOOTSTRAP_ADMIN_PASSWORD") {
        Ok(p) => (Zeroizing::new(p), false),
        Err(_) => (Zeroizing::new(passwords::generated_password()), true),
    };
    if !authority.bootstrap_admin(&password)? {
        return Ok(());
    }
    if generated {
        println!(
            "ca-api: created operator 'admin' with password: {}",
            password.as_str()
        );
        println!("ca-api: it must be changed at first login; it is not shown again.");
    }
    tracing::info!("bootstrap operator 'admin' created; password change required at first login");
    Ok(())
}

/// Serves until SIGINT/SIGTERM, then stops cleanly.
pub async fn serve(config: Config, authority: Arc<Authority>) -> std::io::Result<()> {
    let state = web::Data::new(AppState::new(authority.clone()));
    let max_body = config.max_body;
    let secret = std::env::var("CA_WEBHOOK_SECRET").ok().map(Zeroizing::new);
    let hooks = crate::background::Webhooks::new(secret.as_ref().map(|s| s.as_bytes()));
    let background = actix_web::rt::spawn(crate::background::run(
        authority,
        Duration::from_secs(config.tick_seconds.max(1)),
        hooks,
    ));
    tracing::info!(listen = %config.listen, "serving");
    // /metrics on its own address, never on the public one (SPEC §4).
    let metrics_server = match &config.metrics_listen {
        Some(addr) => {
            let state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/metrics", web::get().to(metrics))
            })
            .workers(1)
            .bind(addr)?
            .run();
            tracing::info!(listen = %addr, "metrics");
            Some(actix_web::rt::spawn(server))
        }
        None => None,
    };
    let result = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                crate::refuse_control_characters,
            ))
            .wrap(crate::json_errors())
            .wrap(actix_web::middleware::from_fn(crate::server::log_request))
            .configure(|c| crate::configure(c, state.clone(), max_body))
    })
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(15)
    .bind(&config.listen)?
    .run()
    .await;
    background.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    tracing::info!("stopped");
    result
}

/// One structured log line per request: method, path, status, time. No
/// bodies, no headers (tokens), no query strings.
pub async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let path = req.path().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    tracing::info!(%method, %path, status, ms = elapsed.as_millis() as u64, "request");
    if let Some(state) = state {
        // The route's pattern, not the path: ids stay out of the metrics.
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        state
            .metrics
            .observe(&method, &route, status, elapsed.as_secs_f64());
    }
    Ok(res)
}

/// `GET /metrics` on the metrics address.
async fn metrics(state: web::Data<AppState>) -> actix_web::HttpResponse {
    let s = state.clone();
    let text = web::block(move || s.metrics.render(&s.authority))
        .await
        .unwrap_or_default();
    actix_web::HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text)
}
