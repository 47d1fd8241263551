//! The registry on real databases: every scenario runs on SQLite and, when
//! `TEST_DATABASE_URL` is set, on PostgreSQL. Envelopes and checks of the
//! results come from the `openssl` command line.

mod support;

use ca_core::crl::RevocationReason;
use ca_core::{ErrorKind, Reason};
use ca_tests::text;
use chrono::Duration;
use der::Decode;
use diesel::prelude::*;
use support::{on_each_backend, subj, World};

fn codes(v: &ca_core::api::RequestView) -> Vec<&str> {
    v.reasons.iter().map(String::as_str).collect()
}

#[test]
fn initial_request_waits_for_an_operator_then_issues_a_certificate_openssl_verifies() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.technological("tech", &w.person);
        w.csr("work", &w.person);
        let p7 = w.envelope("work", "tech");
        let sub = w.reg.submit_request(&p7).unwrap();
        assert!(sub.created);
        let v = &sub.view;
        assert_eq!(
            (v.request_type.as_str(), v.status.as_str()),
            ("initial", "pending")
        );
        assert!(v.reasons.is_empty());
        let due = v.decision_due.expect("a pending request is due");
        assert!(
            due > w.reg.now() + Duration::hours(24),
            "2 business days after receipt: {due}"
        );
        assert_eq!(
            w.reg.request_certificate(&v.id).unwrap_err().kind(),
            ErrorKind::WrongState
        );
        assert_eq!(w.reg.due().unwrap().len(), 1);

        // Same bytes again: the same request (idempotent).
        let again = w.reg.submit_request(&p7).unwrap();
        assert!(!again.created);
        assert_eq!(again.view.id, v.id);

        let issued = w.reg.approve("registrar", &v.id).unwrap();
        assert_eq!(issued.status, "issued");
        let der = w.reg.request_certificate(&v.id).unwrap();
        w.t.write_pem("work.pem", "CERTIFICATE", &der);
        w.t.openssl(&["verify", "-CAfile", "ca.pem", "work.pem"]);
        // Built from the registration: ОГРН and ИНН come from the organisation.
        let shown = text(&w.t.openssl(&[
            "x509",
            "-in",
            "work.pem",
            "-noout",
            "-subject",
            "-nameopt",
            "utf8,sep_comma_plus",
        ]));
        assert!(
            shown.contains("OGRN=1027700132195") && shown.contains("CN=Иванов Иван Иванович"),
            "{shown}"
        );
        let (view, _) = w
            .reg
            .certificate(issued.certificate_serial.as_deref().unwrap(), false)
            .unwrap();
        assert_eq!(view.status, "active");
        assert!(w.reg.due().unwrap().is_empty());
        let events: Vec<String> = w
            .reg
            .notifications_for(&w.person.id)
            .unwrap()
            .into_iter()
            .map(|n| n.event)
            .collect();
        assert!(
            events.contains(&"certificate.issued".to_string()),
            "{events:?}"
        );
        assert!(w.reg.approve("registrar", &v.id).unwrap_err().kind() == ErrorKind::WrongState);
    });
}

#[test]
fn self_signed_request_waits_for_the_act_then_for_approval() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.csr("new", &w.person);
        let cert = w.t.self_signed("new");
        let p7 = w.t.cms_sign("new.csr", &cert, "new.key", &[]);
        let v = w.reg.submit_request(&p7).unwrap().view;
        assert_eq!(
            (v.request_type.as_str(), v.status.as_str()),
            ("initial_self_signed", "pending_act")
        );
        assert_eq!(v.person_id.as_deref(), Some(w.person.id.as_str()));
        assert_eq!(
            w.reg.approve("registrar", &v.id).unwrap_err().kind(),
            ErrorKind::WrongState
        );
        let act = w.reg.request_act(&v.id).unwrap();
        assert_eq!(act.request.key_sha256.len(), 64);
        assert!(act.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let v = w
            .reg
            .confirm_act("registrar", &v.id, &act.request.key_sha256)
            .unwrap();
        assert_eq!(v.status, "pending");
        assert!(v.decision_due.is_some());
        assert_eq!(w.reg.approve("registrar", &v.id).unwrap().status, "issued");
    });
}

#[test]
fn registration_window_closes_after_thirty_days() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.clock.advance(Duration::days(31));
        w.csr("late", &w.person);
        let cert = w.t.self_signed("late");
        let v = w
            .reg
            .submit_request(&w.t.cms_sign("late.csr", &cert, "late.key", &[]))
            .unwrap()
            .view;
        // Told nothing yet (defect 12); refused when the act is confirmed.
        assert_eq!((v.status.as_str(), v.reasons.len()), ("pending_act", 0));
        let key = w.reg.request_act(&v.id).unwrap().request.key_sha256;
        let err = w.reg.confirm_act("registrar", &v.id, &key).unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::RegistrationExpired]);
        let v = w.reg.request(&v.id).unwrap();
        assert_eq!(v.status, "rejected");
        assert_eq!(codes(&v), ["registration_expired"]);
        let events: Vec<String> = w
            .reg
            .notifications_for(&w.person.id)
            .unwrap()
            .into_iter()
            .map(|n| n.event)
            .collect();
        assert_eq!(events, ["request.rejected"]);
    });
}

