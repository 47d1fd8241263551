//! The OCSP responder (issue 12; RFC 6960) through the application as the
//! server builds it, with `openssl ocsp` making the requests and checking
//! the responses: GET and POST, good / revoked (certificateHold while
//! suspended) / unknown, the nonce echoed, the pre-signed answer replaced
//! when the status changes, and the RFC's error statuses for what cannot
//! be answered. On SQLite and PostgreSQL.

mod common;

use base64ct::{Base64, Encoding};
use ca_tests::{text, try_openssl, TestDb};
use common::*;

/// `POST /api/v1/ocsp` with a DER request.
async fn post<S, B>(app: &S, body: Vec<u8>) -> Resp
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    call(
        app,
        "POST",
        "/api/v1/ocsp",
        None,
        Some(("application/ocsp-request", body)),
        &[],
    )
    .await
}

/// A technological certificate for a registered person: `tech.pem`.
fn certificate(env: &Env) -> String {
    let org = env
        .reg
        .register_organization(
            "registrar",
            ca_core::api::NewOrganization {
                name: "ООО Ромашка".into(),
                inn: "7701234567".into(),
                ogrn: "1027700132195".into(),
                agreement_number: "КБ-1".into(),
                webhook_url: None,
                contact_email: None,
            },
        )
        .unwrap();
    let person = env
        .reg
        .register_person(
            "registrar",
            ca_core::api::NewPerson {
                organization_id: org.id,
                full_name: "Иванов Иван Иванович".into(),
                position: "Генеральный директор".into(),
                email: "i@example.ru".into(),
                authority_document: "Д-1".into(),
                authority_valid_until: env.reg.now() + chrono::Duration::days(200),
            },
        )
        .unwrap();
    let csr = env.t.make_csr("tech", "ec-p256");
    let req = <x509_cert::request::CertReq as der::Decode>::from_der(&csr).unwrap();
    let (serial, der) = env
        .reg
        .issue_technological("registrar", &person.person.id, req.info.public_key)
        .unwrap();
    env.t.write_pem("tech.pem", "CERTIFICATE", &der);
    serial
}

/// What `openssl ocsp` makes of `resp` about `cert` (signature verified
/// with the CA certificate), with the response printed.
fn check(env: &Env, resp: &[u8], cert: &str) -> String {
    std::fs::write(env.t.path().join("resp.der"), resp).unwrap();
    let args = [
        "ocsp",
        "-respin",
        "resp.der",
        "-CAfile",
        "ca.pem",
        "-issuer",
        "ca.pem",
        "-cert",
        cert,
        "-no_nonce",
        "-resp_text",
    ];
    text(&try_openssl(env.t.path(), &args))
}

/// The hex of the nonce line after "OCSP Nonce:" in openssl's text.
fn nonce(shown: &str) -> Option<String> {
    let mut lines = shown.lines();
    lines.find(|l| l.contains("OCSP Nonce"))?;
    lines.next().map(|l| l.trim().to_string())
}

fn request(env: &Env, out: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["ocsp", "-issuer", "ca.pem", "-reqout", out];
    args.extend_from_slice(extra);
    env.t.openssl(&args);
    env.t.read(out)
}

