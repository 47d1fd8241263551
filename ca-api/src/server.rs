//! Start-up: policies, CA key store, database, recovery, the bootstrap admin,
//! then the HTTP server with the background work beside it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use ca_authority::{Authority, SystemClock};
use ca_core::pkcs11::Token;
use ca_core::policy::Policies;
use ca_core::signer::CaSigner;
use ca_core::{keystore, CertificateAuthority, Error, ErrorKind};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::state::AppState;
use ca_authority::passwords;

/// Opens everything the server needs, as the first start and every later
/// start do.
pub fn open(config: &Config) -> Result<Arc<Authority>, Error> {
    let policies = Policies::load(&config.policies_dir())?;
    let (ca, ocsp_key) = open_keys(config, &policies)?;
    let url = config.database_url();
    let mut authority = Authority::open(
        &url,
        Arc::new(ca),
        Arc::new(policies),
        Arc::new(SystemClock),
    )?;
    if let Some(key) = ocsp_key {
        authority = authority.with_ocsp_key(key);
    }
    authority.set_commit_group_max(config.commit_group_max);
    let authority = Arc::new(authority);
    tracing::info!(
        database = if url.starts_with("postgres") {
            "postgresql"
        } else {
            "sqlite"
        },
        "database ready"
    );
    // What needs the CA key waits for its token if it is away now: the
    // background work does it when the token returns.
    if let Some(finished) = signing(
        authority.complete_interrupted_issuance(),
        "finishing issuance",
    )? {
        if !finished.is_empty() {
            tracing::warn!(serials = ?finished, "finished issuance interrupted by a crash");
        }
    }
    bootstrap_admin(&authority)?;
    if let Some(Some(serial)) = signing(authority.renew_ocsp_responder_if_due(), "OCSP responder")?
    {
        tracing::info!(%serial, "OCSP responder certificate issued");
    }
    if let Some(Some(crl)) = signing(authority.publish_crl_if_due(), "CRL publication")? {
        tracing::info!(number = crl.number, "CRL published at start");
    }
    // Changes a crash kept from being published (issue 10).
    if let Some(Some(crl)) = signing(authority.publish_pending(), "CRL publication")? {
        tracing::warn!(
            number = crl.number,
            "published changes an interruption had left"
        );
    }
    Ok(authority)
}

/// Opens the registry for `ca-api check`: no recovery, no publication, no
/// bootstrap (the check shows what an incident left), and never a new CA.
pub fn open_for_check(config: &Config) -> Result<Arc<Authority>, Error> {
    if !config.data_dir.join(keystore::CERT_FILE).exists() {
        return Err(Error::config(
            "settings",
            "CA_DATA_DIR",
            format!("no CA in {}", config.data_dir.display()),
        ));
    }
    let policies = Policies::load(&config.policies_dir())?;
    let (ca, _) = open_keys(config, &policies)?;
    Ok(Arc::new(Authority::open(
        &config.database_url(),
        Arc::new(ca),
        Arc::new(policies),
        Arc::new(SystemClock),
    )?))
}

/// A start-up step that signs: done, or postponed while the token is away.
fn signing<T>(result: Result<T, Error>, what: &str) -> Result<Option<T>, Error> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::SignerUnavailable => {
            tracing::warn!(error = %e, "{what} postponed: the CA key cannot sign now");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The CA (certificate and key) and the OCSP responder's key: files in the
/// data directory, or key pairs on a PKCS#11 token.
fn open_keys(
    config: &Config,
    policies: &Policies,
) -> Result<(CertificateAuthority, Option<Box<dyn CaSigner>>), Error> {
    let Some(token_config) = config.token()? else {
        let passphrase = std::env::var("CA_KEY_PASSPHRASE").ok().map(Zeroizing::new);
        let passphrase = passphrase.as_ref().map(|p| p.as_bytes());
        let (ca, opened) = keystore::open_or_create(
            &config.data_dir,
            &policies.ca,
            passphrase,
            chrono::Utc::now(),
        )?;
        tracing::info!(?opened, data_dir = %config.data_dir.display(), "CA key store ready");
        let ocsp = keystore::open_or_create_ocsp_key(&config.data_dir, passphrase)?;
        return Ok((ca, Some(Box::new(ocsp))));
    };
    let token = Token::open(token_config)?;
    let label = &config.pkcs11_key_label;
    let (ca, opened) = keystore::open_or_create_on_token(
        &config.data_dir,
        &policies.ca,
        &token,
        label,
        chrono::Utc::now(),
    )?;
    match ca.check_signer() {
        Ok(()) => {
            let facts = token.private_key_facts(label)?;
            if !facts.never_left_the_token() {
                tracing::warn!(?facts, key = %label, "the CA key on the token may have been outside it");
            }
            tracing::info!(?opened, token = %token.label(), key = %label, "CA key on the token");
        }
        Err(e) => {
            tracing::warn!(error = %e, token = %token.label(), "the CA key's token cannot be used now; signing waits for it")
        }
    }
    let ocsp: Option<Box<dyn CaSigner>> = match keystore::open_or_create_ocsp_key_on_token(
        &token,
        &config.pkcs11_ocsp_key_label,
    ) {
        Ok(key) => Some(Box::new(key)),
        Err(e) if e.kind() == ErrorKind::SignerUnavailable => {
            tracing::warn!(error = %e, "OCSP responses are signed by the CA key until a restart finds the token");
            None
        }
        Err(e) => return Err(e),
    };
    Ok((ca, ocsp))
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
    // Revocations return after their commit; CRLs follow on this thread.
    authority.start_publisher();
    let state = web::Data::new(AppState::new(authority.clone()));
    let max_body = config.max_body;
    let secret = std::env::var("CA_WEBHOOK_SECRET").ok().map(Zeroizing::new);
    let delivery = crate::background::Delivery {
        hooks: crate::background::Webhooks::new(secret.as_ref().map(|s| s.as_bytes())),
        mail: config.mailer().map_err(std::io::Error::other)?,
    };
    let background = actix_web::rt::spawn(crate::background::run(
        authority,
        Duration::from_secs(config.tick_seconds.max(1)),
        delivery,
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
