//! The notification outbox (SPEC §3: "notify the person by any available
//! means"): rows are written by each use case in the transaction of its
//! event; delivery reads them here, claims each for one attempt and records
//! the outcome once. The renewal reminder (SPEC §3.8, 003 1.81.1) is such a
//! use case, run by the background work.

use chrono::Duration;

use ca_core::profile_kind::ProfileKind;
use ca_core::Result;
use ca_store::{Channel, Event, Notification, OutboxFilter, Outcome};

use crate::Authority;

/// How long one delivery attempt holds a notification before another
/// instance may try it: longer than any SMTP or webhook timeout.
const DELIVERY_LEASE_SECONDS: i64 = 120;

impl Authority {
    /// Notifications on `channel` due for a delivery attempt, oldest first.
    pub fn due_notifications(&self, channel: Channel, limit: i64) -> Result<Vec<Notification>> {
        let now = self.now();
        self.store
            .read(|tx| tx.due_notifications(channel, now, limit))
    }

    /// Takes a due notification for one attempt, so that no other instance
    /// sends it at the same time; `false` when another one took it.
    pub fn claim_notification(&self, id: &str) -> Result<bool> {
        let now = self.now();
        let lease = Duration::seconds(DELIVERY_LEASE_SECONDS);
        self.store.write(|tx| tx.claim_notification(id, now, lease))
    }

    /// Marks a notification delivered (only once: compare-and-set).
    pub fn notification_delivered(&self, id: &str) -> Result<bool> {
        let now = self.now();
        self.store.write(|tx| tx.notification_delivered(id, now))
    }

    /// Records a failed attempt; the next one waits 2^attempts minutes, up
    /// to a day.
    pub fn notification_failed(&self, id: &str, error: &str) -> Result<()> {
        let now = self.now();
        self.store
            .write(|tx| tx.notification_failed(id, error, now))
    }

    /// All notifications about a person, oldest first.
    pub fn notifications_for(&self, person_id: &str) -> Result<Vec<Notification>> {
        self.store.read(|tx| tx.notifications_for(person_id))
    }

    /// Notifications not delivered yet (the metrics' backlog).
    pub fn outbox_backlog(&self) -> Result<i64> {
        self.store.read(|tx| tx.outbox_backlog())
    }

    /// The outbox for operators, newest first.
    pub fn outbox(&self, filter: OutboxFilter, limit: i64) -> Result<Vec<Notification>> {
        self.store
            .read(|tx| tx.outbox(filter, limit.clamp(1, 1000)))
    }

    /// Reminds the owners of certificates whose renewal window has opened
    /// (SPEC §3.8), once per certificate on any number of instances: the
    /// reminder's row and its notification commit together under the write
    /// lock. A certificate whose owner already has a successor is settled
    /// without a letter. Returns the serials whose owners were reminded.
    pub fn remind_renewals(&self) -> Result<Vec<String>> {
        let now = self.now();
        let window_end = |kind: ProfileKind| {
            now + Duration::days(self.policies.profiles.get(kind).renewal_window_days.into())
        };
        // Most rounds find nothing: a read, not a write, tells.
        let any_due = self.store.read(|tx| {
            for kind in ProfileKind::ALL {
                if !tx
                    .renewals_due(kind.code(), now, window_end(kind), 1)?
                    .is_empty()
                {
                    return Ok(true);
                }
            }
            Ok(false)
        })?;
        if !any_due {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let mut reminded = Vec::new();
            for kind in ProfileKind::ALL {
                for due in tx.renewals_due(kind.code(), now, window_end(kind), 100)? {
                    tx.renewal_reminded(&due.serial, now)?;
                    if !tx.successors(&due.serial)?.is_empty() {
                        continue;
                    }
                    tx.audit(
                        now,
                        Event {
                            actor: "system",
                            action: "certificate.renewal_reminder",
                            object: format!("certificate:{}", due.serial),
                            outcome: Outcome::Ok,
                            reasons: vec![],
                            details: serde_json::json!({"not_after": due.not_after}),
                        },
                    )?;
                    tx.notify(
                        now,
                        Some(&due.person_id),
                        "certificate.renewal_due",
                        serde_json::json!({
                            "serial": due.serial,
                            "not_after": due.not_after,
                            "profile": kind.code(),
                        }),
                    )?;
                    reminded.push(due.serial);
                }
            }
            Ok(reminded)
        })
    }
}
