//! End to end: the real `ca-api` binary on loopback, the `openssl` command
//! line as the client software and relying party. Runs on SQLite, and on
//! PostgreSQL when `TEST_DATABASE_URL` is set.

use std::time::Duration;

use ca_tests::{free_port, text, try_openssl, RunningServer, SoftHsm, TestDb};
use serde_json::{json, Value};

const SUBJ: &str = live::IVANOV_SUBJECT;
const SUBJ2: &str =
    "/C=RU/O=ООО Ромашка/OGRN=1027700132195/title=Главный бухгалтер/CN=Петрова Анна Сергеевна";

mod live;

use live::{agent, ok, Client};

#[test]
fn client_software_operators_and_relying_parties_end_to_end() {
    for db in TestDb::all() {
        run(&db, None);
    }
}

/// The same flow with the CA key and the OCSP responder's key generated on
/// a SoftHSM2 token at first start (issue 11).
#[test]
fn end_to_end_with_the_ca_key_on_a_token() {
    let hsm = SoftHsm::new();
    hsm.init_token("CA token");
    run(&TestDb::sqlite(), Some(&hsm));
    // The keys are on the token, sensitive and never extractable, as
    // OpenSC's pkcs11-tool reads them.
    let out = hsm.pkcs11_tool("CA token", &["--list-objects", "--type", "privkey"]);
    let listed = text(&out);
    for label in ["label:      ca", "label:      ocsp"] {
        assert!(listed.contains(label), "{listed}");
    }
    assert_eq!(listed.matches("never extractable").count(), 2, "{listed}");
}

