//! The notification outbox (SPEC §3: "notify the person by any available
//! means"): a row per refusal, issuance, suspension, resumption, revocation
//! and renewal reminder, and per channel, written in the same transaction as
//! the event and addressed then. Delivery reads the outbox; it is the
//! source of truth.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use ca_core::Result;

use crate::db::db_error;
use crate::mapping::{dt, ts, CERT_ACTIVE};
use crate::models::OutboxRow;
use crate::schema::{certificates, organizations, outbox, persons, renewal_reminders};
use crate::Tx;

/// A notification and where it goes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notification {
    /// Id (also the mail's Message-ID and the webhook's notification id, so
    /// a receiver can drop a repeat).
    pub id: String,
    /// What happened (`request.rejected`, `certificate.revoked`, …).
    pub event: String,
    /// The person concerned.
    pub person_id: Option<String>,
    /// How it travels.
    pub channel: Channel,
    /// The webhook URL, or the e-mail addresses separated by commas; `None`
    /// when there was nowhere to send it.
    pub destination: Option<String>,
    /// The JSON body.
    pub payload: String,
    /// Failed delivery attempts so far.
    pub attempts: i32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (while not delivered).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// How a notification travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// JSON posted to the organisation's webhook.
    Webhook,
    /// A letter to the person, copied to the organisation's contact address.
    Email,
}

impl Channel {
    /// As stored.
    pub fn code(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Where a notification stands, from its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Delivered.
    Sent,
    /// Nowhere to send it (no address, no webhook): kept as the record.
    Undeliverable,
    /// Not delivered, no failed attempt yet.
    Pending,
    /// Not delivered, at least one failed attempt; retried with backoff.
    Failing,
}

impl Notification {
    /// Where it stands.
    pub fn status(&self) -> OutboxStatus {
        match (&self.delivered_at, &self.destination, self.attempts) {
            (Some(_), _, _) => OutboxStatus::Sent,
            (None, None, _) => OutboxStatus::Undeliverable,
            (None, Some(_), 0) => OutboxStatus::Pending,
            (None, Some(_), _) => OutboxStatus::Failing,
        }
    }
}

/// Which notifications `outbox` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxFilter {
    /// Everything.
    All,
    /// Delivered.
    Sent,
    /// Not delivered, no failed attempt yet.
    Pending,
    /// Not delivered, at least one failed attempt.
    Failing,
}

/// An active certificate whose renewal window is open and whose owner has
/// not been reminded yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalDue {
    /// Serial.
    pub serial: String,
    /// Owner.
    pub person_id: String,
    /// End of validity.
    pub not_after: DateTime<Utc>,
}

fn notification(r: OutboxRow) -> Result<Notification> {
    Ok(Notification {
        channel: crate::mapping::channel(&r.channel)?,
        id: r.id,
        event: r.event,
        person_id: r.person_id,
        destination: r.destination,
        payload: r.payload,
        attempts: r.attempts,
        created_at: dt(r.created_at),
        delivered_at: r.delivered_at.map(dt),
        next_attempt_at: dt(r.next_attempt_at),
        last_error: r.last_error,
    })
}