#[actix_web::test]
async fn ocsp_answers_good_revoked_and_good_again_by_get_and_post() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let serial = certificate(&env);

        // GET, no nonce: cacheable, and the same bytes twice.
        let req = request(&env, "get.der", &["-cert", "tech.pem", "-no_nonce"]);
        let path = format!(
            "/api/v1/ocsp/{}",
            Base64::encode_string(&req)
                .replace('/', "%2F")
                .replace('+', "%2B")
        );
        let r = get(&app, &path, None).await;
        assert_eq!(
            (
                r.status,
                r.header("content-type").as_str(),
                r.header("cache-control").as_str()
            ),
            (
                200,
                "application/ocsp-response",
                "public, max-age=60, no-transform"
            )
        );
        let shown = check(&env, &r.body, "tech.pem");
        assert!(
            shown.contains("tech.pem: good") && shown.contains("Response verify OK"),
            "{shown}"
        );
        let again = get(&app, &path, None).await;
        assert_eq!(again.body, r.body, "served pre-signed");

        // Suspended: revoked, certificateHold; the pre-signed answer is not reused.
        env.reg
            .suspend("registrar", &serial, 10, "З-1", None)
            .unwrap();
        let held = get(&app, &path, None).await;
        let shown = check(&env, &held.body, "tech.pem");
        assert!(
            shown.contains("tech.pem: revoked") && shown.contains("Reason: certificateHold"),
            "{shown}"
        );
        // Resumed: good again.
        env.reg.resume("registrar", &serial, "З-2", None).unwrap();
        let shown = check(&env, &get(&app, &path, None).await.body, "tech.pem");
        assert!(shown.contains("tech.pem: good"), "{shown}");

        // POST with a nonce: echoed (openssl compares it), not cacheable.
        let req = request(&env, "post.der", &["-cert", "tech.pem"]);
        let r = post(&app, req).await;
        assert_eq!(
            (r.status, r.header("cache-control").as_str()),
            (200, "no-store")
        );
        let shown = check(&env, &r.body, "tech.pem");
        assert!(shown.contains("tech.pem: good"), "{shown}");
        let asked = text(&env.t.openssl(&["ocsp", "-reqin", "post.der", "-req_text"]));
        assert!(nonce(&asked).is_some(), "{asked}");
        assert_eq!(nonce(&shown), nonce(&asked), "the nonce is echoed");
        // Revoked for key compromise.
        env.reg
            .revoke("registrar", &serial, "key_compromise", "З-3", None)
            .unwrap();
        let shown = check(&env, &get(&app, &path, None).await.body, "tech.pem");
        assert!(
            shown.contains("tech.pem: revoked") && shown.contains("Reason: keyCompromise"),
            "{shown}"
        );
    }
}

#[actix_web::test]
async fn what_cannot_be_answered_gets_the_rfc_error_status_never_a_500() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        certificate(&env);
        // A serial this CA never issued: unknown.
        let req = request(
            &env,
            "u.der",
            &["-serial", "0x0123456789abcdef", "-no_nonce"],
        );
        let r = post(&app, req).await;
        std::fs::write(env.t.path().join("resp.der"), &r.body).unwrap();
        let shown = text(&try_openssl(
            env.t.path(),
            &[
                "ocsp",
                "-respin",
                "resp.der",
                "-CAfile",
                "ca.pem",
                "-resp_text",
                "-noverify",
            ],
        ));
        assert!(shown.contains("Cert Status: unknown"), "{shown}");
        // Another CA's certificate: unauthorized (RFC 6960 §2.3).
        let mut other_ca = ca_tests::p256_req_args("other.key", "/CN=Other CA");
        other_ca.extend(["-x509", "-days", "1", "-out", "other.pem"]);
        env.t.openssl(&other_ca);
        let req = {
            env.t.openssl(&[
                "ocsp",
                "-issuer",
                "other.pem",
                "-serial",
                "0x01",
                "-reqout",
                "o.der",
                "-no_nonce",
            ]);
            env.t.read("o.der")
        };
        assert_eq!(
            post(&app, req).await.body,
            [0x30, 0x03, 0x0a, 0x01, 0x06],
            "unauthorized"
        );
        // Unknown answers are not kept or cacheable (random serials would
        // fill the cache).
        let unknown = request(
            &env,
            "u2.der",
            &["-serial", "0x0123456789abcdef", "-no_nonce"],
        );
        let path = format!(
            "/api/v1/ocsp/{}",
            Base64::encode_string(&unknown)
                .replace('/', "%2F")
                .replace('+', "%2B")
        );
        assert_eq!(
            get(&app, &path, None).await.header("cache-control"),
            "no-store"
        );
        // Not a request at all, by POST and by GET: malformedRequest.
        let malformed = [0x30, 0x03, 0x0a, 0x01, 0x01];
        assert_eq!(post(&app, b"hello".to_vec()).await.body, malformed);
        assert_eq!(post(&app, vec![]).await.body, malformed);
        let r = get(&app, "/api/v1/ocsp/not-base64!!", None).await;
        assert_eq!((r.status, r.body.as_slice()), (200, &malformed[..]));
        // More certificates than a response may carry.
        let serials: Vec<String> = (1..=11).map(|i| format!("0x{i:02x}")).collect();
        let mut args = vec![
            "ocsp",
            "-issuer",
            "ca.pem",
            "-reqout",
            "many.der",
            "-no_nonce",
        ];
        for s in &serials {
            args.extend(["-serial", s.as_str()]);
        }
        env.t.openssl(&args);
        assert_eq!(post(&app, env.t.read("many.der")).await.body, malformed);
        // The wrong media type is an HTTP error of its own.
        let r = call(
            &app,
            "POST",
            "/api/v1/ocsp",
            None,
            Some(("text/plain", b"x".to_vec())),
            &[],
        )
        .await;
        assert_eq!(r.status, 415);
    }
}

