//! Letters to persons (issue 13) through a real SMTP server process
//! (aiosmtpd), delivered from the outbox by the server's background round:
//! one letter per event to the person and the organisation's contact
//! address, Russian subjects and bodies, a server that is down and then up
//! (retried, delivered once), and the renewal reminder (once per
//! certificate, also with two instances) on an injected clock.

mod common;

use std::sync::Arc;

use ca_api::background::{tick, Delivery, Webhooks};
use ca_api::mail::Mailer;
use ca_authority::{Authority, Channel, OutboxFilter};
use ca_core::api::{NewOrganization, NewPerson};
use ca_core::Reason;
use ca_tests::{free_port, SmtpSink, TestDb};
use chrono::Duration;
use common::Env;
use serde_json::Value;

const PERSON_EMAIL: &str = "ivanov@romashka.example";
const OFFICE_EMAIL: &str = "office@romashka.example";

fn delivery(port: u16) -> Delivery {
    Delivery {
        hooks: Webhooks::new(None),
        mail: Some(
            Mailer::new(
                &format!("smtp://127.0.0.1:{port}"),
                "Удостоверяющий центр <ca@bank.example>",
            )
            .unwrap(),
        ),
    }
}

/// Registers the organisation (with a contact address) and the person;
/// returns the person's id.
fn register(reg: &Authority) -> String {
    let org = reg
        .register_organization(
            "registrar",
            NewOrganization {
                name: "ООО Ромашка".into(),
                inn: "7701234567".into(),
                ogrn: "1027700132195".into(),
                agreement_number: "КБ-17".into(),
                webhook_url: None,
                contact_email: Some(OFFICE_EMAIL.into()),
            },
        )
        .unwrap();
    reg.register_person(
        "registrar",
        NewPerson {
            organization_id: org.id,
            full_name: "Иванов Иван Иванович".into(),
            position: "Генеральный директор".into(),
            email: PERSON_EMAIL.into(),
            authority_document: "Доверенность 12".into(),
            authority_valid_until: reg.now() + Duration::days(300),
        },
    )
    .unwrap()
    .person
    .id
}

/// A technological certificate for the person, from a fresh P-256 key.
fn technological(env: &Env, person: &str, name: &str) -> String {
    let csr = env.t.make_csr(name, "ec-p256");
    let req = <x509_cert::request::CertReq as der::Decode>::from_der(&csr).unwrap();
    env.reg
        .issue_technological("registrar", person, req.info.public_key)
        .unwrap()
        .0
}

/// The one letter whose subject starts with `subject`, among `letters`.
fn letter<'a>(letters: &'a [Value], subject: &str) -> &'a Value {
    let found: Vec<&Value> = letters
        .iter()
        .filter(|l| l["subject"].as_str().unwrap().starts_with(subject))
        .collect();
    assert_eq!(found.len(), 1, "{subject}: {letters:#?}");
    found[0]
}

