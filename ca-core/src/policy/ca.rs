//! `ca.toml`: the CA's own name, key, lifetime, CRL timing and published URLs.

use chrono::Duration;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::subject::SubjectSpec;

pub(super) const FILE: &str = "ca.toml";

/// Changes a delta CRL carries before a new base is published.
const DEFAULT_DELTA_LIMIT: u32 = 1000;

/// The algorithm of the CA's own key, used when the CA is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaKeyAlgorithm {
    /// RSA 2048, signing with SHA-256.
    Rsa2048,
    /// RSA 3072, signing with SHA-256.
    Rsa3072,
    /// RSA 4096, signing with SHA-256.
    Rsa4096,
    /// ECDSA P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA P-384 with SHA-384.
    EcdsaP384,
}

impl CaKeyAlgorithm {
    /// Parses the policy name (`rsa-3072`, `ecdsa-p256`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "rsa-2048" => CaKeyAlgorithm::Rsa2048,
            "rsa-3072" => CaKeyAlgorithm::Rsa3072,
            "rsa-4096" => CaKeyAlgorithm::Rsa4096,
            "ecdsa-p256" => CaKeyAlgorithm::EcdsaP256,
            "ecdsa-p384" => CaKeyAlgorithm::EcdsaP384,
            _ => return None,
        })
    }
}

