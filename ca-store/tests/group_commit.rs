//! Group commit (issue 10), on SQLite and PostgreSQL: writers that arrive
//! while a transaction is open share its commit, none returns before its
//! changes are committed (a read on another connection sees them), a
//! refused writer's changes are rolled back alone, and a write started
//! inside a write is an error, not a deadlock.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use ca_store::{Event, Outcome, Store};
use ca_tests::TestDb;

fn event(action: &'static str, object: String) -> Event<'static> {
    Event {
        actor: "system",
        action,
        object,
        outcome: Outcome::Ok,
        reasons: vec![],
        details: serde_json::json!({}),
    }
}

fn objects(store: &Store, action: &str) -> Vec<String> {
    store
        .read(|tx| tx.audit_records(0, 100_000))
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| r.object)
        .collect()
}

/// The number of transactions the store has committed (each takes the
/// store lock once).
fn transactions(db: &TestDb) -> i64 {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Lock {
        #[diesel(sql_type = BigInt)]
        writes: i64,
    }
    let query = diesel::sql_query("SELECT writes FROM store_lock WHERE id = 1");
    let lock: Lock = if db.name == "postgres" {
        query.get_result(&mut PgConnection::establish(&db.url).unwrap())
    } else {
        query.get_result(&mut SqliteConnection::establish(&db.url).unwrap())
    }
    .unwrap();
    lock.writes
}

