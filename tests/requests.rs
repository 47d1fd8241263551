//! Request envelopes made by the `openssl` command line, unwrapped by ca-core:
//! every accepted shape (SPEC §3.1, §7) and every structural refusal (§3.2).

use ca_core::envelope::{unwrap_request, Signer, UnwrappedRequest};
use ca_core::policy::ProfileKind;
use ca_core::request_type::RequestType;
use ca_core::{ber, ErrorKind, Reason};
use ca_tests::{openssl, TestCa};

fn unwrap(t: &TestCa, bytes: &[u8]) -> ca_core::Result<UnwrappedRequest> {
    unwrap_request(bytes, t.ca.trust_anchor())
}

fn request_type(t: &TestCa, u: &UnwrappedRequest) -> RequestType {
    let profile = match &u.signer {
        Signer::Certificate(cert) => t.policies.profiles.kind_of_certificate(cert),
        Signer::RequestKey => None,
    };
    RequestType::decide(&u.signer, profile).unwrap()
}

fn refused(t: &TestCa, bytes: &[u8]) -> Reason {
    let err = unwrap(t, bytes).expect_err("must be refused");
    assert_eq!(err.reason_codes().len(), 1, "{err}");
    err.reason_codes()[0]
}

/// A technological certificate for a fresh key: files `tech.key`, `tech.pem`.
fn technological(t: &TestCa) {
    let csr = t.make_csr("tech", "rsa:2048");
    t.issue("tech", &csr, ProfileKind::Technological);
}

#[test]
fn initial_request_signed_by_a_technological_certificate() {
    let t = TestCa::new();
    technological(&t);
    for (name, key) in [
        ("rsa", "rsa:2048"),
        ("p256", "ec-p256"),
        ("p384", "ec-p384"),
        ("rsa4k", "rsa:4096"),
    ] {
        let csr = t.make_csr(name, key);
        let p7 = t.cms_sign(&format!("{name}.csr"), "tech.pem", "tech.key", &[]);
        assert!(!ber::needs_conversion(&p7), "openssl wrote DER");
        let u = unwrap(&t, &p7).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u.csr.der, csr);
        assert_eq!(u.cms_der, p7);
        assert_eq!(request_type(&t, &u), RequestType::Initial, "{name}");
    }
}

#[test]
fn rotation_request_signed_by_a_working_certificate() {
    let t = TestCa::new();
    let csr = t.make_csr("work", "ec-p256");
    t.issue("work", &csr, ProfileKind::Working);
    t.make_csr("next", "ec-p256");
    let p7 = t.cms_sign("next.csr", "work.pem", "work.key", &[]);
    let u = unwrap(&t, &p7).unwrap();
    assert_eq!(request_type(&t, &u), RequestType::Rotation);

    let csr = t.make_csr("extra", "rsa:2048");
    t.issue("extra", &csr, ProfileKind::Additional);
    let p7 = t.cms_sign("next.csr", "extra.pem", "extra.key", &[]);
    assert_eq!(
        request_type(&t, &unwrap(&t, &p7).unwrap()),
        RequestType::Rotation
    );
}

#[test]
fn initial_self_signed_request_signed_by_the_new_key() {
    let t = TestCa::new();
    for (name, key) in [
        ("rsa", "rsa:2048"),
        ("p256", "ec-p256"),
        ("p384", "ec-p384"),
    ] {
        t.make_csr(name, key);
        let cert = t.self_signed(name);
        let p7 = t.cms_sign(&format!("{name}.csr"), &cert, &format!("{name}.key"), &[]);
        let u = unwrap(&t, &p7).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(u.signer, Signer::RequestKey));
        assert_eq!(request_type(&t, &u), RequestType::InitialSelfSigned);
    }
}

