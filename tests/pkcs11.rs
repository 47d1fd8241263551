//! The CA key on a real SoftHSM2 token through PKCS#11 (issue 11): keys
//! generated on the token and never extractable (as the token and OpenSC's
//! `pkcs11-tool` report them), certificates and CRLs signed on the token
//! and checked by `openssl`, a wrong PIN and a missing key refused as
//! `signer_unavailable`, and the same CA after a restart.

use std::sync::{Arc, OnceLock};

use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry};
use ca_core::keystore::{self, Opened};
use ca_core::pkcs11::{PinSource, Pkcs11Signer, RsaHash, Token, TokenConfig};
use ca_core::policy::{CaKeyAlgorithm, ProfileKind};
use ca_core::signer::CaSigner;
use ca_core::ErrorKind;
use ca_tests::{serial_of, text, try_openssl, SoftHsm, TestCa};
use chrono::{Duration, Utc};
use zeroize::Zeroizing;

/// Tokens of one process: the module reads `SOFTHSM2_CONF` once, at its
/// first `C_Initialize`, so every token is made before any test opens one.
/// (A process logs in once per token, so the wrong-PIN token has no other user.)
const TOKENS: [&str; 8] = [
    "gen",
    "ca-rsa",
    "ca-p256",
    "ca-p384",
    "restart",
    "refusals",
    "wrong-pin",
    "pin-file",
];

fn hsm() -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        let hsm = SoftHsm::new();
        for label in TOKENS {
            hsm.init_token(label);
        }
        std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
        hsm
    })
}

fn token_with_pin(label: &str, pin: &str) -> Arc<Token> {
    Token::open(TokenConfig {
        module: hsm().module.clone(),
        token_label: label.into(),
        pin: PinSource::Value(Zeroizing::new(pin.into())),
        sessions: 2,
    })
    .unwrap()
}

fn token(label: &str) -> Arc<Token> {
    token_with_pin(label, &hsm().pin)
}

#[test]
fn keys_generated_on_the_token_never_leave_it() {
    let t = token("gen");
    for (label, alg) in [
        ("rsa", CaKeyAlgorithm::Rsa2048),
        ("p256", CaKeyAlgorithm::EcdsaP256),
        ("p384", CaKeyAlgorithm::EcdsaP384),
    ] {
        let spki = t.generate(label, alg).unwrap();
        assert_eq!(t.public_key(label).unwrap(), spki);
        // The token's own word…
        let facts = t.private_key_facts(label).unwrap();
        assert!(facts.never_left_the_token(), "{label}: {facts:?}");
        // …and an outside tool's (OpenSC reads the attributes itself).
        let out = hsm().pkcs11_tool(
            "gen",
            &["--list-objects", "--type", "privkey", "--label", label],
        );
        let listed = text(&out);
        assert!(out.status.success(), "{listed}");
        for attribute in [
            "sensitive",
            "always sensitive",
            "never extractable",
            "local",
        ] {
            assert!(
                listed.contains(attribute),
                "{label}: no {attribute:?} in {listed}"
            );
        }
        // Usable to sign, and for nothing else.
        let usage = listed
            .lines()
            .find(|l| l.contains("Usage:"))
            .unwrap_or_default();
        assert!(usage.contains("sign"), "{usage}");
        for other in ["decrypt", "unwrap", "derive"] {
            assert!(!usage.contains(other), "{usage}");
        }
        // A second key under the same label is refused.
        let again = t.generate(label, alg).unwrap_err();
        assert_eq!(again.kind(), ErrorKind::KeyStore, "{again}");
    }
}

#[test]
fn certificates_and_crls_signed_on_the_token_verify_with_openssl() {
    for (token_label, alg, signature) in [
        ("ca-rsa", CaKeyAlgorithm::Rsa2048, "sha256WithRSAEncryption"),
        ("ca-p256", CaKeyAlgorithm::EcdsaP256, "ecdsa-with-SHA256"),
        ("ca-p384", CaKeyAlgorithm::EcdsaP384, "ecdsa-with-SHA384"),
    ] {
        let t = TestCa::on_token(&token(token_label), "ca", alg);
        let ok = |args: &[&str]| {
            let out = try_openssl(t.path(), args);
            assert!(
                out.status.success(),
                "{token_label}: openssl {args:?}: {}",
                text(&out)
            );
            text(&out)
        };
        // The self-signed CA certificate verifies under its own key.
        ok(&["verify", "-CAfile", "ca.pem", "ca.pem"]);
        let shown = ok(&["x509", "-in", "ca.pem", "-noout", "-text"]);
        assert!(shown.contains(signature), "{shown}");
        // A working certificate and a CRL revoking it, signed on the token.
        let csr = t.make_csr("work", "ec-p256");
        let cert = t.issue("work", &csr, ProfileKind::Working);
        ok(&["verify", "-CAfile", "ca.pem", "work.pem"]);
        let now = Utc::now();
        let crl =
            t.ca.build_crl(
                &CrlParams {
                    number: 1,
                    this_update: now - Duration::minutes(1),
                    next_update: now + Duration::hours(24),
                    delta_base: None,
                },
                vec![RevokedEntry {
                    serial: serial_of(&cert),
                    revoked_at: now - Duration::minutes(1),
                    reason: RevocationReason::KeyCompromise,
                    invalidity_date: None,
                }],
            )
            .unwrap();
        t.write_pem("ca.crl", "X509 CRL", &crl);
        ok(&["crl", "-in", "ca.crl", "-CAfile", "ca.pem", "-noout"]);
        let out = try_openssl(
            t.path(),
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                "ca.crl",
                "work.pem",
            ],
        );
        assert!(!out.status.success());
        assert!(text(&out).contains("certificate revoked"), "{}", text(&out));
    }
}

