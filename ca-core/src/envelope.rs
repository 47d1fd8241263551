//! Unwrapping a certificate request: CMS ContentInfo → SignedData →
//! encapsulated PKCS#10 (SPEC §3.1–3.2), with the SignerInfo verified as
//! RFC 5652 §5.4 says.
//!
//! The checks run in this order, and the first failure is the answer:
//! 1. encoding: PEM or DER, BER brought to DER (`unsupported_encoding`);
//! 2. `malformed_cms`: not a ContentInfo/SignedData with encapsulated content
//!    and exactly one SignerInfo;
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
        self.public_key.verify_own(alg, tbs, sig)
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
        let (label, der) = der::pem::decode_vec(input)
            .map_err(|e| Error::reason(Reason::MalformedCms, format!("bad PEM: {e}")))?;
        if !PEM_LABELS.contains(&label) {
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
    let csr_request = x509_cert::request::CertReq::from_der(&csr_der).map_err(|e| {
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
/// covers the attributes; without them, the content is signed directly and
/// must be id-data.
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
        (None, None) => {
            if econtent_type != &oids::ID_DATA {
                return Err(bad(
                    "without signed attributes the content type must be id-data",
                ));
            }
            content
        }
        _ => return Err(malformed("signed attributes could not be located")),
    };
    if key.verify(alg, message, info.signature.as_bytes()) {
        Ok(())
    } else {
        Err(bad("the SignerInfo signature does not verify"))
    }
}
