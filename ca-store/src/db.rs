//! Connections: one diesel `MultiConnection` over SQLite and PostgreSQL, a
//! pool, migrations, and the write-transaction discipline.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use ca_core::{Error, ErrorKind, Result};

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

/// A pooled connection.
pub type Conn = PooledConnection<ConnectionManager<AnyConnection>>;

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

/// Opens a pool on `url` (`postgres://…`, `sqlite://path`, or a file path)
/// and runs pending migrations.
pub fn open_pool(url: &str) -> Result<Pool<ConnectionManager<AnyConnection>>> {
    let is_pg = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let url = url.strip_prefix("sqlite://").unwrap_or(url);
    let manager = ConnectionManager::<AnyConnection>::new(url);
    let builder = Pool::builder().connection_timeout(Duration::from_secs(10));
    // One SQLite connection: SQLite has one writer anyway, and a single
    // connection makes in-process writes queue instead of fail.
    let pool = if is_pg {
        builder.max_size(8).build(manager)
    } else {
        builder
            .max_size(1)
            .connection_customizer(Box::new(SqliteSetup))
            .build(manager)
    }
    .map_err(|e| Error::new(ErrorKind::Unavailable, format!("database: {e}")))?;
    let mut conn = pool
        .get()
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("database: {e}")))?;
    run_migrations(&mut conn)?;
    Ok(pool)
}

fn run_migrations(conn: &mut AnyConnection) -> Result<()> {
    let result = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| Error::new(ErrorKind::Unavailable, format!("migrations: {e}")))
}

/// Maps a diesel error to the core's error kinds: missing rows are
/// `NotFound`, constraint violations `WrongState`, lost connections
/// `Unavailable`; anything else `Internal`.
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
        D::DatabaseError(K::ClosedConnection, info) => Error::new(
            ErrorKind::Unavailable,
            format!("database connection lost: {}", info.message()),
        ),
        D::DatabaseError(_, info) if info.message().contains("database is locked") => {
            Error::new(ErrorKind::Unavailable, "database busy; try again")
        }
        other => Error::internal(format!("database: {other}")),
    }
}
