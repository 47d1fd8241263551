//! Certificates, CRLs and the CA key store, checked by the `openssl` command
//! line: `openssl verify`, `openssl crl`, `openssl pkey`.

use std::os::unix::fs::PermissionsExt;

use ca_core::crl::{CrlParams, RevocationReason, RevokedEntry};
use ca_core::keystore::{self, Opened};
use ca_core::policy::ProfileKind;
use ca_core::{CertificateAuthority, ErrorKind};
use ca_tests::{days_from_now, openssl, policies, serial_of, text, try_openssl, TestCa};
use chrono::{Duration, Utc};
use der::Decode;

fn verify_ok(t: &TestCa, args: &[&str]) {
    let out = try_openssl(t.path(), args);
    assert!(
        out.status.success(),
        "expected OK: openssl {}\n{}",
        args.join(" "),
        text(&out)
    );
}

fn verify_fails(t: &TestCa, args: &[&str], why: &str) {
    let out = try_openssl(t.path(), args);
    let said = text(&out);
    assert!(
        !out.status.success(),
        "expected failure: openssl {}\n{said}",
        args.join(" ")
    );
    assert!(said.contains(why), "expected {why:?} in:\n{said}");
}

fn write_crl(t: &TestCa, name: &str, params: &CrlParams, entries: Vec<RevokedEntry>) -> String {
    let der = t.ca.build_crl(params, entries).expect("CRL");
    t.write_pem(name, "X509 CRL", &der);
    name.to_string()
}

fn params(number: u64) -> CrlParams {
    let now = Utc::now();
    CrlParams {
        number,
        this_update: now - Duration::minutes(1),
        next_update: now + Duration::hours(24),
        delta_base: None,
    }
}

#[test]
fn issued_certificates_verify_and_carry_the_profile() {
    let t = TestCa::new();
    for (name, key, profile) in [
        ("tech", "rsa:2048", ProfileKind::Technological),
        ("work", "ec-p256", ProfileKind::Working),
        ("extra", "ec-p384", ProfileKind::Additional),
    ] {
        let csr = t.make_csr(name, key);
        t.issue(name, &csr, profile);
        let file = format!("{name}.pem");
        verify_ok(&t, &["verify", "-CAfile", "ca.pem", &file]);
        let shown = text(&t.openssl(&[
            "x509",
            "-in",
            &file,
            "-noout",
            "-text",
            "-nameopt",
            "utf8,sep_comma_plus",
        ]));
        for expected in [
            "CN=Иванов Иван Иванович",
            "title=Генеральный директор",
            "X509v3 Key Usage: critical",
            "Digital Signature",
            "X509v3 Basic Constraints: critical",
            "CA:FALSE",
            "X509v3 Extended Key Usage",
            "TLS Web Client Authentication",
            "X509v3 Certificate Policies",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
            "URI:http://127.0.0.1:8080/api/v1/crl",
            "CA Issuers - URI:http://127.0.0.1:8080/api/v1/ca/certificate",
        ] {
            assert!(
                shown.contains(expected),
                "{name}: {expected:?} missing in\n{shown}"
            );
        }
        let policy_oid = &t.policies.profiles.get(profile).certificate_policies[0].to_string();
        assert!(
            shown.contains(policy_oid.as_str()),
            "{name}: policy {policy_oid}"
        );
    }
    // The working profile adds non-repudiation (1.76: signs payment orders).
    let shown = text(&t.openssl(&["x509", "-in", "work.pem", "-noout", "-ext", "keyUsage"]));
    assert!(shown.contains("Non Repudiation"), "{shown}");
    // A technological certificate's validity is the profile's short period.
    let days = t
        .policies
        .profiles
        .get(ProfileKind::Technological)
        .validity_days;
    let cert = x509_cert::Certificate::from_der(&t.issue(
        "tech2",
        &t.make_csr("tech2", "ec-p256"),
        ProfileKind::Technological,
    ))
    .unwrap();
    let v = cert.tbs_certificate.validity;
    let length = v.not_after.to_unix_duration() - v.not_before.to_unix_duration();
    assert_eq!(length.as_secs(), u64::from(days) * 86_400);
    let out = try_openssl(
        t.path(),
        &[
            "x509",
            "-in",
            "tech2.pem",
            "-noout",
            "-checkend",
            &((u64::from(days) + 1) * 86_400).to_string(),
        ],
    );
    assert!(text(&out).contains("will expire"), "{}", text(&out));
}