#[test]
fn signer_identified_by_subject_key_identifier() {
    let t = TestCa::new();
    technological(&t);
    t.make_csr("a", "rsa:2048");
    let p7 = t.cms_sign("a.csr", "tech.pem", "tech.key", &["-keyid"]);
    assert_eq!(
        request_type(&t, &unwrap(&t, &p7).unwrap()),
        RequestType::Initial
    );
    let cert = t.self_signed("a");
    let p7 = t.cms_sign("a.csr", &cert, "a.key", &["-keyid"]);
    assert_eq!(
        request_type(&t, &unwrap(&t, &p7).unwrap()),
        RequestType::InitialSelfSigned
    );
    // Without the certificate in the envelope the key identifier alone names
    // the requested key (SPEC §3.1: "or a subject key identifier").
    let p7 = t.cms_sign("a.csr", &cert, "a.key", &["-keyid", "-nocerts"]);
    assert_eq!(
        request_type(&t, &unwrap(&t, &p7).unwrap()),
        RequestType::InitialSelfSigned
    );
}

#[test]
fn digests_attributes_and_encodings_openssl_can_produce() {
    let t = TestCa::new();
    technological(&t);
    t.make_csr("p", "ec-p384");
    let ec_self = t.self_signed("p");
    for md in ["sha256", "sha384", "sha512"] {
        let p7 = t.cms_sign("p.csr", "tech.pem", "tech.key", &["-md", md]);
        unwrap(&t, &p7).unwrap_or_else(|e| panic!("RSA {md}: {e}"));
        let p7 = t.cms_sign("p.csr", &ec_self, "p.key", &["-md", md]);
        unwrap(&t, &p7).unwrap_or_else(|e| panic!("ECDSA {md}: {e}"));
    }
    // No signed attributes: the signature covers the content itself.
    let p7 = t.cms_sign("p.csr", "tech.pem", "tech.key", &["-noattr"]);
    unwrap(&t, &p7).unwrap();
    // PEM, as some client software posts it.
    let out = t.path().join("p.pem7");
    openssl(
        t.path(),
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "PEM",
            "-in",
            "p.csr",
            "-signer",
            "tech.pem",
            "-inkey",
            "tech.key",
            "-out",
            out.to_str().unwrap(),
        ],
    );
    unwrap(&t, &std::fs::read(&out).unwrap()).unwrap();
    // BER with indefinite lengths and a chunked OCTET STRING, as CryptoAPI
    // writes it: converted to DER, then verified.
    let ber_p7 = t.cms_sign("p.csr", "tech.pem", "tech.key", &["-stream"]);
    assert!(ber::needs_conversion(&ber_p7), "openssl -stream wrote BER");
    let u = unwrap(&t, &ber_p7).unwrap();
    assert_ne!(u.cms_der, ber_p7);
    assert_eq!(u.cms_der, ber::to_der(&ber_p7).unwrap());
}

#[test]
fn malformed_cms_is_refused() {
    let t = TestCa::new();
    let csr = t.make_csr("a", "rsa:2048");
    assert_eq!(refused(&t, b""), Reason::MalformedCms);
    assert_eq!(refused(&t, b"hello, CA"), Reason::MalformedCms);
    // A bare PKCS#10 is a SEQUENCE but not a ContentInfo.
    assert_eq!(refused(&t, &csr), Reason::MalformedCms);
    // A ContentInfo of another type (id-data).
    t.openssl(&[
        "cms",
        "-data_create",
        "-binary",
        "-in",
        "a.csr",
        "-outform",
        "DER",
        "-out",
        "data.p7",
    ]);
    assert_eq!(refused(&t, &t.read("data.p7")), Reason::MalformedCms);
    // A detached signature carries no request.
    t.self_signed("a");
    t.openssl(&[
        "cms",
        "-sign",
        "-binary",
        "-outform",
        "DER",
        "-in",
        "a.csr",
        "-signer",
        "a-self.pem",
        "-inkey",
        "a.key",
        "-out",
        "detached.p7",
    ]);
    assert_eq!(refused(&t, &t.read("detached.p7")), Reason::MalformedCms);
    // PEM with a label that is not CMS.
    t.openssl(&["req", "-in", "a.csr", "-inform", "DER", "-out", "a.csr.pem"]);
    assert_eq!(refused(&t, &t.read("a.csr.pem")), Reason::MalformedCms);
    let err = unwrap(&t, b"\x30\x03\x02\x01").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
}

