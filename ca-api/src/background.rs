//! Work the server does on its own (SPEC §3.4, §3.6, §7): revoke lapsed
//! suspensions, republish the CRL before nextUpdate, deliver notifications
//! to organisations' webhooks with retries and backoff. Every instance runs
//! it; the store makes each step happen once.

use std::sync::Arc;
use std::time::Duration;

use ca_store::{Notification, Registry};

/// Runs one round of background work; errors are logged and retried next round.
pub fn tick(reg: &Registry, agent: &ureq::Agent) {
    match reg.lapse_suspensions() {
        Ok(revoked) if !revoked.is_empty() => {
            tracing::info!(?revoked, "lapsed suspensions revoked")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "lapse_suspensions failed"),
    }
    match reg.publish_crl_if_due() {
        Ok(Some(crl)) => {
            tracing::info!(number = crl.number, entries = crl.entries, "CRL published")
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "CRL publication failed"),
    }
    match reg.due_notifications(50) {
        Ok(list) => {
            for n in list.into_iter().filter(|n| n.webhook_url.is_some()) {
                deliver(reg, agent, &n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
    }
}

fn deliver(reg: &Registry, agent: &ureq::Agent, n: &Notification) {
    let url = n.webhook_url.as_deref().unwrap_or_default();
    let result = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-CA-Notification-Id", &n.id)
        .send(n.payload.as_bytes());
    let outcome = match result {
        Ok(resp) if resp.status().is_success() => reg.notification_delivered(&n.id).map(|_| ()),
        Ok(resp) => reg.notification_failed(&n.id, &format!("HTTP {}", resp.status())),
        Err(e) => reg.notification_failed(&n.id, &e.to_string()),
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, id = %n.id, "recording a delivery attempt failed");
    }
}

/// An HTTP client with short timeouts for webhooks.
pub fn webhook_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Runs [`tick`] every `every` until the server stops.
pub async fn run(reg: Arc<Registry>, every: Duration) {
    let agent = webhook_agent();
    let mut interval = actix_web::rt::time::interval(every);
    loop {
        interval.tick().await;
        let (reg, agent) = (reg.clone(), agent.clone());
        if let Err(e) = actix_web::web::block(move || tick(&reg, &agent)).await {
            tracing::warn!(error = %e, "background work did not run");
        }
    }
}
