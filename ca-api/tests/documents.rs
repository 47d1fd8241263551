//! The papers a registration desk prints (issue 13): the acceptance act of
//! a request's key and the paper copy of a certificate, as HTML and as PDF,
//! for a Cyrillic subject, read back with poppler's `pdftotext`.

mod common;

use std::process::Command;

use ca_tests::TestDb;
use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The PDF's text as `pdftotext` (Debian's poppler-utils) reads it.
fn pdf_text(env: &Env, name: &str, pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    env.t.write(name, pdf);
    let out = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(env.t.path().join(name))
        .arg("-")
        .output()
        .expect("pdftotext runs (apt install poppler-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Grouped by four as the documents print it.
fn grouped(hex: &str) -> String {
    hex.to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What both renderings must show, in either form. A long value may wrap
/// onto the next line (under its own column), so white space is not
/// compared.
fn assert_shows(text: &str, what: &[&str]) {
    let squeezed: String = text.split_whitespace().collect();
    for w in what {
        let w_squeezed: String = w.split_whitespace().collect();
        assert!(squeezed.contains(&w_squeezed), "missing {w:?} in:\n{text}");
    }
}

/// No raw attribute OIDs and no hex-escaped values (`1.2.643.100.1=#120d…`),
/// which is how the subject used to be printed.
fn assert_no_raw_names(text: &str) {
    for raw in ["1.2.643.", "2.5.4.", "=#", "OGRN=", "CN="] {
        assert!(!text.contains(raw), "raw {raw:?} in:\n{text}");
    }
}

#[actix_web::test]
async fn act_and_certificate_copy_as_html_and_pdf() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let admin = admin(&app).await;
        let (_, person) = org_and_person(&app, &admin).await;
        let pid = person["id"].as_str().unwrap();

        // A technological certificate, then an initial request signed with it.
        let pem = csr_pem(&env.t, "tech", SUBJ);
        let r = post_json(
            &app,
            &format!("/api/v1/admin/persons/{pid}/technological-certificate"),
            Some(&admin),
            json!({"csr_pem": pem}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let tech_serial = r.json()["serial"].as_str().unwrap().to_string();
        env.t.write(
            "tech.pem",
            r.json()["certificate_pem"].as_str().unwrap().as_bytes(),
        );
        csr_pem(&env.t, "work", SUBJ);
        let p7 = env.t.cms_sign("work.csr", "tech.pem", "tech.key", &[]);
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
        let key_fp = grouped(r.json()["key_sha256"].as_str().unwrap());
        let received = env.reg.request(&id).unwrap().received_at;
        let received_msk = received
            .with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).unwrap())
            .format("%d.%m.%Y %H:%M")
            .to_string();

        // The act: HTML by default, PDF when asked.
        let act_fields = [
            "Акт признания ключа проверки электронной подписи",
            "Иванов Иван Иванович",
            "Генеральный директор",
            "ООО Ромашка",
            "ОГРН",
            "1027700132195",
            "ИНН",
            "7701234567",
            "Отпечаток ключа (SHA-256)",
            &key_fp,
            "ECDSA, кривая P-256, 256 бит",
            "(UTC+03:00)",
            &received_msk,
            "Владелец сертификата",
            "Уполномоченное лицо Банка",
            "М.П.",
        ];
        let html = get(&app, &format!("/api/v1/requests/{id}/act"), None).await;
        assert_eq!(html.status, 200);
        assert!(html.header("content-type").starts_with("text/html"));
        let html = String::from_utf8(html.body).unwrap();
        assert_shows(&html, &act_fields);
        assert_no_raw_names(&html);
        // The public key as grouped hex: the uncompressed point starts 04.
        assert!(html.contains("<pre>04 "), "{html}");
        let pdf = call(
            &app,
            "GET",
            &format!("/api/v1/requests/{id}/act"),
            None,
            None,
            &[("accept", "application/pdf")],
        )
        .await;
        assert_eq!(
            (pdf.status, pdf.header("content-type").as_str()),
            (200, "application/pdf")
        );
        let text = pdf_text(&env, "act.pdf", &pdf.body);
        assert_shows(&text, &act_fields);
        assert_no_raw_names(&text);

        // The certificate copy of the technological certificate.
        let der = env.reg.certificate(&tech_serial).unwrap().1.unwrap();
        let cert_fp = grouped(&hex::encode(Sha256::digest(&der)));
        let (stored, _) = env.reg.certificate(&tech_serial).unwrap();
        let not_after_msk = stored
            .record
            .not_after
            .with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).unwrap())
            .format("%d.%m.%Y %H:%M:%S (UTC+03:00)")
            .to_string();
        let copy_fields = [
            "Копия сертификата ключа проверки электронной подписи",
            &tech_serial,
            "Иванов Иван Иванович",
            "ООО Ромашка",
            "1027700132195",
            "7701234567",
            "Действителен по",
            &not_after_msk,
            "Отпечаток сертификата (SHA-256)",
            &cert_fp,
            "ECDSA, кривая P-256, 256 бит",
            "Издатель",
            "Уполномоченное лицо Банка",
        ];
        let html = get(
            &app,
            &format!("/api/v1/certificates/{tech_serial}/copy"),
            None,
        )
        .await;
        assert_eq!(html.status, 200);
        let html = String::from_utf8(html.body).unwrap();
        assert_shows(&html, &copy_fields);
        assert_no_raw_names(&html);
        let pdf = call(
            &app,
            "GET",
            &format!("/api/v1/certificates/{}/copy", tech_serial.to_uppercase()),
            None,
            None,
            &[("accept", "application/pdf")],
        )
        .await;
        assert_eq!(pdf.status, 200);
        let text = pdf_text(&env, "copy.pdf", &pdf.body);
        assert_shows(&text, &copy_fields);
        assert_no_raw_names(&text);

        // Unknown or malformed: 404 and 400, as everywhere.
        let r = get(&app, "/api/v1/certificates/0abc/copy", None).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "certificate_not_found")
        );
        let r = get(&app, "/api/v1/certificates/zz/copy", None).await;
        assert_eq!(r.status, 400);
        let r = call(
            &app,
            "GET",
            "/api/v1/requests/nope/act",
            None,
            None,
            &[("accept", "application/pdf")],
        )
        .await;
        assert_eq!(r.status, 404);
    }
}

