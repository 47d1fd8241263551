//! The registration desk's papers and the outbox through the real `ca-cli`
//! and `ca-api` binaries (issue 13): `cert copy` and `request act` write
//! PDFs (read back with poppler's `pdftotext`) or HTML, letters go to a real
//! SMTP server, and `outbox list` shows them sent (admin and auditor only).

mod support;

use std::time::{Duration, Instant};

use ca_tests::{free_port, SmtpSink};
use support::*;

const SUBJ: &str =
    "/C=RU/O=ООО Ромашка/OGRN=1027700132195/title=Генеральный директор/CN=Иванов Иван Иванович";

fn pdftotext(server: &Server, file: &str) -> String {
    let bytes = std::fs::read(server.path().join(file)).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "{file} is not a PDF");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8", file, "-"])
        .current_dir(server.path())
        .output()
        .expect("pdftotext (poppler-utils)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Posts a CMS envelope as client software does (not the CLI's job).
fn submit(server: &Server, p7: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let body = std::fs::read(server.path().join(p7)).unwrap();
    let host = server.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "POST /api/v1/requests HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/pkcs7-mime\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    s.write_all(&body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    serde_json::from_str(resp.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

#[test]
fn papers_print_and_letters_are_listed_in_the_outbox() {
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), &mail_dir.path().join("mail.jsonl"));
    let server = Server::start_with(&[
        ("CA_SMTP_URL", &sink.url()),
        ("CA_MAIL_FROM", "Удостоверяющий центр <ca@bank.example>"),
    ]);
    admin(&server);
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
            "--contact-email",
            "office@romashka.example",
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
            "org",
            "register",
            "--name",
            "Другая",
            "--inn",
            "7701234568",
            "--ogrn",
            "1027700132196",
            "--agreement",
            "КБ-18",
            "--contact-email",
            "not an address",
        ],
        "",
    );
    assert_eq!(
        r.code, 1,
        "a malformed contact address is refused: {}",
        r.stderr
    );
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
            "ivanov@romashka.example",
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
    p256_csr(&server, "tech", SUBJ, false);
    let serial = ok(
        &server,
        &[
            "tech-cert",
            &person,
            "--csr",
            "tech.csr",
            "--out",
            "tech.pem",
            "--field",
            "serial",
        ],
        "",
    )
    .stdout
    .trim()
    .to_string();

    // The certificate copy, PDF and HTML.
    ok(&server, &["cert", "copy", &serial, "--out", "copy.pdf"], "");
    let text = pdftotext(&server, "copy.pdf");
    assert!(
        text.contains(&serial) && text.contains("1027700132195") && text.contains("(UTC+03:00)"),
        "{text}"
    );
    ok(
        &server,
        &["cert", "copy", &serial, "--out", "copy.html", "--html"],
        "",
    );
    let html = std::fs::read_to_string(server.path().join("copy.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains(&serial));
    let r = cli(&server, &["cert", "copy", "00ff", "--out", "none.pdf"], "");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("certificate_not_found"), "{}", r.stderr);

    // The act of a request signed with the technological certificate.
    p256_csr(&server, "work", SUBJ, true);
    envelope(&server, "work.csr", "tech.pem", "tech.key", "work.p7");
    let request = submit(&server, "work.p7");
    let id = request["id"].as_str().unwrap();
    ok(&server, &["request", "act", id, "--out", "act.pdf"], "");
    let text = pdftotext(&server, "act.pdf");
    let fp = request["key_sha256"].as_str().unwrap().to_uppercase();
    let squeezed: String = text.split_whitespace().collect();
    assert!(squeezed.contains(&fp), "{text}");
    assert!(text.contains("Акт признания ключа"), "{text}");

    // The issuance letter arrives (the background round runs every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.letters().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let letters = sink.letters();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert!(letters[0]["text"].as_str().unwrap().contains(&serial));
    let listed = ok(
        &server,
        &["outbox", "list", "--status", "sent", "--json"],
        "",
    )
    .json();
    let sent = listed.as_array().unwrap();
    assert_eq!(sent.len(), 1, "{listed:#}");
    assert_eq!(sent[0]["event"], "certificate.issued");
    assert_eq!(sent[0]["channel"], "email");
    assert_eq!(
        sent[0]["to"],
        "ivanov@romashka.example,office@romashka.example"
    );
    let table = ok(&server, &["outbox", "list"], "").stdout;
    assert!(
        table.contains("certificate.issued") && table.contains("sent"),
        "{table}"
    );
    assert_eq!(
        ok(
            &server,
            &["outbox", "list", "--status", "failing", "--json"],
            ""
        )
        .json(),
        serde_json::json!([])
    );
    let r = cli(&server, &["outbox", "list", "--status", "lost"], "");
    assert_eq!(r.code, 1, "{}", r.stderr);

    // A registrar may not read the outbox.
    ok(
        &server,
        &[
            "operator",
            "add",
            "--username",
            "reg1",
            "--role",
            "registrar",
            "--password-stdin",
        ],
        "First1Pass\n",
    );
    ok(
        &server,
        &["login", "--username", "reg1", "--password-stdin"],
        "First1Pass\n",
    );
    ok(
        &server,
        &["passwd", "--password-stdin"],
        "First1Pass\nSecond2Pass\n",
    );
    let r = cli(&server, &["outbox", "list"], "");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("forbidden"), "{}", r.stderr);
}