/// Starts a writer that runs `first` and then holds its transaction open
/// for 300 ms, so that writers started meanwhile queue behind it and join
/// its transaction; returns once `first` has run.
fn hold_open(
    store: &Store,
    first: impl Fn(&mut ca_store::Tx<'_>) -> ca_core::Result<()> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let inside = Arc::new(Barrier::new(2));
    let (store, inside2) = (store.clone(), inside.clone());
    let writer = std::thread::spawn(move || {
        store
            .write(|tx| {
                first(tx)?;
                inside2.wait();
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .unwrap();
    });
    inside.wait();
    writer
}

#[test]
fn concurrent_writers_share_commits_and_each_returns_committed() {
    for db in TestDb::all() {
        let store = Store::open(&db.url).unwrap();
        const THREADS: usize = 8;
        const EACH: usize = 40;
        let before = transactions(&db);
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, start) = (store.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..EACH {
                        let object = format!("write:{t}:{i}");
                        store
                            .write(|tx| {
                                tx.audit(chrono::Utc::now(), event("test.group", object.clone()))
                            })
                            .unwrap();
                        // Committed before the writer hears of it.
                        let seen = store
                            .read(|tx| tx.audit_records(0, 100_000))
                            .unwrap()
                            .iter()
                            .any(|r| r.object == object);
                        assert!(seen, "{object} returned before its commit");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(objects(&store, "test.group").len(), THREADS * EACH);
        let commits = transactions(&db) - before;
        eprintln!(
            "{}: {} writes in {commits} transactions",
            db.name,
            THREADS * EACH
        );
        assert!(
            commits < (THREADS * EACH) as i64,
            "{}: {commits} transactions for {} writes: nothing was shared",
            db.name,
            THREADS * EACH
        );
        let verify = store.read(|tx| tx.verify_audit()).unwrap();
        assert!(verify.ok, "{verify:?}");
    }
}

#[test]
fn a_refused_writer_rolls_back_alone_in_a_shared_transaction() {
    for db in TestDb::all() {
        let store = Store::open(&db.url).unwrap();
        let first = hold_open(&store, |tx| {
            tx.audit(chrono::Utc::now(), event("test.kept", "first".into()))
        });
        let before = transactions(&db);
        let refused = store.write(|tx| {
            tx.audit(chrono::Utc::now(), event("test.refused", "second".into()))?;
            Err::<(), _>(ca_core::Error::wrong_state("refused after writing"))
        });
        assert!(refused.is_err());
        let third =
            store.write(|tx| tx.audit(chrono::Utc::now(), event("test.kept", "third".into())));
        third.unwrap();
        first.join().unwrap();
        assert_eq!(objects(&store, "test.kept"), ["first", "third"]);
        assert!(objects(&store, "test.refused").is_empty());
        // The refused writer ran in the first one's transaction (and, the
        // last in, committed it); the third, alone, in one of its own.
        assert_eq!(transactions(&db) - before, 2, "{}", db.name);
        let verify = store.read(|tx| tx.verify_audit()).unwrap();
        assert!(verify.ok, "{verify:?}");
    }
}

#[test]
fn a_write_inside_a_write_is_an_error_not_a_deadlock() {
    for db in TestDb::all() {
        let store = Store::open(&db.url).unwrap();
        let inner = store.clone();
        let outcome = store.write(|tx| {
            tx.audit(chrono::Utc::now(), event("test.outer", "outer".into()))?;
            Ok(inner.write(|tx| tx.audit(chrono::Utc::now(), event("test.inner", "inner".into()))))
        });
        let inner_result = outcome.unwrap();
        assert_eq!(
            inner_result.unwrap_err().kind(),
            ca_core::ErrorKind::Internal,
            "{}",
            db.name
        );
        assert_eq!(objects(&store, "test.outer"), ["outer"]);
        assert!(objects(&store, "test.inner").is_empty());
    }
}

/// The first writer of a transaction runs without a savepoint: refused,
/// its whole transaction is rolled back, and the next write opens a new
/// one on the same connection.
#[test]
fn a_refused_first_writer_leaves_nothing_and_the_next_write_commits() {
    for db in TestDb::all() {
        let store = Store::open(&db.url).unwrap();
        let refused = store.write(|tx| {
            tx.audit(chrono::Utc::now(), event("test.refused", "alone".into()))?;
            Err::<(), _>(ca_core::Error::wrong_state("refused after writing"))
        });
        assert_eq!(
            refused.unwrap_err().kind(),
            ca_core::ErrorKind::WrongState,
            "{}",
            db.name
        );
        store
            .write(|tx| tx.audit(chrono::Utc::now(), event("test.kept", "after".into())))
            .unwrap();
        assert_eq!(objects(&store, "test.kept"), ["after"], "{}", db.name);
        assert!(objects(&store, "test.refused").is_empty(), "{}", db.name);
        let verify = store.read(|tx| tx.verify_audit()).unwrap();
        assert!(verify.ok, "{verify:?}");
    }
}

/// A writer whose statement fails in the database (a duplicate key; in
/// PostgreSQL that aborts the transaction until its savepoint is rolled
/// back) loses only its own work: the writer before it and the one after
/// it commit in the same transaction, and the audit record after it links
/// to the one before it (the chain head the transaction carries goes back
/// with the savepoint).
#[test]
fn a_database_error_in_a_shared_transaction_rolls_back_only_its_writer() {
    for db in TestDb::all() {
        let store = Store::open(&db.url).unwrap();
        let org = |id: &'static str| ca_store::NewOrganization {
            id,
            name: "ООО Ромашка",
            inn: "7701234567",
            ogrn: "1027700132195",
            agreement_number: "КБ-17",
            webhook_url: None,
            contact_email: None,
            created_at: chrono::Utc::now(),
        };
        let first = hold_open(&store, move |tx| {
            tx.insert_organization(&org("org-1"))?;
            tx.audit(chrono::Utc::now(), event("test.kept", "first".into()))
        });
        let before = transactions(&db);
        let third = {
            let store = store.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                store
                    .write(|tx| tx.audit(chrono::Utc::now(), event("test.kept", "third".into())))
                    .unwrap();
            })
        };
        let duplicate = store.write(|tx| {
            tx.audit(chrono::Utc::now(), event("test.refused", "second".into()))?;
            tx.insert_organization(&org("org-1")).map(drop)
        });
        assert!(duplicate.is_err(), "{}", db.name);
        first.join().unwrap();
        third.join().unwrap();
        let orgs = store.read(|tx| tx.organizations()).unwrap();
        assert_eq!(orgs.len(), 1, "{}", db.name);
        // All three in the first one's transaction, whatever their order.
        assert_eq!(transactions(&db) - before, 1, "{}", db.name);
        assert_eq!(
            objects(&store, "test.kept"),
            ["first", "third"],
            "{}",
            db.name
        );
        assert!(objects(&store, "test.refused").is_empty(), "{}", db.name);
        let verify = store.read(|tx| tx.verify_audit()).unwrap();
        assert!(verify.ok, "{verify:?}");
    }
}

/// `CA_COMMIT_GROUP_MAX=1`: every write commits alone, however many
/// writers wait (what `scripts/bench-peers.sh SOLO=1` measures against).
#[test]
fn with_a_group_of_one_every_write_commits_alone() {
    for db in TestDb::all() {
        let store = Store::open(&db.url).unwrap();
        store.set_commit_group_max(1);
        let before = transactions(&db);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        store
                            .write(|tx| {
                                tx.audit(
                                    chrono::Utc::now(),
                                    event("test.alone", format!("{t}:{i}")),
                                )
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(objects(&store, "test.alone").len(), 80, "{}", db.name);
        assert_eq!(transactions(&db) - before, 80, "{}", db.name);
    }
}