#[test]
fn malformed_csr_is_refused() {
    let t = TestCa::new();
    t.make_csr("a", "rsa:2048");
    let cert = t.self_signed("a");
    t.write("note.txt", b"please issue me a certificate");
    let p7 = t.cms_sign("note.txt", &cert, "a.key", &[]);
    assert_eq!(refused(&t, &p7), Reason::MalformedCsr);
}

#[test]
fn bad_cms_signature_is_refused() {
    let t = TestCa::new();
    technological(&t);
    t.make_csr("a", "rsa:2048");
    let good = t.cms_sign("a.csr", "tech.pem", "tech.key", &[]);
    unwrap(&t, &good).unwrap();
    // The signature value is the last OCTET STRING of the envelope.
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x01;
    assert_eq!(refused(&t, &bad), Reason::BadCmsSignature);
    // Same without signed attributes (the signature covers the content).
    let mut bad = t.cms_sign("a.csr", "tech.pem", "tech.key", &["-noattr"]);
    *bad.last_mut().unwrap() ^= 0x80;
    assert_eq!(refused(&t, &bad), Reason::BadCmsSignature);
    // The content changed after signing: messageDigest no longer matches.
    // Flip a byte inside the CSR's signature (still a valid PKCS#10 shape).
    let csr = t.read("a.csr");
    let tail = &csr[csr.len() - 16..];
    let at = good.windows(16).position(|w| w == tail).unwrap();
    let mut bad = good.clone();
    bad[at + 8] ^= 0x01;
    assert_eq!(refused(&t, &bad), Reason::BadCmsSignature);
}

#[test]
fn bad_csr_signature_is_refused() {
    let t = TestCa::new();
    technological(&t);
    let mut csr = t.make_csr("a", "rsa:2048");
    *csr.last_mut().unwrap() ^= 0x01; // break the self-signature only
    t.write("broken.csr", &csr);
    let p7 = t.cms_sign("broken.csr", "tech.pem", "tech.key", &[]);
    assert_eq!(refused(&t, &p7), Reason::BadCsrSignature);
}

#[test]
fn unknown_signer_is_refused() {
    let t = TestCa::new();
    t.make_csr("a", "rsa:2048");
    // A self-signed certificate of some other key.
    t.make_csr("stranger", "rsa:2048");
    let other = t.self_signed("stranger");
    let p7 = t.cms_sign("a.csr", &other, "stranger.key", &[]);
    assert_eq!(refused(&t, &p7), Reason::UnknownSigner);
    // A technological certificate from another CA with the same name.
    let elsewhere = TestCa::new();
    let csr = elsewhere.make_csr("tech", "rsa:2048");
    elsewhere.issue("tech", &csr, ProfileKind::Technological);
    std::fs::copy(
        elsewhere.path().join("tech.pem"),
        t.path().join("foreign.pem"),
    )
    .unwrap();
    std::fs::copy(
        elsewhere.path().join("tech.key"),
        t.path().join("foreign.key"),
    )
    .unwrap();
    let p7 = t.cms_sign("a.csr", "foreign.pem", "foreign.key", &[]);
    assert_eq!(refused(&t, &p7), Reason::UnknownSigner);
    // A signer identifier that matches no certificate in the envelope.
    let p7 = t.cms_sign("a.csr", &other, "stranger.key", &["-nocerts"]);
    assert_eq!(refused(&t, &p7), Reason::UnknownSigner);
}

