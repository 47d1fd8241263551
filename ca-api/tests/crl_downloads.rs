//! Clients download a large CRL in a loop while status lookups run (issue
//! 10), with the real binary on SQLite and PostgreSQL. What must hold is
//! the mechanism, not a timing (timings are `scripts/bench-peers.sh`'s):
//! every download and every lookup is answered, the CRL's bytes come from
//! memory (the store is asked about it at most once a second, whatever the
//! number of downloads, per `ca_crl_store_reads_total`), so downloads
//! never queue for the database the lookups use, and concurrent downloads
//! cost the server no copy of the CRL each, in DER or PEM. The latencies are printed for
//! the record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ca_tests::{free_port, RunningServer, TestDb};
use serde_json::json;

mod live;

use live::{agent, ok, Client};

/// Revoked entries copied into the registry: a CRL of about 4 MB.
const ENTRIES: u32 = 120_000;
const DOWNLOADERS: usize = 6;
const LOOKUPS: usize = 2;

#[test]
fn status_lookups_are_answered_while_clients_download_a_large_crl() {
    for db in TestDb::all() {
        run(&db);
    }
}

fn run(db: &TestDb) {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let metrics = format!("127.0.0.1:{}", free_port());
    let pg_url = (db.name == "postgres").then_some(db.url.as_str());
    let server = RunningServer::start_with(
        env!("CARGO_BIN_EXE_ca-api").as_ref(),
        &data,
        free_port(),
        pg_url,
        "Bootstrap1Pass",
        &[("CA_METRICS_LISTEN", &metrics)],
    );
    let mut c = Client::new(&server.url);
    c.first_login();
    let person = c.register_ivanov();
    let csr = ca_tests::throwaway_p256_csr(live::IVANOV_SUBJECT, false);
    let issued = ok(
        c.json(
            "POST",
            &format!("/api/v1/admin/persons/{person}/technological-certificate"),
            Some(json!({"csr_pem": String::from_utf8(csr).unwrap()})),
        ),
        201,
    );
    let serial = issued["serial"].as_str().unwrap().to_string();
    seed_revoked(db, &data, &serial);
    let crl = ok(c.json("POST", "/api/v1/admin/crl", None), 201);
    assert_eq!(crl["entries"], u64::from(ENTRIES), "{crl}");
    let full = c.bytes("/api/v1/crl");
    let pem_len = ca_core::der_to_pem("X509 CRL", &full).len();

    // The lookups alone first, for the record.
    let alone = lookups(&server.url, &serial, None, Duration::from_millis(1500));
    let reads_before = crl_store_reads(&metrics);
    let pid = server.pid().to_string();
    let resident_before = ca_tests::reset_peak_resident(&pid);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let downloaders: Vec<_> = (0..DOWNLOADERS)
        .map(|i| {
            // Every other client asks for PEM, made as it goes out.
            let pem = i % 2 == 1;
            let len = if pem { pem_len } else { full.len() };
            let (url, stop) = (server.url.clone(), stop.clone());
            std::thread::spawn(move || {
                let a = agent();
                let mut n = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let mut get = a.get(format!("{url}/api/v1/crl"));
                    if pem {
                        get = get.header("accept", "application/x-pem-file");
                    }
                    let resp = get.call().unwrap();
                    assert_eq!(resp.status(), 200);
                    let body = resp.into_body().read_to_vec().unwrap();
                    assert_eq!(body.len(), len, "the CRL changed under the downloads");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let during = lookups(&server.url, &serial, Some(&stop), Duration::from_secs(3));
    let downloads: usize = downloaders.into_iter().map(|d| d.join().unwrap()).sum();
    let seconds = started.elapsed().as_secs_f64();
    let reads = crl_store_reads(&metrics) - reads_before;
    let resident_peak = ca_tests::peak_resident_bytes(&pid);
    eprintln!(
        "{}: {downloads} downloads of a {} kB CRL in {seconds:.1} s; status lookups \
         alone p50 {:.2} ms p99 {:.2} ms ({} answers), during the downloads p50 {:.2} ms \
         p99 {:.2} ms ({} answers); the store asked about the CRL {reads} times",
        db.name,
        full.len() / 1000,
        percentile(&alone, 50),
        percentile(&alone, 99),
        alone.len(),
        percentile(&during, 50),
        percentile(&during, 99),
        during.len(),
    );
    eprintln!(
        "{}: server resident {} MB before the downloads, at most {} MB during",
        db.name,
        resident_before >> 20,
        resident_peak >> 20
    );
    assert!(downloads > 0 && !during.is_empty());
    // Served in slices of the connection's write buffer, not as one chunk
    // that actix copies into a buffer of the CRL's size per download, and
    // PEM encoded slice by slice, not into a whole PEM copy per download.
    assert!(
        resident_peak < resident_before + 2 * full.len() as u64,
        "{}: {DOWNLOADERS} concurrent downloads of a {} kB CRL took the server from {} to {} kB",
        db.name,
        full.len() / 1000,
        resident_before / 1000,
        resident_peak / 1000
    );
    // At most one question a second (and one for the scrape), never one
    // per download.
    assert!(
        reads as f64 <= seconds.ceil() + 2.0,
        "{}: the store was asked {reads} times for {downloads} downloads in {seconds:.1} s",
        db.name
    );
    assert!(server.stop().success());
}

/// Status lookups of `serial` from `LOOKUPS` threads for `length`, then
/// raises `stop`; every answer must be 200. Returns the latencies in ms.
fn lookups(base: &str, serial: &str, stop: Option<&AtomicBool>, length: Duration) -> Vec<f64> {
    let threads: Vec<_> = (0..LOOKUPS)
        .map(|_| {
            let url = format!("{base}/api/v1/certificates/{serial}");
            std::thread::spawn(move || {
                let a = agent();
                let until = Instant::now() + length;
                let mut ms = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let mut resp = a.get(&url).call().unwrap();
                    let status = resp.status();
                    let body = resp.body_mut().read_to_string().unwrap();
                    assert_eq!(status, 200, "{body}");
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                ms
            })
        })
        .collect();
    let mut all: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    if let Some(stop) = stop {
        stop.store(true, Ordering::SeqCst);
    }
    all.sort_by(f64::total_cmp);
    all
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

/// `ca_crl_store_reads_total` from the metrics listener.
fn crl_store_reads(metrics: &str) -> u64 {
    let text = agent()
        .get(format!("http://{metrics}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("ca_crl_store_reads_total "))
        .unwrap_or_else(|| panic!("no ca_crl_store_reads_total in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// `ENTRIES` revoked copies of certificate `template`'s row (new serials
/// and key hashes), written straight into the registry, as the benchmark
/// scripts seed theirs: issuing and revoking that many through the API
/// would take minutes and prove nothing more here.
fn seed_revoked(db: &TestDb, data: &std::path::Path, template: &str) {
    use diesel::prelude::*;
    const COLUMNS: &str = "serial, person_id, profile, status, key_sha256, not_before, \
        not_after, tbs, der, request_id, created_at, suspended_at, suspended_until, \
        revoked_at, revocation_reason, invalidity_date, predecessor_serial";
    let copy = |serial: &str, key: &str| {
        format!(
            "SELECT {serial}, person_id, profile, 'revoked', {key}, not_before, not_after, \
             tbs, NULL, NULL, created_at, NULL, NULL, created_at, 'key_compromise', NULL, \
             NULL FROM certificates"
        )
    };
    if db.name == "postgres" {
        let mut conn = PgConnection::establish(&db.url).unwrap();
        diesel::sql_query(format!(
            "INSERT INTO certificates ({COLUMNS}) {}, generate_series(1, {ENTRIES}) AS g(n) \
             WHERE serial = '{template}'",
            copy(
                "'7' || lpad(to_hex(n), 31, '0')",
                "lpad(to_hex(n), 64, '0')"
            )
        ))
        .execute(&mut conn)
        .unwrap();
    } else {
        let path = data.join("authority.sqlite3");
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        diesel::sql_query("PRAGMA busy_timeout = 10000")
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query(format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {ENTRIES}) \
             INSERT INTO certificates ({COLUMNS}) {}, g WHERE serial = '{template}'",
            copy("printf('7%031x', n)", "printf('%064x', n)")
        ))
        .execute(&mut conn)
        .unwrap();
    }
}
