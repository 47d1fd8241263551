//! A CRL of 1,000,000 entries builds and signs within a few hundred MB
//! (issue #2), and openssl accepts it; built again as a server builds its
//! next one, it costs one copy of itself (issue 10). Alone in its test
//! binary so the process's peak resident size (VmHWM) measures these builds
//! only.

use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry};
use ca_core::serial::random_serial;
use ca_core::CertificateAuthority;
use ca_tests::{text, TestCa};
use chrono::{Duration, Utc};

/// Peak resident set size of this process, in MiB.
fn peak_rss_mib() -> u64 {
    ca_tests::peak_resident_bytes("self") >> 20
}

const ENTRIES: usize = 1_000_000;

/// A million entries, as from a database cursor: never a Vec.
fn entries() -> impl Iterator<Item = RevokedEntry> {
    let now = Utc::now();
    (0..ENTRIES).map(move |i| RevokedEntry {
        serial: random_serial().unwrap(),
        revoked_at: now - Duration::seconds(i as i64),
        reason: if i % 10 == 0 {
            RevocationReason::CertificateHold
        } else {
            RevocationReason::KeyCompromise
        },
        invalidity_date: (i % 3 == 0).then(|| now - Duration::days(1)),
    })
}

fn params(number: u64) -> CrlParams {
    let now = Utc::now();
    CrlParams {
        number,
        this_update: now,
        next_update: now + Duration::hours(24),
        delta_base: None,
    }
}

/// Builds the next CRL the way the publisher does; returns its DER, the
/// process's resident size before and its peak during.
fn build_next(ca: &CertificateAuthority) -> (Vec<u8>, u64, u64) {
    let before = ca_tests::reset_peak_resident("self") >> 20;
    let unsigned = ca.encode_crl(&params(2), entries()).unwrap();
    let der = ca.sign_crl(unsigned).unwrap();
    (der, before, peak_rss_mib())
}

#[test]
fn a_million_entry_crl_stays_lean_and_verifies() {
    const LIMIT_MIB: u64 = 300;
    let t = TestCa::new();
    let before = peak_rss_mib();
    let der = t.ca.build_crl(&params(1), entries()).unwrap();
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
    let out = t.openssl(&[
        "crl", "-inform", "DER", "-in", "big.crl", "-CAfile", "ca.pem", "-noout",
    ]);
    assert!(text(&out).contains("verify OK"), "{}", text(&out));

    // The next CRL, built after this one was freed, as in a server that
    // keeps publishing: the entries are written once, into the buffer that
    // is signed and returned, so the build holds one copy of the CRL and
    // little else. (Encoded in chunks and then copied, it held two.)
    drop(der);
    let (der, before, peak) = build_next(&t.ca);
    let size = (der.len() >> 20) as u64;
    println!("the next: {size} MiB DER, RSS {before} MiB before, peak {peak} MiB");
    assert!(
        peak < before + size + 16,
        "the next CRL ({size} MiB) took the resident size from {before} to {peak} MiB"
    );
    t.write("next.crl", &der);
    let out = t.openssl(&[
        "crl", "-inform", "DER", "-in", "next.crl", "-CAfile", "ca.pem", "-noout",
    ]);
    assert!(text(&out).contains("verify OK"), "{}", text(&out));
}