#[test]
fn the_ca_certificate_is_a_proper_root() {
    let t = TestCa::new();
    verify_ok(&t, &["verify", "-CAfile", "ca.pem", "ca.pem"]);
    let shown = text(&t.openssl(&[
        "x509", "-in", "ca.pem", "-noout", "-text", "-nameopt", "utf8",
    ]));
    for expected in [
        "CA:TRUE, pathlen:0",
        "Certificate Sign, CRL Sign",
        "Удостоверяющий центр Банка",
        "Public-Key: (3072 bit)",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing in\n{shown}");
    }
}

#[test]
fn crl_marks_revoked_and_held_certificates_and_resumption_clears_them() {
    let t = TestCa::new();
    let mut serials = Vec::new();
    for name in ["good", "revoked", "held"] {
        let csr = t.make_csr(name, "ec-p256");
        serials.push(serial_of(&t.issue(name, &csr, ProfileKind::Working)));
    }
    let now = Utc::now();
    let revoked = RevokedEntry {
        serial: serials[1].clone(),
        revoked_at: now - Duration::minutes(1),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: Some(now - Duration::days(1)),
    };
    let held = RevokedEntry {
        serial: serials[2].clone(),
        revoked_at: now - Duration::minutes(1),
        reason: RevocationReason::CertificateHold,
        invalidity_date: None,
    };
    let crl = write_crl(
        &t,
        "full.crl",
        &params(7),
        vec![revoked.clone(), held.clone()],
    );
    let checked = text(&t.openssl(&["crl", "-in", &crl, "-CAfile", "ca.pem", "-noout"]));
    assert!(checked.contains("verify OK"), "{checked}");
    let shown = text(&t.openssl(&["crl", "-in", &crl, "-noout", "-text"]));
    for expected in [
        "Version 2 (0x1)",
        "X509v3 CRL Number",
        "7",
        "X509v3 Authority Key Identifier",
        "Next Update",
        "Key Compromise",
        "Invalidity Date",
        "Certificate Hold",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing in\n{shown}");
    }
    let base = [
        "verify",
        "-crl_check",
        "-CAfile",
        "ca.pem",
        "-CRLfile",
        crl.as_str(),
    ];
    verify_ok(&t, &[&base[..], &["good.pem"]].concat());
    verify_fails(
        &t,
        &[&base[..], &["revoked.pem"]].concat(),
        "certificate revoked",
    );
    verify_fails(
        &t,
        &[&base[..], &["held.pem"]].concat(),
        "certificate revoked",
    );

    // Resumed: the next full CRL no longer lists it (SPEC §3.5) …
    let crl = write_crl(&t, "next.crl", &params(8), vec![revoked.clone()]);
    let base = [
        "verify",
        "-crl_check",
        "-CAfile",
        "ca.pem",
        "-CRLfile",
        crl.as_str(),
    ];
    verify_ok(&t, &[&base[..], &["held.pem"]].concat());
    verify_fails(
        &t,
        &[&base[..], &["revoked.pem"]].concat(),
        "certificate revoked",
    );

    // … and a delta CRL on base 7 says removeFromCRL.
    let delta = CrlParams {
        delta_base: Some(7),
        ..params(9)
    };
    let resumed = RevokedEntry {
        reason: RevocationReason::RemoveFromCrl,
        ..held
    };
    let crl = write_crl(&t, "delta.crl", &delta, vec![resumed]);
    let checked = text(&t.openssl(&["crl", "-in", &crl, "-CAfile", "ca.pem", "-noout", "-text"]));
    for expected in [
        "verify OK",
        "Delta CRL Indicator: critical",
        "Remove From CRL",
    ] {
        assert!(
            checked.contains(expected),
            "{expected:?} missing in\n{checked}"
        );
    }
}

