//! Load generator for `scripts/load-api.sh`: request submissions (each
//! auto-approved, so each costs the CA one signature), status lookups and
//! CRL downloads against a running server, over loopback.
//!
//!   cargo run --release -p ca-api --example load -- \
//!       --server http://127.0.0.1:8080 --envelopes DIR --threads 8 --seconds 10
//!
//! Prints requests per second and latency percentiles for each phase.
//! `--only submit` runs the submissions alone. `--cfssl-sign CSR.pem` posts
//! that CSR to a CFSSL server's sign endpoint instead (`scripts/
//! bench-peers.sh`), so both sides are measured by the same client.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    server: String,
    envelopes: PathBuf,
    threads: usize,
    seconds: u64,
    only_submit: bool,
    cfssl_csr: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        server: "http://127.0.0.1:8080".into(),
        envelopes: PathBuf::from("envelopes"),
        threads: 8,
        seconds: 10,
        only_submit: false,
        cfssl_csr: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--server" => a.server = value,
            "--envelopes" => a.envelopes = value.into(),
            "--threads" => a.threads = value.parse().expect("--threads N"),
            "--seconds" => a.seconds = value.parse().expect("--seconds N"),
            "--only" if value == "submit" => a.only_submit = true,
            "--cfssl-sign" => a.cfssl_csr = Some(value.into()),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Phase {
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn report(name: &str, p: &mut Phase) {
    p.latencies.sort();
    let pct = |q: f64| {
        p.latencies
            .get(((p.latencies.len() as f64 * q) as usize).min(p.latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name:<22} {:>7} ok {:>4} errors {:>9.1} req/s   p50 {:>7.2} ms  p99 {:>7.2} ms",
        p.ok,
        p.errors,
        p.ok as f64 / p.elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}

/// Runs `work(i)` on `threads` threads until `total` items or `limit` time.
fn run(
    threads: usize,
    total: usize,
    limit: Duration,
    work: impl Fn(usize) -> bool + Send + Sync + 'static,
) -> Phase {
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (work, next, lat, errors) =
                (work.clone(), next.clone(), lat.clone(), errors.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || start.elapsed() > limit {
                        break;
                    }
                    let t = Instant::now();
                    if work(i) {
                        mine.push(t.elapsed());
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    let latencies = std::mem::take(&mut *lat.lock().unwrap());
    Phase {
        ok: latencies.len(),
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        latencies,
    }
}

/// CFSSL's `serve` sign endpoint, the same CSR each time (it stores
/// nothing, so nothing stops a repeat).
fn cfssl(a: &Args, csr: &std::path::Path) {
    let body = serde_json::json!({
        "certificate_request": std::fs::read_to_string(csr).expect("CSR file"),
    })
    .to_string();
    let (server, client) = (a.server.clone(), agent());
    let mut p = run(
        a.threads,
        usize::MAX,
        Duration::from_secs(a.seconds),
        move |_| {
            client
                .post(format!("{server}/api/v1/cfssl/sign"))
                .header("Content-Type", "application/json")
                .send(body.as_bytes())
                .is_ok_and(|r| {
                    r.status() == 200
                        && r.into_body()
                            .read_to_string()
                            .is_ok_and(|t| t.contains("\"success\":true"))
                })
        },
    );
    report("cfssl sign", &mut p);
}

fn main() {
    let a = args();
    if let Some(csr) = &a.cfssl_csr {
        return cfssl(&a, csr);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.envelopes)
        .expect("envelope directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "p7"))
        .collect();
    files.sort();
    let bodies: Arc<Vec<Vec<u8>>> =
        Arc::new(files.iter().map(|f| std::fs::read(f).unwrap()).collect());
    let limit = Duration::from_secs(a.seconds);
    let ids = Arc::new(Mutex::new(Vec::new()));

    let (server, b, ids2) = (a.server.clone(), bodies.clone(), ids.clone());
    let client = agent();
    let mut p = run(a.threads, bodies.len(), limit, move |i| {
        let resp = client
            .post(format!("{server}/api/v1/requests"))
            .header("Content-Type", "application/pkcs7-mime")
            .send(&b[i][..]);
        match resp {
            Ok(r) if r.status() == 202 => {
                let text = r.into_body().read_to_string().unwrap_or_default();
                let issued = text.contains("\"status\":\"issued\"");
                if let Some(id) = text
                    .split("\"id\":\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                {
                    ids2.lock().unwrap().push(id.to_string());
                }
                issued
            }
            _ => false,
        }
    });
    report("submission (issued)", &mut p);
    if a.only_submit {
        return;
    }

    let ids: Arc<Vec<String>> = Arc::new(ids.lock().unwrap().clone());
    if !ids.is_empty() {
        let (server, ids2) = (a.server.clone(), ids.clone());
        let client = agent();
        let mut p = run(a.threads, usize::MAX, limit, move |i| {
            let id = &ids2[i % ids2.len()];
            client
                .get(format!("{server}/api/v1/requests/{id}"))
                .call()
                .is_ok_and(|r| r.status() == 200)
        });
        report("request status", &mut p);
    }

    let server = a.server.clone();
    let client = agent();
    let mut p = run(a.threads, usize::MAX, limit, move |_| {
        client
            .get(format!("{server}/api/v1/crl"))
            .call()
            .is_ok_and(|r| {
                r.status() == 200 && r.into_body().read_to_vec().is_ok_and(|b| !b.is_empty())
            })
    });
    report("CRL download", &mut p);
}
