//! The consistency checker (issue 14): what an operator runs after an
//! incident (`ca-api check`), and what the fault tests assert. It only
//! reads; it repairs nothing (the recovery at start and the background work
//! do), so it shows what an incident left.

use std::collections::HashSet;

use chrono::Duration;
use der::Decode;
use serde::Serialize;

use ca_core::request_status::RequestStatus;
use ca_core::serial::parse_serial_hex;
use ca_core::Result;

use crate::Authority;

/// One check's outcome.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// Which check.
    pub check: &'static str,
    /// Whether it holds.
    pub ok: bool,
    /// What was found, for people.
    pub detail: String,
}

/// Every check's outcome.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ConsistencyReport {
    /// All checks hold.
    pub ok: bool,
    /// Each check.
    pub checks: Vec<Finding>,
}

/// A reservation older than this is unfinished issuance (the recovery
/// finishes them after a minute, and at every start).
const STALE_RESERVATION: i64 = 5;

/// Lists at most a few serials in a finding.
fn some(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    let more = items.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

impl Authority {
    /// Checks the registry: the audit chain verifies; every reserved serial
    /// was issued (no reservation left behind); every issued request's
    /// certificate is in the registry, signed, and no certificate was handed
    /// to two requests; no change waits for publication and the current full
    /// CRL lists every revoked and suspended certificate it must; CRL
    /// numbers strictly increase.
    pub fn check_consistency(&self) -> Result<ConsistencyReport> {
        let now = self.now();
        let mut checks = Vec::new();

        let audit = self.verify_audit()?;
        checks.push(Finding {
            check: "audit_chain",
            ok: audit.ok,
            detail: match &audit.problem {
                Some(p) => p.clone(),
                None => format!(
                    "{} records, {} signed checkpoints",
                    audit.records, audit.checkpoints
                ),
            },
        });

        let stale: Vec<String> = self
            .store
            .read(|tx| tx.reservations(Some(now - Duration::minutes(STALE_RESERVATION))))?
            .into_iter()
            .map(|r| r.serial)
            .collect();
        checks.push(Finding {
            check: "reservations_finished",
            ok: stale.is_empty(),
            detail: if stale.is_empty() {
                "every reserved serial is issued".into()
            } else {
                format!(
                    "reserved but not signed for over {STALE_RESERVATION} minutes (the \
                     recovery finishes them at start): {}",
                    some(&stale)
                )
            },
        });

        let (missing, twice, issued) = self.store.read(|tx| {
            let issued = tx.requests(&[RequestStatus::Issued])?;
            let mut seen = HashSet::new();
            let (mut missing, mut twice) = (Vec::new(), Vec::new());
            for r in &issued {
                let Some(serial) = &r.certificate_serial else {
                    missing.push(format!("request {} (no serial)", r.id));
                    continue;
                };
                if !seen.insert(serial.clone()) {
                    twice.push(serial.clone());
                }
                if tx.certificate_der(serial)?.is_none() {
                    missing.push(serial.clone());
                }
            }
            Ok((missing, twice, issued.len()))
        })?;
        checks.push(Finding {
            check: "issued_certificates_registered",
            ok: missing.is_empty() && twice.is_empty(),
            detail: match (missing.is_empty(), twice.is_empty()) {
                (true, true) => {
                    format!("{issued} issued requests, each with its signed certificate")
                }
                (false, _) => format!(
                    "issued requests without a signed certificate: {}",
                    some(&missing)
                ),
                (true, false) => format!("certificates handed to two requests: {}", some(&twice)),
            },
        });

        checks.push(self.crl_coverage()?);
        let numbers = self.crl_numbers()?;
        checks.push(Finding {
            check: "crl_numbers_increasing",
            ok: numbers.windows(2).all(|p| p[0] < p[1]),
            detail: format!("{} CRLs", numbers.len()),
        });
        let ok = checks.iter().all(|c| c.ok);
        Ok(ConsistencyReport { ok, checks })
    }

    /// Whether the current full CRL lists every certificate it must.
    fn crl_coverage(&self) -> Result<Finding> {
        let finding = |ok, detail| Finding {
            check: "crl_covers_revocations",
            ok,
            detail,
        };
        let pending = self.publication_pending()?;
        let Some(crl) = self.store.read(|tx| tx.latest_crl(false))? else {
            return Ok(finding(false, "no CRL has been published".into()));
        };
        let list = match x509_cert::crl::CertificateList::from_der(&crl.der) {
            Ok(list) => list,
            Err(e) => {
                return Ok(finding(
                    false,
                    format!("the current CRL does not parse: {e}"),
                ))
            }
        };
        let on_crl: HashSet<Vec<u8>> = list
            .tbs_cert_list
            .revoked_certificates
            .unwrap_or_default()
            .iter()
            .map(|r| r.serial_number.as_bytes().to_vec())
            .collect();
        // What that CRL had to list: certificates revoked or on hold, minus
        // those expired more than one CRL period before it.
        let horizon = crl.info.this_update - self.policies.ca.crl_period;
        let absent: Vec<String> = self.store.read(|tx| {
            tx.with_listed_certificates(horizon, |listed| {
                Ok(listed
                    .filter(|l| {
                        parse_serial_hex(&l.serial).is_none_or(|s| !on_crl.contains(s.as_bytes()))
                    })
                    .map(|l| l.serial)
                    .collect())
            })
        })?;
        Ok(if absent.is_empty() && !pending {
            finding(
                true,
                format!("CRL {} lists all {} entries", crl.info.number, on_crl.len()),
            )
        } else if absent.is_empty() {
            finding(false, "a change waits for publication".into())
        } else {
            finding(
                false,
                format!(
                    "CRL {} does not list {} revoked or suspended certificates{}: {}",
                    crl.info.number,
                    absent.len(),
                    if pending {
                        " (their publication is pending)"
                    } else {
                        ""
                    },
                    some(&absent)
                ),
            )
        })
    }
}
