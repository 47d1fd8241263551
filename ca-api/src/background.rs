//! Work the server does on its own (SPEC §3.4, §3.6, §7): revoke lapsed
//! suspensions, republish the CRL before nextUpdate, deliver notifications
//! to organisations' webhooks with retries and backoff. Every instance runs
//! it; the store makes each step happen once.

use std::sync::Arc;
use std::time::Duration;

use ca_authority::{Authority, Notification};

/// How webhooks are posted.
#[derive(Clone)]
pub struct Webhooks {
    agent: ureq::Agent,
    /// `CA_WEBHOOK_SECRET`: when set, each body is signed with HMAC-SHA-256
    /// in `X-CA-Signature: sha256=<hex>` so receivers can tell it is ours.
    secret: Option<aws_lc_rs::hmac::Key>,
}

impl Webhooks {
    /// Short timeouts; signing when a secret is given.
    pub fn new(secret: Option<&[u8]>) -> Webhooks {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let secret = secret.map(|s| aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, s));
        Webhooks { agent, secret }
    }

    /// The signature header value for `body`, when signing.
    pub fn signature(&self, body: &[u8]) -> Option<String> {
        self.secret.as_ref().map(|k| {
            format!(
                "sha256={}",
                hex::encode(aws_lc_rs::hmac::sign(k, body).as_ref())
            )
        })
    }
}

/// Runs one round of background work; errors are logged and retried next round.
pub fn tick(authority: &Authority, hooks: &Webhooks) {
    match authority.complete_reservations_older_than(chrono::Duration::minutes(1)) {
        Ok(done) if !done.is_empty() => {
            tracing::warn!(serials = ?done, "finished interrupted issuance")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "finishing interrupted issuance failed"),
    }
    if let Err(e) = authority.flush_anonymous_logins() {
        tracing::warn!(error = %e, "recording coalesced failed logins failed");
    }
    match authority.renew_ocsp_responder_if_due() {
        Ok(Some(serial)) => tracing::info!(%serial, "OCSP responder certificate renewed"),
        Ok(None) => {}
        // Responses go on, signed by the CA key, until this succeeds.
        Err(e) => tracing::warn!(error = %e, "renewing the OCSP responder certificate failed"),
    }
    if let Err(e) = authority.checkpoint_audit_if_due() {
        tracing::warn!(error = %e, "audit checkpoint failed");
    }
    match authority.expire_pending_acts() {
        Ok(expired) if !expired.is_empty() => {
            tracing::info!(?expired, "unconfirmed self-signed requests expired")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "expire_pending_acts failed"),
    }
    match authority.supersede_predecessors() {
        Ok(revoked) if !revoked.is_empty() => {
            tracing::info!(?revoked, "superseded predecessors revoked")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "supersede_predecessors failed"),
    }
    match authority.lapse_suspensions() {
        Ok(revoked) if !revoked.is_empty() => {
            tracing::info!(?revoked, "lapsed suspensions revoked")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "lapse_suspensions failed"),
    }
    match authority.publish_crl_if_due() {
        Ok(Some(crl)) => {
            tracing::info!(number = crl.number, entries = crl.entries, "CRL published")
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "CRL publication failed"),
    }
    // Changes not yet published: a publication that failed, or one a crash
    // (of this instance or another) interrupted.
    match authority.publish_pending() {
        Ok(Some(crl)) => {
            tracing::info!(
                number = crl.number,
                entries = crl.entries,
                "pending changes published"
            )
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "CRL publication of pending changes failed"),
    }
    match authority.due_notifications(50) {
        Ok(list) => {
            for n in list.into_iter().filter(|n| n.webhook_url.is_some()) {
                deliver(authority, hooks, &n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
    }
}

fn deliver(authority: &Authority, hooks: &Webhooks, n: &Notification) {
    let url = n.webhook_url.as_deref().unwrap_or_default();
    let mut request = hooks
        .agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-CA-Notification-Id", &n.id);
    if let Some(signature) = hooks.signature(n.payload.as_bytes()) {
        request = request.header("X-CA-Signature", &signature);
    }
    let result = request.send(n.payload.as_bytes());
    let outcome = match result {
        Ok(resp) if resp.status().is_success() => {
            authority.notification_delivered(&n.id).map(|_| ())
        }
        Ok(resp) => authority.notification_failed(&n.id, &format!("HTTP {}", resp.status())),
        Err(e) => authority.notification_failed(&n.id, &e.to_string()),
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, id = %n.id, "recording a delivery attempt failed");
    }
}

/// Runs [`tick`] every `every` until the server stops.
pub async fn run(authority: Arc<Authority>, every: Duration, hooks: Webhooks) {
    let mut interval = actix_web::rt::time::interval(every);
    loop {
        interval.tick().await;
        let (authority, hooks) = (authority.clone(), hooks.clone());
        if let Err(e) = actix_web::web::block(move || tick(&authority, &hooks)).await {
            tracing::warn!(error = %e, "background work did not run");
        }
    }
}
