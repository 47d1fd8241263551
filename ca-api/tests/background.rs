//! Background work: notification delivery to an organisation's webhook with
//! retries and backoff (the outbox is the source of truth), lapsed
//! suspensions and CRL republication, as one server tick runs them.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use ca_authority::Channel;
use ca_core::api::{NewOrganization, NewPerson};
use ca_tests::TestDb;
use chrono::Duration;
use common::Env;

/// A webhook receiver on loopback that answers each request with the next
/// status from `script` (then 200) and keeps the bodies.
fn receiver(script: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let mut s = stream.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        seen.lock().unwrap().push(format!("{head}\r\n\r\n{body}"));
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let status = script.next().unwrap_or(200);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, bodies)
}

#[test]
fn notifications_reach_the_webhook_with_retries_and_backoff() {
    let db = TestDb::sqlite();
    let env = Env::new(&db);
    let (url, bodies) = receiver(vec![500]);
    let org = env
        .reg
        .register_organization(
            "registrar",
            NewOrganization {
                name: "ООО Ромашка".into(),
                inn: "7701234567".into(),
                ogrn: "1027700132195".into(),
                agreement_number: "1".into(),
                webhook_url: Some(url),
                contact_email: None,
            },
        )
        .unwrap();
    let person = env
        .reg
        .register_person(
            "registrar",
            NewPerson {
                organization_id: org.id.clone(),
                full_name: "Иванов Иван Иванович".into(),
                position: "Директор".into(),
                email: "i@example.org".into(),
                authority_document: "Д-1".into(),
                authority_valid_until: env.reg.now() + Duration::days(100),
            },
        )
        .unwrap();
    let csr = env.t.make_csr("t", "ec-p256");
    let req = <x509_cert::request::CertReq as der::Decode>::from_der(&csr).unwrap();
    let (serial, _) = env
        .reg
        .issue_technological("registrar", &person.person.id, req.info.public_key)
        .unwrap();
    let agent = ca_api::background::Delivery {
        hooks: ca_api::background::Webhooks::new(Some(b"shared secret")),
        mail: None,
    };

    // First attempt: the receiver answers 500; the notification stays, backed off.
    ca_api::background::tick(&env.reg, &agent);
    assert_eq!(bodies.lock().unwrap().len(), 1);
    let waiting = env.reg.due_notifications(Channel::Webhook, 10).unwrap();
    assert!(waiting.is_empty(), "backed off: not due again at once");
    // Not yet after 30 s; due after the 1-minute backoff, then delivered.
    env.clock.advance(Duration::seconds(30));
    ca_api::background::tick(&env.reg, &agent);
    assert_eq!(bodies.lock().unwrap().len(), 1);
    env.clock.advance(Duration::seconds(31));
    ca_api::background::tick(&env.reg, &agent);
    let got = bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let (headers, raw) = got[1].split_once("\r\n\r\n").unwrap();
    // Signed with the shared secret: receivers can check it is the CA's.
    let expected = agent.hooks.signature(raw.as_bytes()).unwrap();
    assert!(
        headers
            .to_ascii_lowercase()
            .contains(&format!("x-ca-signature: {expected}")),
        "{headers}"
    );
    assert_ne!(
        Some(expected),
        ca_api::background::Webhooks::new(Some(b"other")).signature(raw.as_bytes())
    );
    let body: serde_json::Value = serde_json::from_str(raw).unwrap();
    assert_eq!(body["event"], "certificate.issued");
    assert_eq!(body["data"]["serial"], serial.as_str());
    let all = env.reg.notifications_for(&person.person.id).unwrap();
    let hook: Vec<_> = all
        .iter()
        .filter(|n| n.channel == Channel::Webhook)
        .collect();
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0].attempts, 1);
    assert!(hook[0].delivered_at.is_some());
    // The letter to the person waits: no SMTP server is configured here.
    let letters: Vec<_> = all.iter().filter(|n| n.channel == Channel::Email).collect();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].destination.as_deref(), Some("i@example.org"));
    assert!(letters[0].delivered_at.is_none());
    assert!(
        env.reg
            .due_notifications(Channel::Webhook, 10)
            .unwrap()
            .is_empty(),
        "delivered once, not again"
    );
    ca_api::background::tick(&env.reg, &agent);
    assert_eq!(bodies.lock().unwrap().len(), 2);

    // The same tick revokes a lapsed suspension and republishes the CRL.
    env.reg
        .suspend("registrar", &serial, 10, "З-1", None)
        .unwrap();
    let before = env.reg.current_crl().unwrap().unwrap().0.number;
    env.clock.advance(Duration::days(10));
    ca_api::background::tick(&env.reg, &agent);
    assert_eq!(
        env.reg
            .certificate(&serial)
            .unwrap()
            .0
            .record
            .public_status(env.reg.now()),
        "revoked"
    );
    assert!(env.reg.current_crl().unwrap().unwrap().0.number > before);
    let events: Vec<String> = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b.split_once("\r\n\r\n").unwrap().1).unwrap()
                ["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        events.contains(&"certificate.revoked".to_string()),
        "{events:?}"
    );
}
