//! Unwrapping a certificate request: CMS ContentInfo → SignedData →
//! encapsulated PKCS#10 (SPEC §3.1–3.2), with the SignerInfo verified as
//! RFC 5652 §5.4 says.
//!
//! The checks run in this order, and the first failure is the answer:
//! 1. encoding: PEM or DER, BER brought to DER (`unsupported_encoding`);
//! 2. `malformed_cms`: not a ContentInfo/SignedData with encapsulated content
//!    of type id-data and exactly one SignerInfo, whose digest algorithm
//!    SignedData.digestAlgorithms lists;
//! 3. `malformed_csr`: the content is not a PKCS#10 request;
//! 4. `unknown_signer`: no certificate in the envelope matches the signer
//!    identifier, and it is not the key identifier of the requested key;
//! 5. `bad_cms_signature`: signed attributes wrong, or the signature fails;
//! 6. `weak_key` / `bad_csr_signature`: proof of possession of the new key;
//! 7. `unknown_signer`: the signing certificate is neither issued by this CA
//!    nor a certificate of the requested key itself.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::ber;
use crate::csr::{raw_first_element, CertificationRequest};
use crate::error::{Error, Reason, Result};
use crate::keys::{self, DigestAlgorithm, PublicKey, SignatureAlgorithm};
use crate::oids;
use crate::tlv;

/// PEM labels under which client software sends a CMS envelope.
const PEM_LABELS: &[&str] = &["CMS", "PKCS7", "PKCS #7 SIGNED DATA"];

/// What the CA trusts when it decides who signed: its own name and key.
#[derive(Debug)]
pub struct TrustAnchor {
    /// The CA's subject name (issuer of everything it signs).
    pub subject: Name,
    /// The CA's public key.
    pub public_key: PublicKey,
}

impl TrustAnchor {
    /// The trust anchor of a CA certificate.
    pub fn from_certificate(cert: &Certificate) -> Result<Self> {
        let public_key = PublicKey::from_spki(&cert.tbs_certificate.subject_public_key_info)
            .map_err(|e| Error::key_store(format!("CA certificate key: {}", e.0)))?;
        Ok(TrustAnchor {
            subject: cert.tbs_certificate.subject.clone(),
            public_key,
        })
    }

    /// True when `cert` names this CA as issuer and its signature verifies
    /// under the CA key.
    pub fn issued(&self, cert: &Certificate) -> bool {
        if cert.tbs_certificate.issuer != self.subject {
            return false;
        }
        let Ok(der) = cert.to_der() else { return false };
        let (Some(tbs), Some(alg), Some(sig)) = (
            raw_first_element(&der),
            SignatureAlgorithm::from_identifier(&cert.signature_algorithm, None),
            cert.signature.as_bytes(),
        ) else {
            return false;
        };
        self.public_key.verify(alg, tbs, sig)
    }
}

/// Who signed the envelope (SPEC §3.1).
#[derive(Debug)]
pub enum Signer {
    /// A certificate issued by this CA; its profile and status decide the
    /// request type and whether it may sign (checked against the registry).
    Certificate(Box<Certificate>),
    /// The requested key itself (a self-signed certificate of that key, or its
    /// subject key identifier): an `initial_self_signed` request.
    RequestKey,
}

/// A request whose envelope and PKCS#10 have passed every structural check.
#[derive(Debug)]
pub struct UnwrappedRequest {
    /// The envelope as DER (after any BER conversion): the evidence to keep.
    pub cms_der: Vec<u8>,
    /// The PKCS#10 request, its self-signature verified.
    pub csr: CertificationRequest,
    /// Who signed the envelope.
    pub signer: Signer,
}

/// Turns the bytes a client sent (DER, BER or PEM) into DER.
pub fn normalize_encoding(input: &[u8]) -> Result<Vec<u8>> {
    let trimmed = input.trim_ascii_start();
    let der = if trimmed.starts_with(b"-----BEGIN ") {
        let (label, der) = crate::pem::decode(input)
            .map_err(|e| Error::reason(Reason::MalformedCms, format!("bad PEM: {e}")))?;
        if !PEM_LABELS.contains(&label.as_str()) {
            return Err(Error::reason(
                Reason::MalformedCms,
                format!("PEM label {label:?} is not a CMS envelope"),
            ));
        }
        der
    } else {
        input.to_vec()
    };
    if der.first() != Some(&0x30) {
        return Err(Error::reason(Reason::MalformedCms, "not an ASN.1 SEQUENCE"));
    }
    ber::to_der(&der)
}