#[test]
fn crl_rules_of_rfc5280_are_enforced_before_signing() {
    let t = TestCa::new();
    let entry = |reason| RevokedEntry {
        serial: ca_core::serial::random_serial().unwrap(),
        revoked_at: Utc::now(),
        reason,
        invalidity_date: None,
    };
    // removeFromCRL only in a delta CRL.
    let err =
        t.ca.build_crl(&params(2), vec![entry(RevocationReason::RemoveFromCrl)])
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    // nextUpdate after thisUpdate; delta number above its base.
    let backwards = CrlParams {
        next_update: Utc::now() - Duration::hours(1),
        ..params(2)
    };
    assert!(t.ca.build_crl(&backwards, vec![]).is_err());
    let bad_delta = CrlParams {
        delta_base: Some(5),
        ..params(5)
    };
    assert!(t.ca.build_crl(&bad_delta, vec![]).is_err());
    // "Unspecified" is written by leaving the reason out (SPEC §7), and an
    // empty CRL omits revokedCertificates; both still verify.
    let crl = write_crl(
        &t,
        "u.crl",
        &params(3),
        vec![entry(RevocationReason::Unspecified)],
    );
    let shown = text(&t.openssl(&["crl", "-in", &crl, "-CAfile", "ca.pem", "-noout", "-text"]));
    assert!(
        shown.contains("verify OK") && shown.contains("Serial Number:"),
        "{shown}"
    );
    assert!(!shown.contains("CRL Reason Code"), "{shown}");
    let crl = write_crl(&t, "empty.crl", &params(4), vec![]);
    let shown = text(&t.openssl(&["crl", "-in", &crl, "-CAfile", "ca.pem", "-noout", "-text"]));
    assert!(
        shown.contains("verify OK") && shown.contains("No Revoked Certificates"),
        "{shown}"
    );
}

#[test]
fn crl_issuer_is_byte_identical_to_the_ca_subject() {
    let t = TestCa::new();
    let der = t.ca.build_crl(&params(1), vec![]).unwrap();
    let crl = x509_cert::crl::CertificateList::from_der(&der).unwrap();
    assert_eq!(
        der::Encode::to_der(&crl.tbs_cert_list.issuer).unwrap(),
        t.ca.subject_der()
    );
    let subject = der::Encode::to_der(&t.ca.certificate().tbs_certificate.subject).unwrap();
    assert_eq!(subject, t.ca.subject_der());
}

#[test]
fn key_store_writes_an_owner_only_encrypted_key_and_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = policies();
    let pass = b"correct horse battery staple";
    let (ca, opened) = keystore::open_or_create(&data, &p.ca, Some(pass), Utc::now()).unwrap();
    assert_eq!(opened, Opened::Created);
    let key_file = data.join(keystore::KEY_FILE);
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let pem = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    // openssl reads it with the passphrase and finds the CA's public key.
    let out = openssl(
        dir.path(),
        &[
            "pkey",
            "-in",
            key_file.to_str().unwrap(),
            "-passin",
            "pass:correct horse battery staple",
            "-pubout",
        ],
    );
    let cert_pub = openssl(
        dir.path(),
        &[
            "x509",
            "-in",
            data.join(keystore::CERT_FILE).to_str().unwrap(),
            "-noout",
            "-pubkey",
        ],
    );
    assert_eq!(out.stdout, cert_pub.stdout);

    // Reopening loads the same CA; a wrong or missing passphrase is an error.
    let (again, opened) = keystore::open_or_create(&data, &p.ca, Some(pass), Utc::now()).unwrap();
    assert_eq!(opened, Opened::Loaded);
    assert_eq!(again.certificate_der(), ca.certificate_der());
    let err = keystore::open_or_create(&data, &p.ca, Some(b"wrong"), Utc::now()).unwrap_err();
    assert!(err.to_string().contains("cannot decrypt"), "{err}");
    let err = keystore::open_or_create(&data, &p.ca, None, Utc::now()).unwrap_err();
    assert!(err.to_string().contains("CA_KEY_PASSPHRASE"), "{err}");
    assert!(
        !err.to_string().contains(&pem[40..80]),
        "no key material in errors"
    );

    // A key file others can read is refused.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = keystore::open_or_create(&data, &p.ca, Some(pass), Utc::now()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyStore);
    assert!(err.to_string().contains("chmod 600"), "{err}");

    // A key without its certificate is reported, not replaced by a new CA.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(data.join(keystore::CERT_FILE)).unwrap();
    let err = keystore::open_or_create(&data, &p.ca, Some(pass), Utc::now()).unwrap_err();
    assert!(err.to_string().contains("ca.cert.pem"), "{err}");
}

