//! OCSP (RFC 6960) for this CA's certificates: reading a request, and
//! building and signing the response. Which status a serial has is the
//! registry's business (`ca-authority`); this module only speaks the
//! protocol. Formats from RustCrypto's `x509-ocsp`, on the pinned
//! der/x509-cert generation.

use chrono::{DateTime, Utc};
use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Decode, Encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::ext::Extension;
use x509_ocsp::ext::Nonce;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::authority::CertificateAuthority;
use crate::crl::RevocationReason;
use crate::error::{Error, Result};
use crate::oids;
use crate::serial::serial_hex;
use crate::signer::CaSigner;

/// At most this many certificates in one request (RFC 5019 §2.1.1 allows
/// one; several are answered, a flood is not).
pub const MAX_CERTIFICATES: usize = 10;

/// RFC 8954: a nonce of 1 to 32 octets.
pub const MAX_NONCE: usize = 32;

/// A request read and checked against this CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Each CertID asked about, with its serial as lowercase hex.
    pub certificates: Vec<(CertId, String)>,
    /// The request's nonce extension, to echo (RFC 6960 §4.4.1).
    pub nonce: Option<Extension>,
}

impl Query {
    /// A key for a cache of pre-signed answers: the one CertID's DER, when
    /// the request asks about one certificate without a nonce.
    pub fn cache_key(&self) -> Option<Vec<u8>> {
        match (&self.certificates[..], &self.nonce) {
            ([(id, _)], None) => id.to_der().ok(),
            _ => None,
        }
    }
}

/// The status of one certificate, as the registry knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Issued and neither revoked nor suspended.
    Good,
    /// Revoked, or suspended (RFC 5280 certificateHold).
    Revoked {
        /// When.
        at: DateTime<Utc>,
        /// Why; unspecified is written by leaving the reason out.
        reason: RevocationReason,
    },
    /// Not issued by this CA.
    Unknown,
}

/// Who signs the responses.
#[derive(Clone, Copy)]
pub enum Responder<'a> {
    /// The CA key itself (RFC 6960 §4.2.2.2: the CA is always authorised).
    Ca,
    /// A delegated responder: its key and its certificate, issued by the
    /// CA with EKU OCSPSigning, sent along in every response.
    Delegated {
        /// The responder's key.
        signer: &'a dyn CaSigner,
        /// Its certificate.
        certificate: &'a x509_cert::Certificate,
    },
}

impl std::fmt::Debug for Responder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Responder::Ca => f.write_str("Responder::Ca"),
            Responder::Delegated { certificate, .. } => write!(
                f,
                "Responder::Delegated({})",
                serial_hex(&certificate.tbs_certificate.serial_number)
            ),
        }
    }
}

/// Reads a DER OCSPRequest. `MalformedRequest` when it cannot be read,
/// asks about no certificate or too many, carries an over-long nonce or a
/// CertID hash algorithm other than SHA-1 and SHA-256; `Unauthorized` when
/// a certificate is another CA's (RFC 6960 §2.3).
pub fn read_request(
    der: &[u8],
    ca: &CertificateAuthority,
) -> std::result::Result<Query, OcspResponseStatus> {
    use OcspResponseStatus::{MalformedRequest, Unauthorized};
    let request = OcspRequest::from_der(der).map_err(|_| MalformedRequest)?;
    let list = &request.tbs_request.request_list;
    if list.is_empty() || list.len() > MAX_CERTIFICATES {
        return Err(MalformedRequest);
    }
    let nonce = request
        .tbs_request
        .request_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == oids::OCSP_NONCE)
        .cloned();
    if let Some(ext) = &nonce {
        let value = Nonce::from_der(ext.extn_value.as_bytes()).map_err(|_| MalformedRequest)?;
        if !(1..=MAX_NONCE).contains(&value.0.as_bytes().len()) {
            return Err(MalformedRequest);
        }
    }
    let name = ca
        .certificate()
        .tbs_certificate
        .subject
        .to_der()
        .map_err(|_| MalformedRequest)?;
    let key = ca
        .certificate()
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let mut certificates = Vec::with_capacity(list.len());
    for r in list {
        let id = &r.req_cert;
        let (name_hash, key_hash) = match id.hash_algorithm.oid {
            oids::SHA1 => (Sha1::digest(&name).to_vec(), Sha1::digest(key).to_vec()),
            oids::SHA256 => (Sha256::digest(&name).to_vec(), Sha256::digest(key).to_vec()),
            _ => return Err(MalformedRequest),
        };
        if id.issuer_name_hash.as_bytes() != name_hash || id.issuer_key_hash.as_bytes() != key_hash
        {
            return Err(Unauthorized);
        }
        certificates.push((id.clone(), serial_hex(&id.serial_number)));
    }
    Ok(Query {
        certificates,
        nonce,
    })
}

/// An OCSPResponse with an error status and no body (RFC 6960 §4.2.1).
pub fn error_response(status: OcspResponseStatus) -> Vec<u8> {
    let response = OcspResponse {
        response_status: status,
        response_bytes: None,
    };
    // A two-field SEQUENCE of an ENUMERATED: it always encodes.
    response
        .to_der()
        .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x02])
}