/// Issue 9 defect 12: an anonymous self-signed request learnt whether its
/// subject was a registered, active person (and its id). Registered,
/// unknown and terminated subjects now get the same answer; the operator
/// confirming the act learns the truth, and a wrong fingerprint is refused.
#[test]
fn a_self_signed_request_does_not_reveal_the_registration() {
    on_each_backend(|db| {
        let w = World::new(db);
        let stranger =
            World::add_person(&w.reg, &w.org, "Сидоров Сидор Сидорович", "Бухгалтер", 200);
        w.reg
            .terminate_person("registrar", &stranger.id, "Приказ 1")
            .unwrap();
        let mut answers = Vec::new();
        for (name, subject) in [
            ("known", subj(&w.person.full_name, &w.person.position)),
            ("unknown", subj("Петров Пётр Петрович", "Директор")),
            ("terminated", subj(&stranger.full_name, &stranger.position)),
        ] {
            w.csr_with_subject(name, &subject);
            let cert = w.t.self_signed(name);
            let p7 =
                w.t.cms_sign(&format!("{name}.csr"), &cert, &format!("{name}.key"), &[]);
            let sub = w.reg.submit_request(&p7).unwrap();
            let client =
                ca_core::views::request_for_client(&w.reg.0.request(&sub.view.id).unwrap());
            answers.push((name, client));
        }
        for (name, v) in &answers {
            assert_eq!(
                (v.status.as_str(), v.reasons.len(), v.person_id.as_deref()),
                ("pending_act", 0, None),
                "{name}"
            );
            // Nor does the public act page (review finding).
            assert!(w.reg.request_act(&v.id).unwrap().person.is_none(), "{name}");
        }
        // The operator confirms each act: only the registered person's goes on.
        for (name, v) in &answers {
            let key = v.key_sha256.clone().unwrap();
            let wrong = w
                .reg
                .confirm_act("registrar", &v.id, &"0".repeat(64))
                .unwrap_err();
            assert_eq!(
                wrong.reason_codes(),
                [Reason::FingerprintMismatch],
                "{name}"
            );
            assert_eq!(w.reg.request(&v.id).unwrap().status, "pending_act");
            let confirmed = w.reg.confirm_act("registrar", &v.id, &key);
            match *name {
                "known" => {
                    assert!(w.reg.request_act(&v.id).unwrap().person.is_some());
                    let r = confirmed.unwrap();
                    assert_eq!(
                        (r.status.as_str(), r.person_id.as_deref()),
                        ("pending", Some(w.person.id.as_str()))
                    );
                }
                _ => {
                    assert_eq!(
                        confirmed.unwrap_err().reason_codes(),
                        [Reason::PersonNotActive],
                        "{name}"
                    );
                    assert_eq!(w.reg.request(&v.id).unwrap().status, "rejected");
                }
            }
        }
        let refused = w
            .reg
            .audit_records(0, 1000)
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "request.confirm_act" && r.reasons == ["fingerprint_mismatch"])
            .count();
        assert_eq!(refused, 3);
    });
}

/// Defect 12: unconfirmed self-signed requests piled up for ever. They are
/// rejected as registration_expired once the registration window after
/// their receipt has passed, once.
#[test]
fn unconfirmed_self_signed_requests_expire_after_the_window() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.csr("new", &w.person);
        let cert = w.t.self_signed("new");
        let v = w
            .reg
            .submit_request(&w.t.cms_sign("new.csr", &cert, "new.key", &[]))
            .unwrap()
            .view;
        w.clock.advance(Duration::days(30));
        assert!(w.reg.expire_pending_acts().unwrap().is_empty());
        assert_eq!(w.reg.request(&v.id).unwrap().status, "pending_act");
        w.clock.advance(Duration::seconds(1));
        assert_eq!(w.reg.expire_pending_acts().unwrap(), vec![v.id.clone()]);
        assert!(w.reg.expire_pending_acts().unwrap().is_empty());
        let r = w.reg.request(&v.id).unwrap();
        assert_eq!(
            (r.status.as_str(), codes(&r)),
            ("rejected", vec!["registration_expired"])
        );
    });
}

#[test]
fn policy_refusals_are_recorded_with_their_reasons() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.technological("tech", &w.person);
        // subject_mismatch: another name.
        w.csr_with_subject(
            "other",
            &subj("Петров Пётр Петрович", "Генеральный директор"),
        );
        let v = w
            .reg
            .submit_request(&w.envelope("other", "tech"))
            .unwrap()
            .view;
        assert_eq!(
            (v.status.as_str(), codes(&v)),
            ("rejected", vec!["subject_mismatch"])
        );
        // duplicate_key: the technological key itself asked for again.
        std::fs::copy(w.t.path().join("tech.csr"), w.t.path().join("again.csr")).unwrap();
        let v = w
            .reg
            .submit_request(&w.envelope("again", "tech"))
            .unwrap()
            .view;
        assert_eq!(codes(&v), ["duplicate_key"]);
        // Accepted: the right subject and a new key.
        w.csr("good", &w.person);
        assert_eq!(
            w.reg
                .submit_request(&w.envelope("good", "tech"))
                .unwrap()
                .view
                .status,
            "pending"
        );
        // The audit trail has the refusals with their codes.
        let audit = w.reg.audit_records(0, 1000).unwrap();
        let refused: Vec<_> = audit
            .iter()
            .filter(|r| r.action == "request.submit" && r.outcome == "refused")
            .collect();
        assert_eq!(refused.len(), 2);
        assert!(refused.iter().any(|r| r.reasons == ["subject_mismatch"]));
    });
}

#[test]
fn signer_certificate_invalid_when_suspended_or_expired() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.technological("tech", &w.person);
        w.csr("a", &w.person);
        w.reg
            .suspend("registrar", &serial, 10, "Заявление 1", None)
            .unwrap();
        let v = w.reg.submit_request(&w.envelope("a", "tech")).unwrap().view;
        assert_eq!(codes(&v), ["signer_certificate_invalid"]);
        w.reg
            .resume("registrar", &serial, "Заявление 2", None)
            .unwrap();
        // Pending requests it signed are refused at approval once it is
        // suspended or revoked (a stolen technological key).
        w.csr("p", &w.person);
        let pending = w.reg.submit_request(&w.envelope("p", "tech")).unwrap().view;
        assert_eq!(pending.status, "pending");
        w.reg
            .suspend("registrar", &serial, 10, "Заявление 3", None)
            .unwrap();
        let err = w.reg.approve("registrar", &pending.id).unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::SignerCertificateInvalid]);
        assert_eq!(w.reg.request(&pending.id).unwrap().status, "rejected");
        w.reg
            .resume("registrar", &serial, "Заявление 4", None)
            .unwrap();
        w.csr("b", &w.person);
        assert_eq!(
            w.reg
                .submit_request(&w.envelope("b", "tech"))
                .unwrap()
                .view
                .status,
            "pending"
        );
        // The technological profile lasts 45 days.
        w.clock.advance(Duration::days(46));
        w.csr("c", &w.person);
        let v = w.reg.submit_request(&w.envelope("c", "tech")).unwrap().view;
        assert_eq!(codes(&v), ["signer_certificate_invalid"]);
    });
}

