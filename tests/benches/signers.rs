//! Issuance with the CA key in memory (aws-lc-rs) against the same with the
//! CA key on a SoftHSM2 token through PKCS#11 (issue 11), in one run: one
//! certificate built and signed per iteration, RSA-2048 and P-256.
//!
//! `cargo bench -p ca-tests --bench signers` (needs softhsm2 installed).

use ca_core::certificate::CertificateParams;
use ca_core::keystore;
use ca_core::pkcs11::{PinSource, Token, TokenConfig};
use ca_core::policy::{CaKeyAlgorithm, ProfileKind};
use ca_core::serial::random_serial;
use ca_core::signer::SoftwareSigner;
use ca_core::CertificateAuthority;
use ca_tests::{person_subject, policies, SoftHsm};
use chrono::{Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zeroize::Zeroizing;

fn bench(c: &mut Criterion) {
    let hsm = SoftHsm::new();
    hsm.init_token("bench");
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    let token = Token::open(TokenConfig {
        module: hsm.module.clone(),
        token_label: "bench".into(),
        pin: PinSource::Value(Zeroizing::new(hsm.pin.clone())),
        sessions: 2,
    })
    .unwrap();
    let mut group = c.benchmark_group("issue_certificate");
    group.throughput(Throughput::Elements(1));
    for (name, alg) in [
        ("rsa2048", CaKeyAlgorithm::Rsa2048),
        ("p256", CaKeyAlgorithm::EcdsaP256),
    ] {
        let mut p = policies();
        p.ca.key_algorithm = alg;
        let (signer, _) = SoftwareSigner::generate(alg).unwrap();
        let software =
            CertificateAuthority::create_self_signed(Box::new(signer), &p.ca, Utc::now()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (on_token, _) =
            keystore::open_or_create_on_token(dir.path(), &p.ca, &token, name, Utc::now()).unwrap();
        // The requester's key does not matter to the CA's cost: a P-256 one.
        let (key, _) = SoftwareSigner::generate(CaKeyAlgorithm::EcdsaP256).unwrap();
        let public_key = ca_core::signer::CaSigner::public_key(&key).clone();
        let profile = p.profiles.get(ProfileKind::Working);
        let params = || {
            let now = Utc::now();
            CertificateParams {
                serial: random_serial().unwrap(),
                subject: person_subject().to_name().unwrap(),
                public_key: public_key.clone(),
                not_before: now,
                not_after: now + Duration::days(300),
                profile,
            }
        };
        // Alternating the two sides, so drift on a shared machine hits both.
        for (side, ca) in [("aws-lc-rs", &software), ("softhsm2", &on_token)] {
            group.bench_function(format!("{name}/{side}"), |b| {
                b.iter(|| ca.issue(&params()).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