fn time(t: DateTime<Utc>) -> Result<OcspGeneralizedTime> {
    let secs = u64::try_from(t.timestamp()).map_err(|_| Error::internal("time before 1970"))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(|e| Error::internal(e.to_string()))
}

/// Builds the response to `query` with one status per certificate, signed
/// by `responder`.
/// `this_update` is when the statuses were read; `next_update` when newer
/// information will be there (the CRL's nextUpdate).
pub fn respond(
    ca: &CertificateAuthority,
    responder: Responder<'_>,
    query: &Query,
    statuses: &[Status],
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
) -> Result<Vec<u8>> {
    if statuses.len() != query.certificates.len() {
        return Err(Error::internal("one status per certificate"));
    }
    let mut responses = Vec::with_capacity(statuses.len());
    for ((id, _), status) in query.certificates.iter().zip(statuses) {
        let cert_status = match status {
            Status::Good => CertStatus::good(),
            Status::Unknown => CertStatus::Unknown(Null),
            Status::Revoked { at, reason } => CertStatus::Revoked(RevokedInfo {
                revocation_time: time(*at)?,
                revocation_reason: reason.crl_reason(),
            }),
        };
        responses.push(SingleResponse {
            cert_id: id.clone(),
            cert_status,
            this_update: time(this_update)?,
            next_update: Some(time(next_update)?),
            single_extensions: None,
        });
    }
    let (signer, certs) = match responder {
        Responder::Ca => (ca.signer(), None),
        Responder::Delegated {
            signer,
            certificate,
        } => (signer, Some(vec![certificate.clone()])),
    };
    // byKey: the SHA-1 of the signing key's BIT STRING (RFC 6960 §4.2.1).
    let key_hash = Sha1::digest(signer.public_key().subject_public_key.raw_bytes());
    let data = ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(
            OctetString::new(key_hash.to_vec()).map_err(|e| Error::internal(e.to_string()))?,
        ),
        produced_at: time(this_update)?,
        responses,
        response_extensions: query.nonce.clone().map(|n| vec![n]),
    };
    let tbs = data.to_der().map_err(|e| Error::internal(e.to_string()))?;
    let signature = signer.sign(&tbs)?;
    let basic = BasicOcspResponse {
        tbs_response_data: data,
        signature_algorithm: signer.algorithm(),
        signature: BitString::from_bytes(&signature).map_err(|e| Error::internal(e.to_string()))?,
        certs,
    };
    OcspResponse::successful(basic)
        .and_then(|r| r.to_der())
        .map_err(|e| Error::internal(format!("OCSP response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::OctetString;
    use x509_ocsp::{Request, TbsRequest};

    /// A request about `serial` of `ca` with SHA-1 CertID, and a nonce of
    /// `nonce_len` octets (none for 0).
    fn request(ca: &CertificateAuthority, nonce_len: usize) -> Vec<u8> {
        let tbs = &ca.certificate().tbs_certificate;
        let id = CertId {
            hash_algorithm: spki::AlgorithmIdentifierOwned {
                oid: oids::SHA1,
                parameters: None,
            },
            issuer_name_hash: OctetString::new(
                Sha1::digest(tbs.subject.to_der().unwrap()).to_vec(),
            )
            .unwrap(),
            issuer_key_hash: OctetString::new(
                Sha1::digest(tbs.subject_public_key_info.subject_public_key.raw_bytes()).to_vec(),
            )
            .unwrap(),
            serial_number: x509_cert::serial_number::SerialNumber::new(&[0x42]).unwrap(),
        };
        let nonce = (nonce_len > 0).then(|| {
            vec![Extension {
                extn_id: oids::OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(
                    OctetString::new(vec![7u8; nonce_len])
                        .unwrap()
                        .to_der()
                        .unwrap(),
                )
                .unwrap(),
            }]
        });
        OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: id,
                    single_request_extensions: None,
                }],
                request_extensions: nonce,
            },
            optional_signature: None,
        }
        .to_der()
        .unwrap()
    }

    /// RFC 8954: a nonce of 1 to 32 octets is echoed; a longer one is a
    /// malformed request.
    #[test]
    fn nonce_lengths_follow_rfc_8954() {
        let ca = crate::test_support::ca();
        for len in [1, 16, 32] {
            let q = read_request(&request(&ca, len), &ca).unwrap();
            assert!(q.nonce.is_some() && q.cache_key().is_none(), "{len}");
            let der = respond(
                &ca,
                Responder::Ca,
                &q,
                &[Status::Good],
                Utc::now(),
                Utc::now(),
            )
            .unwrap();
            let r = OcspResponse::from_der(&der).unwrap();
            let basic =
                BasicOcspResponse::from_der(r.response_bytes.unwrap().response.as_bytes()).unwrap();
            assert_eq!(basic.nonce().unwrap().0.as_bytes(), vec![7u8; len]);
        }
        assert_eq!(
            read_request(&request(&ca, 33), &ca),
            Err(OcspResponseStatus::MalformedRequest)
        );
        let plain = read_request(&request(&ca, 0), &ca).unwrap();
        assert_eq!(plain.certificates[0].1, "42");
        assert!(plain.cache_key().is_some());
        // Another CA's request for the same serial.
        let other = crate::test_support::ca();
        assert_eq!(
            read_request(&request(&other, 0), &ca),
            Err(OcspResponseStatus::Unauthorized)
        );
    }
}
