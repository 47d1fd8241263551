//! `ca-core`: the domain of the Client-Bank certification authority.
//!
//! It knows nothing of HTTP, SQL or async runtimes. It holds:
//! - the formats: unwrapping a CMS-wrapped PKCS#10 request ([`envelope`],
//!   [`csr`], [`ber`]), building certificates ([`certificate`]) and CRLs
//!   ([`crl`]);
//! - the policy files ([`policy`]) and the request type rule ([`request_type`]);
//! - the CA itself ([`authority`]), its signer ([`signer`]) and key store
//!   ([`keystore`]);
//! - the rule book ([`rules`]), the certificate lifecycle ([`lifecycle`]) and
//!   the records they judge ([`records`]);
//! - the JSON shapes of the REST API, shared by server and CLI ([`api`]);
//! - key quality, the `weak_key` checks ([`goodkey`]);
//! - one error type with the SPEC's reason codes ([`error`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod authority;
pub mod ber;
pub mod certificate;
pub mod clock;
pub mod crl;
pub mod csr;
pub mod envelope;
pub mod error;
pub mod goodkey;
pub mod keys;
pub mod keystore;
pub mod lifecycle;
pub mod limits;
pub mod ocsp;
pub mod oids;
pub mod pem;
pub mod pkcs11;
pub mod policy;
pub mod profile_kind;
pub mod records;
pub mod request_status;
pub mod request_type;
pub mod rules;
pub mod serial;
pub mod signer;
pub mod subject;
pub mod time;
mod tlv;
pub mod views;

#[cfg(test)]
mod test_support;

pub use authority::{CertificateAuthority, PublicationUrls};
pub use error::{Error, ErrorKind, Reason, Result};

/// A random identifier: 16 octets from the CSPRNG as lowercase hex, for
/// request ids and other ids that must not be guessable (SPEC §4).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG failed");
    hex::encode(bytes)
}

/// PEM text of DER bytes (RFC 7468), with LF line endings.
pub fn der_to_pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .expect("PEM encoding of in-memory DER cannot fail")
}