fn assert_addressed(l: &Value) {
    let mut to: Vec<&str> = l["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, vec![PERSON_EMAIL, OFFICE_EMAIL], "{l:#}");
    assert_eq!(l["mail_from"], "ca@bank.example");
    assert_eq!(l["content_type"], "multipart/alternative");
    let text = l["text"].as_str().unwrap();
    let html = l["html"].as_str().unwrap();
    assert!(
        text.starts_with("Здравствуйте, Иванов Иван Иванович!"),
        "{text}"
    );
    assert!(text.contains("Организация: ООО Ромашка."), "{text}");
    assert!(
        html.contains("<p>Здравствуйте, Иванов Иван Иванович!</p>"),
        "{html}"
    );
}

#[test]
fn every_event_reaches_the_person_and_the_organisation_by_mail() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let sink = SmtpSink::start(free_port(), &env.t.path().join("mail.jsonl"));
        let delivery = delivery(sink.port);
        let person = register(&env.reg);

        // Issuance.
        let serial = technological(&env, &person, "t1");
        tick(&env.reg, &delivery);
        let letters = sink.letters();
        assert_eq!(letters.len(), 1, "{letters:#?}");
        let l = letter(
            &letters,
            "Выпущен сертификат ключа проверки электронной подписи",
        );
        assert_addressed(l);
        assert!(l["text"].as_str().unwrap().contains(&serial));
        assert!(l["text"].as_str().unwrap().contains("(UTC+03:00)"));

        // Suspension (the end date in the bank's zone), a refused second
        // suspension with its reason in Russian, resumption, revocation.
        env.reg
            .suspend("registrar", &serial, 10, "Заявление 1", None)
            .unwrap();
        assert!(env
            .reg
            .suspend("registrar", &serial, 10, "Заявление 2", None)
            .is_err());
        env.reg
            .resume("registrar", &serial, "Заявление 3", None)
            .unwrap();
        env.reg
            .revoke("registrar", &serial, "key_compromise", "Заявление 4", None)
            .unwrap();
        tick(&env.reg, &delivery);
        let letters = sink.letters();
        assert_eq!(letters.len(), 5, "{letters:#?}");
        let l = letter(&letters, "Действие сертификата приостановлено");
        assert_addressed(l);
        assert!(l["text"].as_str().unwrap().contains(" до "), "{l:#}");
        let l = letter(&letters, "Отказ в приостановлении действия сертификата");
        assert!(
            l["text"]
                .as_str()
                .unwrap()
                .contains(Reason::CertificateNotActive.meaning_ru()),
            "{l:#}"
        );
        letter(&letters, "Действие сертификата возобновлено");
        let l = letter(&letters, "Сертификат отозван");
        assert!(
            l["text"].as_str().unwrap().contains("компрометация ключа"),
            "{l:#}"
        );

        // A refused request: each reason's meaning, no codes.
        let t2 = technological(&env, &person, "t2");
        let pem = ca_core::der_to_pem("CERTIFICATE", &env.reg.certificate(&t2).unwrap().1.unwrap());
        env.t.write("t2.pem", pem.as_bytes());
        env.t.openssl(&[
            "req",
            "-new",
            "-utf8",
            "-key",
            "t2.key",
            "-subj",
            "/C=RU/O=ООО Ромашка/OGRN=1027700132195/title=Бухгалтер/CN=Иванов Иван Иванович",
            "-outform",
            "DER",
            "-out",
            "wrong.csr",
        ]);
        let p7 = env.t.cms_sign("wrong.csr", "t2.pem", "t2.key", &[]);
        let submitted = env.reg.submit_request(&p7).unwrap();
        assert!(submitted
            .request
            .reasons
            .iter()
            .any(|r| r == Reason::SubjectMismatch.code()));
        tick(&env.reg, &delivery);
        let letters = sink.letters();
        let l = letter(&letters, "Отказ в выпуске сертификата");
        assert_addressed(l);
        let text = l["text"].as_str().unwrap();
        assert!(
            text.contains(Reason::SubjectMismatch.meaning_ru()),
            "{text}"
        );
        assert!(text.contains(&submitted.request.id), "{text}");
        assert!(!text.contains("subject_mismatch"), "{text}");
        // Each letter carries its outbox row's id as Message-ID, once.
        let mut ids: Vec<&str> = letters
            .iter()
            .map(|l| l["message_id"].as_str().unwrap())
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "no letter twice");
        assert!(env
            .reg
            .outbox(OutboxFilter::Pending, 100)
            .unwrap()
            .iter()
            .all(|n| n.channel != Channel::Email));
    }
}

