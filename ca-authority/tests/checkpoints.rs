//! Issue 9 defect 17: the audit trail's newest rows could be deleted
//! undetected. Signed checkpoints of its head (with every CRL publication,
//! and hourly while it grows) make a trail cut short below one detectable,
//! by `verify` and by openssl from an export. On SQLite and PostgreSQL.

mod support;

use chrono::Duration;
use diesel::prelude::*;
use support::{on_each_backend, World};

#[test]
fn records_deleted_below_a_checkpoint_are_reported() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serial = w.working("work", &w.person);
        // A revocation publishes a CRL, which checkpoints the head when the
        // newest checkpoint is a minute old.
        w.clock.advance(Duration::minutes(1));
        w.reg
            .revoke("registrar", &serial, "key_compromise", "З-1", None)
            .unwrap();
        let report = w.reg.verify_audit().unwrap();
        assert!(report.ok && report.checkpoints >= 1, "{report:?}");
        let checkpoints = w.reg.audit_checkpoints().unwrap();
        let last = checkpoints.last().unwrap();
        assert_eq!(last.records, report.records as i64, "the head is covered");

        // The newest rows deleted: the chain alone still verifies …
        let mut conn = ca_store::db::open_pools(&db.url)
            .unwrap()
            .write
            .get()
            .unwrap();
        let cut = last.records - 3;
        diesel::sql_query(format!("DELETE FROM audit WHERE seq > {cut}"))
            .execute(&mut *conn)
            .unwrap();
        let report = w.reg.verify_audit().unwrap();
        assert!(!report.ok, "{report:?}");
        assert_eq!(report.records as i64, cut);
        let problem = report.problem.unwrap();
        assert!(problem.contains("records were deleted"), "{problem}");
    });
}

#[test]
fn a_forged_or_edited_checkpoint_is_reported() {
    on_each_backend(|db| {
        let w = World::new(db);
        w.reg.publish_crl("registrar").unwrap();
        assert!(w.reg.verify_audit().unwrap().ok);
        let mut conn = ca_store::db::open_pools(&db.url)
            .unwrap()
            .write
            .get()
            .unwrap();
        // Someone moves the checkpoint down to hide a deletion.
        diesel::sql_query("UPDATE audit_checkpoints SET records = records - 1")
            .execute(&mut *conn)
            .unwrap();
        let report = w.reg.verify_audit().unwrap();
        assert!(!report.ok);
        assert!(report.problem.unwrap().contains("not signed by this CA"));
    });
}

#[test]
fn checkpoints_verify_with_openssl_and_come_hourly_while_the_trail_grows() {
    on_each_backend(|db| {
        let w = World::new(db);
        assert_eq!(
            w.reg.checkpoint_audit_if_due().unwrap().map(|_| ()),
            Some(())
        );
        assert_eq!(
            w.reg.checkpoint_audit_if_due().unwrap(),
            None,
            "nothing new"
        );
        w.technological("tech", &w.person);
        assert_eq!(
            w.reg.checkpoint_audit_if_due().unwrap(),
            None,
            "not an hour yet"
        );
        w.clock.advance(Duration::hours(1));
        let covered = w.reg.checkpoint_audit_if_due().unwrap().expect("due");
        assert_eq!(covered, w.reg.verify_audit().unwrap().records as i64);

        // The export verifies with openssl against the CA certificate.
        let c = w.reg.audit_checkpoints().unwrap().pop().unwrap();
        assert!(c.statement.contains(&format!("records: {covered}\n")));
        std::fs::write(w.t.path().join("cp.txt"), &c.statement).unwrap();
        let sig = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&c.signature).unwrap();
        std::fs::write(w.t.path().join("cp.sig"), sig).unwrap();
        w.t.openssl(&[
            "x509", "-in", "ca.pem", "-pubkey", "-noout", "-out", "ca.pub",
        ]);
        let digest = format!("-{}", c.digest);
        w.t.openssl(&[
            "dgst",
            &digest,
            "-verify",
            "ca.pub",
            "-signature",
            "cp.sig",
            "cp.txt",
        ]);
        // A changed statement does not.
        std::fs::write(
            w.t.path().join("cp.txt"),
            c.statement.replace("records: ", "records: 9"),
        )
        .unwrap();
        let out = ca_tests::try_openssl(
            w.t.path(),
            &[
                "dgst",
                &digest,
                "-verify",
                "ca.pub",
                "-signature",
                "cp.sig",
                "cp.txt",
            ],
        );
        assert!(!out.status.success());
    });
}

/// A checkpoint is a CA signature inside the write lock: publications
/// (several a second under load) write one only when the newest is a
/// minute old.
#[test]
fn publications_checkpoint_at_most_once_a_minute() {
    on_each_backend(|db| {
        let w = World::new(db);
        let serials: Vec<String> = (0..3)
            .map(|i| w.technological(&format!("t{i}"), &w.person))
            .collect();
        w.clock.advance(Duration::minutes(1));
        let revoke = |serial: &str| {
            w.reg
                .revoke("registrar", serial, "key_compromise", "З-1", None)
                .unwrap()
        };
        revoke(&serials[0]);
        let after_first = w.reg.audit_checkpoints().unwrap().len();
        w.clock.advance(Duration::seconds(30));
        revoke(&serials[1]);
        assert_eq!(
            w.reg.audit_checkpoints().unwrap().len(),
            after_first,
            "not again within the minute"
        );
        w.clock.advance(Duration::seconds(31));
        revoke(&serials[2]);
        let checkpoints = w.reg.audit_checkpoints().unwrap();
        assert_eq!(checkpoints.len(), after_first + 1);
        let report = w.reg.verify_audit().unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(checkpoints.last().unwrap().records, report.records as i64);
    });
}
