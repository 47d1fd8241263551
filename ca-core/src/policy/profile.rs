//! `profiles.toml`: the certificate profiles (SPEC §6): technological, working
//! and additional. Each profile is a hard cap on what a certificate may be.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use der::asn1::ObjectIdentifier;
use serde::Deserialize;
use x509_cert::ext::pkix::{CertificatePolicies, KeyUsages};
use x509_cert::Certificate;

use crate::error::{Error, ErrorKind, Reason, Result};
use crate::goodkey;
use crate::keys::{KeyAlgorithm, PublicKey};
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
    /// Allowed RSA modulus sizes in bits, exactly: a size between two of
    /// them is not allowed (SPEC §3.2; see [`RSA_STANDARD_SIZES`]).
    pub rsa_sizes: Vec<usize>,
    /// Allowed EC curves.
    pub ec_curves: Vec<KeyAlgorithm>,
    /// Whether validity ends no later than the power of attorney (SPEC §3.3).
    pub cap_at_authority: bool,
    /// Request types issued without an operator (SPEC §3.3).
    pub auto_approve: Vec<RequestType>,
    /// The renewal window: the last days of a certificate's validity in
    /// which a rotation may be issued without an operator (SPEC §3.8).
    pub renewal_window_days: u32,
    /// How long a predecessor stays valid after its successor is issued
    /// before it is revoked as `superseded` (SPEC §3.8; 0 = at once).
    pub supersede_grace_days: u32,
    /// Whether a rotation request must repeat the signing certificate's
    /// KU, EKU and policies (1.81.5) or may leave them out.
    pub rotation_extensions: RotationExtensions,
}

/// What a rotation request must carry of its signing certificate's
/// extensions (1.81.5, SPEC §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationExtensions {
    /// KU, EKU and certificate policies present and equal (the default).
    #[default]
    Strict,
    /// Those present must be equal; a missing one is taken from the
    /// signing certificate. Only where the bank's client software cannot
    /// repeat them.
    Lenient,
}

/// The RSA sizes key generators produce. `rsa_bits = [min, max]` in
/// `profiles.toml` allows those of them in the range (so `[2048, 4096]` is
/// 2048, 3072 and 4096, SPEC §3.2's default); `rsa_sizes` lists sizes
/// exactly instead.
pub const RSA_STANDARD_SIZES: [usize; 5] = [2048, 3072, 4096, 6144, 8192];

/// The RSA sizes when the profile names none (SPEC §3.2).
pub const RSA_DEFAULT_SIZES: [usize; 3] = [2048, 3072, 4096];

impl Profile {
    /// `weak_key` unless the key's algorithm and size are allowed here
    /// (the algorithm part of [`goodkey::check_algorithm`]). Use
    /// [`check_public_key`](Self::check_public_key) when the key itself
    /// is at hand: it also runs every key-quality check.
    pub fn check_key(&self, key: KeyAlgorithm) -> Result<()> {
        goodkey::check_algorithm(key, &self.rsa_sizes, &self.ec_curves)
            .map_err(|p| self.weak_key(p))
    }

    /// `weak_key` unless the key passes every check of [`goodkey::check_key`]
    /// under this profile's sizes and curves (SPEC §3.2); the message names
    /// the check that failed.
    pub fn check_public_key(&self, key: &PublicKey) -> Result<()> {
        goodkey::check_key(key, &self.rsa_sizes, &self.ec_curves).map_err(|p| self.weak_key(p))
    }

