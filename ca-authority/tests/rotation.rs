//! Planned rotation (SPEC §3.8, 1.81) and the stolen-key defect of issue 9:
//! automatic issuance only inside the renewal window and for the first
//! successor, the predecessor revoked as superseded, and a key-compromise
//! revocation that reaches every rotation the key signed. On SQLite and,
//! with `TEST_DATABASE_URL`, PostgreSQL.

mod support;

use ca_core::api::RequestView;
use ca_tests::text;
use chrono::Duration;
use support::{on_each_backend, World};

/// Files `<name>.key`/`.csr` for a rotation, sent signed with `<signer>`.
fn rotate(w: &World, name: &str, signer: &str) -> RequestView {
    w.rotation_csr(name, &w.person);
    w.reg
        .submit_request(&w.envelope(name, signer))
        .unwrap()
        .view
}

fn status(w: &World, serial: &str) -> (String, Option<String>) {
    let (v, _) = w.reg.certificate(serial, true).unwrap();
    (v.status, v.revocation_reason)
}

/// Moves the clock into `serial`'s renewal window: its last 30 days, or
/// all of it when it is shorter.
fn into_renewal_window(w: &World, serial: &str) {
    let (v, _) = w.reg.certificate(serial, true).unwrap();
    let opens = v.renewal_due.expect("an active certificate");
    assert_eq!(opens, (v.not_after - Duration::days(30)).max(v.not_before));
    w.clock.set(opens.max(w.reg.now()) + Duration::hours(1));
}

/// Writes the certificate of an issued request as `<name>.pem`.
fn save(w: &World, v: &RequestView, name: &str) -> String {
    let der = w.reg.request_certificate(&v.id).unwrap();
    w.t.write_pem(&format!("{name}.pem"), "CERTIFICATE", &der);
    v.certificate_serial.clone().unwrap()
}

#[test]
fn a_rotation_in_the_renewal_window_is_issued_at_once_and_supersedes_its_predecessor() {
    on_each_backend(|db| {
        let w = World::new(db);
        let work = w.working("work", &w.person);
        into_renewal_window(&w, &work);
        let v = rotate(&w, "next", "work");
        assert_eq!(
            (v.request_type.as_str(), v.status.as_str()),
            ("rotation", "issued"),
            "{v:?}"
        );
        let next = save(&w, &v, "next");
        let at = w.reg.now().timestamp().to_string();
        w.t.openssl(&["verify", "-attime", &at, "-CAfile", "ca.pem", "next.pem"]);
        // 1.81: the old key stops at once (the profile's grace is none).
        assert_eq!(
            status(&w, &work),
            ("revoked".to_string(), Some("superseded".to_string()))
        );
        assert_eq!(status(&w, &next).0, "active");
        let crl = w.crl("crl.pem");
        assert!(!w.verifies(&crl, "work.pem"));
        assert!(w.verifies(&crl, "next.pem"));
        let listed = text(&w.t.openssl(&["crl", "-in", &crl, "-noout", "-text"]));
        assert!(listed.contains("Superseded"), "{listed}");
        // The organisation hears of the automatic issuance.
        let issued: Vec<serde_json::Value> = w
            .reg
            .notifications_for(&w.person.id)
            .unwrap()
            .into_iter()
            .filter(|n| n.event == "certificate.issued")
            .map(|n| serde_json::from_str(&n.payload).unwrap())
            .collect();
        let automatic = issued
            .iter()
            .find(|n| n["data"]["serial"] == next.as_str())
            .expect("issuance notified");
        assert_eq!(automatic["data"]["automatic"], true);
        assert_eq!(automatic["data"]["predecessor"], work.as_str());
    });
}

#[test]
fn a_rotation_before_the_renewal_window_waits_for_an_operator() {
    on_each_backend(|db| {
        let w = World::new(db);
        let work = w.working("work", &w.person);
        let v = rotate(&w, "next", "work");
        assert_eq!(
            (v.request_type.as_str(), v.status.as_str()),
            ("rotation", "pending"),
            "{v:?}"
        );
        assert_eq!(status(&w, &work).0, "active");
        let approved = w.reg.approve("registrar", &v.id).unwrap();
        assert_eq!(approved.status, "issued");
        assert_eq!(
            status(&w, &work),
            ("revoked".to_string(), Some("superseded".to_string()))
        );
    });
}

