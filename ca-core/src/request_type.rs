//! The request type, decided by who signed the envelope (SPEC §3.1).

use std::fmt;
use std::str::FromStr;

use crate::envelope::Signer;
use crate::error::{Error, Reason, Result};
use crate::profile_kind::ProfileKind;

/// The three kinds of certificate request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestType {
    /// Signed with a valid technological certificate of this CA.
    Initial,
    /// Signed with a valid working or additional certificate (planned key rotation).
    Rotation,
    /// Signed with the new key itself; waits for the paper acceptance act.
    InitialSelfSigned,
}

impl RequestType {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            RequestType::Initial => "initial",
            RequestType::Rotation => "rotation",
            RequestType::InitialSelfSigned => "initial_self_signed",
        }
    }

    /// Decides the type from the signer and, for a signing certificate of this
    /// CA, the profile that certificate was issued under.
    pub fn decide(signer: &Signer, signer_profile: Option<ProfileKind>) -> Result<RequestType> {
        match (signer, signer_profile) {
            (Signer::RequestKey, _) => Ok(RequestType::InitialSelfSigned),
            (Signer::Certificate(_), Some(ProfileKind::Technological)) => Ok(RequestType::Initial),
            (Signer::Certificate(_), Some(ProfileKind::Working | ProfileKind::Additional)) => {
                Ok(RequestType::Rotation)
            }
            (Signer::Certificate(_), None) => Err(Error::reason(
                Reason::UnknownSigner,
                "the signing certificate was not issued under a client profile of this CA",
            )),
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for RequestType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [
            RequestType::Initial,
            RequestType::Rotation,
            RequestType::InitialSelfSigned,
        ]
        .into_iter()
        .find(|t| t.code() == s)
        .ok_or_else(|| {
            format!("unknown request type {s:?} (initial, rotation, initial_self_signed)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_follows_the_signer() {
        assert_eq!(
            RequestType::decide(&Signer::RequestKey, None).unwrap(),
            RequestType::InitialSelfSigned
        );
        let cert = || Signer::Certificate(Box::new(crate::test_support::any_certificate()));
        assert_eq!(
            RequestType::decide(&cert(), Some(ProfileKind::Technological)).unwrap(),
            RequestType::Initial
        );
        assert_eq!(
            RequestType::decide(&cert(), Some(ProfileKind::Working)).unwrap(),
            RequestType::Rotation
        );
        assert_eq!(
            RequestType::decide(&cert(), Some(ProfileKind::Additional)).unwrap(),
            RequestType::Rotation
        );
        assert!(RequestType::decide(&cert(), None)
            .unwrap_err()
            .has(Reason::UnknownSigner));
        assert_eq!("rotation".parse::<RequestType>(), Ok(RequestType::Rotation));
        assert!("renewal".parse::<RequestType>().is_err());
    }
}