#[test]
fn power_of_attorney_expiry_and_termination_refuse_requests() {
    on_each_backend(|db| {
        let w = World::new(db);
        let short = World::add_person(
            &w.reg,
            &w.org,
            "Сидорова Анна Петровна",
            "Главный бухгалтер",
            20,
        );
        w.technological("tech", &short);
        w.csr("in-time", &short);
        assert_eq!(
            w.reg
                .submit_request(&w.envelope("in-time", "tech"))
                .unwrap()
                .view
                .status,
            "pending"
        );
        w.clock.advance(Duration::days(21));
        w.csr("late", &short);
        let v = w
            .reg
            .submit_request(&w.envelope("late", "tech"))
            .unwrap()
            .view;
        assert!(codes(&v).contains(&"authority_expired"), "{v:?}");
        // Approving the earlier request now is refused too, and rejects it.
        let pending = w.reg.requests(Some("pending")).unwrap();
        let err = w.reg.approve("registrar", &pending[0].id).unwrap_err();
        assert!(err.has(Reason::AuthorityExpired), "{err}");
        assert_eq!(w.reg.request(&pending[0].id).unwrap().status, "rejected");

        w.technological("tech2", &w.person);
        w.reg
            .terminate_person("registrar", &w.person.id, "Приказ 5")
            .unwrap();
        w.csr("after", &w.person);
        let v = w
            .reg
            .submit_request(&w.envelope("after", "tech2"))
            .unwrap()
            .view;
        assert!(codes(&v).contains(&"person_not_active"), "{v:?}");
    });
}

#[test]
fn structural_refusals_store_nothing_but_the_audit_record() {
    on_each_backend(|db| {
        let w = World::new(db);
        let before = w.reg.audit_records(0, 1000).unwrap().len();
        for (bytes, reason) in [
            (&b"junk"[..], Reason::MalformedCms),
            (
                &[0x30, 0x85, 0, 0, 0, 0, 1, 0][..],
                Reason::UnsupportedEncoding,
            ),
        ] {
            let err = w.reg.submit_request(bytes).unwrap_err();
            assert!(err.has(reason), "{err}");
            assert_eq!(err.kind(), ErrorKind::Malformed);
        }
        // Signed by a certificate of this CA that the registry does not hold.
        let csr = w.t.make_csr("stranger", "ec-p256");
        w.t.issue(
            "stranger",
            &csr,
            ca_core::policy::ProfileKind::Technological,
        );
        w.csr("x", &w.person);
        let err = w
            .reg
            .submit_request(&w.envelope("x", "stranger"))
            .unwrap_err();
        assert!(err.has(Reason::UnknownSigner), "{err}");
        assert!(w.reg.requests(None).unwrap().is_empty());
        let audit = w.reg.audit_records(0, 1000).unwrap();
        assert_eq!(audit.len(), before + 3);
        assert!(audit[before..]
            .iter()
            .all(|r| r.outcome == "refused" && r.actor == "client"));
    });
}

#[test]
fn suspension_runs_out_into_revocation_exactly_once_and_crls_follow() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.working("work", &w.person);
        let start = w.reg.now();
        // Refusals first: too short, too long, unknown, not owned.
        let err = w
            .reg
            .suspend("registrar", &serial, 9, "З-1", None)
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::SuspensionTooShort]);
        let err = w
            .reg
            .suspend("registrar", &serial, 400, "З-1", None)
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::SuspensionTooLong]);
        let err = w
            .reg
            .suspend("registrar", "0badc0ffee", 10, "З-1", None)
            .unwrap_err();
        assert_eq!(
            (err.kind(), err.reason_codes()),
            (ErrorKind::NotFound, &[Reason::CertificateNotFound][..])
        );
        let err = w
            .reg
            .suspend("registrar", &serial, 10, "З-1", Some("someone-else"))
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::CertificateNotOwned]);

        let until = w
            .reg
            .suspend("registrar", &serial, 10, "З-2", Some(&w.person.id))
            .unwrap();
        assert_eq!(until, start + Duration::days(10));
        let err = w
            .reg
            .suspend("registrar", &serial, 10, "З-3", None)
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::CertificateNotActive]);
        let crl = w.crl("held.crl");
        let shown =
            text(&w.t.openssl(&["crl", "-in", &crl, "-noout", "-text", "-CAfile", "ca.pem"]));
        assert!(
            shown.contains("verify OK") && shown.contains("Certificate Hold"),
            "{shown}"
        );
        assert!(!w.verifies(&crl, "work.pem"));

        // Day 9: nothing lapses yet.
        w.clock.advance(Duration::days(9));
        assert!(w.reg.lapse_suspensions().unwrap().is_empty());
        // Day 10: revoked, once; running it again does nothing.
        w.clock.advance(Duration::days(1));
        assert_eq!(w.reg.lapse_suspensions().unwrap(), vec![serial.clone()]);
        assert!(w.reg.lapse_suspensions().unwrap().is_empty());
        let (view, _) = w.reg.certificate(&serial, false).unwrap();
        assert_eq!(view.status, "revoked");
        assert_eq!(view.revoked_at, Some(until));
        let err = w.reg.resume("registrar", &serial, "З-4", None).unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::CertificateRevoked]);
        let shown = text(&w.t.openssl(&["crl", "-in", &w.crl("revoked.crl"), "-noout", "-text"]));
        assert!(!shown.contains("Certificate Hold"), "{shown}");
        let revocations = w
            .reg
            .audit_records(0, 1000)
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "certificate.revoked")
            .count();
        assert_eq!(revocations, 1);
    });
}

