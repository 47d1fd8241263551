//! CRL bodies in parts (issue 10), on SQLite and PostgreSQL: a body larger
//! than a part is written as several small values and read back whole; a
//! body nothing serves any more is deleted while its history stays; and a
//! database from before the change keeps the bodies it had.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use ca_store::{CrlKind, NewCrl, Store};
use ca_tests::TestDb;

/// `len` bytes that differ from one offset to the next (a part written
/// twice or out of order reads back different).
fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn new_crl(number: u64, kind: CrlKind, der: Vec<u8>) -> NewCrl {
    let now = Utc::now();
    NewCrl {
        number,
        kind,
        this_update: now,
        next_update: now + Duration::hours(24),
        entries: 1,
        der,
        covers_change: 0,
    }
}

/// Stores a CRL under a freshly allocated number; returns the number.
fn store(store: &Store, kind: CrlKind, der: Vec<u8>) -> u64 {
    store
        .write(|tx| {
            let number = tx.next_crl_number()?;
            assert!(tx.insert_crl_if_newest(&new_crl(number, kind, der.clone()))?);
            Ok(number)
        })
        .unwrap()
}

#[derive(QueryableByName)]
struct Parts {
    #[diesel(sql_type = BigInt)]
    parts: i64,
    #[diesel(sql_type = BigInt)]
    largest: i64,
}

/// How many parts a CRL's body is stored in, and the largest's size.
fn parts(db: &TestDb, number: u64) -> (i64, i64) {
    let query = diesel::sql_query(format!(
        "SELECT COUNT(*) AS parts, CAST(COALESCE(MAX(length(bytes)), 0) AS BIGINT) AS largest \
         FROM crl_parts WHERE number = {number}"
    ));
    let p: Parts = if db.name == "postgres" {
        query.get_result(&mut PgConnection::establish(&db.url).unwrap())
    } else {
        query.get_result(&mut SqliteConnection::establish(&db.url).unwrap())
    }
    .unwrap();
    (p.parts, p.largest)
}

#[test]
fn a_body_larger_than_a_part_is_stored_in_parts_and_read_back_whole() {
    for db in TestDb::all() {
        let s = Store::open(&db.url).unwrap();
        let big = body(2 * (1 << 20) + 12_345);
        let n = store(&s, CrlKind::Base, big.clone());
        // Three values of at most 1 MiB, not one of 2 MiB.
        assert_eq!(parts(&db, n), (3, 1 << 20), "{}", db.name);
        let latest = s.read(|tx| tx.latest_crl(false)).unwrap().unwrap();
        assert_eq!(latest.info.number, n);
        assert!(latest.der == big, "{}: the body read back differs", db.name);
        assert!(s.read(|tx| tx.crl(n)).unwrap().unwrap().der == big);
        // A small body is one part.
        let delta = store(&s, CrlKind::Delta { base: n }, body(100));
        assert_eq!(parts(&db, delta), (1, 100));
        assert_eq!(
            s.read(|tx| tx.latest_crl(true)).unwrap().unwrap().der,
            body(100)
        );
    }
}

#[test]
fn bodies_nothing_serves_are_deleted_and_their_history_stays() {
    for db in TestDb::all() {
        let s = Store::open(&db.url).unwrap();
        let old_base = store(&s, CrlKind::Base, body(3 << 20));
        let old_delta = store(&s, CrlKind::Delta { base: old_base }, body(10));
        let base = store(&s, CrlKind::Base, body(20));
        let delta = store(&s, CrlKind::Delta { base }, body(30));
        let full = store(&s, CrlKind::Full, body(40));
        // The current base, full and delta keep their bodies; the rest
        // lose theirs, every part of them.
        let deleted = s.write(|tx| tx.prune_crl_bodies()).unwrap();
        assert_eq!(deleted, 3 + 1, "{}", db.name);
        for (n, len) in [
            (old_base, 0),
            (old_delta, 0),
            (base, 20),
            (delta, 30),
            (full, 40),
        ] {
            let crl = s.read(|tx| tx.crl(n)).unwrap().unwrap();
            assert_eq!(crl.info.number, n);
            assert_eq!(crl.der.len(), len, "{}: CRL {n}", db.name);
        }
        assert_eq!(parts(&db, old_base), (0, 0));
        // Nothing left to delete.
        assert_eq!(s.write(|tx| tx.prune_crl_bodies()).unwrap(), 0);
    }
}

const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Runs the migrations that came before `crl_parts`.
fn migrate_to_before_parts<DB: diesel::backend::Backend>(
    c: &mut impl MigrationHarness<DB>,
    source: EmbeddedMigrations,
) where
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    for m in c.pending_migrations(source).unwrap() {
        if m.name().to_string().ends_with("_crl_parts") {
            return;
        }
        c.run_migration(&*m).unwrap();
    }
    panic!("no crl_parts migration");
}

#[test]
fn bodies_stored_before_parts_are_kept_by_the_migration() {
    for db in TestDb::all() {
        let insert = "INSERT INTO crls (number, kind, base_number, this_update, next_update, \
                      entries, der, covers_change) VALUES (7, 'base', NULL, 1, 2, 1, $1, 0)";
        let old = body(70_000);
        if db.name == "postgres" {
            let mut c = PgConnection::establish(&db.url).unwrap();
            migrate_to_before_parts(&mut c, POSTGRES);
            diesel::sql_query(insert)
                .bind::<diesel::sql_types::Binary, _>(&old)
                .execute(&mut c)
                .unwrap();
        } else {
            let mut c = SqliteConnection::establish(&db.url).unwrap();
            migrate_to_before_parts(&mut c, SQLITE);
            diesel::sql_query(insert.replace("$1", "?"))
                .bind::<diesel::sql_types::Binary, _>(&old)
                .execute(&mut c)
                .unwrap();
        }
        // Opening the store runs the rest.
        let s = Store::open(&db.url).unwrap();
        let crl = s.read(|tx| tx.crl(7)).unwrap().unwrap();
        assert!(crl.der == old, "{}: the old body was not kept", db.name);
        assert_eq!(parts(&db, 7), (1, 70_000));
        // New CRLs go on from its number.
        let next = store(&s, CrlKind::Base, body(5));
        assert_eq!(next, 8);
    }
}
