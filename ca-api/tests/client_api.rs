//! Client software's side of the API, driven with envelopes made by the
//! `openssl` command line: submission, status, downloads, the act, the CRL
//! with caching; then every error status with bad input, never a 500.

mod common;

use ca_tests::{text, TestDb};
use common::*;
use serde_json::json;

#[actix_web::test]
async fn request_lifecycle_through_the_api() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let admin = admin(&app).await;
        let (_, person) = org_and_person(&app, &admin).await;
        let pid = person["id"].as_str().unwrap();
        assert_eq!(
            person["expected_subject"],
            "CN=Иванов Иван Иванович,title=Генеральный директор,OGRN=1027700132195,O=ООО Ромашка,C=RU"
        );

        // A technological certificate from the person's CSR.
        let pem = csr_pem(&env.t, "tech", SUBJ);
        let r = post_json(
            &app,
            &format!("/api/v1/admin/persons/{pid}/technological-certificate"),
            Some(&admin),
            json!({"csr_pem": pem}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        env.t.write(
            "tech.pem",
            r.json()["certificate_pem"].as_str().unwrap().as_bytes(),
        );
        env.t.openssl(&["verify", "-CAfile", "ca.pem", "tech.pem"]);

        // initial request, DER.
        csr_pem(&env.t, "work", SUBJ);
        let p7 = env.t.cms_sign("work.csr", "tech.pem", "tech.key", &[]);
        let r = call(
            &app,
            "POST",
            "/api/v1/requests",
            None,
            Some(("application/pkcs7-mime", p7.clone())),
            &[],
        )
        .await;
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        let id = v["id"].as_str().unwrap().to_string();
        assert_eq!(
            (v["type"].as_str(), v["status"].as_str()),
            (Some("initial"), Some("pending"))
        );
        assert!(v["decision_due"].is_string());
        assert_eq!(r.header("location"), format!("/api/v1/requests/{id}"));
        // Idempotent.
        let again = call(
            &app,
            "POST",
            "/api/v1/requests",
            None,
            Some(("application/octet-stream", p7)),
            &[],
        )
        .await;
        assert_eq!(
            (again.status, again.json()["id"].as_str()),
            (202, Some(id.as_str()))
        );
        assert_eq!(
            get(&app, &format!("/api/v1/requests/{id}"), None)
                .await
                .json()["status"],
            "pending"
        );
        assert_eq!(
            get(&app, &format!("/api/v1/requests/{id}/certificate"), None)
                .await
                .status,
            409
        );
        let act = get(&app, &format!("/api/v1/requests/{id}/act"), None).await;
        assert_eq!(act.status, 200);
        assert!(act.header("content-type").starts_with("text/html"));
        let html = String::from_utf8(act.body.clone()).unwrap();
        let fp = v["key_sha256"].as_str().unwrap().to_uppercase();
        assert!(
            html.contains(&format!("{} {}", &fp[..4], &fp[4..8])) && html.contains("P-256"),
            "{html}"
        );
        let due = get(&app, "/api/v1/admin/due", Some(&admin)).await.json();
        assert_eq!(due[0]["id"], id);

        // Approve; download DER and PEM.
        let r = post_json(
            &app,
            &format!("/api/v1/admin/requests/{id}/approve"),
            Some(&admin),
            json!({}),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["status"].as_str()),
            (200, Some("issued"))
        );
        let serial = r.json()["certificate_serial"].as_str().unwrap().to_string();
        let der = get(&app, &format!("/api/v1/requests/{id}/certificate"), None).await;
        assert_eq!(
            (der.status, der.header("content-type").as_str()),
            (200, "application/pkix-cert")
        );
        let pem = call(
            &app,
            "GET",
            &format!("/api/v1/requests/{id}/certificate"),
            None,
            None,
            &[("accept", "application/x-pem-file")],
        )
        .await;
        assert!(String::from_utf8_lossy(&pem.body).starts_with("-----BEGIN CERTIFICATE-----"));
        env.t.write("work.pem", &pem.body);
        env.t.openssl(&["verify", "-CAfile", "ca.pem", "work.pem"]);
        let status = get(&app, &format!("/api/v1/certificates/{serial}"), None).await;
        assert_eq!(status.json()["status"], "active");
        assert!(status.json()["renewal_due"].is_string());
        assert!(
            status.json().get("person_id").is_none(),
            "owner not shown to the public"
        );
        assert_eq!(
            get(
                &app,
                &format!("/api/v1/certificates/{}/certificate", serial.to_uppercase()),
                None
            )
            .await
            .body,
            der.body
        );
        assert_eq!(
            get(&app, "/api/v1/ca/certificate", None)
                .await
                .header("content-type"),
            "application/pkix-cert"
        );

        // Rotation in PEM (before the renewal window: it waits for an operator).
        csr_pem_with(&env.t, "next", SUBJ, &ca_tests::WORKING_EXTENSIONS);
        env.t.openssl(&[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "PEM",
            "-in",
            "next.csr",
            "-signer",
            "work.pem",
            "-inkey",
            "work.key",
            "-out",
            "next.p7.pem",
        ]);
        let r = call(
            &app,
            "POST",
            "/api/v1/requests",
            None,
            Some(("application/x-pem-file", env.t.read("next.p7.pem"))),
            &[],
        )
        .await;
        assert_eq!(
            (
                r.status,
                r.json()["status"].as_str(),
                r.json()["type"].as_str()
            ),
            (202, Some("pending"), Some("rotation"))
        );

        // A policy refusal: 422, same shape, status rejected.
        csr_pem(
            &env.t,
            "wrong",
            "/C=RU/O=ООО Ромашка/OGRN=1027700132195/title=Бухгалтер/CN=Иванов Иван Иванович",
        );
        let p7 = env.t.cms_sign("wrong.csr", "tech.pem", "tech.key", &[]);
        let r = call(
            &app,
            "POST",
            "/api/v1/requests",
            None,
            Some(("application/pkcs7-mime", p7)),
            &[],
        )
        .await;
        assert_eq!(
            (r.status, r.json()["status"].as_str()),
            (422, Some("rejected"))
        );
        assert_eq!(r.json()["reasons"], json!(["subject_mismatch"]));

        // CRL caching: ETag, Cache-Control from nextUpdate, 304 on If-None-Match.
        let crl = get(&app, "/api/v1/crl", None).await;
        assert_eq!(
            (crl.status, crl.header("content-type").as_str()),
            (200, "application/pkix-crl")
        );
        let etag = crl.header("etag");
        let max_age: i64 = crl
            .header("cache-control")
            .trim_start_matches("public, max-age=")
            .parse()
            .unwrap();
        assert!((86_000..=86_400).contains(&max_age), "{max_age}");
        // The same CRL as PEM, encoded slice by slice as it goes out.
        let pem = call(
            &app,
            "GET",
            "/api/v1/crl",
            None,
            None,
            &[("accept", "application/x-pem-file")],
        )
        .await;
        assert_eq!(
            (pem.status, pem.header("content-type").as_str()),
            (200, "application/x-pem-file")
        );
        assert!(pem.body == ca_core::der_to_pem("X509 CRL", &crl.body).as_bytes());
        env.t.write("pem.crl", &pem.body);
        let shown = text(
            &env.t
                .openssl(&["crl", "-in", "pem.crl", "-noout", "-CAfile", "ca.pem"]),
        );
        assert!(shown.contains("verify OK"), "{shown}");
        let r = call(
            &app,
            "GET",
            "/api/v1/crl",
            None,
            None,
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!((r.status, r.body.len()), (304, 0));
        // Suspension → the CRL changes (new ETag) and lists certificateHold.
        let r = post_json(
            &app,
            &format!("/api/v1/admin/certificates/{serial}/suspend"),
            Some(&admin),
            json!({"days": 9, "document": "З-1"}),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (422, "suspension_too_short"));
        assert_eq!(
            r.json()["error"]["reasons"],
            json!(["suspension_too_short"])
        );
        let r = post_json(
            &app,
            &format!("/api/v1/admin/certificates/{serial}/suspend"),
            Some(&admin),
            json!({"days": 10, "document": "З-2"}),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["status"].as_str()),
            (200, Some("suspended"))
        );
        let r = call(
            &app,
            "GET",
            "/api/v1/crl",
            None,
            None,
            &[("if-none-match", &etag)],
        )
        .await;
        assert_eq!(r.status, 200);
        assert_ne!(r.header("etag"), etag);
        env.t.write_pem("now.crl", "X509 CRL", &r.body);
        let shown = text(&env.t.openssl(&[
            "crl", "-in", "now.crl", "-noout", "-text", "-CAfile", "ca.pem",
        ]));
        assert!(
            shown.contains("Certificate Hold") && shown.contains("verify OK"),
            "{shown}"
        );
        let r = post_json(
            &app,
            &format!("/api/v1/admin/certificates/{serial}/resume"),
            Some(&admin),
            json!({"document": "З-3"}),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["status"].as_str()),
            (200, Some("active"))
        );
        // The delta CRL carries removeFromCRL for the resumed certificate.
        let delta = get(&app, "/api/v1/crl/delta", None).await;
        assert_eq!(
            (delta.status, delta.header("content-type").as_str()),
            (200, "application/pkix-crl")
        );
        env.t.write_pem("delta.crl", "X509 CRL", &delta.body);
        let shown = text(&env.t.openssl(&[
            "crl",
            "-in",
            "delta.crl",
            "-noout",
            "-text",
            "-CAfile",
            "ca.pem",
        ]));
        assert!(
            shown.contains("Remove From CRL") && shown.contains("Delta CRL Indicator"),
            "{shown}"
        );
        let r = post_json(
            &app,
            &format!("/api/v1/admin/certificates/{serial}/revoke"),
            Some(&admin),
            json!({"reason": "because", "document": "З-4"}),
        )
        .await;
        assert_eq!(r.status, 400);
        let r = post_json(
            &app,
            &format!("/api/v1/admin/certificates/{serial}/revoke"),
            Some(&admin),
            json!({"reason": "key_compromise", "document": "З-4"}),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["status"].as_str()),
            (200, Some("revoked"))
        );
        let r = post_json(
            &app,
            &format!("/api/v1/admin/certificates/{serial}/revoke"),
            Some(&admin),
            json!({"reason": "key_compromise", "document": "З-5"}),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (422, "certificate_revoked"));
        assert_eq!(
            get(&app, &format!("/api/v1/certificates/{serial}"), None)
                .await
                .json()["revocation_reason"],
            "key_compromise"
        );
        // Audit trail intact and listing actions.
        let v = get(&app, "/api/v1/admin/audit/verify", Some(&admin))
            .await
            .json();
        assert_eq!(v["ok"], true);
    }
}

