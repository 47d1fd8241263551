//! Issuing end-entity certificates from the registration subject and a
//! profile (SPEC §3.2, §3.3; RFC 5280 §4.1, §4.2).
//!
//! Issuance is two steps so the store can record before it signs (SPEC §7):
//! [`CertificateAuthority::prepare_certificate`] builds the TBSCertificate,
//! which is stored with its reserved serial; only then does
//! [`CertificateAuthority::sign_certificate`] sign it.

use chrono::{DateTime, Utc};
use der::asn1::{Ia5String, OctetString};
use der::Decode;
use flagset::FlagSet;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CertificatePolicies, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::authority::{extension, sign_tbs, CertificateAuthority};
use crate::error::{Error, Result};
use crate::keys;
use crate::oids;
use crate::policy::Profile;
use crate::time::x509_time;

/// Everything a certificate is built from.
#[derive(Clone, Debug)]
pub struct CertificateParams<'a> {
    /// The serial, reserved by the store before signing.
    pub serial: SerialNumber,
    /// The subject, from the registration.
    pub subject: Name,
    /// The key being certified.
    pub public_key: SubjectPublicKeyInfoOwned,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity (see [`Profile::validity`] for the caps).
    pub not_after: DateTime<Utc>,
    /// The profile: key usage, EKU, policies.
    pub profile: &'a Profile,
}

fn ia5(url: &str) -> Result<Ia5String> {
    Ia5String::new(url).map_err(|e| Error::internal(format!("URL {url:?}: {e}")))
}

fn octets(bytes: &[u8]) -> Result<OctetString> {
    OctetString::new(bytes).map_err(|e| Error::internal(e.to_string()))
}

/// basicConstraints cA=FALSE, critical: every certificate issued here is an
/// end entity's.
fn end_entity() -> Result<Extension> {
    extension(
        oids::BASIC_CONSTRAINTS,
        true,
        &BasicConstraints {
            ca: false,
            path_len_constraint: None,
        },
    )
}

/// subjectKeyIdentifier of `key` (RFC 5280 §4.2.1.2 method 1).
fn subject_key_id(key: &keys::PublicKey) -> Result<Extension> {
    extension(
        oids::SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(octets(&key.key_identifier())?),
    )
}