/// Unwraps and verifies a request envelope against this CA's trust anchor.
pub fn unwrap_request(input: &[u8], ca: &TrustAnchor) -> Result<UnwrappedRequest> {
    let cms_der = normalize_encoding(input)?;
    let signed = decode_signed_data(&cms_der)?;
    let econtent_type = signed.encap_content_info.econtent_type;
    let content = encapsulated_content(&signed)?;
    let csr_der = content.to_vec();

    let signer_info = single_signer(&signed)?;
    check_content_type(&econtent_type)?;
    check_digest_listed(&signed, signer_info)?;
    let csr_request = crate::csr::decode(&csr_der).map_err(|e| {
        Error::reason(
            Reason::MalformedCsr,
            format!("content is not a PKCS#10 request: {e}"),
        )
    })?;
    let csr_key_id = keys::key_identifier(&csr_request.info.public_key);

    let signer_cert = find_signer_certificate(&signed, &signer_info.sid);
    let signer_spki = match (&signer_cert, &signer_info.sid) {
        (Some(cert), _) => cert.tbs_certificate.subject_public_key_info.clone(),
        (None, SignerIdentifier::SubjectKeyIdentifier(ski)) if ski.0.as_bytes() == csr_key_id => {
            csr_request.info.public_key.clone()
        }
        (None, _) => {
            return Err(Error::reason(
                Reason::UnknownSigner,
                "no certificate in the envelope matches the signer identifier",
            ))
        }
    };
    let signer_is_request_key = signer_spki == csr_request.info.public_key;
    let signer_key = PublicKey::from_spki(&signer_spki).map_err(|e| {
        let reason = if signer_is_request_key {
            Reason::WeakKey
        } else {
            Reason::BadCmsSignature
        };
        Error::reason(reason, format!("signer key: {}", e.0))
    })?;
    let signed_attrs = raw_signed_attributes(&cms_der)?;
    verify_signer_info(
        signer_info,
        signed_attrs.as_deref(),
        &econtent_type,
        content,
        &signer_key,
    )?;

    let csr = CertificationRequest::from_der(&csr_der)?;

    let signer =
        match signer_cert {
            Some(cert) if ca.issued(&cert) => Signer::Certificate(Box::new(cert)),
            _ if signer_is_request_key => Signer::RequestKey,
            _ => return Err(Error::reason(
                Reason::UnknownSigner,
                "the signing certificate was not issued by this CA and is not of the requested key",
            )),
        };
    Ok(UnwrappedRequest {
        cms_der,
        csr,
        signer,
    })
}

fn malformed(detail: impl Into<String>) -> Error {
    Error::reason(Reason::MalformedCms, detail)
}

fn decode_signed_data(der: &[u8]) -> Result<SignedData> {
    let info =
        ContentInfo::from_der(der).map_err(|e| malformed(format!("not a CMS ContentInfo: {e}")))?;
    if info.content_type != oids::ID_SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not signedData",
            info.content_type
        )));
    }
    info.content
        .decode_as::<SignedData>()
        .map_err(|e| malformed(format!("not a SignedData: {e}")))
}

fn encapsulated_content(signed: &SignedData) -> Result<&[u8]> {
    let econtent = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("detached signature: the request is not encapsulated"))?;
    let octets = econtent
        .decode_as::<OctetStringRef<'_>>()
        .map_err(|e| malformed(format!("eContent is not an OCTET STRING: {e}")))?;
    Ok(octets.as_bytes())
}

fn single_signer(signed: &SignedData) -> Result<&SignerInfo> {
    let mut infos = signed.signer_infos.0.iter();
    match (infos.next(), infos.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(malformed("no SignerInfo")),
        _ => Err(malformed(
            "more than one SignerInfo; a request has exactly one signer",
        )),
    }
}

