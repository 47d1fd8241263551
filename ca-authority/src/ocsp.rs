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
use ca_core::ocsp::{error_response, read_request, respond, Query, Responder, Status};
use ca_core::policy::OcspResponder;
use ca_core::records::{CertificateStatus, StoredCertificate};
use ca_core::serial::{random_serial, serial_hex};
use ca_core::{ErrorKind, Result};
use ca_store::{Event, Outcome};

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

/// The delegated responder's current certificate.
#[derive(Clone, Debug)]
pub(crate) struct DelegatedResponder {
    certificate: x509_cert::Certificate,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

/// Pre-signed answers by CertID, with the status each was signed for.
#[derive(Debug, Default)]
pub(crate) struct OcspCache {
    answers: HashMap<Vec<u8>, (Status, DateTime<Utc>, Vec<u8>)>,
}

fn status_of(c: Option<StoredCertificate>, now: DateTime<Utc>) -> Status {
    let Some(c) = c else {
        return Status::Unknown;
    };
    if let Some(until) = c.record.lapsed_at(now) {
        return Status::Revoked {
            at: until,
            reason: RevocationReason::Unspecified,
        };
    }
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
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Unavailable
                        | ErrorKind::SignerUnavailable
                        | ErrorKind::StorageUnavailable
                ) =>
            {
                refused(OcspResponseStatus::TryLater)
            }
            Err(_) => refused(OcspResponseStatus::InternalError),
        }
    }

    fn answer(&self, query: &Query) -> Result<OcspAnswer> {
        let now = self.now();
        let (statuses, crl_next) = self.store.read(|tx| {
            let mut statuses = Vec::with_capacity(query.certificates.len());
            for (_, serial) in &query.certificates {
                statuses.push(status_of(tx.certificate(serial)?, now));
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
        let responder = self
            .ocsp_responder
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|r| r.not_after > now);
        let signed_by = match (&responder, &self.ocsp_key) {
            (Some(r), Some(key)) => Responder::Delegated {
                signer: key.as_ref(),
                certificate: &r.certificate,
            },
            // Not issued yet, or failed: the CA is always authorised.
            _ => Responder::Ca,
        };
        let next_update = match &responder {
            // Never past the signing certificate's end.
            Some(r) if matches!(signed_by, Responder::Delegated { .. }) => {
                next_update.min(r.not_after)
            }
            _ => next_update,
        };
        let der = respond(&self.ca, signed_by, query, &statuses, now, next_update)?;
        // Answers for serials never issued are not kept: random serials
        // would fill the cache with nothing worth serving again.
        let Some(key) = key.filter(|_| statuses[0] != Status::Unknown) else {
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

impl Authority {
    /// Issues the delegated responder's certificate when there is none yet
    /// or two thirds of its validity have passed (RFC 6960 §4.2.2.2;
    /// `ca.toml` `[ocsp]`). The issuance is recorded in the audit trail
    /// before the CA key signs. Nothing under `responder = "ca"` or without
    /// a responder key. Returns the new certificate's serial.
    pub fn renew_ocsp_responder_if_due(&self) -> Result<Option<String>> {
        let OcspResponder::Delegated { validity } = self.policies.ca.ocsp_responder else {
            return Ok(None);
        };
        let Some(key) = &self.ocsp_key else {
            return Ok(None);
        };
        let now = self.now();
        let due = match &*self
            .ocsp_responder
            .read()
            .unwrap_or_else(|p| p.into_inner())
        {
            Some(r) => now >= r.not_before + (r.not_after - r.not_before) * 2 / 3,
            None => true,
        };
        if !due {
            return Ok(None);
        }
        // A minute back for clocks running behind; never past the CA.
        let not_before = now - Duration::minutes(1);
        let not_after = (now + validity).min(self.ca.not_after());
        let serial = random_serial()?;
        let tbs = self.ca.prepare_responder_certificate(
            serial.clone(),
            key.public_key().clone(),
            not_before,
            not_after,
        )?;
        let serial = serial_hex(&serial);
        self.store.write(|tx| {
            tx.audit(
                now,
                Event {
                    actor: "system",
                    action: "ocsp.responder.issue",
                    object: format!("certificate:{serial}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({"not_before": not_before, "not_after": not_after}),
                },
            )
        })?;
        let der = self.ca.sign_certificate(&tbs)?;
        let certificate = ca_core::certificate::parse_certificate(&der)?;
        *self
            .ocsp_responder
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(DelegatedResponder {
            certificate,
            not_before,
            not_after,
        });
        // Answers signed by the previous responder are not served again.
        self.ocsp_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .answers
            .clear();
        Ok(Some(serial))
    }
}
