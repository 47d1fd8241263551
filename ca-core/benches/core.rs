//! Criterion benchmarks of the core's hot paths (issue #2):
//! unwrapping + verifying a request, issuing one certificate, and building +
//! signing CRLs of 10,000 / 100,000 / 1,000,000 entries.
//!
//! Run with `scripts/bench-core.sh`, which also measures `openssl speed
//! rsa2048` on the same machine in the same run as the baseline.
//! The request envelopes are made once by the `openssl` command line.

use std::path::Path;
use std::process::Command;

use ca_core::certificate::CertificateParams;
use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry};
use ca_core::envelope::unwrap_request;
use ca_core::policy::{CaKeyAlgorithm, Policies, ProfileKind};
use ca_core::serial::random_serial;
use ca_core::signer::SoftwareSigner;
use ca_core::subject::SubjectSpec;
use ca_core::CertificateAuthority;
use chrono::{Duration, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use der::Decode;
use x509_cert::request::CertReq;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl {args:?}");
}

fn policies() -> Policies {
    Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")).unwrap()
}

fn ca(alg: CaKeyAlgorithm, p: &Policies) -> CertificateAuthority {
    let (signer, _) = SoftwareSigner::generate(alg).unwrap();
    CertificateAuthority::create_self_signed(Box::new(signer), &p.ca, Utc::now()).unwrap()
}

fn params<'a>(p: &'a Policies, key: &CertReq) -> CertificateParams<'a> {
    let now = Utc::now();
    CertificateParams {
        serial: random_serial().unwrap(),
        subject: SubjectSpec {
            country: Some("RU".into()),
            common_name: "Иванов Иван Иванович".into(),
            ..SubjectSpec::default()
        }
        .to_name()
        .unwrap(),
        public_key: key.info.public_key.clone(),
        not_before: now,
        not_after: now + Duration::days(300),
        profile: p.profiles.get(ProfileKind::Working),
    }
}

fn bench_requests_and_issuance(c: &mut Criterion) {
    let p = policies();
    let ca = ca(CaKeyAlgorithm::Rsa2048, &p);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A technological certificate (RSA-2048) and two requests.
    openssl(
        d,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "tech.key", "-subj",
            "/CN=t", "-outform", "DER", "-out", "tech.csr",
        ],
    );
    let tech_csr = CertReq::from_der(&std::fs::read(d.join("tech.csr")).unwrap()).unwrap();
    let tech = ca
        .issue(&CertificateParams {
            profile: p.profiles.get(ProfileKind::Technological),
            ..params(&p, &tech_csr)
        })
        .unwrap();
    std::fs::write(
        d.join("tech.pem"),
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &tech).unwrap(),
    )
    .unwrap();
    openssl(
        d,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "new.key", "-subj", "/CN=n",
            "-outform", "DER", "-out", "new.csr",
        ],
    );
    openssl(
        d,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
            "new.csr",
            "-signer",
            "tech.pem",
            "-inkey",
            "tech.key",
            "-out",
            "initial.p7",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ec.key",
            "-subj",
            "/CN=e",
            "-outform",
            "DER",
            "-out",
            "ec.csr",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ec.key",
            "-subj",
            "/CN=e",
            "-days",
            "2",
            "-out",
            "ec-self.pem",
        ],
    );
    openssl(
        d,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
            "ec.csr",
            "-signer",
            "ec-self.pem",
            "-inkey",
            "ec.key",
            "-out",
            "self.p7",
        ],
    );

    let mut g = c.benchmark_group("unwrap_request");
    g.throughput(Throughput::Elements(1));
    for (name, file) in [
        ("rsa2048_initial", "initial.p7"),
        ("p256_self_signed", "self.p7"),
    ] {
        let bytes = std::fs::read(d.join(file)).unwrap();
        unwrap_request(&bytes, ca.trust_anchor()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| unwrap_request(&bytes, ca.trust_anchor()).unwrap())
        });
    }
    g.finish();

    let new_csr = CertReq::from_der(&std::fs::read(d.join("new.csr")).unwrap()).unwrap();
    let mut g = c.benchmark_group("issue_certificate");
    g.throughput(Throughput::Elements(1));
    for (name, alg) in [
        ("ca_rsa2048", CaKeyAlgorithm::Rsa2048),
        ("ca_rsa3072", CaKeyAlgorithm::Rsa3072),
        ("ca_p256", CaKeyAlgorithm::EcdsaP256),
    ] {
        let ca = self::ca(alg, &p);
        g.bench_function(name, |b| {
            b.iter(|| ca.issue(&params(&p, &new_csr)).unwrap())
        });
    }
    g.finish();
}

fn bench_crls(c: &mut Criterion) {
    let p = policies();
    let ca = ca(CaKeyAlgorithm::Rsa2048, &p);
    let now = Utc::now();
    let mut g = c.benchmark_group("build_crl");
    for n in [10_000usize, 100_000, 1_000_000] {
        let serials: Vec<_> = (0..n).map(|_| random_serial().unwrap()).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::from_parameter(n), &serials, |b, serials| {
            b.iter(|| {
                let entries = serials.iter().enumerate().map(|(i, s)| RevokedEntry {
                    serial: s.clone(),
                    revoked_at: now - Duration::seconds(i as i64),
                    reason: if i % 10 == 0 {
                        RevocationReason::CertificateHold
                    } else {
                        RevocationReason::KeyCompromise
                    },
                    invalidity_date: None,
                });
                let params = CrlParams {
                    number: 1,
                    this_update: now,
                    next_update: now + Duration::hours(24),
                    delta_base: None,
                };
                ca.build_crl(&params, entries).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_requests_and_issuance, bench_crls);
criterion_main!(benches);