/// The encapsulated content must be id-data (RFC 5652 §4). A PKCS#10 has no
/// content type of its own, and every client that wraps one in SignedData
/// (Windows CertEnroll's PKCS#7 requests, CryptoPro, `openssl cms -sign`)
/// labels it id-data. CMC (RFC 5272) uses id-cct-PKIData, but its content is
/// a PKIData, not a bare PKCS#10, which this CA does not take. Checked with
/// or without signed attributes; with them, the contentType attribute must
/// also equal it (RFC 5652 §11.1, in [`verify_signer_info`]).
fn check_content_type(econtent_type: &ObjectIdentifier) -> Result<()> {
    if *econtent_type == oids::ID_DATA {
        Ok(())
    } else {
        Err(malformed(format!(
            "eContentType {econtent_type} is not id-data ({})",
            oids::ID_DATA
        )))
    }
}

/// RFC 5652 §5.1: digestAlgorithms lists the digest algorithms of all the
/// signers, so a SignerInfo whose digestAlgorithm it does not list belongs
/// to a different SignedData. Compared by OID (SHA-2 identifiers may carry
/// absent or NULL parameters, RFC 5754 §2).
fn check_digest_listed(signed: &SignedData, info: &SignerInfo) -> Result<()> {
    let listed = signed
        .digest_algorithms
        .iter()
        .any(|alg| alg.oid == info.digest_alg.oid);
    if listed {
        Ok(())
    } else {
        Err(malformed(format!(
            "the SignerInfo's digest algorithm {} is not listed in digestAlgorithms",
            info.digest_alg.oid
        )))
    }
}

fn find_signer_certificate(signed: &SignedData, sid: &SignerIdentifier) -> Option<Certificate> {
    let certs = signed.certificates.as_ref()?;
    certs.0.iter().find_map(|choice| {
        let CertificateChoices::Certificate(cert) = choice else {
            return None;
        };
        let tbs = &cert.tbs_certificate;
        let matches = match sid {
            SignerIdentifier::IssuerAndSerialNumber(isn) => {
                tbs.issuer == isn.issuer && tbs.serial_number == isn.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                certificate_key_id(cert).as_deref() == Some(ski.0.as_bytes())
            }
        };
        matches.then(|| cert.clone())
    })
}

/// The certificate's subject key identifier extension, or the RFC 5280
/// method-1 identifier of its key when it carries none.
fn certificate_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let tbs = &cert.tbs_certificate;
    let from_ext = tbs.extensions.as_ref().and_then(|exts| {
        exts.iter()
            .find(|e| e.extn_id == oids::SUBJECT_KEY_IDENTIFIER)
            .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
            .map(|ski| ski.0.as_bytes().to_vec())
    });
    from_ext.or_else(|| Some(keys::key_identifier(&tbs.subject_public_key_info).to_vec()))
}

/// The SignerInfo's signed attributes exactly as encoded, re-tagged as the
/// SET OF that RFC 5652 §5.4 says the signature covers. The bytes are taken
/// from the input rather than re-encoded, so a signer's ordering is kept.
fn raw_signed_attributes(cms_der: &[u8]) -> Result<Option<Vec<u8>>> {
    fn next(input: &[u8]) -> Result<tlv::Tlv<'_>> {
        tlv::split(input).ok_or_else(|| malformed("cannot locate the SignerInfo"))
    }
    let content_info = next(cms_der)?.content;
    let explicit = next(next(content_info)?.rest)?.content; // after contentType: [0]
    let mut rest = next(explicit)?.content; // SignedData
                                            // version, digestAlgorithms, encapContentInfo, then optional [0] and [1].
    for _ in 0..3 {
        rest = next(rest)?.rest;
    }
    let mut item = next(rest)?;
    while item.tag == 0xa0 || item.tag == 0xa1 {
        item = next(item.rest)?;
    }
    let mut fields = next(item.content)?.content; // the first SignerInfo
                                                  // version, sid, digestAlgorithm
    for _ in 0..3 {
        fields = next(fields)?.rest;
    }
    let attrs = next(fields)?;
    if attrs.tag != 0xa0 {
        return Ok(None);
    }
    let mut set = attrs.whole.to_vec();
    set[0] = 0x31;
    Ok(Some(set))
}

