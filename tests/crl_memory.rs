//! A CRL of 1,000,000 entries builds and signs within a few hundred MB
//! (issue #2), and openssl accepts it. Alone in its test binary so the
//! process's peak resident size (VmHWM) measures this build only.

use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry};
use ca_core::serial::random_serial;
use ca_tests::{text, TestCa};
use chrono::{Duration, Utc};

/// Peak resident set size of this process, in MiB (Linux /proc).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[test]
fn a_million_entry_crl_stays_lean_and_verifies() {
    const ENTRIES: usize = 1_000_000;
    const LIMIT_MIB: u64 = 300;
    let t = TestCa::new();
    let before = peak_rss_mib();
    let now = Utc::now();
    // Entries come from an iterator, as from a database cursor: never a Vec.
    let entries = (0..ENTRIES).map(|i| RevokedEntry {
        serial: random_serial().unwrap(),
        revoked_at: now - Duration::seconds(i as i64),
        reason: if i % 10 == 0 {
            RevocationReason::CertificateHold
        } else {
            RevocationReason::KeyCompromise
        },
        invalidity_date: (i % 3 == 0).then(|| now - Duration::days(1)),
    });
    let params = CrlParams {
        number: 1,
        this_update: now,
        next_update: now + Duration::hours(24),
        delta_base: None,
    };
    let der = t.ca.build_crl(&params, entries).unwrap();
    let peak = peak_rss_mib();
    println!(
        "1,000,000 entries: {} MiB DER, peak RSS {peak} MiB (was {before} MiB)",
        der.len() >> 20
    );
    assert!(
        peak < LIMIT_MIB,
        "peak RSS {peak} MiB for a {} MiB CRL",
        der.len() >> 20
    );
    t.write("big.crl", &der);
    drop(der);
    let out = t.openssl(&[
        "crl", "-inform", "DER", "-in", "big.crl", "-CAfile", "ca.pem", "-noout",
    ]);
    assert!(text(&out).contains("verify OK"), "{}", text(&out));
}