/// RFC 6960 §4.2.2.2: responses signed by a delegated responder whose
/// certificate (EKU OCSPSigning, ocsp-nocheck) the CA issued and the
/// response carries; openssl accepts it with only the CA certificate. It
/// is replaced when two thirds of its validity (7 days) have passed.
#[actix_web::test]
async fn a_delegated_responder_signs_and_is_renewed_before_it_ends() {
    for db in TestDb::all() {
        let env = Env::with_ocsp_responder(&db);
        let app = app(&env).await;
        certificate(&env);
        let req = request(&env, "d.der", &["-cert", "tech.pem", "-no_nonce"]);
        let r = post(&app, req.clone()).await;
        let shown = check(&env, &r.body, "tech.pem");
        assert!(
            shown.contains("tech.pem: good") && shown.contains("Response verify OK"),
            "{shown}"
        );
        // The responder's certificate travels in the response.
        let certs =
            text(
                &env.t
                    .openssl(&["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"]),
            );
        assert!(
            certs.contains("OCSP Signing") && certs.contains("OCSP No Check"),
            "{certs}"
        );
        assert!(
            certs
                .lines()
                .any(|l| l.contains("Subject:") && l.trim_end().ends_with(" OCSP")),
            "the responder's name: {certs}"
        );
        // Not yet due; due after two thirds of 7 days; a new certificate signs.
        assert_eq!(env.reg.renew_ocsp_responder_if_due().unwrap(), None);
        env.clock.advance(chrono::Duration::days(5));
        let renewed = env
            .reg
            .renew_ocsp_responder_if_due()
            .unwrap()
            .expect("renewed");
        let r = post(&app, req).await;
        std::fs::write(env.t.path().join("resp2.der"), &r.body).unwrap();
        let second =
            text(
                &env.t
                    .openssl(&["ocsp", "-respin", "resp2.der", "-resp_text", "-noverify"]),
            );
        let wanted = renewed.to_uppercase();
        assert!(
            second.replace(':', "").to_uppercase().contains(&wanted),
            "the renewed responder ({renewed}) signs: {second}"
        );
        // Both issuances are in the audit trail.
        let issued = env
            .reg
            .audit_records(0, 1000)
            .unwrap()
            .into_iter()
            .filter(|a| a.action == "ocsp.responder.issue")
            .count();
        assert_eq!(issued, 2);
    }
}

/// SPEC §3.5: a suspension whose period has ended is a revocation at that
/// moment, whether or not the background work has run — OCSP says so too.
#[actix_web::test]
async fn a_lapsed_suspension_is_answered_as_revoked_at_once() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let serial = certificate(&env);
        let until = env
            .reg
            .suspend("registrar", &serial, 10, "З-1", None)
            .unwrap();
        let req = request(&env, "l.der", &["-cert", "tech.pem", "-no_nonce"]);
        let shown = check(&env, &post(&app, req.clone()).await.body, "tech.pem");
        assert!(shown.contains("Reason: certificateHold"), "{shown}");
        env.clock.set(until);
        let shown = check(&env, &post(&app, req).await.body, "tech.pem");
        assert!(
            // (openssl also warns that the times lie ahead of its clock.)
            shown.contains("Cert Status: revoked") && !shown.contains("certificateHold"),
            "{shown}"
        );
    }
}