fn run(db: &TestDb, hsm: Option<&SoftHsm>) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let data = dir.join("data");
    let pg = (db.name == "postgres").then_some(db.url.as_str());
    let port = free_port();
    let metrics_port = free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let token_env = hsm.map(|h| h.server_env("CA token")).unwrap_or_default();
    let token_env: Vec<(&str, &str)> = token_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut env = token_env.clone();
    env.push(("CA_METRICS_LISTEN", &metrics_listen));
    let server = RunningServer::start_with(
        env!("CARGO_BIN_EXE_ca-api").as_ref(),
        &data,
        port,
        pg,
        "Bootstrap1Pass",
        &env,
    );
    // With a token, no key file is ever written.
    assert_eq!(
        data.join("ca.key.pem").exists(),
        hsm.is_none(),
        "a key file only without a token"
    );
    assert_eq!(data.join("ocsp.key.pem").exists(), hsm.is_none());
    let mut c = Client {
        base: server.url.clone(),
        token: None,
    };
    let openssl = |args: &[&str]| {
        let out = try_openssl(dir, args);
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
        out
    };

    // The CA certificate, as a relying party fetches it.
    std::fs::write(dir.join("ca.der"), c.bytes("/api/v1/ca/certificate")).unwrap();
    openssl(&["x509", "-inform", "DER", "-in", "ca.der", "-out", "ca.pem"]);
    // After a change the CRL follows within seconds (published after the
    // commit, off the request, issue 10): a relying party fetches the next
    // one once its number has moved past the last one seen.
    let last_crl = std::cell::Cell::new(0u64);
    let fetch_crl = |c: &Client, name: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, info) = c.json("GET", "/api/v1/admin/crl", None);
            let number = info["number"].as_u64().unwrap_or(0);
            if number > last_crl.get() {
                last_crl.set(number);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no new CRL: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::write(dir.join(name), c.bytes("/api/v1/crl")).unwrap();
        let pem = format!("{name}.pem");
        openssl(&["crl", "-inform", "DER", "-in", name, "-out", &pem]);
        pem
    };
    // A relying party asks the OCSP responder (RFC 6960) with openssl's own
    // client: the response's signature and the nonce are checked by it.
    let ocsp_url = format!("{}/api/v1/ocsp", server.url);
    let ocsp = |cert: &str| {
        let out = openssl(&[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            cert,
            "-url",
            &ocsp_url,
            "-CAfile",
            "ca.pem",
            "-resp_text",
        ]);
        let shown = text(&out);
        assert!(shown.contains("Response verify OK"), "{shown}");
        assert!(!shown.contains("WARNING"), "nonce echoed: {shown}");
        shown
    };
    let verify = |crl: &str, cert: &str| {
        try_openssl(
            dir,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                crl,
                cert,
            ],
        )
    };

    // Operator: first login, password change, registration.
    c.first_login();
    let org = ok(c.json("POST", "/api/v1/admin/organizations", Some(json!({
        "name": "ООО Ромашка", "inn": "7701234567", "ogrn": "1027700132195", "agreement_number": "КБ-17"}))), 201);
    let until = (chrono::Utc::now() + chrono::Duration::days(300)).to_rfc3339();
    let person = |name: &str, position: &str| {
        ok(c.json("POST", "/api/v1/admin/persons", Some(json!({
            "organization_id": org["id"], "full_name": name, "position": position, "email": "p@romashka.example",
            "authority_document": "Доверенность 1", "authority_valid_until": until}))), 201)
    };
    let ivanov = person("Иванов Иван Иванович", "Генеральный директор");
    let petrova = person("Петрова Анна Сергеевна", "Главный бухгалтер");
    let pid = ivanov["id"].as_str().unwrap().to_string();

    // Technological certificate from the person's own CSR (openssl req).
    let keygen_with = |name: &str, subj: &str, extensions: &[&str]| {
        let (key, out) = (format!("{name}.key"), format!("{name}.csr.pem"));
        let mut args = vec![
            "req", "-new", "-utf8", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-subj",
            subj, "-out", &out,
        ];
        args.extend(ca_tests::addext_args(extensions));
        openssl(&args);
        openssl(&[
            "req",
            "-in",
            &format!("{name}.csr.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::read_to_string(dir.join(format!("{name}.csr.pem"))).unwrap()
    };
    let keygen = |name: &str, subj: &str| keygen_with(name, subj, &[]);
    let tech = |name: &str, person_id: &str, subj: &str| {
        let pem = keygen(name, subj);
        let r = ok(
            c.json(
                "POST",
                &format!("/api/v1/admin/persons/{person_id}/technological-certificate"),
                Some(json!({"csr_pem": pem})),
            ),
            201,
        );
        std::fs::write(
            dir.join(format!("{name}.pem")),
            r["certificate_pem"].as_str().unwrap(),
        )
        .unwrap();
    };
    tech("tech", &pid, SUBJ);
    let envelope = |csr: &str, signer: &str| {
        let out = format!("{csr}.p7");
        ca_tests::cms_sign_in(
            dir,
            &format!("{csr}.csr"),
            &format!("{signer}.pem"),
            &format!("{signer}.key"),
            &out,
            &[],
        );
        std::fs::read(dir.join(out)).unwrap()
    };

    // initial request → approval → download → openssl verify.
    keygen("work", SUBJ);
    let v = ok(c.submit(envelope("work", "tech")), 202);
    assert_eq!(
        (v["type"].as_str(), v["status"].as_str()),
        (Some("initial"), Some("pending"))
    );
    let id = v["id"].as_str().unwrap().to_string();
    let v = ok(
        c.json(
            "POST",
            &format!("/api/v1/admin/requests/{id}/approve"),
            None,
        ),
        200,
    );
    let serial = v["certificate_serial"].as_str().unwrap().to_string();
    std::fs::write(
        dir.join("work.der"),
        c.bytes(&format!("/api/v1/requests/{id}/certificate")),
    )
    .unwrap();
    openssl(&[
        "x509", "-inform", "DER", "-in", "work.der", "-out", "work.pem",
    ]);
    openssl(&["verify", "-CAfile", "ca.pem", "work.pem"]);
    let shown = ocsp("work.pem");
    assert!(shown.contains("work.pem: good"), "{shown}");
    // The certificate names the responder in its authorityInfoAccess.
    let aia = text(&openssl(&[
        "x509",
        "-in",
        "work.pem",
        "-noout",
        "-ocsp_uri",
    ]));
    assert!(aia.contains("/api/v1/ocsp"), "{aia}");

    // rotation, signed with the working key and repeating its extensions
    // (1.81.5): months before the renewal window it waits for an operator
    // (SPEC §3.8); once issued, the predecessor is revoked as superseded.
    keygen_with("next", SUBJ, &ca_tests::WORKING_EXTENSIONS);
    let v = ok(c.submit(envelope("next", "work")), 202);
    assert_eq!(
        (v["type"].as_str(), v["status"].as_str()),
        (Some("rotation"), Some("pending"))
    );
    let next_id = v["id"].as_str().unwrap().to_string();

    // suspension: certificateHold on the CRL, verification fails …
    last_crl.set(
        ok(c.json("GET", "/api/v1/admin/crl", None), 200)["number"]
            .as_u64()
            .unwrap(),
    );
    ok(
        c.json(
            "POST",
            &format!("/api/v1/admin/certificates/{serial}/suspend"),
            Some(json!({"days": 10, "document": "Заявление 1"})),
        ),
        200,
    );
    let crl = fetch_crl(&c, "held.crl");
    let shown = text(&openssl(&[
        "crl", "-in", &crl, "-noout", "-text", "-CAfile", "ca.pem",
    ]));
    assert!(
        shown.contains("Certificate Hold") && shown.contains("verify OK"),
        "{shown}"
    );
    let out = verify(&crl, "work.pem");
    assert!(
        !out.status.success() && text(&out).contains("certificate revoked"),
        "{}",
        text(&out)
    );
    // OCSP while suspended: revoked, reason certificateHold.
    let shown = ocsp("work.pem");
    assert!(
        shown.contains("work.pem: revoked") && shown.contains("Reason: certificateHold"),
        "{shown}"
    );
    // … resumption: passes again …
    ok(
        c.json(
            "POST",
            &format!("/api/v1/admin/certificates/{serial}/resume"),
            Some(json!({"document": "Заявление 2"})),
        ),
        200,
    );
    let crl = fetch_crl(&c, "resumed.crl");
    assert!(verify(&crl, "work.pem").status.success());
    let shown = ocsp("work.pem");
    assert!(shown.contains("work.pem: good"), "good again: {shown}");
    // The operator approves the rotation: the successor verifies, the
    // predecessor is revoked as superseded.
    let v = ok(
        c.json(
            "POST",
            &format!("/api/v1/admin/requests/{next_id}/approve"),
            None,
        ),
        200,
    );
    assert_eq!(v["status"], "issued");
    std::fs::write(
        dir.join("next.der"),
        c.bytes(&format!("/api/v1/requests/{next_id}/certificate")),
    )
    .unwrap();
    openssl(&[
        "x509", "-inform", "DER", "-in", "next.der", "-out", "next.pem",
    ]);
    let crl = fetch_crl(&c, "rotated.crl");
    assert!(!verify(&crl, "work.pem").status.success());
    assert!(verify(&crl, "next.pem").status.success());
    assert!(text(&openssl(&["crl", "-in", &crl, "-noout", "-text"])).contains("Superseded"));
    // The old key turns out stolen: revoked for key compromise, and so is
    // every certificate issued on a rotation it signed (SPEC §3.6).
    ok(
        c.json(
            "POST",
            &format!("/api/v1/admin/certificates/{serial}/revoke"),
            Some(json!({"reason": "key_compromise", "document": "Заявление 3"})),
        ),
        200,
    );
    let crl = fetch_crl(&c, "revoked.crl");
    assert!(!verify(&crl, "work.pem").status.success());
    assert!(!verify(&crl, "next.pem").status.success());
    let shown = text(&openssl(&["crl", "-in", &crl, "-noout", "-text"]));
    assert_eq!(shown.matches("Key Compromise").count(), 2, "{shown}");
    for cert in ["work.pem", "next.pem"] {
        let shown = ocsp(cert);
        assert!(
            shown.contains(&format!("{cert}: revoked")) && shown.contains("Reason: keyCompromise"),
            "{shown}"
        );
    }

    // Person termination revokes all of the person's certificates, not others'.
    tech("tech2", petrova["id"].as_str().unwrap(), SUBJ2);
    let r = ok(
        c.json(
            "POST",
            &format!("/api/v1/admin/persons/{pid}/terminate"),
            Some(json!({"document": "Приказ 9"})),
        ),
        200,
    );
    let revoked: Vec<String> = r["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        revoked.len(),
        1,
        "the technological certificate; the working ones are revoked already: {revoked:?}"
    );
    let crl = fetch_crl(&c, "terminated.crl");
    for cert in ["tech.pem", "next.pem"] {
        assert!(
            !verify(&crl, cert).status.success(),
            "{cert} still verifies"
        );
    }
    assert!(
        verify(&crl, "tech2.pem").status.success(),
        "another person's certificate must stay valid"
    );
    let crl_number = ok(c.json("GET", "/api/v1/admin/crl", None), 200)["number"]
        .as_u64()
        .unwrap();

    // Metrics on their own address (SPEC §4), none on the public one.
    let scraped = agent()
        .get(format!("http://{metrics_listen}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    for expected in [
        "ca_http_requests_total{method=\"POST\",route=\"/api/v1/ocsp\",status=\"200\"}",
        "route=\"/api/v1/requests/{id}/certificate\"",
        "ca_crl_number ",
        "ca_ready 1",
        "ca_signer_up 1",
        "ca_storage_writable 1",
    ] {
        assert!(scraped.contains(expected), "{expected} in\n{scraped}");
    }
    assert!(!scraped.contains(&serial), "no ids in the labels");
    // No SMTP server configured here: the letters wait, and the backlog
    // says so.
    let backlog: i64 = scraped
        .lines()
        .find_map(|l| l.strip_prefix("ca_outbox_backlog "))
        .expect("ca_outbox_backlog")
        .trim()
        .parse()
        .unwrap();
    assert!(backlog >= 1, "{scraped}");
    assert_eq!(
        agent()
            .get(format!("{}/metrics", server.url))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or_else(|e| match e {
                ureq::Error::StatusCode(code) => code,
                other => panic!("{other}"),
            }),
        404
    );

    // Restart on the same data: everything is still there.
    let status = server.stop();
    assert!(status.success(), "clean shutdown on SIGTERM: {status:?}");
    let server = RunningServer::start_with(
        env!("CARGO_BIN_EXE_ca-api").as_ref(),
        &data,
        port,
        pg,
        "Bootstrap1Pass",
        &token_env,
    );
    let mut c = Client {
        base: server.url.clone(),
        token: None,
    };
    let s = c.login("Operator1Pass");
    assert_eq!(s["must_change_password"], false);
    assert_eq!(
        std::fs::read(dir.join("ca.der")).unwrap(),
        c.bytes("/api/v1/ca/certificate"),
        "same CA after restart"
    );
    assert_eq!(
        ok(c.json("GET", &format!("/api/v1/requests/{id}"), None), 200)["status"],
        "issued"
    );
    assert_eq!(
        ok(
            c.json("GET", &format!("/api/v1/certificates/{serial}"), None),
            200
        )["status"],
        "revoked"
    );
    assert_eq!(
        ok(
            c.json("GET", &format!("/api/v1/admin/persons/{pid}"), None),
            200
        )["status"],
        "terminated"
    );
    let n = ok(c.json("POST", "/api/v1/admin/crl", None), 201)["number"]
        .as_u64()
        .unwrap();
    assert!(
        n > crl_number,
        "CRL numbers keep increasing across restarts"
    );
    assert_eq!(
        ok(c.json("GET", "/api/v1/admin/audit/verify", None), 200)["ok"],
        true
    );
    assert!(server.stop().success());

    // An operator's consistency check after the run (issue 14).
    let shown = live::check(&data, pg, &token_env);
    assert!(shown.contains("crl_covers_revocations"), "{shown}");
}

/// The token goes away mid-run (its directory is moved, as a removed HSM
/// or a lost network HSM looks to the module): what needs the key answers
/// 503 `signer_unavailable` with Retry-After, `/health` says the signer is
/// unavailable, relying parties are still served; the token comes back and
/// the service recovers by itself; an issuance cut off by it is finished,
/// and a restart finds the same CA.
#[test]
fn a_token_taken_away_gives_503_and_the_service_recovers() {
    let hsm = SoftHsm::new();
    hsm.init_token("CA token");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let data = dir.join("data");
    let env = hsm.server_env("CA token");
    let metrics_listen = format!("127.0.0.1:{}", free_port());
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CA_METRICS_LISTEN", &metrics_listen));
    let scrape = || {
        agent()
            .get(format!("http://{metrics_listen}/metrics"))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap()
    };
    let binary = env!("CARGO_BIN_EXE_ca-api");
    let port = free_port();
    let server =
        RunningServer::start_with(binary.as_ref(), &data, port, None, "Bootstrap1Pass", &env);
    let mut c = Client::new(&server.url);
    c.first_login();
    let pid = c.register_ivanov();
    let mut args = ca_tests::p256_req_args("tech.key", SUBJ);
    args.extend(["-out", "tech.csr.pem"]);
    let out = try_openssl(dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    let csr_pem = std::fs::read_to_string(dir.join("tech.csr.pem")).unwrap();
    let crl_before = c.bytes("/api/v1/crl");

    // The token goes away.
    let away = dir.join("tokens-away");
    std::fs::rename(hsm.tokens_dir(), &away).unwrap();
    let health = || {
        let resp = agent().get(format!("{}/health", c.base)).call().unwrap();
        let status = resp.status().as_u16();
        let body: Value =
            serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
        (status, body)
    };
    let (status, body) = health();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["signer"], "unavailable", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    assert!(scrape().contains("ca_signer_up 0"));
    // What signs is refused with the stable code and a time to retry.
    let resp = agent()
        .post(format!("{}/api/v1/admin/crl", c.base))
        .header(
            "Authorization",
            format!("Bearer {}", c.token.as_ref().unwrap()),
        )
        .send_empty()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().get("retry-after").is_some(), "Retry-After");
    let body: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "signer_unavailable", "{body}");
    let (status, body) = c.json(
        "POST",
        &format!("/api/v1/admin/persons/{pid}/technological-certificate"),
        Some(json!({"csr_pem": csr_pem})),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "signer_unavailable", "{body}");
    // Relying parties are still served from what is published.
    assert_eq!(c.bytes("/api/v1/crl"), crl_before);
    c.bytes("/api/v1/ca/certificate");
    // Reads of the registry work.
    ok(
        c.json("GET", &format!("/api/v1/admin/persons/{pid}"), None),
        200,
    );

    // The token comes back: no restart, no operator.
    std::fs::rename(&away, hsm.tokens_dir()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while health().0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery: {}",
            health().1
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(c.json("POST", "/api/v1/admin/crl", None), 201);
    assert!(scrape().contains("ca_signer_up 1"));

    // The issuance the token's absence cut off was recorded before signing
    // and is finished by the recovery at the next start, with the same CA.
    let ca_der = c.bytes("/api/v1/ca/certificate");
    assert!(server.stop().success());
    let server =
        RunningServer::start_with(binary.as_ref(), &data, port, None, "Bootstrap1Pass", &env);
    c.base = server.url.clone();
    c.login("Operator1Pass");
    assert_eq!(
        c.bytes("/api/v1/ca/certificate"),
        ca_der,
        "same CA after restart"
    );
    let certs = ok(
        c.json(
            "GET",
            &format!("/api/v1/admin/certificates?person={pid}"),
            None,
        ),
        200,
    );
    let certs = certs.as_array().unwrap();
    assert_eq!(certs.len(), 1, "{certs:?}");
    assert_eq!(certs[0]["status"], "active", "{certs:?}");
    std::fs::write(dir.join("ca.der"), &ca_der).unwrap();
    let serial = certs[0]["serial"].as_str().unwrap();
    std::fs::write(
        dir.join("tech.der"),
        c.bytes(&format!("/api/v1/certificates/{serial}/certificate")),
    )
    .unwrap();
    let out = try_openssl(
        dir,
        &["x509", "-inform", "DER", "-in", "ca.der", "-out", "ca.pem"],
    );
    assert!(out.status.success());
    let out = try_openssl(
        dir,
        &[
            "x509", "-inform", "DER", "-in", "tech.der", "-out", "tech.pem",
        ],
    );
    assert!(out.status.success());
    let out = try_openssl(dir, &["verify", "-CAfile", "ca.pem", "tech.pem"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ok(c.json("GET", "/api/v1/admin/audit/verify", None), 200)["ok"],
        true
    );
    assert!(server.stop().success());
}