#[test]
fn resumption_takes_the_certificate_off_the_next_crl() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.working("work", &w.person);
        let err = w.reg.resume("registrar", &serial, "З-1", None).unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::CertificateNotSuspended]);
        w.reg
            .suspend("registrar", &serial, 15, "З-2", None)
            .unwrap();
        w.reg.resume("registrar", &serial, "З-3", None).unwrap();
        let crl = w.crl("resumed.crl");
        w.t.openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            &crl,
            "work.pem",
        ]);
        let numbers = w.reg.crl_numbers().unwrap();
        assert_eq!(
            numbers,
            (1..=numbers.len() as u64).collect::<Vec<_>>(),
            "one CRL per change, in order"
        );
        let events: Vec<String> = w
            .reg
            .notifications_for(&w.person.id)
            .unwrap()
            .into_iter()
            .map(|n| n.event)
            .collect();
        for e in [
            "resume.refused",
            "certificate.suspended",
            "certificate.resumed",
        ] {
            assert!(
                events.contains(&e.to_string()),
                "{e} missing from {events:?}"
            );
        }
    });
}

#[test]
fn revocation_on_application_and_its_refusals() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.working("work", &w.person);
        let err = w
            .reg
            .revoke(
                "registrar",
                &serial,
                RevocationReason::CertificateHold.code(),
                "З-0",
                None,
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
        w.reg
            .revoke(
                "registrar",
                &serial,
                RevocationReason::KeyCompromise.code(),
                "З-1",
                Some(&w.person.id),
            )
            .unwrap();
        let err = w
            .reg
            .revoke(
                "registrar",
                &serial,
                RevocationReason::KeyCompromise.code(),
                "З-2",
                None,
            )
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::CertificateRevoked]);
        let crl = w.crl("r.crl");
        let out = ca_tests::try_openssl(
            w.t.path(),
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                &crl,
                "work.pem",
            ],
        );
        assert!(text(&out).contains("certificate revoked"), "{}", text(&out));
        // An expired certificate can be neither suspended nor revoked.
        let other = w.working("other", &w.person);
        w.clock.advance(Duration::days(366));
        let err = w
            .reg
            .revoke(
                "registrar",
                &other,
                RevocationReason::Superseded.code(),
                "З-3",
                None,
            )
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::CertificateExpired]);
        assert_eq!(
            w.reg.certificate(&other, false).unwrap().0.status,
            "expired"
        );
    });
}

#[test]
fn terminations_revoke_every_certificate_in_one_transaction() {
    on_each_backend(|db| {
        let w = World::new(db);
        let a = w.working("a", &w.person);
        let tech = w.technological("t", &w.person);
        let other = World::add_person(
            &w.reg,
            &w.org,
            "Петров Пётр Петрович",
            "Заместитель директора",
            100,
        );
        let b = w.working("b", &other);
        w.csr("pending", &w.person);
        let pending = w
            .reg
            .submit_request(&w.envelope("pending", "t"))
            .unwrap()
            .view;

        let revoked = w
            .reg
            .terminate_person("registrar", &w.person.id, "Приказ 9")
            .unwrap()
            .revoked;
        let mut expected = vec![
            a.clone(),
            tech.clone(),
            w.reg
                .request(&w.reg.requests(Some("issued")).unwrap()[0].id)
                .unwrap()
                .certificate_serial
                .unwrap(),
        ];
        expected.retain(|s| !s.is_empty());
        for s in [&a, &tech] {
            assert!(revoked.contains(s), "{s} not in {revoked:?}");
            assert_eq!(
                w.reg
                    .certificate(s, false)
                    .unwrap()
                    .0
                    .revocation_reason
                    .as_deref(),
                Some("affiliation_changed")
            );
        }
        assert!(!revoked.contains(&b));
        assert_eq!(w.reg.request(&pending.id).unwrap().status, "rejected");
        assert_eq!(
            w.reg
                .terminate_person("registrar", &w.person.id, "Приказ 9")
                .unwrap_err()
                .kind(),
            ErrorKind::WrongState
        );

        let revoked = w
            .reg
            .terminate_organization("registrar", &w.org.id, "Расторжение 1")
            .unwrap()
            .revoked;
        assert!(revoked.contains(&b), "{revoked:?}");
        assert!(w.reg.certificates(None, Some("active")).unwrap().is_empty());
        let crl = w.crl("all.crl");
        for f in ["a.pem", "b.pem"] {
            assert!(!w.verifies(&crl, f), "{f} still verifies");
        }
        // No new persons for a terminated organisation.
        let err = w.reg.register_person(
            "registrar",
            ca_core::api::NewPerson {
                organization_id: w.org.id.clone(),
                full_name: "Новый Сотрудник".into(),
                position: "Директор".into(),
                email: "n@example.org".into(),
                authority_document: "Д-1".into(),
                authority_valid_until: w.reg.now() + Duration::days(10),
            },
        );
        assert_eq!(err.unwrap_err().kind(), ErrorKind::WrongState);
    });
}