    fn weak_key(&self, problem: goodkey::Problem) -> Error {
        Error::reason(
            Reason::WeakKey,
            format!("{problem} (the {} profile)", self.kind.code()),
        )
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

    /// When the renewal window of a certificate valid from `not_before` to
    /// `not_after` opens (SPEC §3.8): `renewal_window_days` before the end,
    /// or at the start for shorter certificates.
    pub fn renewal_opens(
        &self,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> DateTime<Utc> {
        (not_after - Duration::days(self.renewal_window_days.into())).max(not_before)
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
    #[serde(default)]
    rsa_bits: Option<[usize; 2]>,
    #[serde(default)]
    rsa_sizes: Option<Vec<usize>>,
    #[serde(default)]
    ec_curves: Vec<String>,
    cap_at_authority: bool,
    #[serde(default)]
    auto_approve: Vec<String>,
    #[serde(default)]
    renewal_window_days: Option<u32>,
    #[serde(default)]
    supersede_grace_days: Option<u32>,
    #[serde(default)]
    rotation_extensions: RotationExtensions,
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
        let rsa_sizes = match (self.rsa_bits, self.rsa_sizes) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "rsa_sizes",
                    "give rsa_sizes or rsa_bits, not both".into(),
                ))
            }
            (None, None) => RSA_DEFAULT_SIZES.to_vec(),
            (Some([min, max]), None) => {
                if min < 2048 || min > max || max > 8192 {
                    return Err(bad(
                        "rsa_bits",
                        "must be [min, max] with 2048 <= min <= max <= 8192".into(),
                    ));
                }
                let sizes: Vec<usize> = RSA_STANDARD_SIZES
                    .into_iter()
                    .filter(|b| (min..=max).contains(b))
                    .collect();
                if sizes.is_empty() {
                    return Err(bad(
                        "rsa_bits",
                        format!("[{min}, {max}] holds none of the sizes {RSA_STANDARD_SIZES:?}; use rsa_sizes"),
                    ));
                }
                sizes
            }
            (None, Some(mut sizes)) => {
                // BR §6.1.5: a whole number of octets; SPEC §3.2: 2048 at least.
                if let Some(b) = sizes
                    .iter()
                    .find(|b| !(2048..=8192).contains(*b) || *b % 8 != 0)
                {
                    return Err(bad(
                        "rsa_sizes",
                        format!("{b} is not a multiple of 8 from 2048 to 8192"),
                    ));
                }
                sizes.sort_unstable();
                sizes.dedup();
                sizes
            }
        };
        let ec_curves = self
            .ec_curves
            .iter()
            .map(|c| match c.as_str() {
                "P-256" => Ok(KeyAlgorithm::EcP256),
                "P-384" => Ok(KeyAlgorithm::EcP384),
                other => Err(bad("ec_curves", format!("{other:?} is not P-256 or P-384"))),
            })
            .collect::<Result<Vec<_>>>()?;
        if rsa_sizes.is_empty() && ec_curves.is_empty() {
            return Err(bad(
                "rsa_sizes",
                "the profile allows no key at all (no RSA size and no EC curve)".into(),
            ));
        }
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
        // 1.81.1: about a week before the end; 30 days by default (SPEC §3.8).
        let renewal_window_days = self.renewal_window_days.unwrap_or(30);
        if renewal_window_days > self.validity_days {
            return Err(bad(
                "renewal_window_days",
                format!("must be 0 to validity_days ({})", self.validity_days),
            ));
        }
        let supersede_grace_days = self.supersede_grace_days.unwrap_or(0);
        if supersede_grace_days > 30 {
            return Err(bad(
                "supersede_grace_days",
                "must be 0 to 30: a superseded key must not stay usable long".into(),
            ));
        }
        Ok(Profile {
            kind,
            validity_days: self.validity_days,
            key_usage,
            extended_key_usage,
            certificate_policies,
            rsa_sizes,
            ec_curves,
            cap_at_authority: self.cap_at_authority,
            auto_approve,
            renewal_window_days,
            supersede_grace_days,
            rotation_extensions: self.rotation_extensions,
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
            rsa_bits: Some([2048, 4096]),
            rsa_sizes: None,
            ec_curves: vec!["P-256".into(), "P-384".into()],
            cap_at_authority: true,
            auto_approve: vec!["rotation".into()],
            renewal_window_days: None,
            supersede_grace_days: None,
            rotation_extensions: RotationExtensions::Strict,
        }
    }

    #[test]
    fn renewal_window_and_grace_default_and_are_bounded() {
        let p = raw_profile().validate(ProfileKind::Working).unwrap();
        assert_eq!(
            (p.renewal_window_days, p.supersede_grace_days),
            (30, 0),
            "SPEC §3.8 defaults"
        );
        assert_eq!(p.rotation_extensions, RotationExtensions::Strict);
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = start + Duration::days(365);
        assert_eq!(p.renewal_opens(start, end), end - Duration::days(30));
        // A certificate shorter than the window is renewable from its start.
        assert_eq!(p.renewal_opens(start, start + Duration::days(10)), start);
        let too_long = RawProfile {
            renewal_window_days: Some(366),
            ..raw_profile()
        };
        assert!(too_long.validate(ProfileKind::Working).is_err());
        let long_grace = RawProfile {
            supersede_grace_days: Some(31),
            ..raw_profile()
        };
        assert!(long_grace.validate(ProfileKind::Working).is_err());
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
            // Between two allowed sizes: not allowed either (SPEC §3.2).
            KeyAlgorithm::Rsa { bits: 2304 },
            KeyAlgorithm::Rsa { bits: 4088 },
        ] {
            let err = p.check_key(weak).unwrap_err();
            assert!(err.has(Reason::WeakKey));
            assert!(err.message().starts_with("rsa_modulus_size: "), "{err}");
        }
        p.check_key(KeyAlgorithm::Rsa { bits: 3072 }).unwrap();
        let mut only_rsa = raw_profile();
        only_rsa.ec_curves = vec![];
        let p = only_rsa.validate(ProfileKind::Working).unwrap();
        assert!(p
            .check_key(KeyAlgorithm::EcP256)
            .unwrap_err()
            .has(Reason::WeakKey));
    }

    #[test]
    fn rsa_sizes_are_exact_lists() {
        let sizes = |edit: fn(&mut RawProfile)| {
            let mut raw = raw_profile();
            edit(&mut raw);
            raw.validate(ProfileKind::Working).map(|p| p.rsa_sizes)
        };
        // rsa_bits = [min, max]: the standard sizes in the range.
        assert_eq!(sizes(|_| {}).unwrap(), vec![2048, 3072, 4096]);
        assert_eq!(
            sizes(|r| r.rsa_bits = Some([2048, 8192])).unwrap(),
            vec![2048, 3072, 4096, 6144, 8192]
        );
        assert!(sizes(|r| r.rsa_bits = Some([2056, 3064])).is_err());
        // Neither: SPEC §3.2's default.
        assert_eq!(
            sizes(|r| r.rsa_bits = None).unwrap(),
            RSA_DEFAULT_SIZES.to_vec()
        );
        // rsa_sizes: exactly these, sorted.
        assert_eq!(
            sizes(|r| {
                r.rsa_bits = None;
                r.rsa_sizes = Some(vec![4096, 2048, 2048]);
            })
            .unwrap(),
            vec![2048, 4096]
        );
        for bad in [vec![1024], vec![2050], vec![16384]] {
            let mut raw = raw_profile();
            raw.rsa_bits = None;
            raw.rsa_sizes = Some(bad);
            let err = raw.validate(ProfileKind::Working).unwrap_err().to_string();
            assert!(err.contains("working.rsa_sizes"), "{err}");
        }
        let err = sizes(|r| r.rsa_sizes = Some(vec![2048])).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        // No key at all is a configuration error.
        assert!(sizes(|r| {
            r.rsa_bits = None;
            r.rsa_sizes = Some(vec![]);
            r.ec_curves = vec![];
        })
        .is_err());
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
            (|r| r.rsa_bits = Some([1024, 4096]), "working.rsa_bits"),
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
