//! A transaction whose PostgreSQL connection is killed before its commit
//! (a restarted server, a terminated backend) committed nothing: the store
//! runs it again, once, on a new connection, and the caller sees success.
//! A read is repeated the same way. (Issue 14; the crash of a whole cluster
//! under load is `ca-api/tests/faults.rs`.)

use ca_store::{Event, Outcome, Store};
use ca_tests::TestDb;

fn event() -> Event<'static> {
    Event {
        actor: "system",
        action: "test.reconnect",
        object: "store".into(),
        outcome: Outcome::Ok,
        reasons: vec![],
        details: serde_json::json!({}),
    }
}

/// How many of this test's audit records are stored.
fn reconnect_records(store: &Store) -> usize {
    store
        .read(|tx| tx.audit_records(0, 1000))
        .unwrap()
        .iter()
        .filter(|r| r.action == "test.reconnect")
        .count()
}

/// A PostgreSQL database of the test's own and its store; `None` (the test
/// skips) when `TEST_DATABASE_URL` is unset, as outside CI.
fn postgres_store() -> Option<(TestDb, Store)> {
    let Some(db) = TestDb::postgres() else {
        eprintln!("TEST_DATABASE_URL not set: the PostgreSQL part runs in CI");
        return None;
    };
    let store = Store::open(&db.url).unwrap();
    Some((db, store))
}

#[test]
fn a_transaction_cut_off_before_its_commit_runs_again_once() {
    let Some((db, store)) = postgres_store() else {
        return;
    };
    let before = store.read(|tx| tx.audit_records(0, 1000)).unwrap().len();
    let mut runs = 0;
    let value = store
        .write(|tx| {
            runs += 1;
            tx.audit(chrono::Utc::now(), event())?;
            if runs == 1 {
                // The connection dies inside the transaction; the next
                // statement fails.
                db.terminate_connections();
                tx.audit_records(0, 1)?;
            }
            Ok(runs)
        })
        .unwrap();
    assert_eq!((runs, value), (2, 2), "run again once, on a new connection");
    let records = store.read(|tx| tx.audit_records(0, 1000)).unwrap();
    assert_eq!(
        reconnect_records(&store),
        1,
        "the first attempt committed nothing"
    );
    assert_eq!(records.len(), before + 1);
    assert!(store.read(|tx| tx.verify_audit()).unwrap().ok);

    // A read is repeated the same way.
    let mut reads = 0;
    let n = store
        .read(|tx| {
            reads += 1;
            if reads == 1 {
                db.terminate_connections();
            }
            tx.audit_records(0, 1000).map(|r| r.len())
        })
        .unwrap();
    assert_eq!((reads, n), (2, before + 1));
}

#[test]
fn a_refusal_is_not_repeated_when_the_connection_is_fine() {
    for db in TestDb::all() {
        let store = Store::open(&db.url).unwrap();
        let mut runs = 0;
        let refused = store.write(|_| -> ca_core::Result<()> {
            runs += 1;
            Err(ca_core::Error::storage_unavailable("disk full"))
        });
        assert!(refused.is_err());
        assert_eq!(runs, 1, "{}: only a broken connection is retried", db.name);
    }
}

/// The writer keeps its connection between transactions; one terminated
/// while idle (a restarted server) is replaced by the next write, which
/// succeeds.
#[test]
fn the_writers_idle_connection_terminated_is_replaced() {
    let Some((db, store)) = postgres_store() else {
        return;
    };
    store
        .write(|tx| tx.audit(chrono::Utc::now(), event()))
        .unwrap();
    db.terminate_connections();
    store
        .write(|tx| tx.audit(chrono::Utc::now(), event()))
        .unwrap();
    assert_eq!(reconnect_records(&store), 2);
}

/// Reads take pooled connections without a `SELECT 1` each (issue 10):
/// connections that died while idle (every backend terminated, as by a
/// restarted server) are found by the reads that take them, which are run
/// again on tested connections. Every read succeeds, concurrent ones too.
#[test]
fn idle_read_connections_terminated_are_replaced() {
    let Some((db, store)) = postgres_store() else {
        return;
    };
    store
        .write(|tx| tx.audit(chrono::Utc::now(), event()))
        .unwrap();
    let concurrent_reads = |store: &Store| {
        let start = std::sync::Arc::new(std::sync::Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (store, start) = (store.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    store
                        .read(|tx| {
                            // Held a while, so the pool opens a connection each.
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            tx.audit_records(0, 1000)
                        })
                        .map(|r| r.len())
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(concurrent_reads(&store).iter().all(|&n| n >= 1));
    db.terminate_connections();
    assert!(concurrent_reads(&store).iter().all(|&n| n >= 1));
    for _ in 0..10 {
        assert_eq!(reconnect_records(&store), 1);
    }
    db.terminate_connections();
    for _ in 0..10 {
        assert_eq!(reconnect_records(&store), 1);
    }
}