#[test]
fn weak_key_is_refused_by_the_profile_and_unsupported_keys_at_once() {
    let t = TestCa::new();
    let working = t.policies.profiles.get(ProfileKind::Working);
    // RSA-1024: structurally fine, refused by the key policy.
    t.make_csr("small", "rsa:1024");
    let cert = t.self_signed("small");
    let p7 = t.cms_sign("small.csr", &cert, "small.key", &[]);
    let u = unwrap(&t, &p7).unwrap();
    let err = working.check_key(u.csr.key.algorithm()).unwrap_err();
    assert!(err.has(Reason::WeakKey), "{err}");
    assert_eq!(err.kind(), ErrorKind::Refused);
    // RSA-2048 and P-256 pass the same check.
    for (name, key) in [("ok-rsa", "rsa:2048"), ("ok-ec", "ec-p256")] {
        t.make_csr(name, key);
        let cert = t.self_signed(name);
        let u = unwrap(
            &t,
            &t.cms_sign(&format!("{name}.csr"), &cert, &format!("{name}.key"), &[]),
        )
        .unwrap();
        working.check_key(u.csr.key.algorithm()).unwrap();
    }
    // Ed25519: no profile can allow it; refused as weak_key while unwrapping.
    technological(&t);
    t.make_csr("ed", "ed25519");
    let p7 = t.cms_sign("ed.csr", "tech.pem", "tech.key", &[]);
    assert_eq!(refused(&t, &p7), Reason::WeakKey);
}

#[test]
fn unconvertible_ber_is_unsupported_encoding() {
    let t = TestCa::new();
    // A SEQUENCE whose length field is 5 octets long.
    let err = unwrap(&t, &[0x30, 0x85, 0, 0, 0, 0, 1, 0]).unwrap_err();
    assert!(err.has(Reason::UnsupportedEncoding), "{err}");
    assert_eq!(err.kind(), ErrorKind::Malformed);
}

/// xorshift64*: deterministic bytes for the fuzz loops, no dependency needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn truncated_mutated_and_random_input_never_panics() {
    let t = TestCa::new();
    technological(&t);
    t.make_csr("a", "ec-p256");
    let good = t.cms_sign("a.csr", "tech.pem", "tech.key", &[]);
    let ber_good = t.cms_sign("a.csr", "tech.pem", "tech.key", &["-stream"]);
    let check = |bytes: &[u8]| match unwrap(&t, bytes) {
        Ok(_) => {}
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::Malformed | ErrorKind::Refused)
                && !e.reason_codes().is_empty(),
            "unexpected error kind: {e:?}"
        ),
    };
    for input in [&good, &ber_good] {
        for len in 0..input.len() {
            let r = unwrap(&t, &input[..len]);
            assert!(
                r.is_err(),
                "a truncated envelope ({len} bytes) was accepted"
            );
            check(&input[..len]);
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() as usize) % bytes.len();
            bytes[at] = rng.next() as u8;
        }
        check(&bytes);
    }
    for _ in 0..3000 {
        let len = (rng.next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(b) = bytes.first_mut() {
            *b = 0x30; // get past the first check
        }
        check(&bytes);
    }
}

/// Issue 9 defect 16: PEM with 76-character lines (MIME) or the whole
/// body on one line, which OpenSSL reads, was refused.
#[test]
fn pem_with_any_line_length_is_read() {
    let t = TestCa::new();
    technological(&t);
    t.make_csr("p", "ec-p256");
    let der = t.cms_sign("p.csr", "tech.pem", "tech.key", &[]);
    use base64ct::{Base64, Encoding};
    let b64 = Base64::encode_string(&der);
    for (width, eol) in [(64, "\n"), (76, "\r\n"), (usize::MAX, "\n")] {
        let lines: Vec<String> = b64
            .as_bytes()
            .chunks(width.min(b64.len()))
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN CMS-----{eol}{}{eol}-----END CMS-----{eol}",
            lines.join(eol)
        );
        // OpenSSL reads it too.
        std::fs::write(t.path().join("w.pem"), &pem).unwrap();
        openssl(
            t.path(),
            &["cms", "-cmsout", "-inform", "PEM", "-in", "w.pem", "-noout"],
        );
        let u = unwrap(&t, pem.as_bytes()).unwrap_or_else(|e| panic!("{width}: {e}"));
        assert_eq!(u.cms_der, der);
    }
    // Still refused: not base64, or a block that never ends.
    assert_eq!(
        refused(&t, b"-----BEGIN CMS-----\n*!*\n-----END CMS-----\n"),
        Reason::MalformedCms
    );
    assert_eq!(
        refused(&t, b"-----BEGIN CMS-----\nMAA=\n"),
        Reason::MalformedCms
    );
}

