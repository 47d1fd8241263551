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
    let (server, c) = started(&data, None);
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");

    // The disk fills up (logs, another program, a runaway backup…).
    let filler = disk.fill();
    refused_and_degraded(&c);

    // Space comes back: no restart, no operator.
    std::fs::remove_file(filler).unwrap();
    wait_ready(&c);
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");

    recovery_audited(&c);
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
    let data = work.path().join("data");
    let (server, c) = started(&data, Some(&db.url));
    let mut created = 0;
    for i in 0..20 {
        if i % 3 == 0 {
            db.terminate_connections();
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

/// PostgreSQL crashes (stopped with `-m immediate`, as a killed host) and
/// comes back while operators issue technological certificates from four
/// threads: no answer is a 500, every key ends with exactly one
/// certificate (the ones whose answer the crash cut off are finished at the
/// next start and the client's retry is refused as `duplicate_key`), and
/// the checker is clean. The cluster is the test's own, so stopping it
/// touches nothing else.
#[test]
fn a_postgresql_crash_during_issuance_loses_and_duplicates_nothing() {
    use der::{Decode, Encode};
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let Some(pg) = own_postgresql() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let (server, c) = started(&data, Some(&pg.url()));
    let person = c.register_ivanov();
    const KEYS: usize = 80;
    let mut csrs = Vec::new();
    let mut key_hashes = Vec::new();
    for _ in 0..KEYS {
        let der = ca_tests::throwaway_p256_csr(live::IVANOV_SUBJECT, true);
        let req = x509_cert::request::CertReq::from_der(&der).unwrap();
        key_hashes.push(hex::encode(Sha256::digest(
            req.info.public_key.to_der().unwrap(),
        )));
        csrs.push(ca_core::der_to_pem("CERTIFICATE REQUEST", &der));
    }

    let csrs = Arc::new(csrs);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (c, csrs, next, done) = (c.clone(), csrs.clone(), next.clone(), done.clone());
            let unavailable = unavailable.clone();
            let path = format!("/api/v1/admin/persons/{person}/technological-certificate");
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= KEYS {
                        return outcomes;
                    }
                    let body = serde_json::json!({"csr_pem": csrs[i]});
                    let deadline = Instant::now() + Duration::from_secs(90);
                    let outcome = loop {
                        let a = c.call("POST", &path, Some(body.clone()));
                        assert_ne!(a.status, 500, "a 500 for key {i}: {}", a.body);
                        match a.status {
                            201 => break (i, a.body["serial"].as_str().unwrap().to_string()),
                            // The cut-off first attempt reserved the key.
                            422 if a.body["error"]["reasons"]
                                .to_string()
                                .contains("duplicate_key") =>
                            {
                                break (i, String::new())
                            }
                            503 => {
                                unavailable.fetch_add(1, Ordering::SeqCst);
                                assert!(a.retry_after.is_some(), "503 without Retry-After");
                                assert!(Instant::now() < deadline, "no recovery for key {i}");
                                std::thread::sleep(Duration::from_millis(200));
                            }
                            other => panic!("key {i}: {other} {}", a.body),
                        }
                    };
                    done.fetch_add(1, Ordering::SeqCst);
                    outcomes.push(outcome);
                }
            })
        })
        .collect();
    while done.load(Ordering::SeqCst) < 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    pg.crash_and_restart();
    let after_restart = done.load(Ordering::SeqCst);
    assert!(
        after_restart < KEYS,
        "the crash came while issuance went on"
    );
    let outcomes: Vec<(usize, String)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(outcomes.len(), KEYS);
    eprintln!(
        "{after_restart} of {KEYS} done when the database was back; \
         {} answers 503, {} keys found reserved by a cut-off attempt",
        unavailable.load(Ordering::SeqCst),
        outcomes.iter().filter(|(_, s)| s.is_empty()).count()
    );

    // A restart finishes the issuance the crash cut off (as the background
    // work would after a minute).
    assert!(server.stop().success());
    let server = RunningServer::start(
        env!("CARGO_BIN_EXE_ca-api").as_ref(),
        &data,
        free_port(),
        Some(&pg.url()),
        "Bootstrap1Pass",
    );
    let mut c = Client::new(&server.url);
    c.login("Operator1Pass");
    let listed = live::ok(
        c.json(
            "GET",
            &format!("/api/v1/admin/certificates?person={person}"),
            None,
        ),
        200,
    );
    let serials: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["serial"].as_str().unwrap().to_string())
        .collect();
    let mut certified: Vec<String> = serials
        .iter()
        .map(|s| {
            let der = c.bytes(&format!("/api/v1/certificates/{s}/certificate"));
            let cert = x509_cert::Certificate::from_der(&der).unwrap();
            hex::encode(Sha256::digest(
                cert.tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .unwrap(),
            ))
        })
        .collect();
    certified.sort();
    let mut expected = key_hashes.clone();
    expected.sort();
    assert_eq!(certified, expected, "every key exactly one certificate");
    for (i, serial) in outcomes.iter().filter(|(_, s)| !s.is_empty()) {
        assert!(
            serials.contains(serial),
            "key {i}'s certificate {serial} is stored"
        );
    }
    assert!(server.stop().success());
    live::check(&data, Some(&pg.url()), &[]);
}