#[test]
fn an_edited_audit_row_is_named_by_verification() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.technological("tech", &w.person);
        let report = w.reg.verify_audit().unwrap();
        assert!(report.ok && report.records >= 4, "{report:?}");
        let mut conn = ca_store::db::open_pools(&db.url)
            .unwrap()
            .write
            .get()
            .unwrap();
        diesel::sql_query("UPDATE audit SET actor = 'mallory' WHERE seq = 3")
            .execute(&mut *conn)
            .unwrap();
        let report = w.reg.verify_audit().unwrap();
        assert_eq!((report.ok, report.first_broken), (false, Some(3)));
        // The consistency checker says so too (issue 14).
        let checked = w.reg.check_consistency().unwrap();
        assert!(!checked.ok, "{checked:?}");
        assert!(
            checked
                .checks
                .iter()
                .any(|c| c.check == "audit_chain" && !c.ok),
            "{checked:?}"
        );
        // Deleting a row breaks the chain at the next one.
        diesel::sql_query(
            "UPDATE audit SET actor = (SELECT actor FROM audit WHERE seq = 2) WHERE seq = 3",
        )
        .execute(&mut *conn)
        .unwrap();
        diesel::sql_query("DELETE FROM audit WHERE seq = 2")
            .execute(&mut *conn)
            .unwrap();
        assert_eq!(w.reg.verify_audit().unwrap().first_broken, Some(3));
    });
}

#[test]
fn crl_is_republished_before_next_update_once() {
    on_each_backend(|db| {
        let w = World::new(db);
        let first = w
            .reg
            .publish_crl_if_due()
            .unwrap()
            .expect("no CRL yet: publish");
        assert!(w.reg.publish_crl_if_due().unwrap().is_none());
        // ca.toml: 24 h period, 12 h overlap.
        w.clock.advance(Duration::hours(11));
        assert!(w.reg.publish_crl_if_due().unwrap().is_none());
        w.clock.advance(Duration::hours(2));
        let second = w.reg.publish_crl_if_due().unwrap().expect("due");
        assert!(second.number > first.number);
        assert!(w.reg.publish_crl_if_due().unwrap().is_none());
        let (current, der) = w.reg.current_crl().unwrap().unwrap();
        assert_eq!(current, second);
        assert_eq!(
            current.next_update - current.this_update,
            Duration::hours(24)
        );
        w.t.write_pem("c.crl", "X509 CRL", &der);
        let shown = text(&w.t.openssl(&[
            "crl",
            "-in",
            "c.crl",
            "-noout",
            "-crlnumber",
            "-CAfile",
            "ca.pem",
        ]));
        assert!(
            shown.contains(&format!("crlNumber=0x{:02X}", second.number))
                || shown.contains(&format!("crlNumber={}", second.number)),
            "{shown}"
        );
    });
}

fn crl_serials(w: &World) -> Vec<String> {
    let (_, der) = w.reg.current_crl().unwrap().unwrap();
    let crl = <x509_cert::crl::CertificateList as der::Decode>::from_der(&der).unwrap();
    crl.tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .map(|r| ca_core::serial::serial_hex(&r.serial_number))
        .collect()
}

#[test]
fn a_revoked_certificate_stays_listed_until_one_crl_after_its_expiry() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.technological("t", &w.person);
        w.reg
            .revoke(
                "registrar",
                &serial,
                RevocationReason::KeyCompromise.code(),
                "З-1",
                None,
            )
            .unwrap();
        assert!(crl_serials(&w).contains(&serial));
        // Expired an hour ago: still listed (within one CRL period of expiry).
        w.clock.advance(Duration::days(45) + Duration::hours(1));
        w.reg.publish_crl("registrar").unwrap();
        assert!(crl_serials(&w).contains(&serial));
        // A full CRL period after expiry: dropped.
        w.clock.advance(Duration::hours(24));
        w.reg.publish_crl("registrar").unwrap();
        assert!(!crl_serials(&w).contains(&serial));
    });
}

#[test]
fn delta_crls_are_cumulative_on_a_stable_base_with_remove_from_crl() {
    on_each_backend(|db| {
        let w = World::new(db);
        // Minutes in the past, so every CRL below is valid for openssl now.
        w.clock.set(chrono::Utc::now() - Duration::minutes(3));
        let serial = w.working("work", &w.person);
        let other = w.working("other", &w.person);
        w.reg
            .suspend("registrar", &serial, 10, "З-1", None)
            .unwrap();
        // A scheduled (here: explicit) base CRL a minute later lists the hold.
        // (Changes in the base's own second are repeated in the delta, which
        // is harmless; the minute keeps this test's counts exact.)
        w.clock.advance(Duration::minutes(1));
        let base = w.reg.publish_crl("registrar").unwrap().number;
        let (empty, _) = w.reg.current_delta_crl().unwrap().unwrap();
        assert_eq!(
            (
                w.reg.crl(empty.number).unwrap().unwrap().base,
                empty.entries
            ),
            (Some(base), 0)
        );

        // Two changes after the base: each publishes a full CRL and a delta
        // on the same base holding both changes so far.
        w.reg.resume("registrar", &serial, "З-2", None).unwrap();
        w.reg
            .revoke(
                "registrar",
                &other,
                RevocationReason::KeyCompromise.code(),
                "З-3",
                None,
            )
            .unwrap();
        let (delta, der) = w.reg.current_delta_crl().unwrap().unwrap();
        assert_eq!(w.reg.crl(delta.number).unwrap().unwrap().base, Some(base));
        assert_eq!(delta.entries, 2, "cumulative since the base");
        let (full, _) = w.reg.current_crl().unwrap().unwrap();
        assert!(
            delta.number > full.number,
            "the delta is newer than every full CRL"
        );
        w.t.write_pem("delta.crl", "X509 CRL", &der);
        let shown = text(&w.t.openssl(&[
            "crl",
            "-in",
            "delta.crl",
            "-noout",
            "-text",
            "-CAfile",
            "ca.pem",
        ]));
        for expected in [
            "verify OK",
            "Delta CRL Indicator: critical",
            "Remove From CRL",
            "Key Compromise",
        ] {
            assert!(shown.contains(expected), "{expected:?} missing in\n{shown}");
        }
        // A relying party holding only the base still sees the hold; with
        // the delta, the resumed certificate is good and the other revoked.
        let base_der = w.reg.crl(base).unwrap().unwrap().der;
        w.t.write_pem("base.crl", "X509 CRL", &base_der);
        let shown = text(&w.t.openssl(&["crl", "-in", "base.crl", "-noout", "-text"]));
        assert!(
            shown.contains("Freshest CRL") && shown.contains("/api/v1/crl/delta"),
            "{shown}"
        );
        assert!(
            !w.verifies("base.crl", "work.pem"),
            "the base alone still has it on hold"
        );
        w.t.openssl(&[
            "verify",
            "-crl_check",
            "-use_deltas",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "base.crl",
            "-CRLfile",
            "delta.crl",
            "work.pem",
        ]);
        let revoked = ca_tests::try_openssl(
            w.t.path(),
            &[
                "verify",
                "-crl_check",
                "-use_deltas",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                "base.crl",
                "-CRLfile",
                "delta.crl",
                "other.pem",
            ],
        );
        assert!(
            text(&revoked).contains("certificate revoked"),
            "{}",
            text(&revoked)
        );
    });
}