#[test]
fn a_ca_certified_by_a_parent_is_loaded_and_its_certificates_chain() {
    let t = TestCa::new(); // only for its working directory and openssl helper
    let dir = t.path();
    // The parent root and our intermediate's key and CSR, all by openssl.
    t.openssl(&[
        "req",
        "-x509",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "root.key",
        "-subj",
        "/CN=Bank Root CA",
        "-days",
        "3650",
        "-out",
        "root.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    std::fs::create_dir(dir.join("sub")).unwrap();
    t.openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        "sub/ca.key.pem",
    ]);
    std::fs::set_permissions(
        dir.join("sub/ca.key.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    t.openssl(&[
        "req",
        "-new",
        "-utf8",
        "-key",
        "sub/ca.key.pem",
        "-subj",
        "/C=RU/O=АО Банк/CN=УЦ Клиент-Банк",
        "-out",
        "sub.csr",
    ]);
    t.write("sub.ext", b"basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
    t.openssl(&[
        "x509",
        "-req",
        "-in",
        "sub.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "root.key",
        "-CAcreateserial",
        "-days",
        "1000",
        "-extfile",
        "sub.ext",
        "-out",
        "sub/ca.cert.pem",
    ]);

    let p = policies();
    let (sub, opened) =
        keystore::open_or_create(&dir.join("sub"), &p.ca, None, Utc::now()).unwrap();
    assert_eq!(opened, Opened::Loaded);
    let sub_test = TestCa {
        dir: tempfile::tempdir().unwrap(),
        ca: sub,
        policies: p,
    };
    let csr = t.make_csr("leaf", "rsa:2048");
    let leaf = sub_test.issue("leaf", &csr, ProfileKind::Working);
    t.write_pem("leaf.pem", "CERTIFICATE", &leaf);
    verify_ok(
        &t,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "sub/ca.cert.pem",
            "leaf.pem",
        ],
    );
    // Validity never passes the CA certificate's own end.
    let leaf = x509_cert::Certificate::from_der(&leaf).unwrap();
    assert!(
        leaf.tbs_certificate.validity.not_after.to_unix_duration()
            <= sub_test
                .ca
                .certificate()
                .tbs_certificate
                .validity
                .not_after
                .to_unix_duration()
    );
    let crl = sub_test.ca.build_crl(&params(1), vec![]).unwrap();
    t.write_pem("sub.crl", "X509 CRL", &crl);
    let checked = text(&t.openssl(&[
        "crl",
        "-in",
        "sub.crl",
        "-CAfile",
        "sub/ca.cert.pem",
        "-noout",
    ]));
    assert!(checked.contains("verify OK"), "{checked}");

    // A certificate that is not of the key, or not a CA, is refused.
    std::fs::copy(dir.join("root.pem"), dir.join("sub/ca.cert.pem")).unwrap();
    let err =
        keystore::open_or_create(&dir.join("sub"), &policies().ca, None, Utc::now()).unwrap_err();
    assert!(err.to_string().contains("not of the CA key"), "{err}");
}

#[test]
fn validity_is_capped_at_the_power_of_attorney() {
    let t = TestCa::new();
    let profile = t.policies.profiles.get(ProfileKind::Working);
    let poa = days_from_now(40);
    let (nb, na) = profile
        .validity(Utc::now(), Some(poa), t.ca.not_after())
        .unwrap();
    assert_eq!(na, poa);
    assert!(nb < na);
    let _: &CertificateAuthority = &t.ca;
}