#[test]
fn a_mail_server_that_is_down_is_retried_and_the_letter_arrives_once() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let port = free_port();
        let delivery = delivery(port);
        let person = register(&env.reg);
        technological(&env, &person, "t");

        // Nobody listens: the attempt fails, is recorded and backed off.
        tick(&env.reg, &delivery);
        let failing = env.reg.outbox(OutboxFilter::Failing, 10).unwrap();
        assert_eq!(failing.len(), 1, "{failing:#?}");
        assert_eq!(failing[0].attempts, 1);
        assert!(failing[0].last_error.is_some());
        let id = failing[0].id.clone();

        // The server comes up; the letter waits for its backoff (1 minute).
        let file = env.t.path().join("mail.jsonl");
        let sink = SmtpSink::start(port, &file);
        env.clock.advance(Duration::seconds(30));
        tick(&env.reg, &delivery);
        assert!(sink.letters().is_empty(), "not before the backoff");
        env.clock.advance(Duration::seconds(31));
        tick(&env.reg, &delivery);
        env.clock.advance(Duration::minutes(10));
        tick(&env.reg, &delivery);
        let letters = sink.letters();
        assert_eq!(letters.len(), 1, "{letters:#?}");
        assert_eq!(
            letters[0]["message_id"].as_str().unwrap(),
            format!("<{id}@client-bank-ca>")
        );
        let sent = env.reg.outbox(OutboxFilter::Sent, 10).unwrap();
        assert!(sent.iter().any(|n| n.id == id && n.attempts == 1));
        assert!(env
            .reg
            .outbox(OutboxFilter::Failing, 10)
            .unwrap()
            .is_empty());
    }
}

#[test]
fn the_renewal_reminder_comes_once_when_the_window_opens_on_any_number_of_instances() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let sink = SmtpSink::start(free_port(), &env.t.path().join("mail.jsonl"));
        let delivery = delivery(sink.port);
        let person = register(&env.reg);
        let serial = technological(&env, &person, "t");
        tick(&env.reg, &delivery);
        assert_eq!(sink.letters().len(), 1, "the issuance letter");
        let (stored, _) = env.reg.certificate(&serial).unwrap();
        let window = env
            .reg
            .policies()
            .profiles
            .get(stored.record.profile)
            .renewal_window_days;
        let opens = stored.record.not_after - Duration::days(window.into());

        // A day before the window: nothing.
        env.clock.set(opens - Duration::days(1));
        assert!(env.reg.remind_renewals().unwrap().is_empty());
        tick(&env.reg, &delivery);
        assert_eq!(sink.letters().len(), 1);

        // The window is open: two instances race; one reminder in all.
        env.clock.set(opens + Duration::minutes(1));
        let second = Arc::new(
            Authority::open(
                &db.url,
                Arc::new(
                    ca_core::keystore::open_or_create(
                        &env.t.path().join("data"),
                        &ca_tests::policies().ca,
                        None,
                        chrono::Utc::now(),
                    )
                    .unwrap()
                    .0,
                ),
                Arc::new(ca_tests::policies()),
                env.clock.clone(),
            )
            .unwrap(),
        );
        let handles: Vec<_> = [env.reg.clone(), second.clone()]
            .into_iter()
            .map(|a| std::thread::spawn(move || a.remind_renewals().unwrap()))
            .collect();
        let reminded: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(reminded, vec![serial.clone()]);
        tick(&env.reg, &delivery);
        tick(&second, &delivery);
        env.clock.advance(Duration::days(3));
        tick(&env.reg, &delivery);
        tick(&second, &delivery);
        let letters = sink.letters();
        assert_eq!(letters.len(), 2, "{letters:#?}");
        let l = letter(&letters, "Срок действия сертификата подходит к концу");
        assert_addressed(l);
        let text = l["text"].as_str().unwrap();
        assert!(
            text.contains(&serial) && text.contains("(UTC+03:00)"),
            "{text}"
        );
        // Recorded in the audit trail as the system's action.
        let audit = env.reg.audit_records(0, 1000).unwrap();
        assert_eq!(
            audit
                .iter()
                .filter(|r| r.action == "certificate.renewal_reminder")
                .count(),
            1
        );
    }
}