/// The validated CA policy.
#[derive(Clone, Debug)]
pub struct CaPolicy {
    /// The CA's subject, used when the CA certificate is created.
    pub subject: SubjectSpec,
    /// The key algorithm for a new CA key.
    pub key_algorithm: CaKeyAlgorithm,
    /// Lifetime of a new self-signed CA certificate.
    pub validity: Duration,
    /// Time from thisUpdate to nextUpdate of a full CRL.
    pub crl_period: Duration,
    /// How long before nextUpdate a new CRL is published.
    pub crl_overlap: Duration,
    /// How many changes a delta CRL may carry before the next publication
    /// starts a new base instead (issue 10: a cumulative delta since the
    /// day's base grows with every change, and so does every publication).
    pub delta_limit: u32,
    /// The CRL distribution point written into certificates.
    pub crl_url: String,
    /// The CA issuers URL (AIA) written into certificates.
    pub ca_issuers_url: String,
    /// Where delta CRLs are published, written as freshestCRL into full CRLs.
    pub delta_crl_url: Option<String>,
    /// The OCSP responder (RFC 6960), written into issued certificates'
    /// authorityInfoAccess, if there is one.
    pub ocsp_url: Option<String>,
    /// Who signs OCSP responses (RFC 6960 §4.2.2.2).
    pub ocsp_responder: OcspResponder,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    subject: RawSubject,
    key: RawKey,
    crl: RawCrl,
    urls: RawUrls,
    #[serde(default)]
    ocsp: RawOcsp,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOcsp {
    responder: Option<String>,
    responder_validity_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    common_name: String,
    organization: Option<String>,
    organizational_unit: Option<String>,
    country: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    algorithm: String,
    validity_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrl {
    period_hours: u32,
    overlap_hours: u32,
    delta_limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUrls {
    crl_distribution_point: String,
    ca_issuers: String,
    delta_crl: Option<String>,
    ocsp: Option<String>,
}

/// Who signs OCSP responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspResponder {
    /// A delegated responder certificate (EKU OCSPSigning, ocsp-nocheck) of
    /// this validity, issued by the CA and replaced before it ends; its key
    /// is kept beside the CA key. The default.
    Delegated {
        /// The responder certificate's validity.
        validity: Duration,
    },
    /// The CA key itself.
    Ca,
}

fn http_url(field: &str, url: String) -> Result<String> {
    // RFC 5280 §4.2.1.13/§4.2.2.1: relying parties fetch these over plain HTTP
    // (the objects are signed); https would need a trust chain to fetch a CRL.
    if !url.starts_with("http://")
        || url.len() <= "http://".len()
        || url.contains(char::is_whitespace)
    {
        return Err(Error::config(
            FILE,
            field,
            format!("{url:?} is not an http:// URL"),
        ));
    }
    Ok(url)
}

impl CaPolicy {
    pub(super) fn from_raw(raw: Raw) -> Result<Self> {
        let subject = SubjectSpec {
            country: raw.subject.country,
            organization: raw.subject.organization,
            organizational_unit: raw.subject.organizational_unit,
            common_name: raw.subject.common_name,
            ..SubjectSpec::default()
        };
        subject
            .validate()
            .map_err(|e| Error::config(FILE, "subject", e.message()))?;
        let key_algorithm = CaKeyAlgorithm::from_name(&raw.key.algorithm).ok_or_else(|| {
            Error::config(
                FILE,
                "key.algorithm",
                format!(
                    "{:?} is not one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384",
                    raw.key.algorithm
                ),
            )
        })?;
        if !(365..=36_500).contains(&raw.key.validity_days) {
            return Err(Error::config(
                FILE,
                "key.validity_days",
                "must be 365 to 36500 days",
            ));
        }
        if !(1..=24 * 31).contains(&raw.crl.period_hours) {
            return Err(Error::config(
                FILE,
                "crl.period_hours",
                "must be 1 to 744 hours",
            ));
        }
        if raw.crl.overlap_hours >= raw.crl.period_hours {
            return Err(Error::config(
                FILE,
                "crl.overlap_hours",
                "must be shorter than crl.period_hours",
            ));
        }
        Ok(CaPolicy {
            subject,
            key_algorithm,
            validity: Duration::days(raw.key.validity_days.into()),
            crl_period: Duration::hours(raw.crl.period_hours.into()),
            crl_overlap: Duration::hours(raw.crl.overlap_hours.into()),
            delta_limit: match raw.crl.delta_limit {
                None => DEFAULT_DELTA_LIMIT,
                Some(n @ 1..=1_000_000) => n,
                Some(_) => {
                    return Err(Error::config(
                        FILE,
                        "crl.delta_limit",
                        "must be 1 to 1000000 changes",
                    ))
                }
            },
            crl_url: http_url(
                "urls.crl_distribution_point",
                raw.urls.crl_distribution_point,
            )?,
            ca_issuers_url: http_url("urls.ca_issuers", raw.urls.ca_issuers)?,
            delta_crl_url: raw
                .urls
                .delta_crl
                .map(|u| http_url("urls.delta_crl", u))
                .transpose()?,
            ocsp_url: raw
                .urls
                .ocsp
                .map(|u| http_url("urls.ocsp", u))
                .transpose()?,
            ocsp_responder: match (
                raw.ocsp.responder.as_deref(),
                raw.ocsp.responder_validity_days,
            ) {
                (None | Some("delegated"), days) => {
                    let days = days.unwrap_or(7);
                    if !(1..=30).contains(&days) {
                        return Err(Error::config(
                            FILE,
                            "ocsp.responder_validity_days",
                            "must be 1 to 30: the responder certificate is never revoked (ocsp-nocheck)",
                        ));
                    }
                    OcspResponder::Delegated {
                        validity: Duration::days(days.into()),
                    }
                }
                (Some("ca"), None) => OcspResponder::Ca,
                (Some("ca"), Some(_)) => {
                    return Err(Error::config(
                        FILE,
                        "ocsp.responder_validity_days",
                        "only for responder = \"delegated\"",
                    ))
                }
                (Some(other), _) => {
                    return Err(Error::config(
                        FILE,
                        "ocsp.responder",
                        format!("{other:?} is neither \"delegated\" nor \"ca\""),
                    ))
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        [subject]
        common_name = "УЦ Банка"
        country = "RU"
        [key]
        algorithm = "rsa-3072"
        validity_days = 3650
        [crl]
        period_hours = 24
        overlap_hours = 12
        [urls]
        crl_distribution_point = "http://ca.example/crl"
        ca_issuers = "http://ca.example/ca.crt"
    "#;

    /// The base policy with `table.key` set to `value` (TOML syntax).
    fn edited(table: &str, key: &str, value: &str) -> Result<CaPolicy> {
        let mut doc: toml::Table = toml::from_str(BASE).unwrap();
        let value: toml::Table = toml::from_str(&format!("v = {value}")).unwrap();
        doc[table]
            .as_table_mut()
            .unwrap()
            .insert(key.to_string(), value["v"].clone());
        CaPolicy::from_raw(doc.try_into().unwrap())
    }

    #[test]
    fn a_valid_policy_is_accepted() {
        let p = edited("key", "algorithm", "\"rsa-3072\"").unwrap();
        assert_eq!(p.key_algorithm, CaKeyAlgorithm::Rsa3072);
        assert_eq!(p.crl_period, Duration::hours(24));
    }

    #[test]
    fn each_bad_field_is_named() {
        for (table, key, value, field) in [
            ("key", "algorithm", "\"dsa-1024\"", "key.algorithm"),
            ("key", "validity_days", "10", "key.validity_days"),
            ("crl", "period_hours", "0", "crl.period_hours"),
            ("crl", "overlap_hours", "24", "crl.overlap_hours"),
            ("urls", "ca_issuers", "\"ftp://x\"", "urls.ca_issuers"),
            ("subject", "country", "\"Russia\"", "subject"),
        ] {
            let err = edited(table, key, value).unwrap_err().to_string();
            assert!(err.contains(&format!("ca.toml: {field}")), "{field}: {err}");
        }
    }
}
