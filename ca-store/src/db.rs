//! Connections: one diesel `MultiConnection` over SQLite and PostgreSQL, a
//! pool, migrations, and the write-transaction discipline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, ManageConnection, Pool, PooledConnection,
    R2D2Connection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use ca_core::{Error, Result};

/// Either backend, behind one connection type.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// Production, several server instances.
    Postgresql(diesel::PgConnection),
    /// The embedded default.
    Sqlite(diesel::SqliteConnection),
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// A pool of connections.
pub type DbPool = Pool<PoolManager>;

/// A pooled connection.
pub type Conn = PooledConnection<PoolManager>;

/// When a connection of the database was last found lost. For a while
/// after, every check-out from its pools tests the connection it takes
/// (`SELECT 1`); otherwise none does, which saves a round trip to
/// PostgreSQL on every read (issue 10). A connection that died while idle
/// (a restarted server, a terminated backend) is found by the read that
/// takes it: that read fails as a storage fault, finds its connection
/// lost, and is run again once (`Store::read`) on a tested connection.
#[derive(Debug)]
pub struct Liveness {
    /// Milliseconds after `since` at which a connection was last found
    /// lost, plus one (0: never). An atomic, not a lock: every check-out
    /// reads it.
    lost_at: AtomicU64,
    /// Milliseconds after `since` at which a write last committed, plus
    /// one (0: never, or a write failed for a storage fault since).
    committed_at: AtomicU64,
    since: Instant,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            lost_at: AtomicU64::new(0),
            committed_at: AtomicU64::new(0),
            since: Instant::now(),
        }
    }
}

impl Liveness {
    /// How long after a lost connection check-outs test theirs.
    const SUSPECT_FOR: Duration = Duration::from_secs(30);

