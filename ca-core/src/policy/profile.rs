//! `profiles.toml`: the certificate profiles (SPEC §6): technological, working
//! and additional. Each profile is a hard cap on what a certificate may be.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use der::asn1::ObjectIdentifier;
use serde::Deserialize;
use x509_cert::ext::pkix::{CertificatePolicies, KeyUsages};
use x509_cert::Certificate;

use crate::error::{Error, ErrorKind, Reason, Result};
use crate::keys::KeyAlgorithm;
use crate::oids;
pub use crate::profile_kind::ProfileKind;
use crate::request_type::RequestType;

pub(super) const FILE: &str = "profiles.toml";

/// A validated certificate profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Which profile this is.
    pub kind: ProfileKind,
    /// Longest validity, in days.
    pub validity_days: u32,
    /// Key usage bits (critical extension).
    pub key_usage: Vec<KeyUsages>,
    /// Extended key usage OIDs.
    pub extended_key_usage: Vec<ObjectIdentifier>,
    /// Certificate policy OIDs; the first one also identifies the profile.
    pub certificate_policies: Vec<ObjectIdentifier>,
    /// Smallest allowed RSA modulus.
    pub rsa_min_bits: usize,
    /// Largest allowed RSA modulus.
    pub rsa_max_bits: usize,
    /// Allowed EC curves.
    pub ec_curves: Vec<KeyAlgorithm>,
    /// Whether validity ends no later than the power of attorney (SPEC §3.3).
    pub cap_at_authority: bool,
    /// Request types issued without an operator (SPEC §3.3).
    pub auto_approve: Vec<RequestType>,
}

impl Profile {
    /// `weak_key` unless the key's algorithm and size are allowed here.
    pub fn check_key(&self, key: KeyAlgorithm) -> Result<()> {
        let allowed = match key {
            KeyAlgorithm::Rsa { bits } => (self.rsa_min_bits..=self.rsa_max_bits).contains(&bits),
            ec => self.ec_curves.contains(&ec),
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::reason(
                Reason::WeakKey,
                format!(
                    "{key} is not allowed by the {} profile (RSA {}–{} bits{})",
                    self.kind.code(),
                    self.rsa_min_bits,
                    self.rsa_max_bits,
                    self.ec_curves
                        .iter()
                        .map(|c| format!(", {c}"))
                        .collect::<String>()
                ),
            ))
        }
    }

    /// The validity period for a certificate starting at `not_before`: the
    /// profile's length, cut at the power of attorney's end when the profile
    /// says so, and never past the CA certificate's own end (RFC 5280 §6.1.3
    /// would make the rest unusable anyway).
    pub fn validity(
        &self,
        not_before: DateTime<Utc>,
        authority_valid_until: Option<DateTime<Utc>>,
        ca_not_after: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let mut not_after = not_before + Duration::days(self.validity_days.into());
        if self.cap_at_authority {
            if let Some(until) = authority_valid_until {
                not_after = not_after.min(until);
            }
        }
        not_after = not_after.min(ca_not_after);
        if not_after <= not_before {
            return Err(Error::new(
                ErrorKind::Refused,
                "the certificate would have no validity left (authority or CA certificate ends first)",
            ));
        }
        Ok((not_before, not_after))
    }

    /// Whether requests of type `t` are issued at once under this profile.
    pub fn auto_approves(&self, t: RequestType) -> bool {
        self.auto_approve.contains(&t)
    }
}

/// The three profiles.
#[derive(Clone, Debug)]
pub struct Profiles {
    by_kind: BTreeMap<ProfileKind, Profile>,
}

impl Profiles {
    /// The profile of `kind` (all three always exist after validation).
    pub fn get(&self, kind: ProfileKind) -> &Profile {
        &self.by_kind[&kind]
    }

    /// The profile a certificate was issued under, told by its certificate
    /// policies (each profile's first policy OID is unique to it).
    pub fn kind_of_certificate(&self, cert: &Certificate) -> Option<ProfileKind> {
        let exts = cert.tbs_certificate.extensions.as_ref()?;
        let ext = exts
            .iter()
            .find(|e| e.extn_id == oids::CERTIFICATE_POLICIES)?;
        let policies: CertificatePolicies =
            der::Decode::from_der(ext.extn_value.as_bytes()).ok()?;
        self.by_kind.values().find_map(|p| {
            policies
                .0
                .iter()
                .any(|info| info.policy_identifier == p.certificate_policies[0])
                .then_some(p.kind)
        })
    }

