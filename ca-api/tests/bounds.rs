//! Issue 9 defects 8 and 9 on SQLite and PostgreSQL: every free-text field
//! is bounded with a clear 400, no NUL or control character reaches the
//! database (PostgreSQL answered a NUL with a 500), and anonymous failed
//! logins cannot grow the audit trail without limit.

mod common;

use ca_tests::TestDb;
use common::*;
use serde_json::json;

#[actix_web::test]
async fn nul_and_control_characters_get_a_400_never_a_500() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let admin = admin(&app).await;
        for path in [
            "/api/v1/requests/a%00b",
            "/api/v1/requests/a%00b/certificate",
            "/api/v1/certificates/ab%00",
            "/api/v1/admin/persons/x%1b%5b2J",
            "/api/v1/admin/certificates?person=a%00b",
            "/api/v1/admin/requests/%c2%9b",
        ] {
            let r = get(&app, path, Some(&admin)).await;
            assert_eq!((r.status, r.code().as_str()), (400, "malformed"), "{path}");
        }
        // Without a login too: refused before anything is looked up.
        let r = get(&app, "/api/v1/requests/a%00b", None).await;
        assert_eq!(r.status, 400);
        // JSON strings: a user name, a document, a name.
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "ad\u{0}min", "password": "x"}),
        )
        .await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        let r = post_json(
            &app,
            "/api/v1/admin/organizations",
            Some(&admin),
            json!({"name": "ООО\u{0}", "inn": "7701234567", "ogrn": "1027700132195", "agreement_number": "1"}),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (400, "malformed"));
        let r = post_json(
            &app,
            "/api/v1/admin/certificates/ab/suspend",
            Some(&admin),
            json!({"days": 10, "document": "З-1\u{0}"}),
        )
        .await;
        assert_eq!(r.status, 400);
        // The refused attempts are recorded, escaped or not, and the chain holds.
        let audit = env.reg.audit_records(0, 1000).unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.action == "access" && a.object == "GET /api/v1/requests/a%00b"),
            "{audit:?}"
        );
        assert!(env.reg.verify_audit().unwrap().ok);
    }
}

#[actix_web::test]
async fn every_free_text_field_has_a_maximum() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let admin = admin(&app).await;
        let (org, person) = org_and_person(&app, &admin).await;
        let pid = person["id"].as_str().unwrap();
        let long = |n: usize| "я".repeat(n);
        let until = (chrono::Utc::now() + chrono::Duration::days(100)).to_rfc3339();
        let cases = [
            (
                "/api/v1/admin/organizations".to_string(),
                json!({"name": long(257), "inn": "7701234567", "ogrn": "1027700132195", "agreement_number": "1"}),
            ),
            (
                "/api/v1/admin/organizations".to_string(),
                json!({"name": "ООО", "inn": "7701234567", "ogrn": "1027700132195", "agreement_number": long(257)}),
            ),
            (
                "/api/v1/admin/persons".to_string(),
                json!({"organization_id": org, "full_name": "Петров Пётр", "position": long(257),
                    "email": "p@example.ru", "authority_document": "Д-1", "authority_valid_until": until}),
            ),
            (
                "/api/v1/admin/persons".to_string(),
                json!({"organization_id": org, "full_name": "Петров Пётр", "position": "Бухгалтер",
                    "email": format!("{}@example.ru", "p".repeat(250)), "authority_document": "Д-1",
                    "authority_valid_until": until}),
            ),
            (
                format!("/api/v1/admin/persons/{pid}/terminate"),
                json!({"document": long(257)}),
            ),
            (
                "/api/v1/admin/requests/x/reject".to_string(),
                json!({"reasons": ["subject_mismatch"], "comment": long(2001)}),
            ),
            (
                "/api/v1/admin/certificates/ab/revoke".to_string(),
                json!({"reason": "key_compromise", "document": long(257)}),
            ),
            (
                "/api/v1/admin/operators".to_string(),
                json!({"username": "a".repeat(65), "role": "auditor", "password": "First1Pass"}),
            ),
        ];
        for (path, body) in cases {
            let r = post_json(&app, &path, Some(&admin), body).await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (400, "malformed"),
                "{path}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert!(
                r.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("characters"),
                "{path}: the message says what the limit is"
            );
        }
        // At the limit is accepted.
        let r = post_json(
            &app,
            "/api/v1/admin/organizations",
            Some(&admin),
            json!({"name": long(256), "inn": "7701234560", "ogrn": "1027700132195", "agreement_number": "2"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// Defect 8: failed logins with 60,000-character names grew the database
/// by ~10 MB/s. Names are bounded (400), and failed logins under names no
/// operator has are coalesced: one row as it comes, then one summary a
/// minute.
#[actix_web::test]
async fn anonymous_failed_logins_are_bounded_and_coalesced() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let rows = || env.reg.audit_records(0, 1000).unwrap();
        let before = rows().len();
        let huge = "x".repeat(60_000);
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": huge, "password": "Whatever1"}),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (400, "malformed"));
        for i in 0..30 {
            let r = post_json(
                &app,
                "/api/v1/admin/session",
                None,
                json!({"username": format!("ghost{i}"), "password": "Whatever1"}),
            )
            .await;
            assert_eq!(r.status, 401);
        }
        let written = rows();
        assert_eq!(
            written.len() - before,
            1,
            "one row for the first of the minute"
        );
        assert!(
            written
                .iter()
                .map(|r| r.actor.len() + r.details.len())
                .max()
                .unwrap()
                < 1000,
            "no row holds the 60,000-character name"
        );
        // The minute ends: one summary of the other 30.
        env.clock.advance(chrono::Duration::minutes(1));
        env.reg.flush_anonymous_logins().unwrap();
        let written = rows();
        assert_eq!(written.len() - before, 2);
        let summary: serde_json::Value =
            serde_json::from_str(&written.last().unwrap().details).unwrap();
        assert_eq!(summary["attempts"], 30);
        assert_eq!(summary["names"].as_array().unwrap().len(), 20);
        env.reg.flush_anonymous_logins().unwrap();
        assert_eq!(rows().len() - before, 2, "written once");
        // A real operator's failures are still recorded one by one.
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "admin", "password": "Wrong1Pass"}),
        )
        .await;
        assert_eq!(r.status, 401);
        assert_eq!(rows().len() - before, 3);
        assert!(env.reg.verify_audit().unwrap().ok);
    }
}