    fn now_ms(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn suspect(&self) -> bool {
        let lost_at = self.lost_at.load(Ordering::Relaxed);
        lost_at != 0 && self.now_ms() - lost_at < Self::SUSPECT_FOR.as_millis() as u64
    }

    pub(crate) fn committed(&self) {
        self.committed_at.store(self.now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn write_failed(&self) {
        self.committed_at.store(0, Ordering::Relaxed);
    }

    /// Whether a write committed within `within` and none failed for a
    /// storage fault since.
    pub(crate) fn committed_within(&self, within: Duration) -> bool {
        let at = self.committed_at.load(Ordering::Relaxed);
        at != 0 && self.now_ms() - at < within.as_millis() as u64
    }

    /// Whether `error` came from a connection that no longer works: only a
    /// storage fault can mean that (a refusal never does, and costs no
    /// round trip), and then `SELECT 1` tells.
    pub(crate) fn lost(&self, error: &Error, conn: &mut AnyConnection) -> bool {
        let lost = error.kind() == ca_core::ErrorKind::StorageUnavailable && conn.ping().is_err();
        if lost {
            self.lost_at.store(self.now_ms(), Ordering::Relaxed);
        }
        lost
    }
}

/// diesel's connection manager, testing connections at check-out only
/// while [`Liveness`] says they are suspect.
#[derive(Debug)]
pub struct PoolManager {
    inner: ConnectionManager<AnyConnection>,
    liveness: Arc<Liveness>,
}

impl ManageConnection for PoolManager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<AnyConnection, Self::Error> {
        self.inner.connect()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> std::result::Result<(), Self::Error> {
        if self.liveness.suspect() {
            self.inner.is_valid(conn)
        } else {
            Ok(())
        }
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        self.inner.has_broken(conn)
    }
}

/// SQLite settings applied to every new connection: WAL for readers beside
/// the writer, a busy timeout instead of instant SQLITE_BUSY, and foreign
/// keys (off by default in SQLite).
#[derive(Debug)]
struct SqliteSetup;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(&self, conn: &mut AnyConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// SQLite read connections: the same settings, and no writes by mistake.
#[derive(Debug)]
struct SqliteReader;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SqliteReader {
    fn on_acquire(&self, conn: &mut AnyConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA query_only = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// The pools of a database: writes, and reads beside them.
pub struct Pools {
    /// Connections for write transactions.
    pub write: DbPool,
    /// Connections for reads (for PostgreSQL the same pool).
    pub read: DbPool,
    /// Whether their connections are suspect.
    pub liveness: Arc<Liveness>,
}

/// Read connections of SQLite beside its one writer (issue 10: readers never
/// wait for the writer; WAL gives each read its own snapshot). Eight, so a
/// publication reading a million rows can hold one for seconds while eight
/// lookups at a time still find one each.
const SQLITE_READERS: u32 = 8;

/// Opens the pools on `url` (`postgres://…`, `sqlite://path`, or a file
/// path) and runs pending migrations.
pub fn open_pools(url: &str) -> Result<Pools> {
    let is_pg = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let url = url.strip_prefix("sqlite://").unwrap_or(url);
    let unavailable =
        |e: diesel::r2d2::PoolError| Error::storage_unavailable(format!("database: {e}"));
    let liveness = Arc::<Liveness>::default();
    let manager = || PoolManager {
        inner: ConnectionManager::new(url),
        liveness: liveness.clone(),
    };
    let builder = || Pool::builder().connection_timeout(Duration::from_secs(10));
    if is_pg {
        // Connections are made when a request needs one and then kept,
        // never in the background to refill the pool (r2d2's default):
        // after terminated backends the reconnect tests end with such
        // attempts still running, and their binary once aborted at exit
        // with heap corruption ("malloc_consolidate(): unaligned fastbin
        // chunk"; not seen again in 70 runs) — most likely libpq's TLS
        // state torn down at exit under an attempt in flight.
        let pool = builder()
            .max_size(8)
            .min_idle(Some(0))
            .idle_timeout(None)
            .build(manager())
            .map_err(unavailable)?;
        run_migrations(&mut *pool.get().map_err(unavailable)?)?;
        return Ok(Pools {
            write: pool.clone(),
            read: pool,
            liveness,
        });
    }
    // One SQLite writer: SQLite has one writer anyway, and a single
    // connection makes in-process writes queue instead of fail.
    let write = builder()
        .max_size(1)
        .connection_customizer(Box::new(SqliteSetup))
        .build(manager())
        .map_err(unavailable)?;
    // Migrated (and switched to WAL) before any reader opens.
    run_migrations(&mut *write.get().map_err(unavailable)?)?;
    let read = builder()
        .max_size(SQLITE_READERS)
        .min_idle(Some(1))
        .connection_customizer(Box::new(SqliteReader))
        .build(manager())
        .map_err(unavailable)?;
    Ok(Pools {
        write,
        read,
        liveness,
    })
}

fn run_migrations(conn: &mut AnyConnection) -> Result<()> {
    let result = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| Error::storage_unavailable(format!("migrations: {e}")))
}

/// Maps a diesel error to the core's error kinds: missing rows are
/// `NotFound`, constraint violations `WrongState`, faults of the database or
/// its disk (lost connection, disk full, read-only, I/O error, busy,
/// shutting down) `StorageUnavailable`; anything else `Internal`.
pub fn db_error(e: diesel::result::Error) -> Error {
    use diesel::result::{DatabaseErrorKind as K, Error as D};
    match e {
        D::NotFound => Error::not_found("no such record"),
        D::DatabaseError(K::UniqueViolation, info) => {
            Error::wrong_state(format!("already exists: {}", info.message()))
        }
        D::DatabaseError(K::ForeignKeyViolation, info) => {
            Error::not_found(format!("refers to a missing record: {}", info.message()))
        }
        D::DatabaseError(K::ClosedConnection, info) => {
            Error::storage_unavailable(format!("database connection lost: {}", info.message()))
        }
        D::DatabaseError(_, info) if is_storage_fault(info.message()) => {
            Error::storage_unavailable(format!("database: {}", info.message()))
        }
        other => Error::internal(format!("database: {other}")),
    }
}

/// The messages SQLite and PostgreSQL give for faults of the database or
/// its storage rather than of the statement (SQLITE_FULL, _READONLY,
/// _IOERR, _CANTOPEN, _BUSY, _CORRUPT; PostgreSQL class 08, 53, 57P and
/// the server's "could not write/extend").
fn is_storage_fault(message: &str) -> bool {
    const FAULTS: [&str; 17] = [
        "database or disk is full",
        "readonly database",
        "read-only",
        "disk I/O error",
        "unable to open database file",
        "database is locked",
        "database disk image is malformed",
        "No space left on device",
        "could not extend file",
        "could not write",
        "terminating connection",
        "server closed the connection",
        "connection to server",
        "no connection to the server",
        "the database system is",
        "cannot execute",
        "Connection refused",
    ];
    FAULTS.iter().any(|f| message.contains(f))
}