#[test]
fn the_same_key_in_another_encoding_is_still_a_duplicate() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.technological("tech", &w.person);
        // The technological key again, its EC point compressed this time.
        w.t.openssl(&[
            "ec",
            "-in",
            "tech.key",
            "-conv_form",
            "compressed",
            "-out",
            "tech-c.key",
        ]);
        let subj = subj(&w.person.full_name, &w.person.position);
        w.t.openssl(&[
            "req",
            "-new",
            "-utf8",
            "-key",
            "tech-c.key",
            "-subj",
            &subj,
            "-outform",
            "DER",
            "-out",
            "again.csr",
        ]);
        let raw = x509_cert::request::CertReq::from_der(&w.t.read("again.csr")).unwrap();
        assert_eq!(
            raw.info.public_key.subject_public_key.raw_bytes()[0],
            0x02 | (raw.info.public_key.subject_public_key.raw_bytes()[0] & 1),
            "openssl wrote a compressed point"
        );
        let v = w
            .reg
            .submit_request(&w.envelope("again", "tech"))
            .unwrap()
            .view;
        assert_eq!(codes(&v), ["duplicate_key"]);
        // A new key, compressed: accepted and certified uncompressed.
        w.t.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-pkeyopt",
            "ec_param_enc:named_curve",
            "-out",
            "n.key",
        ]);
        w.t.openssl(&[
            "ec",
            "-in",
            "n.key",
            "-conv_form",
            "compressed",
            "-out",
            "nc.key",
        ]);
        w.t.openssl(&[
            "req", "-new", "-utf8", "-key", "nc.key", "-subj", &subj, "-outform", "DER", "-out",
            "n.csr",
        ]);
        let v = w
            .reg
            .submit_request(&w.t.cms_sign("n.csr", "tech.pem", "tech.key", &[]))
            .unwrap()
            .view;
        let v = w.reg.approve("registrar", &v.id).unwrap();
        let cert =
            x509_cert::Certificate::from_der(&w.reg.request_certificate(&v.id).unwrap()).unwrap();
        assert_eq!(
            cert.tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes()[0],
            0x04
        );
    });
}

#[test]
fn two_operators_approving_at_once_issue_one_certificate() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.technological("tech", &w.person);
        w.csr("work", &w.person);
        let id = w
            .reg
            .submit_request(&w.envelope("work", "tech"))
            .unwrap()
            .view
            .id;
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (reg, id) = (w.reg.clone(), id.clone());
                std::thread::spawn(move || reg.approve("registrar", &id))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let issued = results
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|v| v.status == "issued"))
            .count();
        let refused = results
            .iter()
            .filter(|r| r.as_ref().is_err_and(|e| e.kind() == ErrorKind::WrongState))
            .count();
        assert_eq!((issued, refused), (1, 1), "{results:?}");
        assert_eq!(w.reg.request(&id).unwrap().status, "issued");
        assert_eq!(
            w.reg
                .certificates(Some(&w.person.id), Some("active"))
                .unwrap()
                .len(),
            2
        );
        // Rejecting it now is refused too.
        let err = w
            .reg
            .reject("registrar", &id, &["subject_mismatch".into()], None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongState);
    });
}

/// Issue 9, defect 10: after two suspend/resume cycles since the base, the
/// delta CRL lists the certificate once (RFC 5280 §5.1.2.6), as
/// removeFromCRL.
#[test]
fn a_certificate_resumed_twice_is_listed_once_in_the_delta() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.clock.set(chrono::Utc::now() - Duration::minutes(3));
        let serial = w.working("work", &w.person);
        w.clock.advance(Duration::minutes(1));
        w.reg.publish_crl("registrar").unwrap();
        for (suspend, resume) in [("З-1", "З-2"), ("З-3", "З-4")] {
            w.clock.advance(Duration::seconds(5));
            w.reg
                .suspend("registrar", &serial, 10, suspend, None)
                .unwrap();
            w.clock.advance(Duration::seconds(5));
            w.reg.resume("registrar", &serial, resume, None).unwrap();
        }
        let (delta, der) = w.reg.current_delta_crl().unwrap().unwrap();
        assert_eq!(delta.entries, 1, "one entry per certificate");
        w.t.write_pem("twice.crl", "X509 CRL", &der);
        let out = w.t.openssl(&["crl", "-in", "twice.crl", "-noout", "-text"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.matches("Serial Number:").count(),
            1,
            "one entry: {text}"
        );
        assert_eq!(
            text.matches("Remove From CRL").count(),
            1,
            "one removeFromCRL entry: {text}"
        );
    });
}

