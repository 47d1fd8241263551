//! Storage faults (issue 14), with the real binary: a disk that fills up
//! (a small tmpfs the test mounts) and, on PostgreSQL, every connection
//! terminated by the server. Writes answer 503 `storage_unavailable` with
//! Retry-After — never 500 —, `/health` says the database is read-only,
//! relying parties are still served, and once the fault is gone the
//! service recovers by itself, audits the recovery, and its audit chain
//! verifies.

use std::process::Command;
use std::time::{Duration, Instant};

use ca_tests::{free_port, RunningServer, TestDb};
use serde_json::{json, Value};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Client {
    base: String,
    token: Option<String>,
}

impl Client {
    /// Status, Retry-After, body.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Option<String>, Value) {
        let url = format!("{}{path}", self.base);
        let a = agent();
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let resp = if method == "GET" {
            let mut r = a.get(&url);
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.call()
        } else {
            let mut r = a.post(&url).header("Content-Type", "application/json");
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.send(body.unwrap_or(json!({})).to_string().as_bytes())
        }
        .unwrap();
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.into_body().read_to_string().unwrap_or_default();
        (
            status,
            retry,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    fn login(&mut self) {
        let (s, _, b) = self.call(
            "POST",
            "/api/v1/admin/session",
            Some(json!({"username": "admin", "password": "Bootstrap1Pass"})),
        );
        assert_eq!(s, 200, "{b}");
        self.token = b["token"].as_str().map(str::to_string);
        let (s, _, b) = self.call(
            "POST",
            "/api/v1/admin/password",
            Some(json!({"old_password": "Bootstrap1Pass", "new_password": "Operator1Pass"})),
        );
        assert_eq!(s, 204, "{b}");
    }
}

/// A tmpfs of `size` mounted at a new directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs (root, as CI runs): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_gives_503_and_the_service_recovers_by_itself() {
    let disk = SmallDisk::new("8m");
    let data = disk.path().join("data");
    let port = free_port();
    let server = RunningServer::start(
        env!("CARGO_BIN_EXE_ca-api").as_ref(),
        &data,
        port,
        None,
        "Bootstrap1Pass",
    );
    let mut c = Client {
        base: server.url.clone(),
        token: None,
    };
    c.login();
    let (status, _, body) = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");

    // The disk fills up (logs, another program, a runaway backup…).
    let filler = disk.fill();
    let mut refused = None;
    for _ in 1..=200 {
        let (status, retry, body) = c.call("POST", "/api/v1/admin/crl", None);
        assert_ne!(status, 500, "a full disk is never a 500: {body}");
        if status == 503 {
            refused = Some((retry, body));
            break;
        }
        assert_eq!(status, 201, "{body}");
    }
    let (retry, body) = refused.expect("writes refused once the disk is full");
    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
    assert!(retry.is_some(), "Retry-After");
    let (status, _, health) = c.call("GET", "/health", None);
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["database"], "read_only", "{health}");
    // Alive all the same: nothing to restart.
    assert_eq!(c.call("GET", "/health/live", None).0, 200);
    // Relying parties and readers are still served.
    assert_eq!(c.call("GET", "/api/v1/ca/certificate", None).0, 200);
    assert_eq!(c.call("GET", "/api/v1/crl", None).0, 200);
    assert_eq!(c.call("GET", "/api/v1/admin/organizations", None).0, 200);

    // Space comes back: no restart, no operator.
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.call("GET", "/health", None).0 != 200 {
        assert!(Instant::now() < deadline, "no recovery");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, _, body) = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");

    let (_, _, audit) = c.call("GET", "/api/v1/admin/audit?limit=1000", None);
    assert!(
        audit.to_string().contains("storage.recovered"),
        "the recovery is audited: {audit}"
    );
    let (_, _, verify) = c.call("GET", "/api/v1/admin/audit/verify", None);
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(server.stop().success());
    // Nothing half-written: the operator's checker finds it consistent.
    let out = Command::new(env!("CARGO_BIN_EXE_ca-api"))
        .arg("check")
        .env("CA_DATA_DIR", &data)
        .env(
            "CA_POLICIES_DIR",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"),
        )
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
}

#[test]
fn postgresql_connections_terminated_never_give_a_500() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("TEST_DATABASE_URL not set: the PostgreSQL part runs in CI");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = RunningServer::start(
        env!("CARGO_BIN_EXE_ca-api").as_ref(),
        &work.path().join("data"),
        port,
        Some(&db.url),
        "Bootstrap1Pass",
    );
    let mut c = Client {
        base: server.url.clone(),
        token: None,
    };
    c.login();
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let admin = std::env::var("TEST_DATABASE_URL").unwrap();
    let terminate = || {
        use diesel::prelude::*;
        let mut conn = diesel::PgConnection::establish(&admin).unwrap();
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .execute(&mut conn)
        .unwrap();
    };
    let mut created = 0;
    for i in 0..20 {
        if i % 3 == 0 {
            terminate();
        }
        let (status, retry, body) = c.call("POST", "/api/v1/admin/crl", None);
        assert!(
            status == 201 || (status == 503 && retry.is_some()),
            "{status}: {body}"
        );
        created += usize::from(status == 201);
    }
    assert!(
        created >= 10,
        "the pool reconnects: {created} of 20 written"
    );
    let (status, _, health) = c.call("GET", "/health", None);
    assert_eq!(status, 200, "{health}");
    let (_, _, verify) = c.call("GET", "/api/v1/admin/audit/verify", None);
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(server.stop().success());
}