impl Tx<'_> {
    /// Queues a notification for the person, in the transaction of the
    /// event it tells of: an e-mail row to the person (and the
    /// organisation's contact address), and a webhook row when the
    /// organisation has a webhook.
    pub fn notify(
        &mut self,
        now: DateTime<Utc>,
        person_id: Option<&str>,
        event: &str,
        payload: serde_json::Value,
    ) -> Result<()> {
        let conn = &mut *self.c;
        let addressee: Option<(String, String, Option<String>, Option<String>)> = match person_id {
            Some(p) => persons::table
                .inner_join(organizations::table)
                .filter(persons::id.eq(p))
                .select((
                    persons::organization_id,
                    persons::email,
                    organizations::contact_email,
                    organizations::webhook_url,
                ))
                .first(conn)
                .optional()
                .map_err(db_error)?,
            None => None,
        };
        let organization_id = addressee.as_ref().map(|a| a.0.clone());
        let mut rows = Vec::new();
        if let Some((_, email, contact, webhook)) = &addressee {
            let mut to = vec![email.clone()];
            to.extend(contact.iter().filter(|c| *c != email).cloned());
            rows.push((Channel::Email, Some(to.join(","))));
            if let Some(url) = webhook {
                rows.push((Channel::Webhook, Some(url.clone())));
            }
        }
        if rows.is_empty() {
            // Nobody to tell; the row still records that it happened.
            rows.push((Channel::Webhook, None));
        }
        let body = serde_json::json!({ "event": event, "person_id": person_id, "data": payload });
        let now = ts(now);
        for (channel, destination) in rows {
            diesel::insert_into(outbox::table)
                .values(OutboxRow {
                    id: ca_core::random_id(),
                    created_at: now,
                    person_id: person_id.map(str::to_string),
                    organization_id: organization_id.clone(),
                    event: event.to_string(),
                    payload: body.to_string(),
                    attempts: 0,
                    next_attempt_at: now,
                    delivered_at: None,
                    last_error: None,
                    channel: channel.code().to_string(),
                    destination,
                })
                .execute(conn)
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// Notifications on `channel` due for a delivery attempt, oldest first.
    pub fn due_notifications(
        &mut self,
        channel: Channel,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Notification>> {
        let rows: Vec<OutboxRow> = outbox::table
            .filter(outbox::channel.eq(channel.code()))
            .filter(outbox::delivered_at.is_null())
            .filter(outbox::destination.is_not_null())
            .filter(outbox::next_attempt_at.le(ts(now)))
            .order(outbox::created_at.asc())
            .limit(limit)
            .select(OutboxRow::as_select())
            .load(self.c)
            .map_err(db_error)?;
        rows.into_iter().map(notification).collect()
    }

    /// Takes a due notification for one delivery attempt: moves its next
    /// attempt `lease` ahead, so another instance does not send it too.
    /// `false` when another instance took it or it was delivered.
    pub fn claim_notification(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool> {
        let n = diesel::update(
            outbox::table
                .find(id)
                .filter(outbox::delivered_at.is_null())
                .filter(outbox::next_attempt_at.le(ts(now))),
        )
        .set(outbox::next_attempt_at.eq(ts(now + lease)))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Marks a notification delivered (only once: compare-and-set).
    pub fn notification_delivered(&mut self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let n = diesel::update(
            outbox::table
                .find(id)
                .filter(outbox::delivered_at.is_null()),
        )
        .set(outbox::delivered_at.eq(Some(ts(now))))
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Records a failed attempt; the next one waits 2^attempts minutes, up
    /// to a day.
    pub fn notification_failed(&mut self, id: &str, error: &str, now: DateTime<Utc>) -> Result<()> {
        let c = &mut *self.c;
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

    /// All notifications about a person, oldest first.
    pub fn notifications_for(&mut self, person_id: &str) -> Result<Vec<Notification>> {
        let rows: Vec<OutboxRow> = outbox::table
            .filter(outbox::person_id.eq(person_id))
            .order(outbox::created_at.asc())
            .select(OutboxRow::as_select())
            .load(self.c)
            .map_err(db_error)?;
        rows.into_iter().map(notification).collect()
    }

    /// The outbox, newest first, at most `limit` rows.
    pub fn outbox(&mut self, filter: OutboxFilter, limit: i64) -> Result<Vec<Notification>> {
        let mut q = outbox::table
            .order(outbox::created_at.desc())
            .limit(limit)
            .select(OutboxRow::as_select())
            .into_boxed();
        q = match filter {
            OutboxFilter::All => q,
            OutboxFilter::Sent => q.filter(outbox::delivered_at.is_not_null()),
            OutboxFilter::Pending => q
                .filter(outbox::delivered_at.is_null())
                .filter(outbox::attempts.eq(0)),
            OutboxFilter::Failing => q
                .filter(outbox::delivered_at.is_null())
                .filter(outbox::attempts.gt(0)),
        };
        let rows: Vec<OutboxRow> = q.load(self.c).map_err(db_error)?;
        rows.into_iter().map(notification).collect()
    }

    /// Undelivered notifications (the backlog), for the metrics.
    pub fn outbox_backlog(&mut self) -> Result<i64> {
        outbox::table
            .filter(outbox::delivered_at.is_null())
            .filter(outbox::destination.is_not_null())
            .count()
            .get_result(self.c)
            .map_err(db_error)
    }

    /// Active certificates of `profile` whose validity ends by `window_end`
    /// (and after `now`) and that have not been settled by
    /// [`Tx::renewal_reminded`].
    pub fn renewals_due(
        &mut self,
        profile: &str,
        now: DateTime<Utc>,
        window_end: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RenewalDue>> {
        let rows: Vec<(String, String, i64)> = certificates::table
            .left_join(
                renewal_reminders::table.on(renewal_reminders::serial.eq(certificates::serial)),
            )
            .filter(renewal_reminders::serial.nullable().is_null())
            .filter(certificates::profile.eq(profile))
            .filter(certificates::status.eq(CERT_ACTIVE))
            .filter(certificates::der.is_not_null())
            .filter(certificates::not_after.gt(ts(now)))
            .filter(certificates::not_after.le(ts(window_end)))
            .order(certificates::not_after.asc())
            .limit(limit)
            .select((
                certificates::serial,
                certificates::person_id,
                certificates::not_after,
            ))
            .load(self.c)
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(serial, person_id, not_after)| RenewalDue {
                serial,
                person_id,
                not_after: dt(not_after),
            })
            .collect())
    }

    /// Settles the renewal reminder of `serial`: the caller writes the
    /// notification in the same transaction, or none when the owner already
    /// has a successor. The primary key makes it once per certificate.
    pub fn renewal_reminded(&mut self, serial: &str, now: DateTime<Utc>) -> Result<()> {
        diesel::insert_into(renewal_reminders::table)
            .values((
                renewal_reminders::serial.eq(serial),
                renewal_reminders::sent_at.eq(ts(now)),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }
}
