//! The OCSP responder's use case (RFC 6960; SPEC §4): read the request,
//! look the serials up in the registry, answer signed. A response to one
//! certificate without a nonce is kept pre-signed and served again while
//! that certificate's status is unchanged: every request reads the
//! status (one indexed row), so a suspension, resumption or revocation
//! made by any instance is answered from the next request on.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use x509_ocsp::OcspResponseStatus;

use ca_core::crl::RevocationReason;
use ca_core::ocsp::{error_response, read_request, respond, Query, Status};
use ca_core::records::{CertificateStatus, StoredCertificate};
use ca_core::{ErrorKind, Result};

use crate::Authority;

/// How long an HTTP cache may keep a GET answer (RFC 5019 §6.2 allows up
/// to nextUpdate; a revocation must be seen sooner than a day).
pub const HTTP_CACHE_SECONDS: i64 = 60;

/// Pre-signed answers kept at most (then the cache starts over).
const CACHE_ENTRIES: usize = 100_000;

/// An OCSP answer: the DER OCSPResponse, and for how long an HTTP cache
/// may keep it (`None`: not at all, as for a nonce or an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspAnswer {
    /// The OCSPResponse.
    pub der: Vec<u8>,
    /// Seconds an HTTP cache may keep it.
    pub cache_seconds: Option<i64>,
}

/// Pre-signed answers by CertID, with the status each was signed for.
#[derive(Debug, Default)]
pub(crate) struct OcspCache {
    answers: HashMap<Vec<u8>, (Status, DateTime<Utc>, Vec<u8>)>,
}

fn status_of(c: Option<StoredCertificate>) -> Status {
    let Some(c) = c else {
        return Status::Unknown;
    };
    match c.record.status {
        CertificateStatus::Signing => Status::Unknown,
        CertificateStatus::Active => Status::Good,
        CertificateStatus::Suspended { .. } => Status::Revoked {
            at: c.suspended_at.unwrap_or(c.created_at),
            reason: RevocationReason::CertificateHold,
        },
        CertificateStatus::Revoked => Status::Revoked {
            at: c.revoked_at.unwrap_or(c.created_at),
            reason: c.revocation_reason.unwrap_or(RevocationReason::Unspecified),
        },
    }
}

impl Authority {
    /// Answers a DER OCSPRequest. Never fails: a request that cannot be
    /// read is `malformedRequest`, another CA's certificate `unauthorized`,
    /// a store that cannot be reached `tryLater`, anything else
    /// `internalError` (RFC 6960 §2.3).
    pub fn ocsp(&self, request: &[u8]) -> OcspAnswer {
        let refused = |status| OcspAnswer {
            der: error_response(status),
            cache_seconds: None,
        };
        let query = match read_request(request, &self.ca) {
            Ok(q) => q,
            Err(status) => return refused(status),
        };
        match self.answer(&query) {
            Ok(answer) => answer,
            Err(e) if e.kind() == ErrorKind::Unavailable => refused(OcspResponseStatus::TryLater),
            Err(_) => refused(OcspResponseStatus::InternalError),
        }
    }

    fn answer(&self, query: &Query) -> Result<OcspAnswer> {
        let now = self.now();
        let (statuses, crl_next) = self.store.read(|tx| {
            let mut statuses = Vec::with_capacity(query.certificates.len());
            for (_, serial) in &query.certificates {
                statuses.push(status_of(tx.certificate(serial)?));
            }
            Ok((statuses, tx.latest_crl_next_update()?))
        })?;
        // Consistent with the CRL: newer information by its nextUpdate.
        let next_update = crl_next
            .filter(|n| *n > now)
            .unwrap_or(now + self.policies.ca.crl_period);
        let key = query.cache_key();
        if let Some(key) = &key {
            let cache = self.ocsp_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((status, until, der)) = cache.answers.get(key) {
                if *status == statuses[0] && now + Duration::seconds(HTTP_CACHE_SECONDS) < *until {
                    return Ok(OcspAnswer {
                        der: der.clone(),
                        cache_seconds: Some(HTTP_CACHE_SECONDS),
                    });
                }
            }
        }
        let der = respond(&self.ca, query, &statuses, now, next_update)?;
        let Some(key) = key else {
            return Ok(OcspAnswer {
                der,
                cache_seconds: None,
            });
        };
        let mut cache = self.ocsp_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.answers.len() >= CACHE_ENTRIES {
            cache.answers.clear();
        }
        cache
            .answers
            .insert(key, (statuses[0], next_update, der.clone()));
        Ok(OcspAnswer {
            der,
            cache_seconds: Some(HTTP_CACHE_SECONDS),
        })
    }
}