/// RFC 5652 §5.4 and §11: with signed attributes, contentType must equal the
/// eContentType, messageDigest the digest of the content, and the signature
/// covers the attributes; without them, the content is signed directly (it
/// is id-data either way: [`check_content_type`]).
fn verify_signer_info(
    info: &SignerInfo,
    signed_attrs_der: Option<&[u8]>,
    econtent_type: &ObjectIdentifier,
    content: &[u8],
    key: &PublicKey,
) -> Result<()> {
    let bad = |detail: &str| Error::reason(Reason::BadCmsSignature, detail.to_string());
    let digest = DigestAlgorithm::from_oid(&info.digest_alg.oid)
        .ok_or_else(|| bad("digest algorithm is not SHA-256, SHA-384 or SHA-512"))?;
    let alg = SignatureAlgorithm::from_identifier(&info.signature_algorithm, Some(digest))
        .ok_or_else(|| bad("signature algorithm is not supported or does not fit the digest"))?;
    let message: &[u8] = match (&info.signed_attrs, signed_attrs_der) {
        (Some(attrs), Some(raw)) => {
            let single = |oid: ObjectIdentifier| -> Result<der::Any> {
                let mut found = attrs.iter().filter(|a| a.oid == oid);
                match (found.next(), found.next()) {
                    (Some(a), None) if a.values.len() == 1 => {
                        Ok(a.values.iter().next().cloned().expect("one value"))
                    }
                    _ => Err(bad(
                        "signed attributes must hold contentType and messageDigest once",
                    )),
                }
            };
            let content_type = single(oids::ID_CONTENT_TYPE)?
                .decode_as::<ObjectIdentifier>()
                .map_err(|_| bad("contentType attribute is not an OID"))?;
            if &content_type != econtent_type {
                return Err(bad("contentType attribute differs from the eContentType"));
            }
            let message_digest = single(oids::ID_MESSAGE_DIGEST)?;
            let message_digest = message_digest
                .decode_as::<OctetStringRef<'_>>()
                .map_err(|_| bad("messageDigest attribute is not an OCTET STRING"))?;
            if message_digest.as_bytes() != digest.digest(content) {
                return Err(bad("messageDigest does not match the content"));
            }
            raw
        }
        (None, None) => content,
        _ => return Err(malformed("signed attributes could not be located")),
    };
    if key.verify(alg, message, info.signature.as_bytes()) {
        Ok(())
    } else {
        Err(bad("the SignerInfo signature does not verify"))
    }
}

#[cfg(test)]
mod tests {
    //! Envelopes built in memory (an `initial_self_signed` request: the new
    //! P-256 key signs, named by its subject key identifier), each varying
    //! one field the unwrapping checks.

    use super::*;
    use cms::content_info::CmsVersion;
    use cms::signed_data::{EncapsulatedContentInfo, SignerInfos};
    use der::asn1::{OctetString, SetOfVec};
    use der::Any;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{DerSignature, SigningKey};
    use sha2::{Digest, Sha256};
    use spki::AlgorithmIdentifierOwned;
    use std::str::FromStr;
    use x509_cert::attr::Attribute;
    use x509_cert::builder::{Builder, RequestBuilder};

    use crate::test_support;

    /// id-cct-PKIData (RFC 5272 §3.2.1), CMC's content type.
    const ID_CCT_PKI_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.12.2");

    fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }

    /// What to put in the envelope.
    struct Envelope {
        key: SigningKey,
        csr: Vec<u8>,
        content_type: ObjectIdentifier,
        digest_algorithms: Vec<AlgorithmIdentifierOwned>,
        signed_attributes: bool,
    }

    impl Envelope {
        /// A well-formed envelope around a fresh key's PKCS#10.
        fn new() -> Envelope {
            let key = SigningKey::random(&mut rand_core::OsRng);
            let csr = RequestBuilder::new(Name::from_str("CN=Test").unwrap(), &key)
                .unwrap()
                .build::<DerSignature>()
                .unwrap()
                .to_der()
                .unwrap();
            Envelope {
                key,
                csr,
                content_type: oids::ID_DATA,
                digest_algorithms: vec![alg(oids::SHA256)],
                signed_attributes: true,
            }
        }

        fn der(&self) -> Vec<u8> {
            let attribute = |oid, value: Any| Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).unwrap(),
            };
            let digest = Sha256::digest(&self.csr);
            let (signed_attrs, signature) = if self.signed_attributes {
                let attrs = SetOfVec::try_from(vec![
                    attribute(
                        oids::ID_CONTENT_TYPE,
                        Any::encode_from(&self.content_type).unwrap(),
                    ),
                    attribute(
                        oids::ID_MESSAGE_DIGEST,
                        Any::encode_from(&OctetString::new(digest.to_vec()).unwrap()).unwrap(),
                    ),
                ])
                .unwrap();
                let signature: DerSignature = self.key.sign(&attrs.to_der().unwrap());
                (Some(attrs), signature)
            } else {
                (None, self.key.sign(&self.csr))
            };
            let csr = CertificationRequest::from_der(&self.csr).unwrap();
            let key_id = keys::key_identifier(csr.key.spki());
            let signer = SignerInfo {
                version: CmsVersion::V3,
                sid: SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(
                    OctetString::new(key_id.to_vec()).unwrap(),
                )),
                digest_alg: alg(oids::SHA256),
                signed_attrs,
                signature_algorithm: alg(oids::ECDSA_WITH_SHA256),
                signature: OctetString::new(signature.as_bytes()).unwrap(),
                unsigned_attrs: None,
            };
            let signed = SignedData {
                version: CmsVersion::V3,
                digest_algorithms: SetOfVec::try_from(self.digest_algorithms.clone()).unwrap(),
                encap_content_info: EncapsulatedContentInfo {
                    econtent_type: self.content_type,
                    econtent: Some(
                        Any::encode_from(&OctetString::new(self.csr.clone()).unwrap()).unwrap(),
                    ),
                },
                certificates: None,
                crls: None,
                signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).unwrap()),
            };
            ContentInfo {
                content_type: oids::ID_SIGNED_DATA,
                content: Any::encode_from(&signed).unwrap(),
            }
            .to_der()
            .unwrap()
        }
    }

    fn unwrap(der: &[u8]) -> Result<UnwrappedRequest> {
        unwrap_request(der, test_support::ca().trust_anchor())
    }

    fn refusal(der: &[u8]) -> Reason {
        let err = unwrap(der).unwrap_err();
        assert_eq!(err.reason_codes().len(), 1, "{err}");
        err.reason_codes()[0]
    }

    #[test]
    fn a_well_formed_envelope_is_unwrapped() {
        for signed_attributes in [true, false] {
            let e = Envelope {
                signed_attributes,
                ..Envelope::new()
            };
            let u = unwrap(&e.der()).unwrap();
            assert!(matches!(u.signer, Signer::RequestKey));
            assert_eq!(u.csr.der, e.csr);
        }
    }

    /// RFC 5652 §4: the content is id-data; CMC's PKIData or any other type
    /// is refused as malformed_cms, with or without signed attributes (the
    /// contentType attribute naming the same type does not help).
    #[test]
    fn an_econtent_type_other_than_id_data_is_malformed_cms() {
        let tst_info = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
        for content_type in [ID_CCT_PKI_DATA, tst_info, oids::ID_SIGNED_DATA] {
            for signed_attributes in [true, false] {
                let e = Envelope {
                    content_type,
                    signed_attributes,
                    ..Envelope::new()
                };
                assert_eq!(
                    refusal(&e.der()),
                    Reason::MalformedCms,
                    "{content_type} signed attributes: {signed_attributes}"
                );
            }
        }
    }

    /// RFC 5652 §5.1: SignedData.digestAlgorithms lists every signer's
    /// digest algorithm; a SignerInfo digest it does not list is malformed.
    #[test]
    fn a_signer_digest_missing_from_digest_algorithms_is_malformed_cms() {
        for listed in [vec![], vec![alg(oids::SHA384)], vec![alg(oids::SHA512)]] {
            let e = Envelope {
                digest_algorithms: listed.clone(),
                ..Envelope::new()
            };
            let err = unwrap(&e.der()).unwrap_err();
            assert!(err.has(Reason::MalformedCms), "{listed:?}: {err}");
            assert!(err.message().contains("digestAlgorithms"), "{err}");
        }
        // Listed among others, or with NULL parameters (RFC 5754 §2): fine.
        let with_null = AlgorithmIdentifierOwned {
            oid: oids::SHA256,
            parameters: Some(der::asn1::Null.into()),
        };
        for listed in [vec![alg(oids::SHA384), alg(oids::SHA256)], vec![with_null]] {
            let e = Envelope {
                digest_algorithms: listed,
                ..Envelope::new()
            };
            unwrap(&e.der()).unwrap();
        }
    }
}
