//! PKCS#10 certification requests (RFC 2986): parsing, proof of possession,
//! and the extensions a request asks for.

use der::{Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::request::{CertReq, ExtensionReq};

use crate::error::{Error, Reason, Result};
use crate::keys::{PublicKey, SignatureAlgorithm};
use crate::oids;

/// A PKCS#10 request whose self-signature has been verified.
#[derive(Debug)]
pub struct CertificationRequest {
    /// The decoded request.
    pub request: CertReq,
    /// Its DER, exactly as received.
    pub der: Vec<u8>,
    /// The key to be certified.
    pub key: PublicKey,
}

impl CertificationRequest {
    /// Parses a DER request and checks its self-signature (proof of possession).
    ///
    /// `malformed_csr` when it is not a PKCS#10 request; `weak_key` when its key
    /// algorithm is one we cannot use at all; `bad_csr_signature` when the
    /// signature does not verify.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let request = decode(der).map_err(|e| {
            Error::reason(Reason::MalformedCsr, format!("not a PKCS#10 request: {e}"))
        })?;
        let key = PublicKey::from_spki(&request.info.public_key)
            .map_err(|e| Error::reason(Reason::WeakKey, e.0))?;
        let info = raw_first_element(der).ok_or_else(|| {
            Error::reason(
                Reason::MalformedCsr,
                "cannot locate certificationRequestInfo",
            )
        })?;
        let alg =
            SignatureAlgorithm::from_identifier(&request.algorithm, None).ok_or_else(|| {
                Error::reason(
                    Reason::BadCsrSignature,
                    format!(
                        "signature algorithm {} is not supported",
                        request.algorithm.oid
                    ),
                )
            })?;
        let signature = request.signature.as_bytes().ok_or_else(|| {
            Error::reason(Reason::BadCsrSignature, "signature is not whole octets")
        })?;
        if !key.verify(alg, info, signature) {
            return Err(Error::reason(
                Reason::BadCsrSignature,
                "the request's self-signature does not verify with its own key",
            ));
        }
        Ok(CertificationRequest {
            request,
            der: der.to_vec(),
            key,
        })
    }

    /// The extensions asked for in the PKCS#9 extensionRequest attribute.
    pub fn requested_extensions(&self) -> Result<Vec<Extension>> {
        let mut out = Vec::new();
        for attr in self.request.info.attributes.iter() {
            if attr.oid != oids::EXTENSION_REQUEST {
                continue;
            }
            for value in attr.values.iter() {
                let der = value
                    .to_der()
                    .map_err(|e| Error::reason(Reason::MalformedCsr, e.to_string()))?;
                let req = ExtensionReq::from_der(&der).map_err(|e| {
                    Error::reason(Reason::MalformedCsr, format!("bad extensionRequest: {e}"))
                })?;
                out.extend(req.0);
            }
        }
        Ok(out)
    }
}

/// The first element inside the outer SEQUENCE, as raw bytes: the signed part
/// of a PKCS#10 request or certificate, exactly as the signer encoded it.
/// Decodes a PKCS#10 as client software writes it. PKI.js leaves out an
/// empty `attributes [0]`; OpenSSL reads such a request, and so do we (the
/// signature is checked over the bytes as sent).
pub(crate) fn decode(der: &[u8]) -> std::result::Result<CertReq, der::Error> {
    CertReq::from_der(der).or_else(|e| {
        with_empty_attributes(der)
            .and_then(|patched| CertReq::from_der(&patched).ok())
            .ok_or(e)
    })
}

/// The request with an empty `attributes [0]` added to a
/// CertificationRequestInfo that ends after its key (RFC 2986 requires the
/// field; some libraries omit it when empty). `None` when the request is
/// not of that shape. Used for decoding only: the signature is checked over
/// the bytes as sent.
fn with_empty_attributes(der: &[u8]) -> Option<Vec<u8>> {
    let outer = crate::tlv::split(der)?;
    let info = crate::tlv::split(outer.content)?;
    let version = crate::tlv::split(info.content)?;
    let subject = crate::tlv::split(version.rest)?;
    let key = crate::tlv::split(subject.rest)?;
    if outer.tag != 0x30 || info.tag != 0x30 || !key.rest.is_empty() || !outer.rest.is_empty() {
        return None;
    }
    let patched_info = crate::tlv::wrap(0x30, &[info.content, &[0xa0, 0x00]].concat());
    Some(crate::tlv::wrap(
        0x30,
        &[&patched_info[..], info.rest].concat(),
    ))
}

/// A PKCS#10 from PEM as client software writes it ([`crate::pem`]),
/// labelled `CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`.
pub fn from_pem(pem: &[u8]) -> Result<CertificationRequest> {
    let (label, der) = crate::pem::decode(pem)
        .map_err(|e| Error::reason(Reason::MalformedCsr, format!("bad PEM: {e}")))?;
    if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
        return Err(Error::reason(
            Reason::MalformedCsr,
            format!("PEM label {label:?} is not a CSR"),
        ));
    }
    CertificationRequest::from_der(&der)
}

pub(crate) fn raw_first_element(der: &[u8]) -> Option<&[u8]> {
    let outer = crate::tlv::split(der)?;
    Some(crate::tlv::split(outer.content)?.whole)
}
