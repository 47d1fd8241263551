//! The REST API through the real actix-web stack, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL: every endpoint, the statuses of the
//! SPEC's error table, and every role restriction.

mod common;

use ca_tests::TestDb;
use chrono::Duration;
use common::*;
use serde_json::json;

#[actix_web::test]
async fn operator_login_password_rules_and_lockout() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        // The bootstrap password must be changed before anything else.
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["must_change_password"], true);
        let token = r.json()["token"].as_str().unwrap().to_string();
        let r = get(&app, "/api/v1/admin/operators", Some(&token)).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "password_change_required")
        );
        // Password rules: length, digits, upper and lower case.
        for weak in ["Short1", "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere"] {
            let r = post_json(
                &app,
                "/api/v1/admin/password",
                Some(&token),
                json!({"old_password": ADMIN_PASSWORD, "new_password": weak}),
            )
            .await;
            assert_eq!(r.status, 400, "{weak} accepted");
        }
        let r = post_json(
            &app,
            "/api/v1/admin/password",
            Some(&token),
            json!({"old_password": "wrong", "new_password": "Valid1Password"}),
        )
        .await;
        assert_eq!(r.status, 403);
        let r = post_json(
            &app,
            "/api/v1/admin/password",
            Some(&token),
            json!({"old_password": ADMIN_PASSWORD, "new_password": "Valid1Password"}),
        )
        .await;
        assert_eq!(r.status, 204);
        assert_eq!(
            get(&app, "/api/v1/admin/operators", Some(&token))
                .await
                .status,
            200
        );

        // Not logged in, unknown token, expired session.
        assert_eq!(get(&app, "/api/v1/admin/operators", None).await.status, 401);
        assert_eq!(
            get(&app, "/api/v1/admin/operators", Some("0123"))
                .await
                .status,
            401
        );
        env.clock.advance(Duration::minutes(31));
        assert_eq!(
            get(&app, "/api/v1/admin/operators", Some(&token))
                .await
                .status,
            401
        );

        // Three wrong passwords lock the account and end the sessions it
        // had (issue 9 defect 4); every wrong password gets the answer an
        // unknown user gets (defect 13); an admin unlocks it.
        operator(
            &app,
            &admin_token(&app, "Valid1Password").await,
            "clerk",
            "registrar",
        )
        .await;
        let before = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "clerk", "password": "Second2Pass"}),
        )
        .await;
        let before = before.json()["token"].as_str().unwrap().to_string();
        for user in ["clerk", "ghost"] {
            for i in 1..=4 {
                let r = post_json(
                    &app,
                    "/api/v1/admin/session",
                    None,
                    json!({"username": user, "password": "Nope1Nope"}),
                )
                .await;
                assert_eq!(
                    (r.status, r.code(), r.json()["error"]["message"].clone()),
                    (
                        401,
                        "unauthenticated".into(),
                        json!("wrong user name or password")
                    ),
                    "{user} attempt {i}"
                );
            }
        }
        assert_eq!(
            get(&app, "/api/v1/admin/requests", Some(&before))
                .await
                .status,
            401,
            "a session opened before the lockout ends with it"
        );
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "clerk", "password": "Second2Pass"}),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (403, "account_locked"));
        let admin = admin_token(&app, "Valid1Password").await;
        assert_eq!(
            post_json(
                &app,
                "/api/v1/admin/operators/clerk/unlock",
                Some(&admin),
                json!({})
            )
            .await
            .status,
            200
        );
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "clerk", "password": "Second2Pass"}),
        )
        .await;
        assert_eq!(r.status, 200);
        // Unknown operators get the same answer as a wrong password.
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "ghost", "password": "Whatever1"}),
        )
        .await;
        assert_eq!(r.status, 401);
        // Passwords expire after 50 days.
        env.clock.advance(Duration::days(51));
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "clerk", "password": "Second2Pass"}),
        )
        .await;
        assert_eq!(r.json()["must_change_password"], true);
        let t = r.json()["token"].as_str().unwrap().to_string();
        assert_eq!(
            get(&app, "/api/v1/admin/requests", Some(&t)).await.code(),
            "password_change_required"
        );
        // Disabled operators cannot log in (the admin's own password has
        // expired too, so it is changed first).
        let admin = admin_token(&app, "Valid1Password").await;
        let c = post_json(
            &app,
            "/api/v1/admin/password",
            Some(&admin),
            json!({"old_password": "Valid1Password", "new_password": "Third3Pass"}),
        )
        .await;
        assert_eq!(c.status, 204);
        let r = post_json(
            &app,
            "/api/v1/admin/operators/clerk/disable",
            Some(&admin),
            json!({}),
        )
        .await;
        assert_eq!((r.status, r.json()["disabled"].clone()), (200, json!(true)));
        let r = post_json(
            &app,
            "/api/v1/admin/session",
            None,
            json!({"username": "clerk", "password": "Second2Pass"}),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (403, "account_disabled"));
        assert_eq!(
            get(&app, "/api/v1/admin/requests", Some(&t)).await.status,
            401,
            "a disabled operator's sessions end"
        );
        // Every login, good or bad, is in the audit trail.
        let audit = get(&app, "/api/v1/admin/audit?limit=1000", Some(&admin))
            .await
            .json();
        let logins = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "operator.login")
            .count();
        assert!(logins >= 8, "{logins}");
    }
}

