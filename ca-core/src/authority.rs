//! The certification authority: its certificate, its key (through
//! [`CaSigner`]) and the URLs it publishes. Issuance lives in
//! [`crate::certificate`], CRLs in [`crate::crl`].

use chrono::{DateTime, Duration, Utc};
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::time::Validity;
use x509_cert::Certificate;

use crate::envelope::TrustAnchor;
use crate::error::{Error, Result};
use crate::keys;
use crate::oids;
use crate::policy::CaPolicy;
use crate::serial::random_serial;
use crate::signer::CaSigner;
use crate::time::{from_x509_time, x509_time};
use crate::tlv;

/// Where relying parties find the CA's CRL and certificate (written into
/// every certificate issued).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicationUrls {
    /// CRL distribution point.
    pub crl: String,
    /// CA issuers (AIA).
    pub ca_issuers: String,
    /// Where delta CRLs are published (the freshestCRL extension of full
    /// CRLs), if they are.
    pub delta_crl: Option<String>,
    /// The OCSP responder, if there is one.
    pub ocsp: Option<String>,
}

impl PublicationUrls {
    /// The URLs of a CA policy.
    pub fn from_policy(policy: &CaPolicy) -> Self {
        PublicationUrls {
            crl: policy.crl_url.clone(),
            ca_issuers: policy.ca_issuers_url.clone(),
            delta_crl: policy.delta_crl_url.clone(),
            ocsp: policy.ocsp_url.clone(),
        }
    }
}

/// A working CA: certificate, key and URLs, checked to belong together.
pub struct CertificateAuthority {
    certificate: Certificate,
    certificate_der: Vec<u8>,
    subject_der: Vec<u8>,
    key_id: Vec<u8>,
    signer: Box<dyn CaSigner>,
    anchor: TrustAnchor,
    urls: PublicationUrls,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field(
                "subject",
                &self.certificate.tbs_certificate.subject.to_string(),
            )
            .field("key_id", &hex::encode(&self.key_id))
            .finish_non_exhaustive()
    }
}

/// Encodes one extension.
pub(crate) fn extension<T: Encode>(
    oid: der::asn1::ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension> {
    let der = value
        .to_der()
        .map_err(|e| Error::internal(format!("extension {oid}: {e}")))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der).map_err(|e| Error::internal(e.to_string()))?,
    })
}

impl CertificateAuthority {
    /// Puts a signer and its certificate together, refusing a certificate
    /// that is not of this key or not a CA certificate allowed to sign
    /// certificates and CRLs (RFC 5280 §4.2.1.3, §4.2.1.9).
    pub fn new(
        signer: Box<dyn CaSigner>,
        certificate_der: Vec<u8>,
        urls: PublicationUrls,
    ) -> Result<Self> {
        let certificate = Certificate::from_der(&certificate_der)
            .map_err(|e| Error::key_store(format!("the CA certificate is not DER X.509: {e}")))?;
        let tbs = &certificate.tbs_certificate;
        if &tbs.subject_public_key_info != signer.public_key() {
            return Err(Error::key_store(
                "the CA certificate is not of the CA key (public keys differ)",
            ));
        }
        let exts = tbs.extensions.as_deref().unwrap_or_default();
        let find = |oid| exts.iter().find(|e| e.extn_id == oid);
        let is_ca = find(oids::BASIC_CONSTRAINTS)
            .and_then(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok())
            .is_some_and(|bc| bc.ca);
        if !is_ca {
            return Err(Error::key_store(
                "the CA certificate lacks basicConstraints cA=TRUE",
            ));
        }
        if let Some(ku) = find(oids::KEY_USAGE) {
            let ku = KeyUsage::from_der(ku.extn_value.as_bytes())
                .map_err(|e| Error::key_store(format!("CA key usage: {e}")))?;
            if !(ku.0.contains(KeyUsages::KeyCertSign) && ku.0.contains(KeyUsages::CRLSign)) {
                return Err(Error::key_store(
                    "the CA certificate's key usage lacks keyCertSign or cRLSign",
                ));
            }
        }
        let key_id = find(oids::SUBJECT_KEY_IDENTIFIER)
            .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
            .map(|ski| ski.0.as_bytes().to_vec())
            .unwrap_or_else(|| keys::key_identifier(&tbs.subject_public_key_info).to_vec());
        let subject_der = raw_subject(&certificate_der)
            .ok_or_else(|| Error::key_store("cannot locate the CA certificate's subject"))?;
        let anchor = TrustAnchor::from_certificate(&certificate)?;
        Ok(CertificateAuthority {
            certificate,
            certificate_der,
            subject_der,
            key_id,
            signer,
            anchor,
            urls,
        })
    }