impl CertificateAuthority {
    /// authorityKeyIdentifier: this CA's key identifier.
    fn authority_key_id(&self) -> Result<Extension> {
        extension(
            oids::AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(octets(self.key_id())?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )
    }

    /// Builds the TBSCertificate for `params`, checking first what RFC 5280
    /// and the profile require of it.
    pub fn prepare_certificate(&self, params: &CertificateParams<'_>) -> Result<TbsCertificate> {
        // RFC 5280 §4.1.2.5: the validity must be a real interval, and a
        // certificate outliving its issuer could not be validated past that.
        if params.not_after <= params.not_before {
            return Err(Error::internal("notAfter must be later than notBefore"));
        }
        if params.not_after > self.not_after() {
            return Err(Error::internal(
                "notAfter is past the CA certificate's notAfter",
            ));
        }
        // RFC 5280 §4.1.2.6: an end-entity certificate has a non-empty subject.
        if params.subject.0.is_empty() {
            return Err(Error::internal("the subject is empty"));
        }
        let key = keys::PublicKey::from_spki(&params.public_key)
            .map_err(|e| Error::internal(format!("subject key: {}", e.0)))?;
        // SPEC §3.2 weak_key: every key-quality check, whoever asks for issuance.
        params.profile.check_public_key(&key)?;

        let profile = params.profile;
        let key_usage = profile
            .key_usage
            .iter()
            .fold(FlagSet::default(), |all, ku| all | *ku);
        let mut extensions = vec![
            end_entity()?,
            extension(oids::KEY_USAGE, true, &KeyUsage(key_usage))?,
        ];
        if !profile.extended_key_usage.is_empty() {
            extensions.push(extension(
                oids::EXT_KEY_USAGE,
                false,
                &ExtendedKeyUsage(profile.extended_key_usage.clone()),
            )?);
        }
        let policies = profile
            .certificate_policies
            .iter()
            .map(|oid| PolicyInformation {
                policy_identifier: *oid,
                policy_qualifiers: None,
            })
            .collect();
        extensions.extend([
            extension(
                oids::CERTIFICATE_POLICIES,
                false,
                &CertificatePolicies(policies),
            )?,
            subject_key_id(&key)?,
            self.authority_key_id()?,
            extension(
                oids::CRL_DISTRIBUTION_POINTS,
                false,
                &CrlDistributionPoints(vec![DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![
                        GeneralName::UniformResourceIdentifier(ia5(&self.urls().crl)?),
                    ])),
                    reasons: None,
                    crl_issuer: None,
                }]),
            )?,
        ]);
        // Where relying parties ask for the status (RFC 6960) and fetch the
        // issuer, OCSP first as RFC 5280 §4.2.2.1's example.
        let mut access = Vec::new();
        if let Some(ocsp) = &self.urls().ocsp {
            access.push(AccessDescription {
                access_method: oids::AD_OCSP,
                access_location: GeneralName::UniformResourceIdentifier(ia5(ocsp)?),
            });
        }
        access.push(AccessDescription {
            access_method: oids::CA_ISSUERS,
            access_location: GeneralName::UniformResourceIdentifier(ia5(&self.urls().ca_issuers)?),
        });
        extensions.push(extension(
            oids::AUTHORITY_INFO_ACCESS,
            false,
            &AuthorityInfoAccessSyntax(access),
        )?);

        Ok(TbsCertificate {
            version: Version::V3,
            serial_number: params.serial.clone(),
            signature: self.signer().algorithm(),
            issuer: self.certificate().tbs_certificate.subject.clone(),
            validity: Validity {
                not_before: x509_time(params.not_before)?,
                not_after: x509_time(params.not_after)?,
            },
            subject: params.subject.clone(),
            subject_public_key_info: params.public_key.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        })
    }

    /// The TBSCertificate of a delegated OCSP responder (RFC 6960
    /// §4.2.2.2): `CN=<the CA's CN> OCSP`, digitalSignature, EKU
    /// OCSPSigning only, and id-pkix-ocsp-nocheck, because its validity is
    /// short and it is replaced before it ends rather than revoked.
    pub fn prepare_responder_certificate(
        &self,
        serial: SerialNumber,
        public_key: SubjectPublicKeyInfoOwned,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<TbsCertificate> {
        if not_after <= not_before || not_after > self.not_after() {
            return Err(Error::internal(
                "the responder's validity must lie within the CA's",
            ));
        }
        let key = keys::PublicKey::from_spki(&public_key)
            .map_err(|e| Error::internal(format!("responder key: {}", e.0)))?;
        let ca_name = &self.certificate().tbs_certificate.subject;
        let cn = ca_name
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == oids::COMMON_NAME)
            .and_then(|atv| crate::subject::attribute_text(&atv.value))
            .unwrap_or_else(|| "CA".into());
        let subject = crate::subject::SubjectSpec {
            common_name: format!("{cn} OCSP"),
            ..crate::subject::SubjectSpec::default()
        }
        .to_name()?;
        let extensions = vec![
            end_entity()?,
            extension(
                oids::KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::DigitalSignature.into()),
            )?,
            extension(
                oids::EXT_KEY_USAGE,
                false,
                &ExtendedKeyUsage(vec![oids::KP_OCSP_SIGNING]),
            )?,
            extension(oids::OCSP_NOCHECK, false, &der::asn1::Null)?,
            subject_key_id(&key)?,
            self.authority_key_id()?,
        ];
        Ok(TbsCertificate {
            version: Version::V3,
            serial_number: serial,
            signature: self.signer().algorithm(),
            issuer: ca_name.clone(),
            validity: Validity {
                not_before: x509_time(not_before)?,
                not_after: x509_time(not_after)?,
            },
            subject,
            subject_public_key_info: public_key,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        })
    }

    /// Signs a prepared TBSCertificate with the CA key; returns the DER.
    /// Refuses one that does not name this CA as issuer or this CA's
    /// signature algorithm.
    pub fn sign_certificate(&self, tbs: &TbsCertificate) -> Result<Vec<u8>> {
        if tbs.issuer != self.certificate().tbs_certificate.subject {
            return Err(Error::internal("the TBSCertificate names another issuer"));
        }
        if tbs.signature != self.signer().algorithm() {
            return Err(Error::internal(
                "the TBSCertificate names another signature algorithm",
            ));
        }
        sign_tbs(self.signer(), tbs)
    }

    /// [`prepare_certificate`](Self::prepare_certificate) then
    /// [`sign_certificate`](Self::sign_certificate), for callers with nothing
    /// to record in between (tests, technological certificates in memory).
    pub fn issue(&self, params: &CertificateParams<'_>) -> Result<Vec<u8>> {
        self.sign_certificate(&self.prepare_certificate(params)?)
    }
}

/// Decodes a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<x509_cert::Certificate> {
    x509_cert::Certificate::from_der(der)
        .map_err(|e| Error::internal(format!("not a DER certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;
    use crate::policy::ProfileKind;
    use crate::serial::random_serial;
    use crate::subject::SubjectSpec;
    use crate::test_support;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::traits::PublicKeyParts;

    fn spki(key: &rsa::RsaPublicKey) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned::from_der(key.to_public_key_der().unwrap().as_bytes()).unwrap()
    }

    /// SPEC §3.2 weak_key at issuance too: a key that fails a key-quality
    /// check is refused, naming the check, whoever asks for the certificate.
    #[test]
    fn issuance_refuses_a_weak_key_naming_the_check() {
        let ca = test_support::ca();
        let policies = test_support::policies();
        let good = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let e3 = rsa::RsaPublicKey::new(good.n().clone(), rsa::BigUint::from(3u32)).unwrap();
        let now = Utc::now();
        let params = |public_key| CertificateParams {
            serial: random_serial().unwrap(),
            subject: SubjectSpec {
                common_name: "Test".into(),
                ..SubjectSpec::default()
            }
            .to_name()
            .unwrap(),
            public_key,
            not_before: now,
            not_after: now + chrono::Duration::days(30),
            profile: policies.profiles.get(ProfileKind::Working),
        };
        let err = ca.prepare_certificate(&params(spki(&e3))).unwrap_err();
        assert!(err.has(Reason::WeakKey), "{err}");
        assert!(err.message().starts_with("rsa_exponent: "), "{err}");
        ca.prepare_certificate(&params(spki(&good.to_public_key())))
            .unwrap();
    }
}