async fn admin_token<S, B>(app: &S, password: &str) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let r = post_json(
        app,
        "/api/v1/admin/session",
        None,
        json!({"username": "admin", "password": password}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn roles_are_checked_on_every_operator_endpoint() {
    let db = TestDb::sqlite();
    let env = Env::new(&db);
    let app = app(&env).await;
    let admin = admin(&app).await;
    let registrar = operator(&app, &admin, "desk", "registrar").await;
    let auditor = operator(&app, &admin, "watch", "auditor").await;
    let body = json!({});
    // (method, path, allowed roles) — the status for a forbidden role is 403;
    // allowed roles get anything else (the bodies here are mostly invalid).
    let table: &[(&str, &str, &[&str])] = &[
        ("GET", "/api/v1/admin/operators", &["admin"]),
        ("POST", "/api/v1/admin/operators", &["admin"]),
        ("POST", "/api/v1/admin/operators/nobody/disable", &["admin"]),
        ("POST", "/api/v1/admin/operators/nobody/unlock", &["admin"]),
        ("GET", "/api/v1/admin/audit", &["admin", "auditor"]),
        ("GET", "/api/v1/admin/audit/verify", &["admin", "auditor"]),
        (
            "GET",
            "/api/v1/admin/audit/checkpoints",
            &["admin", "auditor"],
        ),
        (
            "POST",
            "/api/v1/admin/organizations",
            &["admin", "registrar"],
        ),
        (
            "GET",
            "/api/v1/admin/organizations",
            &["admin", "registrar", "auditor"],
        ),
        (
            "GET",
            "/api/v1/admin/organizations/x",
            &["admin", "registrar", "auditor"],
        ),
        (
            "POST",
            "/api/v1/admin/organizations/x/terminate",
            &["admin", "registrar"],
        ),
        ("POST", "/api/v1/admin/persons", &["admin", "registrar"]),
        (
            "GET",
            "/api/v1/admin/persons",
            &["admin", "registrar", "auditor"],
        ),
        (
            "GET",
            "/api/v1/admin/persons/x",
            &["admin", "registrar", "auditor"],
        ),
        (
            "POST",
            "/api/v1/admin/persons/x/authority",
            &["admin", "registrar"],
        ),
        (
            "POST",
            "/api/v1/admin/persons/x/terminate",
            &["admin", "registrar"],
        ),
        (
            "POST",
            "/api/v1/admin/persons/x/technological-certificate",
            &["admin", "registrar"],
        ),
        (
            "GET",
            "/api/v1/admin/requests",
            &["admin", "registrar", "auditor"],
        ),
        (
            "GET",
            "/api/v1/admin/requests/x",
            &["admin", "registrar", "auditor"],
        ),
        (
            "POST",
            "/api/v1/admin/requests/x/approve",
            &["admin", "registrar"],
        ),
        (
            "POST",
            "/api/v1/admin/requests/x/reject",
            &["admin", "registrar"],
        ),
        (
            "POST",
            "/api/v1/admin/requests/x/confirm-act",
            &["admin", "registrar"],
        ),
        (
            "GET",
            "/api/v1/admin/certificates",
            &["admin", "registrar", "auditor"],
        ),
        (
            "GET",
            "/api/v1/admin/certificates/ab",
            &["admin", "registrar", "auditor"],
        ),
        (
            "POST",
            "/api/v1/admin/certificates/ab/suspend",
            &["admin", "registrar"],
        ),
        (
            "POST",
            "/api/v1/admin/certificates/ab/resume",
            &["admin", "registrar"],
        ),
        (
            "POST",
            "/api/v1/admin/certificates/ab/revoke",
            &["admin", "registrar"],
        ),
        ("POST", "/api/v1/admin/crl", &["admin", "registrar"]),
        (
            "GET",
            "/api/v1/admin/crl",
            &["admin", "registrar", "auditor"],
        ),
        (
            "GET",
            "/api/v1/admin/due",
            &["admin", "registrar", "auditor"],
        ),
    ];
    for (method, path, allowed) in table {
        for (role, token) in [
            ("admin", &admin),
            ("registrar", &registrar),
            ("auditor", &auditor),
        ] {
            let payload =
                (*method == "POST").then(|| ("application/json", body.to_string().into_bytes()));
            let r = call(&app, method, path, Some(token), payload, &[]).await;
            if allowed.contains(&role) {
                assert_ne!(r.status, 403, "{role} refused on {method} {path}");
                assert_ne!(r.status, 401);
            } else {
                assert_eq!(
                    (r.status, r.code().as_str()),
                    (403, "forbidden"),
                    "{role} allowed on {method} {path}"
                );
                // Issue 9 defect 6: the role refusal is in the audit trail.
                let who = if role == "registrar" { "desk" } else { "watch" };
                let endpoint = format!("{method} {path}");
                let recorded = env
                    .reg
                    .audit_records(0, 1000)
                    .unwrap()
                    .into_iter()
                    .filter(|a| {
                        a.action == "access"
                            && a.actor == who
                            && a.object == endpoint
                            && a.outcome == "refused"
                    })
                    .count();
                assert_eq!(recorded, 1, "{role} on {endpoint}");
            }
            assert!(r.status < 500, "{method} {path} as {role}: {}", r.status);
        }
        let r = call(&app, method, path, None, None, &[]).await;
        assert_eq!(r.status, 401, "{method} {path} without login");
    }
    // Every route in the table is documented and every documented one exists.
    let documented: Vec<(String, String)> = ca_api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    for (m, p, _) in table {
        let pattern = p
            .replace("/x/", "/{id}/")
            .replace("/x", "/{id}")
            .replace("/ab", "/{serial}")
            .replace("nobody", "{username}");
        assert!(
            documented.contains(&(m.to_string(), pattern.clone())),
            "{m} {pattern} not in ROUTES"
        );
    }
}

#[actix_web::test]
async fn openapi_document_lists_exactly_the_served_routes() {
    let doc: serde_json::Value = serde_json::from_str(ca_api::OPENAPI).unwrap();
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = ca_api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);
    // And each listed route is served (not the fallback 404 "no route").
    let db = TestDb::sqlite();
    let env = Env::new(&db);
    let app = app(&env).await;
    let admin = admin(&app).await;
    for (m, p) in &routes {
        let path = p
            .replace("{id}", "x")
            .replace("{serial}", "ab")
            .replace("{username}", "nobody");
        let payload = (m == "POST").then(|| ("application/json", b"{}".to_vec()));
        let r = call(&app, m, &path, Some(&admin), payload, &[]).await;
        let fallback = r.status == 404 && String::from_utf8_lossy(&r.body).contains("no route");
        assert!(!fallback, "{m} {p} is not served");
    }
    let r = get(&app, "/api/v1/openapi.json", None).await;
    assert_eq!(
        (r.status, r.header("content-type").as_str()),
        (200, "application/json")
    );
}

/// Issue 9, defect 14: logging out ends the session on the server; the
/// token answers 401 afterwards, and the logout is in the audit trail.
#[actix_web::test]
async fn logout_ends_the_session_on_the_server() {
    for db in TestDb::all() {
        let env = Env::new(&db);
        let app = app(&env).await;
        let token = admin(&app).await;
        assert_eq!(
            get(&app, "/api/v1/admin/operators", Some(&token))
                .await
                .status,
            200
        );
        let r = call(
            &app,
            "DELETE",
            "/api/v1/admin/session",
            Some(&token),
            None,
            &[],
        )
        .await;
        assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
        let r = get(&app, "/api/v1/admin/operators", Some(&token)).await;
        assert_eq!((r.status, r.code().as_str()), (401, "unauthenticated"));
        let r = call(&app, "DELETE", "/api/v1/admin/session", None, None, &[]).await;
        assert_eq!(r.status, 401);
        let actions: Vec<String> = env
            .reg
            .audit_records(0, 1000)
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert!(
            actions.iter().any(|a| a == "operator.logout"),
            "{actions:?}"
        );
    }
}
