//! The notification outbox (SPEC §3: "notify the person by any available
//! means"): a row per refusal, issuance, suspension, resumption and
//! revocation, written in the same transaction as the event. Delivery reads
//! the outbox; it is the source of truth.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use ca_core::Result;

use crate::db::db_error;
use crate::mapping::{dt, ts};
use crate::models::OutboxRow;
use crate::schema::{organizations, outbox, persons};
use crate::Tx;

/// A notification waiting for delivery.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notification {
    /// Id.
    pub id: String,
    /// What happened (`request.rejected`, `certificate.revoked`, …).
    pub event: String,
    /// The person concerned.
    pub person_id: Option<String>,
    /// Where to post it, if the organisation gave a webhook.
    pub webhook_url: Option<String>,
    /// The JSON body.
    pub payload: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl Tx<'_> {
    /// Queues a notification for the person (and so their organisation), in
    /// the transaction of the event it tells of.
    pub fn notify(
        &mut self,
        now: DateTime<Utc>,
        person_id: Option<&str>,
        event: &str,
        payload: serde_json::Value,
    ) -> Result<()> {
        let conn = &mut *self.c;
        let now = ts(now);
        let organization_id = match person_id {
            Some(p) => persons::table
                .find(p)
                .select(persons::organization_id)
                .first::<String>(conn)
                .optional()
                .map_err(db_error)?,
            None => None,
        };
        let body = serde_json::json!({ "event": event, "person_id": person_id, "data": payload });
        diesel::insert_into(outbox::table)
            .values(OutboxRow {
                id: ca_core::random_id(),
                created_at: now,
                person_id: person_id.map(str::to_string),
                organization_id,
                event: event.to_string(),
                payload: body.to_string(),
                attempts: 0,
                next_attempt_at: now,
                delivered_at: None,
                last_error: None,
            })
            .execute(conn)
            .map_err(db_error)?;
        Ok(())
    }

    /// Notifications due for a delivery attempt, oldest first.
    pub fn due_notifications(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Notification>> {
        let now = ts(now);
        let c = &mut *self.c;
        {
            let rows: Vec<(OutboxRow, Option<String>)> = outbox::table
                .left_join(
                    organizations::table
                        .on(organizations::id.nullable().eq(outbox::organization_id)),
                )
                .filter(outbox::delivered_at.is_null())
                .filter(outbox::next_attempt_at.le(now))
                .order(outbox::created_at.asc())
                .limit(limit)
                .select((
                    OutboxRow::as_select(),
                    organizations::webhook_url.nullable(),
                ))
                .load(c)
                .map_err(db_error)?;
            Ok(rows
                .into_iter()
                .map(|(r, url)| Notification {
                    id: r.id,
                    event: r.event,
                    person_id: r.person_id,
                    webhook_url: url,
                    payload: r.payload,
                    attempts: r.attempts,
                    created_at: dt(r.created_at),
                })
                .collect())
        }
    }

    /// Marks a notification delivered (only once: compare-and-set).
    pub fn notification_delivered(&mut self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let now = ts(now);
        let c = &mut *self.c;
        {
            let n = diesel::update(
                outbox::table
                    .find(id)
                    .filter(outbox::delivered_at.is_null()),
            )
            .set(outbox::delivered_at.eq(Some(now)))
            .execute(c)
            .map_err(db_error)?;
            Ok(n == 1)
        }
    }

    /// Records a failed attempt; the next one waits 2^attempts minutes, up
    /// to a day.
    pub fn notification_failed(&mut self, id: &str, error: &str, now: DateTime<Utc>) -> Result<()> {
        let c = &mut *self.c;
        {
            let attempts: i32 = outbox::table
                .find(id)
                .select(outbox::attempts)
                .first(c)
                .map_err(db_error)?;
            let wait = Duration::minutes(1i64 << attempts.clamp(0, 10)).min(Duration::days(1));
            diesel::update(outbox::table.find(id))
                .set((
                    outbox::attempts.eq(attempts + 1),
                    outbox::next_attempt_at.eq(ts(now + wait)),
                    outbox::last_error.eq(Some(error.chars().take(500).collect::<String>())),
                ))
                .execute(c)
                .map_err(db_error)?;
            Ok(())
        }
    }

    /// All notifications about a person (tests and operators).
    pub fn notifications_for(&mut self, person_id: &str) -> Result<Vec<Notification>> {
        let c = &mut *self.c;
        {
            let rows: Vec<OutboxRow> = outbox::table
                .filter(outbox::person_id.eq(person_id))
                .order(outbox::created_at.asc())
                .select(OutboxRow::as_select())
                .load(c)
                .map_err(db_error)?;
            Ok(rows
                .into_iter()
                .map(|r| Notification {
                    id: r.id,
                    event: r.event,
                    person_id: r.person_id,
                    webhook_url: None,
                    payload: r.payload,
                    attempts: r.attempts,
                    created_at: dt(r.created_at),
                })
                .collect())
        }
    }
}