/// A PostgreSQL cluster of the test's own (`initdb` on a free port), so
/// crashing or filling it touches nothing else; `None` (the test skips)
/// when `TEST_DATABASE_URL` is unset, as outside CI.
fn own_postgresql() -> Option<ca_tests::PgCluster> {
    if TestDb::postgres().is_none() {
        eprintln!("TEST_DATABASE_URL not set: the PostgreSQL part runs in CI");
        return None;
    }
    Some(ca_tests::PgCluster::start())
}

/// The real server with its data in `data` (on `database_url`, else
/// SQLite there), the bootstrap admin logged in with the changed password.
fn started(data: &std::path::Path, database_url: Option<&str>) -> (RunningServer, Client) {
    let server = RunningServer::start(
        env!("CARGO_BIN_EXE_ca-api").as_ref(),
        data,
        free_port(),
        database_url,
        "Bootstrap1Pass",
    );
    let mut c = Client::new(&server.url);
    c.first_login();
    (server, c)
}

/// Writes (a CRL publication each) until the first refusal, which must be
/// 503 `storage_unavailable` with Retry-After and never a 500; then
/// `/health` must say the database is read-only while the process stays
/// alive and relying parties and readers are still served.
fn refused_and_degraded(c: &Client) {
    let mut refused = None;
    for _ in 1..=200 {
        let live::Answer {
            status,
            retry_after: retry,
            body,
        } = c.call("POST", "/api/v1/admin/crl", None);
        assert_ne!(status, 500, "a storage fault is never a 500: {body}");
        if status == 503 {
            refused = Some((retry, body));
            break;
        }
        assert_eq!(status, 201, "{body}");
    }
    let (retry, body) = refused.expect("writes refused once the storage fails");
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
    assert_eq!(c.call("GET", "/api/v1/ca/certificate", None).status, 200);
    assert_eq!(c.call("GET", "/api/v1/crl", None).status, 200);
    assert_eq!(
        c.call("GET", "/api/v1/admin/organizations", None).status,
        200
    );
}

/// Waits (30 s at most) until `/health` says ready again.
fn wait_ready(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.call("GET", "/health", None).status != 200 {
        assert!(Instant::now() < deadline, "no recovery");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The audit trail records the recovery and its chain verifies.
fn recovery_audited(c: &Client) {
    let audit = c.call("GET", "/api/v1/admin/audit?limit=1000", None).body;
    assert!(
        audit.to_string().contains("storage.recovered"),
        "the recovery is audited: {audit}"
    );
    let verify = c.call("GET", "/api/v1/admin/audit/verify", None).body;
    assert_eq!(verify["ok"], true, "{verify}");
}

/// A small ext4 file system on a loop device, mounted with
/// `errors=remount-ro` as data volumes are; unmounted on drop.
struct Ext4Disk {
    dir: tempfile::TempDir,
    device: String,
}

impl Ext4Disk {
    fn new(megabytes: u64) -> Ext4Disk {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(megabytes << 20)
            .unwrap();
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let mut disk = Ext4Disk {
            dir,
            device: String::new(),
        };
        disk.mount();
        disk
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("mnt")
    }

    fn mount(&mut self) {
        let image = self.dir.path().join("disk.img");
        run(
            "mount",
            &[
                "-o",
                "loop,errors=remount-ro",
                image.to_str().unwrap(),
                self.path().to_str().unwrap(),
            ],
        );
        let out = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(self.path())
            .output()
            .unwrap();
        self.device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(self.device.starts_with("/dev/loop"), "{}", self.device);
    }

    /// The kernel finds an error and turns the file system read-only under
    /// its open files, as `errors=remount-ro` does (ext4's own test hook).
    fn fail(&self) {
        let name = self.device.trim_start_matches("/dev/");
        std::fs::write(
            format!("/sys/fs/ext4/{name}/trigger_fs_error"),
            "test: the disk failed",
        )
        .expect("trigger an ext4 error");
    }

    /// What an administrator does after such an error: unmount, check,
    /// mount again.
    fn repair(&mut self) {
        run("umount", &[self.path().to_str().unwrap()]);
        let image = self.dir.path().join("disk.img");
        // e2fsck exits 1 when it corrected something.
        let status = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&image)
            .output()
            .unwrap()
            .status;
        assert!(matches!(status.code(), Some(0 | 1)), "e2fsck: {status}");
        self.mount();
    }
}

impl Drop for Ext4Disk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} (this test needs root, as CI runs): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The data directory becomes read-only under the running server, twice.
/// First its database and WAL are made immutable (`chattr +i`, which,
/// unlike a chmod, binds files already open, as a read-only file system
/// does):
/// 503, not ready, readers served, and once they are writable again the
/// service recovers by itself. Then the kernel turns the whole file system
/// read-only after an error: the same answers, and after the administrator
/// repairs it (unmount, fsck, mount) a restart finds everything accepted
/// and the checker clean.
#[test]
fn a_read_only_data_directory_gives_503_and_the_service_recovers() {
    let mut disk = Ext4Disk::new(64);
    let data = disk.path().join("data");
    let binary = env!("CARGO_BIN_EXE_ca-api");
    let (server, c) = started(&data, None);
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");

    // The database and its write-ahead log. (Not the shared-memory index
    // SQLite maps into memory: a store into a mapped page of an immutable
    // file is a SIGBUS, which no program survives, while a file system the
    // kernel turns read-only leaves mapped pages alone, as the second half
    // shows.)
    let database: Vec<String> = ["authority.sqlite3", "authority.sqlite3-wal"]
        .iter()
        .map(|f| data.join(f).to_string_lossy().to_string())
        .collect();
    let chattr = |flag: &str| {
        let mut args = vec![flag];
        args.extend(database.iter().map(String::as_str));
        run("chattr", &args);
    };
    chattr("+i");
    refused_and_degraded(&c);
    chattr("-i");
    wait_ready(&c);
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");
    recovery_audited(&c);

    disk.fail();
    refused_and_degraded(&c);
    // The process cannot recover a file system the kernel gave up on; the
    // administrator repairs it with the server stopped.
    let _ = server.stop();
    disk.repair();
    let server = RunningServer::start(binary.as_ref(), &data, free_port(), None, "Bootstrap1Pass");
    let mut c = Client::new(&server.url);
    c.login("Operator1Pass");
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");
    let verify = c.call("GET", "/api/v1/admin/audit/verify", None).body;
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(server.stop().success());
    live::check(&data, None, &[]);
}

