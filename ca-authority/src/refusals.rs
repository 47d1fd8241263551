//! Every refusal in the audit trail (SPEC §3, §5; issue 9 defect 6). A
//! refused action's own transaction is rolled back with everything it
//! wrote, so its refusal is recorded afterwards in a transaction of its
//! own; if even that cannot be written, that failure is what the caller
//! gets. Refusals committed with their action (`Store::write_verdict`) are
//! marked recorded and not written twice.

use ca_core::{Error, Result};
use ca_store::{Event, Outcome};

use crate::Authority;

impl Authority {
    /// Runs `body`; a refusal it returns that is not yet in the audit trail
    /// is written there as `action` on `object` by `actor`.
    pub(crate) fn recording<T>(
        &self,
        actor: &str,
        action: &str,
        object: String,
        body: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        match body() {
            Err(e) if e.is_refusal() && !e.is_recorded() => {
                let now = self.now();
                // Ids and messages may carry text from outside: bounded.
                let object: String = object.chars().take(200).collect();
                let message: String = e.message().chars().take(500).collect();
                self.store.write(|tx| {
                    tx.audit(
                        now,
                        Event {
                            actor,
                            action,
                            object: object.clone(),
                            outcome: Outcome::Refused,
                            reasons: e.reason_codes().to_vec(),
                            details: serde_json::json!({
                                "refused": format!("{:?}", e.kind()),
                                "message": message,
                            }),
                        },
                    )
                })?;
                Err(e.recorded())
            }
            other => other,
        }
    }

    /// Records a refusal the server made before any use case ran (a role
    /// that may not call the endpoint, a password change still due) and
    /// hands it back; `request` names the endpoint (`POST /api/v1/…`).
    pub fn record_access_refusal(&self, actor: &str, request: &str, refusal: Error) -> Error {
        // Paths come from outside: bounded before they reach the trail.
        let request: String = request.chars().take(200).collect();
        match self.recording(actor, "access", request, || Err::<(), _>(refusal)) {
            Err(e) => e,
            Ok(()) => Error::internal("a refusal turned into success"),
        }
    }
}
