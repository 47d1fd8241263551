//! Certificate revocation lists (RFC 5280 §5; SPEC §7 "CRLs").
//!
//! The list is written straight to DER as entries arrive, never held as a
//! tree of structures, into the buffer the signed CRL is finished in: a CRL
//! of a million entries costs its encoded size (about 40–60 bytes an entry)
//! once.

use chrono::{DateTime, Utc};
use der::asn1::Ia5String;
use der::asn1::{BitString, OctetString, Uint};
use der::Encode;
use x509_cert::crl::RevokedCert;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::crl::{BaseCrlNumber, CrlNumber, FreshestCrl};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlReason};
use x509_cert::serial_number::SerialNumber;

use crate::authority::{extension, CertificateAuthority};
use crate::error::{Error, Result};
use crate::oids;
use crate::time::{generalized_time, x509_time};

/// Why a certificate is on the CRL (RFC 5280 §5.3.1), by the API's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// No reason given; written by leaving the reason extension out.
    Unspecified,
    /// The subject's key is known or suspected compromised.
    KeyCompromise,
    /// The CA's key is compromised.
    CaCompromise,
    /// The subject's name or other information changed (e.g. authority ended).
    AffiliationChanged,
    /// Replaced by a new certificate.
    Superseded,
    /// No longer needed (e.g. the agreement ended).
    CessationOfOperation,
    /// Suspended: on hold, may be resumed.
    CertificateHold,
    /// In a delta CRL: a held certificate was resumed.
    RemoveFromCrl,
    /// A privilege was withdrawn (terms broken).
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Reasons an operator may choose when revoking.
    pub const OPERATOR_CHOICES: [RevocationReason; 6] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
    ];

    const ALL: [RevocationReason; 9] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The wire name.
    pub fn code(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key_compromise",
            RevocationReason::CaCompromise => "ca_compromise",
            RevocationReason::AffiliationChanged => "affiliation_changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation_of_operation",
            RevocationReason::CertificateHold => "certificate_hold",
            RevocationReason::RemoveFromCrl => "remove_from_crl",
            RevocationReason::PrivilegeWithdrawn => "privilege_withdrawn",
        }
    }

    /// Parses a wire name.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The CRLReason written for this reason; `None` for unspecified,
    /// which is written by leaving the reason out (SPEC §7).
    pub fn crl_reason(self) -> Option<CrlReason> {
        Some(match self {
            RevocationReason::Unspecified => return None,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::CaCompromise => CrlReason::CaCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        })
    }
}

/// One certificate on a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The certificate's serial.
    pub serial: SerialNumber,
    /// When it was revoked (or suspended, or resumed for removeFromCRL).
    pub revoked_at: DateTime<Utc>,
    /// Why.
    pub reason: RevocationReason,
    /// When the key is known or suspected to have become unusable, if earlier
    /// than the revocation (RFC 5280 §5.3.2).
    pub invalidity_date: Option<DateTime<Utc>>,
}

/// The CRL's own fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlParams {
    /// The CRL number, strictly increasing across all CRLs of this CA.
    pub number: u64,
    /// thisUpdate.
    pub this_update: DateTime<Utc>,
    /// nextUpdate (always present, SPEC §7).
    pub next_update: DateTime<Utc>,
    /// For a delta CRL, the number of the full CRL it updates.
    pub delta_base: Option<u64>,
}

fn uint(n: u64) -> Result<Uint> {
    Uint::new(&n.to_be_bytes()).map_err(|e| Error::internal(e.to_string()))
}

/// Appends a DER header for `tag` and a content of `len` octets.
fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// The longest DER header written here: a tag and a four-octet length.
const MAX_HEADER: usize = 6;

/// A DER header for `tag` and a content of `len` octets.
fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(MAX_HEADER);
    push_header(&mut v, tag, len);
    v
}

/// Writes `bytes` into `out` so that they end at `end`; returns where they
/// start.
fn put_before(out: &mut [u8], end: usize, bytes: &[u8]) -> usize {
    let start = end - bytes.len();
    out[start..end].copy_from_slice(bytes);
    start
}

fn encode_err(e: der::Error) -> Error {
    Error::internal(format!("CRL encoding: {e}"))
}

/// A CRL encoded but not signed yet: its TBSCertList, in the buffer the
/// signed CRL is finished in (with room for the outer header before it).
pub struct UnsignedCrl {
    out: Vec<u8>,
    tbs_start: usize,
    signature_alg: Vec<u8>,
}

impl CertificateAuthority {
    /// Builds and signs a CRL: a full CRL, or a delta CRL when
    /// `params.delta_base` is set. Entries are encoded as they come from the
    /// iterator (e.g. a database cursor).
    pub fn build_crl<I>(&self, params: &CrlParams, entries: I) -> Result<Vec<u8>>
    where
        I: IntoIterator<Item = RevokedEntry>,
    {
        self.sign_crl(self.encode_crl(params, entries)?)
    }