/// Issue 9 defect 1: five rotations signed with one working certificate
/// were all issued. Only the first is; the predecessor is revoked with it,
/// so the others are refused.
#[test]
fn only_the_first_successor_of_a_certificate_is_issued() {
    on_each_backend(|db| {
        let w = World::new(db);
        let work = w.working("work", &w.person);
        into_renewal_window(&w, &work);
        let first = rotate(&w, "r0", "work");
        assert_eq!(first.status, "issued");
        for i in 1..5 {
            let v = rotate(&w, &format!("r{i}"), "work");
            assert_eq!(
                (v.status.as_str(), v.reasons.clone()),
                ("rejected", vec!["signer_certificate_invalid".to_string()]),
                "{i}"
            );
        }
        let issued = w
            .reg
            .certificates(Some(&w.person.id), None)
            .unwrap()
            .into_iter()
            .filter(|c| c.status == "active")
            .count();
        assert_eq!(issued, 1, "the successor alone is active");
    });
}

/// With a grace period the predecessor stays valid for a while; a second
/// rotation in that time waits for an operator, and the background work
/// revokes the predecessor when the grace ends.
#[test]
fn a_grace_period_keeps_the_predecessor_until_it_ends() {
    on_each_backend(|db| {
        let w = World::with_profiles(db, |t| {
            t.replace("[working]\n", "[working]\nsupersede_grace_days = 3\n")
        });
        let work = w.working("work", &w.person);
        into_renewal_window(&w, &work);
        assert_eq!(rotate(&w, "r0", "work").status, "issued");
        assert_eq!(status(&w, &work).0, "active");
        assert!(w.reg.supersede_predecessors().unwrap().is_empty());
        let second = rotate(&w, "r1", "work");
        assert_eq!(second.status, "pending", "{second:?}");
        w.clock.advance(Duration::days(3));
        assert_eq!(w.reg.supersede_predecessors().unwrap(), vec![work.clone()]);
        assert_eq!(
            status(&w, &work),
            ("revoked".to_string(), Some("superseded".to_string()))
        );
        // Exactly once.
        assert!(w.reg.supersede_predecessors().unwrap().is_empty());
        // The waiting request's signer is revoked now: approval refuses it.
        let refused = w.reg.approve("registrar", &second.id).unwrap_err();
        assert_eq!(
            refused.reason_codes(),
            &[ca_core::Reason::SignerCertificateInvalid]
        );
    });
}

/// SPEC §3.6: a key-compromise revocation of a certificate revokes every
/// certificate issued on a rotation its key signed, transitively, also when
/// the certificate was already revoked as superseded.
#[test]
fn key_compromise_revokes_every_rotation_the_key_signed() {
    on_each_backend(|db| {
        let w = World::new(db);
        let work = w.working("work", &w.person);
        into_renewal_window(&w, &work);
        let next = save(&w, &rotate(&w, "next", "work"), "next");
        into_renewal_window(&w, &next);
        let last = save(&w, &rotate(&w, "last", "next"), "last");
        assert_eq!(status(&w, &next).1.as_deref(), Some("superseded"));
        assert_eq!(status(&w, &last).0, "active");

        w.reg
            .revoke("registrar", &work, "key_compromise", "Заявление № 9", None)
            .unwrap();
        for serial in [&work, &next, &last] {
            assert_eq!(
                status(&w, serial),
                ("revoked".to_string(), Some("key_compromise".to_string())),
                "{serial}"
            );
        }
        let crl = w.crl("crl.pem");
        assert!(!w.verifies(&crl, "last.pem"));
        let listed = text(&w.t.openssl(&["crl", "-in", &crl, "-noout", "-text"]));
        assert_eq!(listed.matches("Key Compromise").count(), 3, "{listed}");
        // Reported again: nothing left to change.
        let again = w
            .reg
            .revoke("registrar", &work, "key_compromise", "Заявление № 10", None)
            .unwrap_err();
        assert_eq!(again.reason_codes(), &[ca_core::Reason::CertificateRevoked]);
    });
}

/// Revoking a certificate for any other reason leaves its successors alone.
#[test]
fn other_revocations_do_not_cascade() {
    on_each_backend(|db| {
        let w = World::with_profiles(db, |t| {
            t.replace("[working]\n", "[working]\nsupersede_grace_days = 3\n")
        });
        let work = w.working("work", &w.person);
        into_renewal_window(&w, &work);
        let next = save(&w, &rotate(&w, "next", "work"), "next");
        w.reg
            .revoke(
                "registrar",
                &work,
                "affiliation_changed",
                "Заявление № 9",
                None,
            )
            .unwrap();
        assert_eq!(status(&w, &next).0, "active");
    });
}