    pub(super) fn from_raw(raw: Raw) -> Result<Self> {
        let mut by_kind = BTreeMap::new();
        for (kind, raw) in [
            (ProfileKind::Technological, raw.technological),
            (ProfileKind::Working, raw.working),
            (ProfileKind::Additional, raw.additional),
        ] {
            by_kind.insert(kind, raw.validate(kind)?);
        }
        let firsts: Vec<_> = by_kind
            .values()
            .map(|p| p.certificate_policies[0])
            .collect();
        for (i, oid) in firsts.iter().enumerate() {
            if firsts[..i].contains(oid) {
                return Err(Error::config(
                    FILE,
                    "certificate_policies",
                    format!(
                        "{oid} is the first policy of two profiles; each profile needs its own"
                    ),
                ));
            }
        }
        Ok(Profiles { by_kind })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    technological: RawProfile,
    working: RawProfile,
    additional: RawProfile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    validity_days: u32,
    key_usage: Vec<String>,
    #[serde(default)]
    extended_key_usage: Vec<String>,
    certificate_policies: Vec<String>,
    rsa_bits: [usize; 2],
    #[serde(default)]
    ec_curves: Vec<String>,
    cap_at_authority: bool,
    #[serde(default)]
    auto_approve: Vec<String>,
}

/// Named EKU purposes accepted besides dotted OIDs.
fn eku_oid(name: &str) -> Option<ObjectIdentifier> {
    Some(match name {
        "client_auth" => ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2"),
        "email_protection" => ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4"),
        "code_signing" => ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3"),
        "time_stamping" => ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8"),
        dotted => return ObjectIdentifier::new(dotted).ok(),
    })
}

fn key_usage(name: &str) -> Option<KeyUsages> {
    Some(match name {
        "digital_signature" => KeyUsages::DigitalSignature,
        "non_repudiation" | "content_commitment" => KeyUsages::NonRepudiation,
        "key_encipherment" => KeyUsages::KeyEncipherment,
        "data_encipherment" => KeyUsages::DataEncipherment,
        "key_agreement" => KeyUsages::KeyAgreement,
        _ => return None,
    })
}

impl RawProfile {
    fn validate(self, kind: ProfileKind) -> Result<Profile> {
        let field = |f: &str| format!("{}.{f}", kind.code());
        let bad = |f: &str, m: String| Error::config(FILE, &field(f), m);
        // Hard caps, like Boulder's profile limits: a technological credential
        // is short-lived (1.76.2); nothing a client holds outlives 5 years.
        let max_days = if kind == ProfileKind::Technological {
            90
        } else {
            1830
        };
        if !(1..=max_days).contains(&self.validity_days) {
            return Err(bad("validity_days", format!("must be 1 to {max_days}")));
        }
        let key_usage = self
            .key_usage
            .iter()
            .map(|n| {
                key_usage(n).ok_or_else(|| bad("key_usage", format!("unknown key usage {n:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        if key_usage.is_empty() {
            return Err(bad(
                "key_usage",
                "at least one key usage is required".into(),
            ));
        }
        let extended_key_usage = self
            .extended_key_usage
            .iter()
            .map(|n| {
                eku_oid(n).ok_or_else(|| {
                    bad(
                        "extended_key_usage",
                        format!("{n:?} is neither a known purpose nor an OID"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let certificate_policies = self
            .certificate_policies
            .iter()
            .map(|n| {
                ObjectIdentifier::new(n)
                    .map_err(|_| bad("certificate_policies", format!("{n:?} is not an OID")))
            })
            .collect::<Result<Vec<_>>>()?;
        if certificate_policies.is_empty() {
            return Err(bad(
                "certificate_policies",
                "at least one policy OID is required".into(),
            ));
        }
        let [rsa_min_bits, rsa_max_bits] = self.rsa_bits;
        if rsa_min_bits < 2048 || rsa_min_bits > rsa_max_bits || rsa_max_bits > 8192 {
            return Err(bad(
                "rsa_bits",
                "must be [min, max] with 2048 <= min <= max <= 8192".into(),
            ));
        }
        let ec_curves = self
            .ec_curves
            .iter()
            .map(|c| match c.as_str() {
                "P-256" => Ok(KeyAlgorithm::EcP256),
                "P-384" => Ok(KeyAlgorithm::EcP384),
                other => Err(bad("ec_curves", format!("{other:?} is not P-256 or P-384"))),
            })
            .collect::<Result<Vec<_>>>()?;
        let auto_approve = self
            .auto_approve
            .iter()
            .map(|t| t.parse::<RequestType>().map_err(|m| bad("auto_approve", m)))
            .collect::<Result<Vec<_>>>()?;
        if auto_approve.contains(&RequestType::InitialSelfSigned) {
            // 1.77: a self-signed request is issued only after the paper act.
            return Err(bad(
                "auto_approve",
                "initial_self_signed requests always wait for the acceptance act".into(),
            ));
        }
        Ok(Profile {
            kind,
            validity_days: self.validity_days,
            key_usage,
            extended_key_usage,
            certificate_policies,
            rsa_min_bits,
            rsa_max_bits,
            ec_curves,
            cap_at_authority: self.cap_at_authority,
            auto_approve,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn raw_profile() -> RawProfile {
        RawProfile {
            validity_days: 365,
            key_usage: vec!["digital_signature".into(), "non_repudiation".into()],
            extended_key_usage: vec!["client_auth".into(), "1.2.643.2.2.34.6".into()],
            certificate_policies: vec!["1.3.6.1.4.1.99999.1.2".into()],
            rsa_bits: [2048, 4096],
            ec_curves: vec!["P-256".into(), "P-384".into()],
            cap_at_authority: true,
            auto_approve: vec!["rotation".into()],
        }
    }

    #[test]
    fn weak_key_refused_and_allowed_keys_accepted() {
        let p = raw_profile().validate(ProfileKind::Working).unwrap();
        for ok in [
            KeyAlgorithm::Rsa { bits: 2048 },
            KeyAlgorithm::Rsa { bits: 4096 },
            KeyAlgorithm::EcP256,
            KeyAlgorithm::EcP384,
        ] {
            p.check_key(ok).unwrap();
        }
        for weak in [
            KeyAlgorithm::Rsa { bits: 1024 },
            KeyAlgorithm::Rsa { bits: 8192 },
        ] {
            assert!(p.check_key(weak).unwrap_err().has(Reason::WeakKey));
        }
        let mut only_rsa = raw_profile();
        only_rsa.ec_curves = vec![];
        let p = only_rsa.validate(ProfileKind::Working).unwrap();
        assert!(p
            .check_key(KeyAlgorithm::EcP256)
            .unwrap_err()
            .has(Reason::WeakKey));
    }

    #[test]
    fn validity_is_capped_at_authority_and_ca() {
        let p = raw_profile().validate(ProfileKind::Working).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap();
        let far = Utc.with_ymd_and_hms(2040, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            p.validity(start, None, far).unwrap().1,
            start + Duration::days(365)
        );
        let poa = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(p.validity(start, Some(poa), far).unwrap().1, poa);
        let ca_end = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        assert_eq!(p.validity(start, Some(poa), ca_end).unwrap().1, ca_end);
        assert!(p.validity(start, Some(start), far).is_err());
        let mut uncapped = raw_profile();
        uncapped.cap_at_authority = false;
        let p = uncapped.validate(ProfileKind::Working).unwrap();
        assert_eq!(
            p.validity(start, Some(poa), far).unwrap().1,
            start + Duration::days(365)
        );
    }

    #[test]
    fn bad_fields_are_named() {
        type Edit = fn(&mut RawProfile);
        let cases: Vec<(Edit, &str)> = vec![
            (|r| r.validity_days = 0, "working.validity_days"),
            (|r| r.key_usage = vec!["sign".into()], "working.key_usage"),
            (
                |r| r.extended_key_usage = vec!["nope".into()],
                "working.extended_key_usage",
            ),
            (
                |r| r.certificate_policies = vec![],
                "working.certificate_policies",
            ),
            (|r| r.rsa_bits = [1024, 4096], "working.rsa_bits"),
            (|r| r.ec_curves = vec!["P-521".into()], "working.ec_curves"),
            (
                |r| r.auto_approve = vec!["initial_self_signed".into()],
                "working.auto_approve",
            ),
        ];
        for (edit, field) in cases {
            let mut raw = raw_profile();
            edit(&mut raw);
            let err = raw.validate(ProfileKind::Working).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        let mut long_tech = raw_profile();
        long_tech.validity_days = 365;
        assert!(long_tech.validate(ProfileKind::Technological).is_err());
    }
}