    /// The first half of [`build_crl`](Self::build_crl): the encoding,
    /// which is the work (and may run at a low priority); the signature
    /// follows with [`sign_crl`](Self::sign_crl).
    pub fn encode_crl<I>(&self, params: &CrlParams, entries: I) -> Result<UnsignedCrl>
    where
        I: IntoIterator<Item = RevokedEntry>,
    {
        if params.next_update <= params.this_update {
            return Err(Error::internal("nextUpdate must be later than thisUpdate"));
        }
        if let Some(base) = params.delta_base {
            if base >= params.number {
                return Err(Error::internal("a delta CRL's number must exceed its base"));
            }
        }

        let signature_alg = self.signer().algorithm().to_der().map_err(encode_err)?;
        let mut head = Vec::new();
        // version v2 (INTEGER 1), signature, issuer (the CA subject's exact bytes)
        head.extend_from_slice(&[0x02, 0x01, 0x01]);
        head.extend_from_slice(&signature_alg);
        head.extend_from_slice(self.subject_der());
        x509_time(params.this_update)?
            .encode_to_vec(&mut head)
            .map_err(encode_err)?;
        x509_time(params.next_update)?
            .encode_to_vec(&mut head)
            .map_err(encode_err)?;
        let crl_exts = self.crl_extensions(params)?;

        // The entries are written once, into the buffer the signed CRL is
        // finished in, after room for what precedes them: the outer, TBS
        // and list headers (whose lengths are known only at the end) and
        // the head. No second copy of the list is ever made (issue 10: one
        // held in chunks and copied in doubled a publication's peak).
        let front = 3 * MAX_HEADER + head.len();
        let mut out = Vec::with_capacity(front + CHUNK);
        out.resize(front, 0);
        for entry in entries {
            if entry.reason == RevocationReason::RemoveFromCrl && params.delta_base.is_none() {
                // RFC 5280 §5.3.1: removeFromCRL appears only in delta CRLs.
                return Err(Error::internal("removeFromCRL belongs only in a delta CRL"));
            }
            let mut exts = Vec::new();
            if let Some(reason) = entry.reason.crl_reason() {
                exts.push(extension(oids::CRL_REASON, false, &reason)?);
            }
            if let Some(when) = entry.invalidity_date {
                exts.push(extension(
                    oids::INVALIDITY_DATE,
                    false,
                    &generalized_time(when)?,
                )?);
            }
            RevokedCert {
                serial_number: entry.serial,
                revocation_date: x509_time(entry.revoked_at)?,
                crl_entry_extensions: (!exts.is_empty()).then_some(exts),
            }
            .encode_to_vec(&mut out)
            .map_err(encode_err)?;
        }
        if out.len() > u32::MAX as usize / 2 {
            // Its headers would not fit the room left for them.
            return Err(Error::internal("a CRL of 2 GiB or more is not written"));
        }
        let revoked_bytes = out.len() - front;
        push_header(&mut out, 0xa0, crl_exts.len());
        out.extend_from_slice(&crl_exts);

        // Now the lengths are known: the headers and the head go right
        // before the entries, back to front.
        let mut start = front;
        // RFC 5280 §5.1.2.6: an empty list is omitted, not encoded empty.
        if revoked_bytes > 0 {
            start = put_before(&mut out, start, &header(0x30, revoked_bytes));
        }
        start = put_before(&mut out, start, &head);
        let tbs_header = header(0x30, out.len() - start);
        let tbs_start = put_before(&mut out, start, &tbs_header);
        // Room for the signature, so appending it does not move the list.
        let sig_room = 16
            + self
                .signer()
                .public_key()
                .subject_public_key
                .raw_bytes()
                .len()
            + 160;
        out.reserve_exact(signature_alg.len() + sig_room);
        Ok(UnsignedCrl {
            out,
            tbs_start,
            signature_alg,
        })
    }

    /// The CRL's own extensions (RFC 5280 §5.2), DER.
    fn crl_extensions(&self, params: &CrlParams) -> Result<Vec<u8>> {
        let mut exts = vec![
            extension(
                oids::AUTHORITY_KEY_IDENTIFIER,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(self.key_id()).map_err(encode_err)?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
            )?,
            extension(oids::CRL_NUMBER, false, &CrlNumber(uint(params.number)?))?,
        ];
        if let Some(base) = params.delta_base {
            // RFC 5280 §5.2.4: the delta CRL indicator is critical.
            exts.push(extension(
                oids::DELTA_CRL_INDICATOR,
                true,
                &BaseCrlNumber(uint(base)?),
            )?);
        } else if let Some(url) = &self.urls().delta_crl {
            // RFC 5280 §5.2.6: a full CRL says where its deltas are (and
            // OpenSSL only consults deltas when it does).
            let uri = Ia5String::new(url).map_err(encode_err)?;
            exts.push(extension(
                oids::FRESHEST_CRL,
                false,
                &FreshestCrl(vec![DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![
                        GeneralName::UniformResourceIdentifier(uri),
                    ])),
                    reasons: None,
                    crl_issuer: None,
                }]),
            )?);
        }
        exts.to_der().map_err(encode_err)
    }

    /// Signs an encoded CRL and returns its DER.
    pub fn sign_crl(&self, crl: UnsignedCrl) -> Result<Vec<u8>> {
        let UnsignedCrl {
            mut out,
            tbs_start,
            signature_alg,
        } = crl;
        let signature = self.signer().sign(&out[tbs_start..])?;
        out.extend_from_slice(&signature_alg);
        BitString::from_bytes(&signature)
            .map_err(encode_err)?
            .encode_to_vec(&mut out)
            .map_err(encode_err)?;

        let outer = header(0x30, out.len() - tbs_start);
        let start = put_before(&mut out, tbs_start, &outer);
        out.drain(..start);
        Ok(out)
    }
}

/// The list buffer's first size; it doubles from there (and once it is
/// large the allocator moves its pages rather than copy them).
const CHUNK: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
        }
        assert_eq!(RevocationReason::Unspecified.crl_reason(), None);
        assert_eq!(RevocationReason::from_code("because"), None);
    }

    #[test]
    fn headers_use_the_shortest_length_form() {
        for (len, expect) in [
            (0usize, vec![0x30, 0]),
            (127, vec![0x30, 127]),
            (128, vec![0x30, 0x81, 128]),
            (65_536, vec![0x30, 0x83, 1, 0, 0]),
        ] {
            let mut v = Vec::new();
            push_header(&mut v, 0x30, len);
            assert_eq!(v, expect);
            assert_eq!(header(0x30, len), expect);
        }
    }
}
