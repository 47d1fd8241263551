//! Work the server does on its own (SPEC §3.4, §3.6, §3.8, §7): revoke
//! lapsed suspensions, republish the CRL before nextUpdate, remind owners
//! whose renewal window opened, deliver notifications by mail and to
//! organisations' webhooks with retries and backoff. Every instance runs
//! it; the store makes each step happen once, and a notification is claimed
//! before it is sent so that two instances do not both send it.

use std::sync::Arc;
use std::time::Duration;

use ca_authority::{Authority, Channel, Notification};

use crate::mail::{self, Addressee, Mailer};

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

/// Where notifications go: webhooks always, mail when SMTP is configured
/// (without it, letters wait in the outbox).
#[derive(Clone)]
pub struct Delivery {
    /// Webhook posting.
    pub hooks: Webhooks,
    /// SMTP, when `CA_SMTP_URL` is set.
    pub mail: Option<Mailer>,
}

/// Runs one round of background work; errors are logged and retried next round.
pub fn tick(authority: &Authority, delivery: &Delivery) {
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
    match authority.remind_renewals() {
        Ok(reminded) if !reminded.is_empty() => {
            tracing::info!(?reminded, "renewal reminders written")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "renewal reminders failed"),
    }
    deliver_all(authority, Channel::Webhook, |n| {
        post(authority, &delivery.hooks, n)
    });
    if let Some(mailer) = &delivery.mail {
        deliver_all(authority, Channel::Email, |n| send(authority, mailer, n));
    }
}

/// Claims and delivers the due notifications of one channel.
fn deliver_all(authority: &Authority, channel: Channel, deliver: impl Fn(&Notification)) {
    match authority.due_notifications(channel, 50) {
        Ok(list) => {
            for n in list {
                match authority.claim_notification(&n.id) {
                    Ok(true) => deliver(&n),
                    Ok(false) => {} // another instance has it
                    Err(e) => {
                        tracing::warn!(error = %e, id = %n.id, "claiming a notification failed")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
    }
}

/// Records a delivery attempt's outcome.
fn outcome(authority: &Authority, n: &Notification, result: Result<(), String>) {
    let recorded = match result {
        Ok(()) => authority.notification_delivered(&n.id).map(|_| ()),
        Err(e) => {
            tracing::warn!(id = %n.id, event = %n.event, channel = %n.channel, error = %e, "delivery failed; will retry");
            authority.notification_failed(&n.id, &e)
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, id = %n.id, "recording a delivery attempt failed");
    }
}

fn send(authority: &Authority, mailer: &Mailer, n: &Notification) {
    let to = n.destination.as_deref().unwrap_or_default();
    let addressee = n
        .person_id
        .as_deref()
        .and_then(|p| authority.person(p).ok())
        .map(|p| Addressee {
            full_name: p.full_name.clone(),
            organization: authority
                .organization(&p.organization_id)
                .map(|o| o.name)
                .unwrap_or_default(),
        })
        .unwrap_or_default();
    let offset = authority.policies().calendar.offset();
    let result = match mail::compose(&n.event, &n.payload, n.created_at, &addressee, offset) {
        Some(letter) => mailer.send(&n.id, to, &letter),
        None => Err(format!("no letter for event {}", n.event)),
    };
    outcome(authority, n, result);
}

fn post(authority: &Authority, hooks: &Webhooks, n: &Notification) {
    let url = n.destination.as_deref().unwrap_or_default();
    let mut request = hooks
        .agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-CA-Notification-Id", &n.id);
    if let Some(signature) = hooks.signature(n.payload.as_bytes()) {
        request = request.header("X-CA-Signature", &signature);
    }
    let result = match request.send(n.payload.as_bytes()) {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("HTTP {}", resp.status())),
        Err(e) => Err(e.to_string()),
    };
    outcome(authority, n, result);
}

/// Runs [`tick`] every `every` until the server stops.
pub async fn run(authority: Arc<Authority>, every: Duration, delivery: Delivery) {
    let mut interval = actix_web::rt::time::interval(every);
    loop {
        interval.tick().await;
        let (authority, delivery) = (authority.clone(), delivery.clone());
        if let Err(e) = actix_web::web::block(move || tick(&authority, &delivery)).await {
            tracing::warn!(error = %e, "background work did not run");
        }
    }
}