    /// Creates a self-signed root CA certificate for `signer` from the policy.
    pub fn create_self_signed(
        signer: Box<dyn CaSigner>,
        policy: &CaPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let subject = policy
            .subject
            .to_name()
            .map_err(|e| Error::config("ca.toml", "subject", e.message()))?;
        let key_id = keys::key_identifier(signer.public_key()).to_vec();
        // Backdated slightly so relying parties with a skewed clock accept it.
        let not_before = now - Duration::minutes(5);
        let not_after = not_before + policy.validity;
        let extensions = vec![
            extension(
                oids::BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                },
            )?,
            extension(
                oids::KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            )?,
            extension(
                oids::SUBJECT_KEY_IDENTIFIER,
                false,
                &SubjectKeyIdentifier(
                    OctetString::new(key_id.clone()).map_err(|e| Error::internal(e.to_string()))?,
                ),
            )?,
            extension(
                oids::AUTHORITY_KEY_IDENTIFIER,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(
                        OctetString::new(key_id).map_err(|e| Error::internal(e.to_string()))?,
                    ),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
            )?,
        ];
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: random_serial()?,
            signature: signer.algorithm(),
            issuer: subject.clone(),
            validity: Validity {
                not_before: x509_time(not_before)?,
                not_after: x509_time(not_after)?,
            },
            subject,
            subject_public_key_info: signer.public_key().clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let der = sign_tbs(signer.as_ref(), &tbs)?;
        CertificateAuthority::new(signer, der, PublicationUrls::from_policy(policy))
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The CA certificate's DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The CA subject's DER, byte for byte as in the CA certificate.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The CA's key identifier (its SKI; the AKI of everything it signs).
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// The end of the CA certificate's validity.
    pub fn not_after(&self) -> DateTime<Utc> {
        from_x509_time(&self.certificate.tbs_certificate.validity.not_after)
    }

    /// What requests are checked against.
    pub fn trust_anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// The published URLs.
    pub fn urls(&self) -> &PublicationUrls {
        &self.urls
    }

    pub(crate) fn signer(&self) -> &dyn CaSigner {
        self.signer.as_ref()
    }

    /// Whether the CA key can sign now (its token answers; `/health`).
    pub fn check_signer(&self) -> Result<()> {
        self.signer.check()
    }

    /// Signs a text statement with the CA key (the audit trail's
    /// checkpoints, SPEC §7). Only text is accepted: a statement can never
    /// be DER, so its signature cannot stand for a certificate or a CRL.
    pub fn sign_statement(&self, text: &str) -> Result<Vec<u8>> {
        if !text.is_ascii() || text.starts_with('0') {
            return Err(Error::internal("a statement is plain ASCII text"));
        }
        self.signer.sign(text.as_bytes())
    }

    /// Whether `signature` is the CA key's over `text`.
    pub fn verify_statement(&self, text: &str, signature: &[u8]) -> bool {
        let Ok(key) = keys::PublicKey::from_spki(self.signer.public_key()) else {
            return false;
        };
        keys::SignatureAlgorithm::from_identifier(&self.signer.algorithm(), None)
            .is_some_and(|alg| key.verify(alg, text.as_bytes(), signature))
    }

    /// The `openssl dgst` option that verifies a statement's signature
    /// (`-sha256` or `-sha384`, following the CA's signature algorithm).
    pub fn statement_digest(&self) -> &'static str {
        match self.signer.algorithm().oid {
            oids::SHA384_WITH_RSA | oids::ECDSA_WITH_SHA384 => "-sha384",
            oids::SHA512_WITH_RSA | oids::ECDSA_WITH_SHA512 => "-sha512",
            _ => "-sha256",
        }
    }
}

/// Signs a TBSCertificate and returns the certificate's DER.
pub(crate) fn sign_tbs(signer: &dyn CaSigner, tbs: &TbsCertificate) -> Result<Vec<u8>> {
    let tbs_der = tbs
        .to_der()
        .map_err(|e| Error::internal(format!("TBSCertificate: {e}")))?;
    let signature = signer.sign(&tbs_der)?;
    let cert = Certificate {
        tbs_certificate: tbs.clone(),
        signature_algorithm: signer.algorithm(),
        signature: BitString::from_bytes(&signature).map_err(|e| Error::internal(e.to_string()))?,
    };
    cert.to_der()
        .map_err(|e| Error::internal(format!("Certificate: {e}")))
}

/// The subject field of a DER certificate, as raw bytes.
fn raw_subject(cert_der: &[u8]) -> Option<Vec<u8>> {
    let cert = tlv::split(cert_der)?.content;
    let mut rest = tlv::split(cert)?.content; // TBSCertificate
    if rest.first() == Some(&0xa0) {
        rest = tlv::split(rest)?.rest; // [0] version
    }
    for _ in 0..4 {
        rest = tlv::split(rest)?.rest; // serial, signature, issuer, validity
    }
    Some(tlv::split(rest)?.whole.to_vec())
}
