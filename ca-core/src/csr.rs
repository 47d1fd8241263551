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
        let request = CertReq::from_der(der).map_err(|e| {
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
pub(crate) fn raw_first_element(der: &[u8]) -> Option<&[u8]> {
    let outer = crate::tlv::split(der)?;
    Some(crate::tlv::split(outer.content)?.whole)
}
