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

mod live;

use live::Client;

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
    let mut c = Client::new(&server.url);
    c.first_login();
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");

    // The disk fills up (logs, another program, a runaway backup…).
    let filler = disk.fill();
    let mut refused = None;
    for _ in 1..=200 {
        let live::Answer {
            status,
            retry_after: retry,
            body,
        } = c.call("POST", "/api/v1/admin/crl", None);
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
    let live::Answer {
        status,
        body: health,
        ..
    } = c.call("GET", "/health", None);
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["database"], "read_only", "{health}");
    // Alive all the same: nothing to restart.
    assert_eq!(c.call("GET", "/health/live", None).status, 200);
    // Relying parties and readers are still served.
    assert_eq!(c.call("GET", "/api/v1/ca/certificate", None).status, 200);
    assert_eq!(c.call("GET", "/api/v1/crl", None).status, 200);
    assert_eq!(
        c.call("GET", "/api/v1/admin/organizations", None).status,
        200
    );

    // Space comes back: no restart, no operator.
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.call("GET", "/health", None).status != 200 {
        assert!(Instant::now() < deadline, "no recovery");
        std::thread::sleep(Duration::from_millis(200));
    }
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");

    let audit = c.call("GET", "/api/v1/admin/audit?limit=1000", None).body;
    assert!(
        audit.to_string().contains("storage.recovered"),
        "the recovery is audited: {audit}"
    );
    let verify = c.call("GET", "/api/v1/admin/audit/verify", None).body;
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(server.stop().success());
    // Nothing half-written: the operator's checker finds it consistent.
    live::check(&data, None, &[]);
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
    let mut c = Client::new(&server.url);
    c.first_login();
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
        let live::Answer {
            status,
            retry_after: retry,
            body,
        } = c.call("POST", "/api/v1/admin/crl", None);
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
    let live::Answer {
        status,
        body: health,
        ..
    } = c.call("GET", "/health", None);
    assert_eq!(status, 200, "{health}");
    let verify = c.call("GET", "/api/v1/admin/audit/verify", None).body;
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(server.stop().success());
}
