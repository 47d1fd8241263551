//! The notification outbox, for operators: what was sent, what waits and
//! what keeps failing (issue 13).

use actix_web::{get, web, HttpResponse};
use ca_authority::{Channel, Notification, OutboxFilter, OutboxStatus};
use ca_core::Error;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::{Auditors, Authorized};
use crate::error::ApiResult;
use crate::state::{blocking, AppState};

/// `?status=&limit=`.
#[derive(Deserialize)]
pub struct OutboxQuery {
    status: Option<String>,
    limit: Option<i64>,
}

/// One notification as operators see it.
#[derive(Serialize)]
pub struct OutboxEntry {
    id: String,
    created_at: DateTime<Utc>,
    event: String,
    person_id: Option<String>,
    channel: Channel,
    /// The webhook URL or the e-mail addresses.
    to: Option<String>,
    /// `sent`, `pending`, `failing`, or `undeliverable` (nowhere to send).
    status: OutboxStatus,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

fn entry(n: Notification) -> OutboxEntry {
    let status = n.status();
    OutboxEntry {
        next_attempt_at: matches!(status, OutboxStatus::Pending | OutboxStatus::Failing)
            .then_some(n.next_attempt_at),
        id: n.id,
        created_at: n.created_at,
        event: n.event,
        person_id: n.person_id,
        channel: n.channel,
        to: n.destination,
        status,
        attempts: n.attempts,
        delivered_at: n.delivered_at,
        last_error: n.last_error,
    }
}

/// `GET /api/v1/admin/outbox?status=sent|pending|failing&limit=`: newest
/// first (admin, auditor).
#[get("/api/v1/admin/outbox")]
pub async fn outbox(
    _who: Authorized<Auditors>,
    q: web::Query<OutboxQuery>,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let filter = match q.status.as_deref() {
        None | Some("all") => OutboxFilter::All,
        Some("sent") => OutboxFilter::Sent,
        Some("pending") => OutboxFilter::Pending,
        Some("failing") => OutboxFilter::Failing,
        Some(_) => return Err(Error::invalid("status must be sent, pending or failing").into()),
    };
    let limit = q.limit.unwrap_or(100);
    let authority = state.authority.clone();
    let list = blocking(move || authority.outbox(filter, limit)).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(entry).collect::<Vec<_>>()))
}
