//! Every subcommand through the real `ca-cli` binary against the real server:
//! results, refusals with their reason codes and meanings, and exit codes.

mod support;

use support::*;

fn submit(server: &Server, p7: &str) -> serde_json::Value {
    let body = std::fs::read(server.path().join(p7)).unwrap();
    let resp = ureq_post(&format!("{}/api/v1/requests", server.url), &body);
    serde_json::from_str(&resp).unwrap()
}

fn ureq_post(url: &str, body: &[u8]) -> String {
    // Client software is not the CLI's job: submit over plain HTTP/1.1.
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/pkcs7-mime\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

const SUBJ: &str =
    "/C=RU/O=ООО Ромашка/OGRN=1027700132195/title=Генеральный директор/CN=Иванов Иван Иванович";

#[test]
fn operator_workflows_exit_codes_and_messages() {
    let server = Server::start();
    // Not logged in: the CA refuses (1) and says what to do.
    let r = cli(&server, &["org", "list"], "");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("log in") || r.stderr.contains("login"),
        "{}",
        r.stderr
    );
    // Wrong password: refused.
    let r = cli(
        &server,
        &["login", "--username", "admin", "--password-stdin"],
        "nope\n",
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Forced password change.
    ok(
        &server,
        &["login", "--username", "admin", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    let r = cli(&server, &["org", "list"], "");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("password_change_required") && r.stderr.contains("ca-cli passwd"),
        "{}",
        r.stderr
    );
    let r = cli(
        &server,
        &["passwd", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\nshort\n"),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    admin(&server);
    let token = std::fs::metadata(server.path().join("token")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        token.permissions().mode() & 0o777,
        0o600,
        "token readable by others"
    );

    // Operators.
    ok(
        &server,
        &[
            "operator",
            "add",
            "--username",
            "desk",
            "--role",
            "registrar",
            "--password-stdin",
        ],
        "Desk1Password\n",
    );
    let r = cli(
        &server,
        &[
            "operator",
            "add",
            "--username",
            "x",
            "--role",
            "king",
            "--password-stdin",
        ],
        "Desk1Password\n",
    );
    assert_eq!(r.code, 1);
    let list = ok(&server, &["operator", "list"], "").stdout;
    assert!(
        list.contains("USERNAME") && list.contains("desk") && list.contains("registrar"),
        "{list}"
    );
    ok(&server, &["operator", "unlock", "desk"], "");
    let j = ok(&server, &["--json", "operator", "disable", "desk"], "").json();
    assert_eq!(j["disabled"], true);

    // Organisations and persons.
    let org = ok(
        &server,
        &[
            "org",
            "register",
            "--name",
            "ООО Ромашка",
            "--inn",
            "7701234567",
            "--ogrn",
            "1027700132195",
            "--agreement",
            "КБ-17",
            "--field",
            "id",
        ],
        "",
    )
    .stdout
    .trim()
    .to_string();
    assert_eq!(org.len(), 32);
    let r = cli(
        &server,
        &[
            "org",
            "register",
            "--name",
            "Bad",
            "--inn",
            "12",
            "--ogrn",
            "1",
            "--agreement",
            "x",
        ],
        "",
    );
    assert_eq!(r.code, 1);
    assert!(ok(&server, &["org", "list"], "")
        .stdout
        .contains("ООО Ромашка"));
    assert!(ok(&server, &["org", "show", &org], "")
        .stdout
        .contains("active"));
    let person = ok(
        &server,
        &[
            "person",
            "register",
            "--org",
            &org,
            "--name",
            "Иванов Иван Иванович",
            "--position",
            "Генеральный директор",
            "--email",
            "i@romashka.example",
            "--authority-document",
            "Доверенность 12",
            "--authority-until",
            "2030-12-31",
            "--field",
            "id",
        ],
        "",
    )
    .stdout
    .trim()
    .to_string();
    let r = cli(
        &server,
        &[
            "person",
            "register",
            "--org",
            &org,
            "--name",
            "X",
            "--position",
            "Y",
            "--email",
            "e@x",
            "--authority-document",
            "D",
            "--authority-until",
            "yesterday",
        ],
        "",
    );
    assert_eq!(r.code, 2, "a local usage error: {}", r.stderr);
    let shown = ok(&server, &["person", "show", &person], "").stdout;
    assert!(
        shown.contains("expected_subject") && shown.contains("CN=Иванов Иван Иванович"),
        "{shown}"
    );
    assert!(ok(&server, &["person", "list", "--org", &org], "")
        .stdout
        .contains("Иванов"));
    assert!(ok(
        &server,
        &[
            "person",
            "extend",
            &person,
            "--document",
            "Доверенность 13",
            "--until",
            "2031-01-31"
        ],
        ""
    )
    .stdout
    .contains("Доверенность 13"));

    // Technological certificates: from a CSR, and generated into PKCS#12.
    p256_csr(&server, "tech", SUBJ, false);
    ok(
        &server,
        &[
            "tech-cert",
            &person,
            "--csr",
            "tech.csr",
            "--out",
            "tech.pem",
        ],
        "",
    );
    openssl(&server, &["x509", "-in", "tech.pem", "-noout"]);
    ok(
        &server,
        &[
            "tech-cert",
            &person,
            "--generate",
            "--pin-stdin",
            "--out",
            "tech.p12",
        ],
        "Pin-12345\n",
    );
    openssl(
        &server,
        &[
            "pkcs12",
            "-in",
            "tech.p12",
            "-passin",
            "pass:Pin-12345",
            "-nodes",
            "-out",
            "tech-all.pem",
        ],
    );
    let mode = std::fs::metadata(server.path().join("tech.p12"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let r = cli(&server, &["tech-cert", &person, "--out", "x.pem"], "");
    assert_eq!(r.code, 2);

    // Requests: approve, reject, confirm-act.
    let envelope = |name: &str, signer: &str, key: &str| {
        p256_csr(&server, name, SUBJ, true);
        let signer = if signer.is_empty() {
            openssl(
                &server,
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    SUBJ,
                    "-utf8",
                    "-days",
                    "2",
                    "-out",
                    &format!("{name}-self.pem"),
                ],
            );
            format!("{name}-self.pem")
        } else {
            signer.to_string()
        };
        let key = if key.is_empty() {
            format!("{name}.key")
        } else {
            key.to_string()
        };
        support::envelope(
            &server,
            &format!("{name}.csr"),
            &signer,
            &key,
            &format!("{name}.p7"),
        );
        submit(&server, &format!("{name}.p7"))
    };
    let a = envelope("a", "tech.pem", "tech.key");
    let b = envelope("b", "tech.pem", "tech.key");
    let c = envelope("c", "", "");
    assert_eq!(c["status"], "pending_act");
    let due = ok(&server, &["due"], "").stdout;
    assert!(
        due.contains(a["id"].as_str().unwrap()) && due.contains("OVERDUE"),
        "{due}"
    );
    let pending = ok(&server, &["request", "list", "--status", "pending"], "").stdout;
    assert!(
        pending.contains("DECISION_DUE") && pending.contains(b["id"].as_str().unwrap()),
        "{pending}"
    );
    assert!(
        ok(&server, &["request", "show", a["id"].as_str().unwrap()], "")
            .stdout
            .contains("initial")
    );
    let serial = ok(
        &server,
        &[
            "request",
            "approve",
            a["id"].as_str().unwrap(),
            "--field",
            "certificate_serial",
        ],
        "",
    )
    .stdout
    .trim()
    .to_string();
    let r = cli(
        &server,
        &["request", "approve", a["id"].as_str().unwrap()],
        "",
    );
    assert_eq!(r.code, 1, "approving twice is refused");
    let r = cli(
        &server,
        &[
            "request",
            "reject",
            b["id"].as_str().unwrap(),
            "--reason",
            "no_such_code",
        ],
        "",
    );
    assert_eq!(r.code, 2, "unknown codes are caught locally: {}", r.stderr);
    let j = ok(
        &server,
        &[
            "--json",
            "request",
            "reject",
            b["id"].as_str().unwrap(),
            "--reason",
            "subject_mismatch",
            "--comment",
            "должность",
        ],
        "",
    )
    .json();
    assert_eq!(j["status"], "rejected");
    assert_eq!(
        ok(
            &server,
            &[
                "request",
                "confirm-act",
                c["id"].as_str().unwrap(),
                "--fingerprint",
                c["key_sha256"].as_str().unwrap(),
                "--field",
                "status"
            ],
            ""
        )
        .stdout
        .trim(),
        "pending"
    );

    // Certificates: refusals print the code and its meaning; exit 1.
    let r = cli(
        &server,
        &[
            "cert",
            "suspend",
            &serial,
            "--days",
            "5",
            "--document",
            "З-1",
        ],
        "",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("suspension_too_short: a suspension lasts at least 10 calendar days"),
        "{}",
        r.stderr
    );
    assert!(ok(
        &server,
        &[
            "cert",
            "suspend",
            &serial,
            "--days",
            "10",
            "--document",
            "З-2"
        ],
        ""
    )
    .stdout
    .contains("suspended"));
    let r = cli(
        &server,
        &[
            "cert",
            "suspend",
            &serial,
            "--days",
            "10",
            "--document",
            "З-3",
        ],
        "",
    );
    assert!(r.stderr.contains("certificate_not_active"), "{}", r.stderr);
    assert!(ok(
        &server,
        &["cert", "resume", &serial, "--document", "З-4"],
        ""
    )
    .stdout
    .contains("active"));
    let r = cli(
        &server,
        &["cert", "resume", &serial, "--document", "З-5"],
        "",
    );
    assert!(
        r.code == 1
            && r.stderr
                .contains("certificate_not_suspended: the certificate is not suspended"),
        "{}",
        r.stderr
    );
    assert!(ok(
        &server,
        &[
            "cert",
            "revoke",
            &serial,
            "--reason",
            "key_compromise",
            "--document",
            "З-6"
        ],
        ""
    )
    .stdout
    .contains("revoked"));
    let r = cli(&server, &["cert", "show", "ffff"], "");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("certificate_not_found"), "{}", r.stderr);
    let list = ok(&server, &["cert", "list", "--person", &person], "").stdout;
    assert!(list.contains("SERIAL") && list.contains(&serial), "{list}");
    assert!(ok(
        &server,
        &["cert", "list", "--status", "revoked", "--field", "serial"],
        ""
    )
    .stdout
    .contains(&serial));
    assert!(ok(&server, &["cert", "show", &serial], "")
        .stdout
        .contains("key_compromise"));

    // CRLs.
    let n = ok(&server, &["crl", "publish", "--field", "number"], "")
        .stdout
        .trim()
        .parse::<u64>()
        .unwrap();
    assert_eq!(
        ok(&server, &["crl", "show", "--field", "number"], "")
            .stdout
            .trim(),
        n.to_string()
    );
    ok(&server, &["crl", "fetch", "--out", "ca.crl"], "");
    ok(
        &server,
        &["crl", "fetch", "--out", "ca.crl.pem", "--pem"],
        "",
    );
    openssl(
        &server,
        &["crl", "-inform", "DER", "-in", "ca.crl", "-noout"],
    );
    openssl(&server, &["crl", "-in", "ca.crl.pem", "-noout"]);

    // Audit.
    let audit = ok(&server, &["audit", "list", "--limit", "1000"], "").stdout;
    assert!(
        audit.contains("certificate.revoke") && audit.contains("request.approve"),
        "{audit}"
    );
    assert!(ok(&server, &["audit", "verify"], "")
        .stdout
        .contains("true"));

    // Terminations.
    let j = ok(
        &server,
        &[
            "--json",
            "person",
            "terminate",
            &person,
            "--document",
            "Приказ 1",
        ],
        "",
    )
    .json();
    assert!(j["revoked"].as_array().unwrap().len() >= 2, "{j}");
    let j = ok(
        &server,
        &[
            "--json",
            "org",
            "terminate",
            &org,
            "--document",
            "Расторжение 1",
        ],
        "",
    )
    .json();
    assert!(j["revoked"].is_array());

    // Usage errors exit 2; help exits 0 and shows examples.
    assert_eq!(cli(&server, &["cert", "suspend"], "").code, 2);
    assert_eq!(cli(&server, &["frobnicate"], "").code, 2);
    let help = ok(&server, &["cert", "suspend", "--help"], "").stdout;
    assert!(help.contains("Example"), "{help}");
    ok(&server, &["logout"], "");
    assert_eq!(cli(&server, &["org", "list"], "").code, 1);
}

#[test]
fn server_or_network_failure_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ca-cli"))
        .args([
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "org",
            "list",
        ])
        .env("CA_CLI_TOKEN_FILE", dir.path().join("token"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("server or network failure"));
}