/// Issue 9 defect 11: a resumption after the suspension period was accepted
/// until the background work ran. The lapse is a fact of the clock: the
/// resumption is refused and the certificate revoked in that transaction.
#[test]
fn a_resumption_after_the_period_is_refused_and_the_certificate_revoked() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.working("work", &w.person);
        let until = w
            .reg
            .suspend("registrar", &serial, 10, "З-1", None)
            .unwrap();
        // The period ends; no background work has run.
        w.clock.set(until);
        let err = w.reg.resume("registrar", &serial, "З-2", None).unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::CertificateRevoked]);
        let (view, _) = w.reg.certificate(&serial, true).unwrap();
        assert_eq!(
            (view.status.as_str(), view.revoked_at),
            ("revoked", Some(until))
        );
        assert!(!w.verifies(&w.crl("lapsed.crl"), "work.pem"));
        // The job finds nothing left; the revocation was audited once, by
        // the system, beside the refused resumption.
        assert!(w.reg.lapse_suspensions().unwrap().is_empty());
        let audit = w.reg.audit_records(0, 1000).unwrap();
        let revoked: Vec<_> = audit
            .iter()
            .filter(|r| r.action == "certificate.revoked")
            .collect();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].actor, "system");
        assert!(audit
            .iter()
            .any(|r| r.action == "certificate.resume" && r.outcome == "refused"));
    });
}

#[test]
fn a_resumption_within_the_period_is_accepted() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.working("work", &w.person);
        let until = w
            .reg
            .suspend("registrar", &serial, 10, "З-1", None)
            .unwrap();
        w.clock.set(until - Duration::seconds(1));
        w.reg.resume("registrar", &serial, "З-2", None).unwrap();
        let (view, _) = w.reg.certificate(&serial, true).unwrap();
        assert_eq!(view.status, "active");
    });
}

/// Issue 9 defect 4: wrong old passwords on the password endpoint lock the
/// account like wrong logins, end its sessions, and a right guess then
/// changes nothing; the same session may change the password before that.
#[test]
fn a_locked_account_allows_no_password_change_and_keeps_no_session() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.reg
            .add_operator("admin", "clerk", "registrar", "First1Pass")
            .unwrap();
        let session = w.reg.login("clerk", "First1Pass").unwrap();
        let hash = ca_authority::passwords::token_hash(&session.token);
        // Accepted case: the right old password changes it.
        w.reg
            .change_password("clerk", &hash, "First1Pass", "Second2Pass")
            .unwrap();
        for attempt in 1..=3 {
            let err = w
                .reg
                .change_password("clerk", &hash, "Wrong1Guess", "Third3Pass")
                .unwrap_err();
            let expected = if attempt < 3 {
                ErrorKind::Forbidden
            } else {
                ErrorKind::Unauthenticated
            };
            assert_eq!(err.kind(), expected, "attempt {attempt}");
        }
        assert_eq!(
            w.reg.authenticate(&hash).unwrap_err().kind(),
            ErrorKind::Unauthenticated,
            "the session ended with the lockout"
        );
        let err = w
            .reg
            .change_password("clerk", &hash, "Second2Pass", "Third3Pass")
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::AccountLocked]);
        // The password is still the old one: after an unlock it logs in.
        w.reg.unlock_operator("admin", "clerk").unwrap();
        assert!(w.reg.login("clerk", "Third3Pass").is_err());
        w.reg.login("clerk", "Second2Pass").unwrap();
    });
}

/// The audit records of `action` refused with `object`, as (reasons, message).
fn refusals(w: &World, action: &str, object: &str) -> Vec<(Vec<String>, String)> {
    w.reg
        .audit_records(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action && r.object == object && r.outcome == "refused")
        .map(|r| {
            let details: serde_json::Value = serde_json::from_str(&r.details).unwrap();
            (
                r.reasons.clone(),
                details["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Issue 9 defect 6: 409 wrong-state refusals, 422 technological refusals
/// and resubmissions left no record, because the refused action's rollback
/// took its audit row with it. Each is recorded once; accepted actions are
/// not recorded as refusals.
#[test]
fn every_refusal_and_every_resubmission_is_in_the_audit_trail() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.technological("tech", &w.person);
        w.csr("work", &w.person);
        let p7 = w.envelope("work", "tech");
        let id = w.reg.submit_request(&p7).unwrap().view.id;
        let object = format!("request:{id}");
        assert!(refusals(&w, "request.approve", &object).is_empty());
        w.reg.approve("registrar", &id).unwrap();
        assert!(refusals(&w, "request.approve", &object).is_empty());

        // Wrong state: approve, reject, confirm-act of an issued request.
        let err = w.reg.approve("registrar", &id).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongState);
        let err = w
            .reg
            .reject("registrar", &id, &["subject_mismatch".into()], None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongState);
        let err = w
            .reg
            .confirm_act("registrar", &id, &"00".repeat(32))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongState);
        for action in ["request.approve", "request.reject", "request.confirm_act"] {
            let found = refusals(&w, action, &object);
            assert_eq!(found.len(), 1, "{action}: {found:?}");
            assert!(found[0].1.contains("issued"), "{found:?}");
        }

        // The same envelope again: the same request, and a record of it.
        let again = w.reg.submit_request(&p7).unwrap();
        assert!(!again.created);
        let resubmitted = w
            .reg
            .audit_records(0, 1000)
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "request.resubmit" && r.object == object)
            .count();
        assert_eq!(resubmitted, 1);

        // 422 on a technological certificate: the key is certified already.
        let csr = w.t.read("work.csr");
        let req = <x509_cert::request::CertReq as der::Decode>::from_der(&csr).unwrap();
        let err = w
            .reg
            .issue_technological("registrar", &w.person.id, req.info.public_key.clone())
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::DuplicateKey]);
        let person = format!("person:{}", w.person.id);
        let found = refusals(&w, "certificate.technological", &person);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, vec!["duplicate_key".to_string()]);
        // … and the person is no longer authorised.
        w.reg
            .terminate_person("registrar", &w.person.id, "Приказ 5")
            .unwrap();
        w.csr("late", &w.person);
        let req =
            <x509_cert::request::CertReq as der::Decode>::from_der(&w.t.read("late.csr")).unwrap();
        let err = w
            .reg
            .issue_technological("registrar", &w.person.id, req.info.public_key)
            .unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::PersonNotActive]);
        // Terminating twice is a wrong state, recorded.
        let err = w
            .reg
            .terminate_person("registrar", &w.person.id, "Приказ 6")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongState);
        assert_eq!(refusals(&w, "certificate.technological", &person).len(), 2);
        assert_eq!(refusals(&w, "person.terminate", &person).len(), 1);
        assert!(w.reg.verify_audit().unwrap().ok);
    });
}