/// Issue 9 defect 16: PKI.js writes a PKCS#10 without the (empty)
/// `attributes [0]` field; OpenSSL accepts it, and so do we, with the
/// signature checked over the bytes as sent.
#[test]
fn a_pkcs10_without_the_attributes_field_is_accepted() {
    let t = TestCa::new();
    technological(&t);
    let csr = t.make_csr("full", "ec-p256");
    // Take the info apart, drop its trailing `A0 00`, sign it again.
    let (outer_len, outer_hdr) = der_len(&csr[1..]);
    assert_eq!(csr.len(), 1 + outer_hdr + outer_len);
    let body = &csr[1 + outer_hdr..];
    let (info_len, info_hdr) = der_len(&body[1..]);
    let info = &body[..1 + info_hdr + info_len];
    let info_content = &info[1 + info_hdr..];
    assert_eq!(&info_content[info_content.len() - 2..], &[0xa0, 0x00]);
    let bare_info = tlv(0x30, &info_content[..info_content.len() - 2]);
    std::fs::write(t.path().join("info.der"), &bare_info).unwrap();
    openssl(
        t.path(),
        &[
            "dgst", "-sha256", "-sign", "full.key", "-out", "info.sig", "info.der",
        ],
    );
    let sig = std::fs::read(t.path().join("info.sig")).unwrap();
    let algorithm = &body[1 + info_hdr + info_len..];
    let (alg_len, alg_hdr) = der_len(&algorithm[1..]);
    let algorithm = &algorithm[..1 + alg_hdr + alg_len];
    let bitstring = tlv(0x03, &[&[0u8][..], &sig].concat());
    let bare = tlv(0x30, &[&bare_info[..], algorithm, &bitstring].concat());
    std::fs::write(t.path().join("bare.csr"), &bare).unwrap();
    openssl(
        t.path(),
        &[
            "req", "-inform", "DER", "-in", "bare.csr", "-verify", "-noout",
        ],
    );
    let p7 = t.cms_sign("bare.csr", "tech.pem", "tech.key", &[]);
    let u = unwrap(&t, &p7).unwrap();
    assert_eq!(u.csr.der, bare, "kept as sent");
    assert_eq!(request_type(&t, &u), RequestType::Initial);
    // The same bytes with the subject changed: the signature no longer holds.
    let mut forged = bare.clone();
    let at = forged.windows(4).position(|w| w == b"RU\x31").unwrap_or(20);
    forged[at] ^= 1;
    std::fs::write(t.path().join("forged.csr"), &forged).unwrap();
    let p7 = t.cms_sign("forged.csr", "tech.pem", "tech.key", &[]);
    assert!(matches!(
        refused(&t, &p7),
        Reason::BadCsrSignature | Reason::MalformedCsr
    ));
}

/// (length, header octets after the tag) of a DER length at `b`.
fn der_len(b: &[u8]) -> (usize, usize) {
    if b[0] < 0x80 {
        return (usize::from(b[0]), 1);
    }
    let n = usize::from(b[0] & 0x7f);
    let len = b[1..=n]
        .iter()
        .fold(0usize, |a, x| (a << 8) | usize::from(*x));
    (len, 1 + n)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}