#[actix_web::test]
async fn operator_decisions_and_registry_endpoints() {
    let db = TestDb::sqlite();
    let env = Env::new(&db);
    let app = app(&env).await;
    let admin = admin(&app).await;
    let (org, person) = org_and_person(&app, &admin).await;
    let pid = person["id"].as_str().unwrap();
    // Registration validation.
    let r = post_json(
        &app,
        "/api/v1/admin/organizations",
        Some(&admin),
        json!({"name": "X", "inn": "12", "ogrn": "1027700132195", "agreement_number": "1"}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post_json(
        &app,
        "/api/v1/admin/organizations",
        Some(&admin),
        json!({"name": "Y", "inn": "7701234567", "ogrn": "1027700132195", "agreement_number": "2"}),
    )
    .await;
    assert_eq!(r.status, 409, "the same ИНН twice");
    assert_eq!(
        get(&app, "/api/v1/admin/organizations/nope", Some(&admin))
            .await
            .status,
        404
    );
    assert_eq!(
        get(
            &app,
            &format!("/api/v1/admin/organizations/{org}"),
            Some(&admin)
        )
        .await
        .json()["status"],
        "active"
    );
    assert_eq!(
        get(
            &app,
            &format!("/api/v1/admin/persons?organization={org}"),
            Some(&admin)
        )
        .await
        .json()
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        get(&app, &format!("/api/v1/admin/persons/{pid}"), Some(&admin))
            .await
            .json()["full_name"],
        "Иванов Иван Иванович"
    );
    let until = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let r = post_json(
        &app,
        &format!("/api/v1/admin/persons/{pid}/authority"),
        Some(&admin),
        json!({"authority_document": "Доверенность 13", "authority_valid_until": until}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["authority_document"].as_str()),
        (200, Some("Доверенность 13"))
    );

    // A technological certificate generated into a PIN-protected PKCS#12.
    let r = post_json(
        &app,
        &format!("/api/v1/admin/persons/{pid}/technological-certificate"),
        Some(&admin),
        json!({"pin": "Pin-1234"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let p12 = base64_decode(r.json()["pkcs12_base64"].as_str().unwrap());
    env.t.write("tech.p12", &p12);
    let out = env.t.openssl(&[
        "pkcs12",
        "-in",
        "tech.p12",
        "-passin",
        "pass:Pin-1234",
        "-nodes",
        "-out",
        "tech-all.pem",
    ]);
    assert!(out.status.success());
    let all = String::from_utf8_lossy(&env.t.read("tech-all.pem")).to_string();
    assert!(
        all.contains("BEGIN PRIVATE KEY") && all.matches("BEGIN CERTIFICATE").count() == 2,
        "{all}"
    );
    let wrong = ca_tests::try_openssl(
        env.t.path(),
        &[
            "pkcs12",
            "-in",
            "tech.p12",
            "-passin",
            "pass:wrong",
            "-nodes",
        ],
    );
    assert!(!wrong.status.success());
    for bad in [
        json!({}),
        json!({"pin": "short"}),
        // Issue 9 defect 18: the password rules apply to the PIN.
        json!({"pin": "12345678"}),
        json!({"pin": "pin-pin-pin-pin"}),
        json!({"pin": "P1n".repeat(100)}),
        json!({"pin": "Pin-1234", "csr_pem": "x"}),
        json!({"csr_pem": "not pem"}),
    ] {
        let r = post_json(
            &app,
            &format!("/api/v1/admin/persons/{pid}/technological-certificate"),
            Some(&admin),
            bad.clone(),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}");
    }
    // The generated key signs an initial request like a token's would.
    env.t
        .openssl(&["pkey", "-in", "tech-all.pem", "-out", "tech.key"]);
    env.t
        .openssl(&["x509", "-in", "tech-all.pem", "-out", "tech.pem"]);
    csr_pem(&env.t, "a", SUBJ);
    let p7 = env.t.cms_sign("a.csr", "tech.pem", "tech.key", &[]);
    let r = call(
        &app,
        "POST",
        "/api/v1/requests",
        None,
        Some(("application/pkcs7-mime", p7)),
        &[],
    )
    .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    // Reject: codes checked, state checked.
    let r = post_json(
        &app,
        &format!("/api/v1/admin/requests/{id}/reject"),
        Some(&admin),
        json!({"reasons": ["no_such_code"]}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post_json(
        &app,
        &format!("/api/v1/admin/requests/{id}/reject"),
        Some(&admin),
        json!({"reasons": ["subject_mismatch"], "comment": "проверьте должность"}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("rejected"))
    );
    assert_eq!(
        post_json(
            &app,
            &format!("/api/v1/admin/requests/{id}/approve"),
            Some(&admin),
            json!({})
        )
        .await
        .status,
        409
    );
    assert_eq!(
        post_json(
            &app,
            &format!("/api/v1/admin/requests/{id}/confirm-act"),
            Some(&admin),
            json!({"fingerprint": "00".repeat(32)})
        )
        .await
        .status,
        409
    );
    assert_eq!(
        post_json(
            &app,
            "/api/v1/admin/requests/unknown/approve",
            Some(&admin),
            json!({})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(&app, "/api/v1/admin/requests?status=rejected", Some(&admin))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Self-signed: act confirmation then approval.
    csr_pem(&env.t, "b", SUBJ);
    let selfie = env.t.self_signed("b");
    let p7 = env.t.cms_sign("b.csr", &selfie, "b.key", &[]);
    let r = call(
        &app,
        "POST",
        "/api/v1/requests",
        None,
        Some(("application/pkcs7-mime", p7)),
        &[],
    )
    .await;
    assert_eq!(r.json()["status"], "pending_act");
    // Issue 9 defect 12: the client is not told whom the request is for.
    assert_eq!(r.json()["person_id"], serde_json::Value::Null);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let key = r.json()["key_sha256"].as_str().unwrap().to_string();
    // The act of another key: refused, and the request keeps waiting.
    let wrong = post_json(
        &app,
        &format!("/api/v1/admin/requests/{id}/confirm-act"),
        Some(&admin),
        json!({"fingerprint": "ab".repeat(32)}),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.json()["error"]["reasons"].clone()),
        (422, json!(["fingerprint_mismatch"]))
    );
    let missing = post_json(
        &app,
        &format!("/api/v1/admin/requests/{id}/confirm-act"),
        Some(&admin),
        json!({}),
    )
    .await;
    assert_eq!(missing.status, 400);
    // As printed on the act: upper case, in pairs.
    let printed = key
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap().to_uppercase())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        post_json(
            &app,
            &format!("/api/v1/admin/requests/{id}/confirm-act"),
            Some(&admin),
            json!({"fingerprint": printed})
        )
        .await
        .json()["status"],
        "pending"
    );
    assert_eq!(
        post_json(
            &app,
            &format!("/api/v1/admin/requests/{id}/approve"),
            Some(&admin),
            json!({})
        )
        .await
        .json()["status"],
        "issued"
    );
    // CRL publication and facts.
    let r = post_json(&app, "/api/v1/admin/crl", Some(&admin), json!({})).await;
    assert_eq!(r.status, 201);
    let n = r.json()["number"].as_u64().unwrap();
    assert_eq!(
        get(&app, "/api/v1/admin/crl", Some(&admin)).await.json()["number"].as_u64(),
        Some(n)
    );
    let certs = get(
        &app,
        &format!("/api/v1/admin/certificates?person={pid}&status=active"),
        Some(&admin),
    )
    .await
    .json();
    assert_eq!(certs.as_array().unwrap().len(), 2);
    // Termination of the agreement revokes everything.
    let r = post_json(
        &app,
        &format!("/api/v1/admin/organizations/{org}/terminate"),
        Some(&admin),
        json!({"document": "Расторжение 7"}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["revoked"].as_array().unwrap().len()),
        (200, 2)
    );
    let r = post_json(
        &app,
        &format!("/api/v1/admin/persons/{pid}/terminate"),
        Some(&admin),
        json!({"document": "Приказ 1"}),
    )
    .await;
    assert_eq!(r.json()["revoked"], json!([]));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(s).unwrap()
}

/// xorshift64*: reproducible junk.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[actix_web::test]
async fn bad_input_gets_a_clear_4xx_never_a_500() {
    let db = TestDb::sqlite();
    let env = Env::new(&db);
    let app = app(&env).await;
    let admin = admin(&app).await;
    // The SPEC's error table for submissions.
    let post = |ct: &'static str, body: Vec<u8>| (ct, body);
    type Case<'a> = ((&'a str, Vec<u8>), u16, &'a str);
    let cases: Vec<Case> = vec![
        (post("application/pkcs7-mime", vec![]), 400, "malformed_cms"),
        (
            post("application/pkcs7-mime", b"hello".to_vec()),
            400,
            "malformed_cms",
        ),
        (
            post("application/x-pem-file", b"hello".to_vec()),
            400,
            "malformed_cms",
        ),
        (
            post(
                "application/x-pem-file",
                b"-----BEGIN CMS-----\nAAAA\n-----END CMS-----\n".to_vec(),
            ),
            400,
            "malformed_cms",
        ),
        (
            post("application/json", b"{}".to_vec()),
            415,
            "unsupported_media_type",
        ),
        (
            post("image/png", vec![0x30, 0]),
            415,
            "unsupported_media_type",
        ),
        (
            post("application/octet-stream", vec![0x30; MAX_BODY + 1]),
            413,
            "payload_too_large",
        ),
        (
            post(
                "application/octet-stream",
                vec![0x30, 0x85, 0, 0, 0, 0, 1, 0],
            ),
            400,
            "unsupported_encoding",
        ),
    ];
    for ((ct, body), status, code) in cases {
        let r = call(
            &app,
            "POST",
            "/api/v1/requests",
            None,
            Some((ct, body)),
            &[],
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (status, code), "{ct}");
    }
    let r = call(&app, "POST", "/api/v1/requests", None, None, &[]).await;
    assert_eq!(r.status, 415, "no Content-Type");
    // Truncations of a real envelope.
    let t = &env.t;
    t.make_csr("x", "ec-p256");
    let selfie = t.self_signed("x");
    let p7 = t.cms_sign("x.csr", &selfie, "x.key", &[]);
    for len in (0..p7.len()).step_by(7) {
        let r = call(
            &app,
            "POST",
            "/api/v1/requests",
            None,
            Some(("application/pkcs7-mime", p7[..len].to_vec())),
            &[],
        )
        .await;
        assert_eq!(r.status, 400, "truncated to {len}");
    }
    // Random junk at every endpoint, with and without login.
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for (method, path) in ca_api::ROUTES {
        let path = path
            .replace("{id}", "x")
            .replace("{serial}", "zz")
            .replace("{username}", "n");
        for _ in 0..6 {
            let len = (rng.next() % 300) as usize;
            let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let ct = ["application/json", "application/octet-stream", "text/plain"]
                [(rng.next() % 3) as usize];
            // Logging out would end the session the rest of the test uses.
            let logout = *method == "DELETE" && path == "/api/v1/admin/session";
            let token = if rng.next() % 2 == 0 && !logout {
                Some(admin.as_str())
            } else {
                None
            };
            let r = call(
                &app,
                method,
                &path,
                token,
                (*method == "POST").then_some((ct, body)),
                &[],
            )
            .await;
            assert!(
                (200..500).contains(&r.status),
                "{method} {path}: {}",
                r.status
            );
            if r.status >= 400 && r.status != 304 {
                assert!(
                    !r.code().is_empty(),
                    "{method} {path}: error without a code"
                );
            }
        }
    }
    // Wrong state and unknown things.
    assert_eq!(
        get(&app, "/api/v1/requests/unknown", None).await.status,
        404
    );
    assert_eq!(
        get(&app, "/api/v1/certificates/xyz", None).await.status,
        400
    );
    assert_eq!(
        get(&app, "/api/v1/certificates/abcdef", None).await.status,
        404
    );
    assert_eq!(
        get(&app, "/api/v1/admin/audit?limit=notanumber", Some(&admin))
            .await
            .status,
        400
    );
}