/// Issue 9 defect 16: a technological certificate's CSR in PEM with the
/// base64 on one line (as some client software writes it) is read.
#[test]
fn a_technological_csr_in_single_line_pem_is_accepted() {
    on_each_backend(|db| {
        let w = World::new(db);
        let der = w.csr("tech", &w.person);
        use base64ct::{Base64, Encoding};
        let pem = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\r\n{}\r\n-----END CERTIFICATE REQUEST-----\r\n",
            Base64::encode_string(&der)
        );
        let issued = w
            .reg
            .technological_certificate(
                "registrar",
                &w.person.id,
                ca_authority::TechnologicalKey::Csr(pem),
            )
            .unwrap();
        assert!(!issued.serial.is_empty());
        let bad = w
            .reg
            .technological_certificate(
                "registrar",
                &w.person.id,
                ca_authority::TechnologicalKey::Csr(
                    "-----BEGIN CERTIFICATE REQUEST-----\n*\n".into(),
                ),
            )
            .unwrap_err();
        assert_eq!(bad.reason_codes(), [Reason::MalformedCsr]);
    });
}

/// Review finding: wrong passwords checked in parallel were counted from
/// the row read before the (slow) check, so three at once counted as one
/// and the account stayed open. Each counts now, under the store lock.
#[test]
fn wrong_passwords_in_parallel_each_count_towards_the_lockout() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.reg
            .add_operator("admin", "clerk", "registrar", "First1Pass")
            .unwrap();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let reg = w.reg.clone();
                std::thread::spawn(move || reg.login("clerk", "Wrong1Guess").is_err())
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
        let err = w.reg.login("clerk", "First1Pass").unwrap_err();
        assert_eq!(err.reason_codes(), [Reason::AccountLocked]);
    });
}

/// Issue 10: the `crls` table kept every CRL's body for ever (~35 MB per
/// change at a million entries). Bodies nothing serves any more are
/// deleted; numbers, times and entry counts stay as the history.
#[test]
fn only_the_crls_still_served_keep_their_bodies() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.reg.publish_crl("system").unwrap();
        for i in 0..3 {
            let serial = w.technological(&format!("t{i}"), &w.person);
            w.reg
                .revoke(
                    "registrar",
                    &serial,
                    "key_compromise",
                    &format!("З-{i}"),
                    None,
                )
                .unwrap();
        }
        let numbers = w.reg.crl_numbers().unwrap();
        assert!(numbers.len() >= 8, "{numbers:?}");
        let with_body: Vec<u64> = numbers
            .iter()
            .copied()
            .filter(|n| !w.reg.crl(*n).unwrap().unwrap().der.is_empty())
            .collect();
        let (full, _) = w.reg.current_crl().unwrap().unwrap();
        let (delta, _) = w.reg.current_delta_crl().unwrap().unwrap();
        let base = w.reg.crl(delta.number).unwrap().unwrap().base.unwrap();
        let mut expected = vec![base, full.number, delta.number];
        expected.sort_unstable();
        assert_eq!(with_body, expected);
        // What is served still verifies.
        assert!(!w.verifies(&w.crl("now.crl"), "t0.pem"));
        // Numbers go on increasing after the pruning.
        w.reg.publish_crl("system").unwrap();
        assert!(w.reg.crl_numbers().unwrap().last() > numbers.last());
    });
}

/// The store's transaction count (each takes the store lock once).
fn transactions(db: &ca_tests::TestDb) -> i64 {
    #[derive(QueryableByName)]
    struct Lock {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        writes: i64,
    }
    let mut conn = ca_store::db::open_pools(&db.url)
        .unwrap()
        .write
        .get()
        .unwrap();
    diesel::sql_query("SELECT writes FROM store_lock WHERE id = 1")
        .get_result::<Lock>(&mut *conn)
        .unwrap()
        .writes
}

/// Issue 10: readiness (`/health`, public and polled by load balancers)
/// committed a transaction of its own on every call, an fsync under the
/// one write lock each. A write that succeeded within the last second
/// answers it, and checks that come together share one write.
#[test]
fn readiness_writes_at_most_once_a_second_and_once_for_many() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.reg.check_store_writable().unwrap();
        let before = transactions(db);
        for _ in 0..10 {
            w.reg.check_store_writable().unwrap();
        }
        assert_eq!(transactions(db), before, "{}", db.name);
        // A second later a check writes again: one for eight at once.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let before = transactions(db);
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let reg = w.reg.clone();
                std::thread::spawn(move || reg.check_store_writable())
            })
            .collect();
        for c in checks {
            c.join().unwrap().unwrap();
        }
        assert_eq!(transactions(db), before + 1, "{}", db.name);
        // Any other write counts as well.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        w.technological("after", &w.person);
        let before = transactions(db);
        w.reg.check_store_writable().unwrap();
        assert_eq!(transactions(db), before, "{}", db.name);
    });
}
