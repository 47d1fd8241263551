//! Issue 9 "what must show": the kinds of requests six outside client
//! libraries send (node-forge, PKI.js, Bouncy Castle, NSS, GnuTLS, Python
//! cryptography) — DER and BER, with and without signed attributes, signer
//! by issuer+serial or by subject key identifier, RSA and P-256, with the
//! profile's own KU/EKU/policies or none — are accepted when they match the
//! profile, and refused when they ask for more. Made with the `openssl`
//! command line, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.

mod support;

use support::{on_each_backend, subj, World};

/// The working profile's extensions as a client library writes them.
const WORKING: [&str; 3] = ca_tests::WORKING_EXTENSIONS;

#[test]
fn every_kind_of_client_request_that_matches_the_profile_is_accepted() {
    on_each_backend(|db| {
        let w = World::new(db);
        let subject = subj(&w.person.full_name, &w.person.position);
        let mut n = 0;
        for key in ["rsa", "p256"] {
            // A technological certificate on a key of this algorithm.
            let tech = format!("tech-{key}");
            make_csr(&w, &tech, key, &subject, &[]);
            let req = <x509_cert::request::CertReq as der::Decode>::from_der(
                &w.t.read(&format!("{tech}.csr")),
            )
            .unwrap();
            let (_, der) = w
                .reg
                .issue_technological("registrar", &w.person.id, req.info.public_key)
                .unwrap();
            w.t.write_pem(&format!("{tech}.pem"), "CERTIFICATE", &der);
            for extensions in [&[][..], &WORKING[..]] {
                for encoding in [&[][..], &["-stream"][..]] {
                    for attributes in [&[][..], &["-noattr"][..]] {
                        for signer_id in [&[][..], &["-keyid"][..]] {
                            n += 1;
                            let name = format!("r{n}");
                            make_csr(&w, &name, key, &subject, extensions);
                            let flags: Vec<&str> = [encoding, attributes, signer_id].concat();
                            let p7 = w.t.cms_sign(
                                &format!("{name}.csr"),
                                &format!("{tech}.pem"),
                                &format!("{tech}.key"),
                                &flags,
                            );
                            let v = w.reg.submit_request(&p7).unwrap().view;
                            assert_eq!(
                                (
                                    v.request_type.as_str(),
                                    v.status.as_str(),
                                    v.reasons.clone()
                                ),
                                ("initial", "pending", vec![]),
                                "{key} {extensions:?} {flags:?}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(n, 32);
        // Asking for more than the profile: refused, whatever the encoding.
        make_csr(
            &w,
            "greedy",
            "p256",
            &subject,
            &["keyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment"],
        );
        let p7 =
            w.t.cms_sign("greedy.csr", "tech-p256.pem", "tech-p256.key", &["-stream"]);
        let v = w.reg.submit_request(&p7).unwrap().view;
        assert_eq!(
            (v.status.as_str(), v.reasons.clone()),
            ("rejected", vec!["subject_mismatch".to_string()])
        );
    });
}

/// `<name>.key` and DER `<name>.csr` for an RSA-2048 or P-256 key.
fn make_csr(w: &World, name: &str, key: &str, subject: &str, extensions: &[&str]) {
    let keyfile = format!("{name}.key");
    let keygen: &[&str] = if key == "rsa" {
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    } else {
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    };
    let mut args = vec!["genpkey"];
    args.extend_from_slice(keygen);
    args.extend(["-out", &keyfile]);
    w.t.openssl(&args);
    let out = format!("{name}.csr");
    let mut args = vec![
        "req", "-new", "-utf8", "-key", &keyfile, "-subj", subject, "-outform", "DER", "-out", &out,
    ];
    args.extend(ca_tests::addext_args(extensions));
    w.t.openssl(&args);
}
