//! The certificate lifecycle as one transition function (SPEC §3.4–3.6):
//!
//! ```text
//!   signing ──signed──▶ active ──suspend──▶ suspended ──resume──▶ active
//!                         │                    │  └──lapse (period over)──▶ revoked
//!                         └──────revoke────────┴──revoke──▶ revoked (terminal)
//! ```

use chrono::{DateTime, Utc};

use crate::error::Reason;
use crate::records::CertificateStatus;

/// Something that happens to a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The reserved certificate was signed.
    Signed,
    /// Suspended until the given time.
    Suspend {
        /// End of the suspension.
        until: DateTime<Utc>,
    },
    /// Resumed by the owner's application.
    Resume,
    /// Revoked (any cause).
    Revoke,
    /// The suspension period ended without resumption (1.79): revoke.
    Lapse,
}

/// The next state, or the reason code that refuses the event.
pub fn transition(
    state: CertificateStatus,
    event: Event,
    now: DateTime<Utc>,
) -> Result<CertificateStatus, Reason> {
    use CertificateStatus::*;
    match (state, event) {
        (Revoked, _) => Err(Reason::CertificateRevoked),
        (Signing, Event::Signed) => Ok(Active),
        (Signing, _) => Err(Reason::CertificateNotActive),
        (_, Event::Signed) => Err(Reason::CertificateNotActive),
        (Active, Event::Suspend { until }) => Ok(Suspended { until }),
        (Suspended { .. }, Event::Suspend { .. }) => Err(Reason::CertificateNotActive),
        (Suspended { .. }, Event::Resume) => Ok(Active),
        (Active, Event::Resume) => Err(Reason::CertificateNotSuspended),
        (Active | Suspended { .. }, Event::Revoke) => Ok(Revoked),
        (Suspended { until }, Event::Lapse) if now >= until => Ok(Revoked),
        (Suspended { .. }, Event::Lapse) => Err(Reason::CertificateNotActive),
        (Active, Event::Lapse) => Err(Reason::CertificateNotSuspended),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use CertificateStatus::*;

    /// Every (state, event) pair, with the expected outcome.
    #[test]
    fn every_state_and_event() {
        let now = Utc::now();
        let later = now + Duration::days(10);
        let earlier = now - Duration::seconds(1);
        let suspended = Suspended { until: later };
        let lapsed = Suspended { until: earlier };
        let cases = [
            (Signing, Event::Signed, Ok(Active)),
            (
                Signing,
                Event::Suspend { until: later },
                Err(Reason::CertificateNotActive),
            ),
            (Signing, Event::Resume, Err(Reason::CertificateNotActive)),
            (Signing, Event::Revoke, Err(Reason::CertificateNotActive)),
            (Signing, Event::Lapse, Err(Reason::CertificateNotActive)),
            (Active, Event::Signed, Err(Reason::CertificateNotActive)),
            (
                Active,
                Event::Suspend { until: later },
                Ok(Suspended { until: later }),
            ),
            (Active, Event::Resume, Err(Reason::CertificateNotSuspended)),
            (Active, Event::Revoke, Ok(Revoked)),
            (Active, Event::Lapse, Err(Reason::CertificateNotSuspended)),
            (suspended, Event::Signed, Err(Reason::CertificateNotActive)),
            (
                suspended,
                Event::Suspend { until: later },
                Err(Reason::CertificateNotActive),
            ),
            (suspended, Event::Resume, Ok(Active)),
            (suspended, Event::Revoke, Ok(Revoked)),
            (suspended, Event::Lapse, Err(Reason::CertificateNotActive)),
            (lapsed, Event::Lapse, Ok(Revoked)),
            (Revoked, Event::Signed, Err(Reason::CertificateRevoked)),
            (
                Revoked,
                Event::Suspend { until: later },
                Err(Reason::CertificateRevoked),
            ),
            (Revoked, Event::Resume, Err(Reason::CertificateRevoked)),
            (Revoked, Event::Revoke, Err(Reason::CertificateRevoked)),
            (Revoked, Event::Lapse, Err(Reason::CertificateRevoked)),
        ];
        for (state, event, expected) in cases {
            assert_eq!(
                transition(state, event, now),
                expected,
                "{state:?} + {event:?}"
            );
        }
    }
}
