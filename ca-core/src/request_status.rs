//! A certificate request's status as one transition function (SPEC §3.3),
//! the shape of [`crate::lifecycle`] for certificates:
//!
//! ```text
//!   pending_act ──act confirmed──▶ pending ──reserved──▶ issuing ──signed──▶ issued
//!        │                           │                     │
//!        └──────────reject───────────┴──────terminate──────┴──▶ rejected
//! ```
//!
//! `issuing` lasts from the serial's reservation to the stored signature
//! (SPEC §7, record before signing); clients see it as `pending`.

use std::fmt;

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    /// `initial_self_signed`: waits for the signed paper act (1.77).
    PendingAct,
    /// Waits for an operator's decision.
    Pending,
    /// Approved; its serial is reserved and the certificate being signed.
    Issuing,
    /// The certificate is issued (terminal).
    Issued,
    /// Refused by a rule or an operator (terminal).
    Rejected,
}

/// Something that happens to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestEvent {
    /// An operator confirmed the signed paper act.
    ActConfirmed,
    /// Approved (by an operator or the profile's policy): serial reserved.
    Reserved,
    /// The certificate was signed and stored.
    Signed,
    /// An operator rejected it, or a rule refused it at decision time.
    Reject,
    /// The person's authority or the agreement ended: every open request
    /// is rejected, even one being issued (its certificate is revoked).
    Terminate,
}

impl RequestStatus {
    /// Every status.
    pub const ALL: [RequestStatus; 5] = [
        RequestStatus::PendingAct,
        RequestStatus::Pending,
        RequestStatus::Issuing,
        RequestStatus::Issued,
        RequestStatus::Rejected,
    ];

    /// The stored name.
    pub fn code(self) -> &'static str {
        match self {
            RequestStatus::PendingAct => "pending_act",
            RequestStatus::Pending => "pending",
            RequestStatus::Issuing => "issuing",
            RequestStatus::Issued => "issued",
            RequestStatus::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn from_code(s: &str) -> Option<RequestStatus> {
        Self::ALL.into_iter().find(|st| st.code() == s)
    }

    /// The status the API shows (SPEC §4 knows `pending_act`, `pending`,
    /// `rejected`, `issued`): a request being issued is still `pending`.
    pub fn public(self) -> RequestStatus {
        match self {
            RequestStatus::Issuing => RequestStatus::Pending,
            s => s,
        }
    }

    /// The stored statuses a public status filter selects.
    pub fn stored_for_public(public: RequestStatus) -> Vec<RequestStatus> {
        Self::ALL
            .into_iter()
            .filter(|s| s.public() == public)
            .collect()
    }

    /// Still open: not issued, not rejected.
    pub fn is_open(self) -> bool {
        !matches!(self, RequestStatus::Issued | RequestStatus::Rejected)
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The next status, or `None` when the event does not apply in `state`.
pub fn transition(state: RequestStatus, event: RequestEvent) -> Option<RequestStatus> {
    use RequestEvent as E;
    use RequestStatus as S;
    match (state, event) {
        (S::PendingAct, E::ActConfirmed) => Some(S::Pending),
        (S::Pending, E::Reserved) => Some(S::Issuing),
        (S::Issuing, E::Signed) => Some(S::Issued),
        (S::PendingAct | S::Pending, E::Reject) => Some(S::Rejected),
        (S::PendingAct | S::Pending | S::Issuing, E::Terminate) => Some(S::Rejected),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestEvent as E;
    use RequestStatus as S;

    /// Every (state, event) pair with the expected outcome.
    #[test]
    fn every_state_and_event() {
        let events = [
            E::ActConfirmed,
            E::Reserved,
            E::Signed,
            E::Reject,
            E::Terminate,
        ];
        let expected = |s: S, e: E| match (s, e) {
            (S::PendingAct, E::ActConfirmed) => Some(S::Pending),
            (S::PendingAct, E::Reject | E::Terminate) => Some(S::Rejected),
            (S::Pending, E::Reserved) => Some(S::Issuing),
            (S::Pending, E::Reject | E::Terminate) => Some(S::Rejected),
            (S::Issuing, E::Signed) => Some(S::Issued),
            (S::Issuing, E::Terminate) => Some(S::Rejected),
            _ => None,
        };
        let mut allowed = 0;
        for s in S::ALL {
            for e in events {
                assert_eq!(transition(s, e), expected(s, e), "{s:?} + {e:?}");
                allowed += usize::from(transition(s, e).is_some());
            }
        }
        // The table above lists exactly eight allowed moves.
        assert_eq!(allowed, 8);
        for terminal in [S::Issued, S::Rejected] {
            assert!(events.iter().all(|e| transition(terminal, *e).is_none()));
        }
    }

    #[test]
    fn issuing_is_shown_and_filtered_as_pending() {
        assert_eq!(S::Issuing.public(), S::Pending);
        assert_eq!(
            S::stored_for_public(S::Pending),
            vec![S::Pending, S::Issuing]
        );
        assert_eq!(S::stored_for_public(S::Issued), vec![S::Issued]);
        for s in S::ALL {
            assert_eq!(S::from_code(s.code()), Some(s));
        }
        assert_eq!(S::from_code("signing"), None);
    }
}