#[test]
fn a_restart_finds_the_same_ca_on_the_token() {
    let hsm_token = token("restart");
    let t = TestCa::on_token(&hsm_token, "ca", CaKeyAlgorithm::EcdsaP256);
    let data = t.path().join("data");
    // No key file is written: the key exists only on the token.
    assert!(!data.join(keystore::KEY_FILE).exists());
    let (again, opened) =
        keystore::open_or_create_on_token(&data, &t.policies.ca, &hsm_token, "ca", Utc::now())
            .unwrap();
    assert_eq!(opened, Opened::Loaded);
    assert_eq!(again.certificate_der(), t.ca.certificate_der());
    again.check_signer().unwrap();
    // The certificate without the key's label on the token: refused.
    let wrong =
        keystore::open_or_create_on_token(&data, &t.policies.ca, &hsm_token, "other", Utc::now());
    assert!(wrong.is_err());
    // A key on the token without its certificate (an interrupted first
    // start, or a parent-issued certificate not installed yet): refused
    // with what to do, never a second CA.
    std::fs::remove_file(data.join(keystore::CERT_FILE)).unwrap();
    let err =
        keystore::open_or_create_on_token(&data, &t.policies.ca, &hsm_token, "ca", Utc::now())
            .unwrap_err();
    assert!(err.message().contains("put the CA certificate"), "{err}");
}

#[test]
fn a_wrong_pin_or_a_missing_key_is_signer_unavailable() {
    let good = token("refusals");
    good.generate("ca", CaKeyAlgorithm::EcdsaP256).unwrap();
    let spki = good.public_key("ca").unwrap();

    // A wrong PIN: 503-kind error, and the same PIN is not tried again
    // (real tokens lock after a few wrong tries).
    let wrong = token_with_pin("wrong-pin", "not-the-pin");
    let signer = Pkcs11Signer::new(wrong, "ca", spki.clone(), RsaHash::Sha256).unwrap();
    let e = signer.sign(b"message").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignerUnavailable, "{e}");
    assert!(e.message().contains("PIN"), "{e}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let e = signer.check().unwrap_err();
    assert!(e.message().contains("not trying it again"), "{e}");

    // No key under the label.
    let missing = Pkcs11Signer::new(good.clone(), "absent", spki.clone(), RsaHash::Sha256).unwrap();
    let e = missing.sign(b"message").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignerUnavailable, "{e}");
    assert!(e.message().contains("absent"), "{e}");

    // A key whose public half is not the certificate's: its signatures are
    // never handed out.
    let other = good.generate("other", CaKeyAlgorithm::EcdsaP256).unwrap();
    assert_ne!(other, spki);
    let mismatched =
        Pkcs11Signer::new(good.clone(), "other", spki.clone(), RsaHash::Sha256).unwrap();
    let e = mismatched.sign(b"message").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignerUnavailable, "{e}");
    assert!(e.message().contains("does not verify"), "{e}");

    // The accepted case on the same token.
    let signer = Pkcs11Signer::new(good, "ca", spki, RsaHash::Sha256).unwrap();
    assert!(!signer.sign(b"message").unwrap().is_empty());
    signer.check().unwrap();
}

#[test]
fn rsa_signs_with_sha256_sha384_and_sha512() {
    let t = token("gen");
    let spki = t.generate("rsa-hashes", CaKeyAlgorithm::Rsa2048).unwrap();
    for hash in [RsaHash::Sha256, RsaHash::Sha384, RsaHash::Sha512] {
        // The signer checks each signature under the public key with the
        // named hash before returning it.
        let signer = Pkcs11Signer::new(t.clone(), "rsa-hashes", spki.clone(), hash).unwrap();
        let sig = signer.sign(b"tbs bytes").unwrap();
        assert_eq!(sig.len(), 256, "{hash:?}");
    }
}

#[test]
fn the_pin_file_must_be_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pin");
    std::fs::write(&file, format!("{}\n", hsm().pin)).unwrap();
    let open = || {
        Token::open(TokenConfig {
            module: hsm().module.clone(),
            token_label: "pin-file".into(),
            pin: PinSource::File(file.clone()),
            sessions: 1,
        })
        .unwrap()
    };
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = open().has_key("ca").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignerUnavailable, "{e}");
    assert!(e.message().contains("readable by others"), "{e}");
    // Owner-only with a wrong PIN: refused by the token (this token has no
    // other user in this process, so the login is really checked).
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&file, "wrong\n").unwrap();
    let e = open().has_key("ca").unwrap_err();
    assert!(e.message().contains("refused the PIN"), "{e}");
    // Owner-only, the right PIN with the trailing newline an editor leaves:
    // accepted.
    std::fs::write(&file, format!("{}\n", hsm().pin)).unwrap();
    assert!(!open().has_key("ca").unwrap());
}

/// A later start while the token is away (here: no token of that label)
/// still opens the CA from its certificate; signing waits for the token.
#[test]
fn a_start_with_the_token_away_serves_and_waits() {
    let present = token("restart");
    let t = TestCa::on_token(&present, "away-test", CaKeyAlgorithm::EcdsaP256);
    let away = token("no-such-token");
    let (ca, opened) = keystore::open_or_create_on_token(
        &t.path().join("data"),
        &t.policies.ca,
        &away,
        "away-test",
        Utc::now(),
    )
    .unwrap();
    assert_eq!(opened, Opened::Loaded);
    assert_eq!(ca.certificate_der(), t.ca.certificate_der());
    let e = ca.check_signer().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignerUnavailable, "{e}");
    let e = ca.sign_statement("checkpoint").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SignerUnavailable, "{e}");
}
