//! The notification outbox (SPEC §3: "notify the person by any available
//! means"): rows are written by each use case in the transaction of its
//! event; delivery reads them here and records the outcome once.

use ca_core::Result;
use ca_store::Notification;

use crate::Authority;

impl Authority {
    /// Notifications due for a delivery attempt, oldest first.
    pub fn due_notifications(&self, limit: i64) -> Result<Vec<Notification>> {
        let now = self.now();
        self.store.read(|tx| tx.due_notifications(now, limit))
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

    /// All notifications about a person (tests and operators).
    pub fn notifications_for(&self, person_id: &str) -> Result<Vec<Notification>> {
        self.store.read(|tx| tx.notifications_for(person_id))
    }
}