/// PostgreSQL turned read-only under the running server (what a failover to
/// a standby or a DBA's `default_transaction_read_only` does): 503, not
/// ready, readers served; writable again, the service recovers by itself.
/// The cluster is the test's own.
#[test]
fn a_read_only_postgresql_gives_503_and_the_service_recovers_by_itself() {
    let Some(pg) = own_postgresql() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let (server, c) = started(&data, Some(&pg.url()));
    pg.sql(&[
        "ALTER SYSTEM SET default_transaction_read_only = on",
        "SELECT pg_reload_conf()",
    ]);
    refused_and_degraded(&c);
    pg.sql(&[
        "ALTER SYSTEM RESET default_transaction_read_only",
        "SELECT pg_reload_conf()",
    ]);
    wait_ready(&c);
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");
    recovery_audited(&c);
    assert!(server.stop().success());
    live::check(&data, Some(&pg.url()), &[]);
}

/// PostgreSQL's data on a volume that fills up (a tablespace on a small
/// tmpfs; the WAL stays on its own disk, as in production): writes that
/// need space answer 503 with Retry-After, never 500, readers are served,
/// and once space is freed writes resume without a restart. `/health` may
/// stay ready meanwhile: PostgreSQL still takes writes that fit in the
/// pages it has, so the store is not read-only, only full.
#[test]
fn a_full_postgresql_volume_gives_503_and_writes_resume_by_themselves() {
    // Mounted first, so it is unmounted after the cluster stops.
    let disk = SmallDisk::new("24m");
    let Some(pg) = own_postgresql() else {
        return;
    };
    let space = disk.path().join("tablespace");
    std::fs::create_dir(&space).unwrap();
    run("chown", &["postgres:postgres", space.to_str().unwrap()]);
    pg.sql(&[
        &format!("CREATE TABLESPACE small LOCATION '{}'", space.display()),
        "CREATE DATABASE ca TABLESPACE small",
    ]);
    let url = format!("{}/ca", pg.url().rsplit_once('/').unwrap().0);
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let (server, c) = started(&data, Some(&url));
    let filler = disk.fill();
    let mut refused = None;
    for _ in 1..=2000 {
        let a = c.call("POST", "/api/v1/admin/crl", None);
        assert_ne!(a.status, 500, "a full volume is never a 500: {}", a.body);
        if a.status == 503 {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let a = refused.expect("writes refused once the volume is full");
    assert_eq!(a.body["error"]["code"], "storage_unavailable", "{}", a.body);
    assert!(a.retry_after.is_some(), "Retry-After");
    eprintln!(
        "/health with the volume full: {}",
        c.call("GET", "/health", None).body
    );
    assert_eq!(c.call("GET", "/api/v1/crl", None).status, 200);
    assert_eq!(
        c.call("GET", "/api/v1/admin/organizations", None).status,
        200
    );

    std::fs::remove_file(filler).unwrap();
    let live::Answer { status, body, .. } = c.call("POST", "/api/v1/admin/crl", None);
    assert_eq!(status, 201, "{body}");
    wait_ready(&c);
    let verify = c.call("GET", "/api/v1/admin/audit/verify", None).body;
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(server.stop().success());
    live::check(&data, Some(&url), &[]);
    drop(pg);
}