/// A subject with markup and long values: escaped in HTML, wrapped (not
/// cut) in the PDF.
#[actix_web::test]
async fn hostile_and_long_names_are_escaped_and_wrapped() {
    let db = TestDb::sqlite();
    let env = Env::new(&db);
    let app = app(&env).await;
    let admin = admin(&app).await;
    let name = "ООО <b>Ромашка & Сыновья</b> Научно-производственное объединение «Северные приборостроительные технологии»";
    let o = post_json(
        &app,
        "/api/v1/admin/organizations",
        Some(&admin),
        json!({
            "name": name, "inn": "7701234567", "ogrn": "1027700132195", "agreement_number": "КБ-18"
        }),
    )
    .await;
    assert_eq!(o.status, 201, "{}", String::from_utf8_lossy(&o.body));
    let until = (chrono::Utc::now() + chrono::Duration::days(200)).to_rfc3339();
    let p = post_json(&app, "/api/v1/admin/persons", Some(&admin), json!({
        "organization_id": o.json()["id"], "full_name": "Петров-Водкин Кузьма Сергеевич", "position": "Главный бухгалтер",
        "email": "p@example.org", "authority_document": "Доверенность 1", "authority_valid_until": until
    })).await;
    assert_eq!(p.status, 201);
    let subject = p.json()["expected_subject"].as_str().unwrap().to_string();
    assert!(subject.contains("Ромашка"));
    let subj = format!(
        "/C=RU/O={name}/OGRN=1027700132195/title=Главный бухгалтер/CN=Петров-Водкин Кузьма Сергеевич"
    );
    let pem = csr_pem(&env.t, "tech", &subj);
    let r = post_json(
        &app,
        &format!(
            "/api/v1/admin/persons/{}/technological-certificate",
            p.json()["id"].as_str().unwrap()
        ),
        Some(&admin),
        json!({"csr_pem": pem}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let serial = r.json()["serial"].as_str().unwrap().to_string();
    let html = get(&app, &format!("/api/v1/certificates/{serial}/copy"), None).await;
    let html = String::from_utf8(html.body).unwrap();
    assert!(!html.contains("<b>Ромашка"), "{html}");
    assert!(
        html.contains("&lt;b&gt;Ромашка &amp; Сыновья&lt;/b&gt;"),
        "{html}"
    );
    let pdf = call(
        &app,
        "GET",
        &format!("/api/v1/certificates/{serial}/copy"),
        None,
        None,
        &[("accept", "application/pdf")],
    )
    .await;
    let text = pdf_text(&env, "long.pdf", &pdf.body);
    // Every word is there, whatever line it landed on.
    for word in name.split_whitespace() {
        assert!(text.contains(word), "missing {word:?} in:\n{text}");
    }
}
