//! `ca-store`: the CA's registry on a real database (diesel; SQLite embedded
//! by default, PostgreSQL in production). It only stores: typed reads and
//! compare-and-set writes, each write in a transaction that also carries its
//! audit row. It decides nothing (the rules are `ca_core::rules`), signs
//! nothing and renders nothing (the use cases are `ca-authority`, the views
//! `ca-api`), as Boulder's storage authority.
//!
//! Writers serialise on the single `store_lock` row (a row lock in
//! PostgreSQL, the write lock in SQLite), across processes and instances.

#![forbid(unsafe_code)]

pub mod audit;
mod certificates;
mod crls;
pub mod db;
mod mapping;
mod models;
mod operators;
mod outbox;
mod people;
mod requests;
pub mod schema;
mod writer;

use ca_core::{Error, Result};

pub use audit::{Checkpoint, Event, Outcome};
pub use certificates::{NewCertificate, Reservation};
pub use crls::{BaseCrl, CrlKind, DeltaEntry, Listed, NewCrl, StoredCrl};
pub use db::AnyConnection;
pub use outbox::{Channel, Notification, OutboxFilter, OutboxStatus, RenewalDue};
pub use people::{NewOrganization, NewPerson};
pub use requests::{Application, ApplicationOutcome, RequestDecision};

/// The pause before a transaction that lost its connection is run again:
/// long enough for a restarting server to take connections.
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// The database: pools of connections and the write discipline.
#[derive(Clone)]
pub struct Store {
    /// The single writer, which groups concurrent writes into one commit.
    writer: std::sync::Arc<writer::Writer>,
    /// Reads go here, so they never queue behind a write (SQLite: its own
    /// connections in WAL mode; PostgreSQL: the same pool).
    read_pool: db::DbPool,
    /// Whether the database's connections are suspect (shared with the
    /// writer and the pools).
    liveness: std::sync::Arc<db::Liveness>,
    /// Set after a write that recorded a CRL change has committed.
    crl_changed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// One transaction (or, for reads, one connection): every storage
/// operation is a method on it.
pub struct Tx<'a> {
    c: &'a mut AnyConnection,
    /// A CRL change was recorded in this transaction.
    crl_changed: bool,
    /// The audit chain's head as this transaction last wrote it.
    audit_head: audit::Head,
}

impl Store {
    /// Opens the database at `url` (`postgres://…`, `sqlite://path` or a
    /// file path), migrating it.
    pub fn open(url: &str) -> Result<Store> {
        let pools = db::open_pools(url)?;
        let crl_changed = std::sync::Arc::<std::sync::atomic::AtomicBool>::default();
        Ok(Store {
            writer: std::sync::Arc::new(writer::Writer::new(
                pools.write,
                pools.liveness.clone(),
                crl_changed.clone(),
            )),
            read_pool: pools.read,
            liveness: pools.liveness,
            crl_changed,
        })
    }

    /// At most `writes` writes share one commit (1: each commits alone,
    /// as before group commit; for measuring what it buys).
    pub fn set_commit_group_max(&self, writes: usize) {
        self.writer.set_max_shared(writes);
    }

    /// Runs `f` on one read connection, outside any write transaction:
    /// it sees what is committed and never waits for a writer. A connection
    /// that broke under it (a restarted server, a terminated backend) is
    /// replaced and `f` run again, once: a read changes nothing.
    pub fn read<T>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut attempt = || {
            let mut conn = self
                .read_pool
                .get()
                .map_err(|e| Error::storage_unavailable(format!("database: {e}")))?;
            let result = f(&mut Tx {
                c: &mut conn,
                crl_changed: false,
                audit_head: None,
            });
            let lost = matches!(&result, Err(e) if self.liveness.lost(e, &mut conn));
            Ok::<_, Error>((lost, result))
        };
        match attempt()? {
            (true, Err(e)) => {
                tracing::warn!(error = %e, "database connection lost during a read; retrying once");
                std::thread::sleep(RETRY_PAUSE);
                attempt()?.1
            }
            (_, result) => result,
        }
    }

    /// Runs `f` in a write transaction holding the store lock. An `Err`
    /// from `f` rolls back everything `f` did, its audit rows included.
    ///
    /// Group commit: writers that arrive while another writer's transaction
    /// is open run in it, one after another, each in a savepoint of its own,
    /// and the last of them commits for all (one fsync for many writes, as
    /// PostgreSQL's and InnoDB's group commit). No writer returns before the
    /// commit that makes its changes durable, so "record before signing"
    /// holds; a refused writer's savepoint is rolled back and the others'
    /// work commits without it.
    ///
    /// A transaction whose connection broke before its commit was sent (a
    /// restarted server, a terminated backend, a reset) committed nothing,
    /// so it is run again, once, on a new connection; `f` touches only the
    /// transaction. One that broke during the commit is not repeated: its
    /// outcome is unknown, and the caller's own recovery (a retried
    /// envelope finds its request, a reservation is finished) settles it.
    pub fn write<T>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let result = match self.writer.write_once(&mut f) {
            Err((e, true)) => {
                tracing::warn!(error = %e, "database connection lost before the commit; retrying once");
                std::thread::sleep(RETRY_PAUSE);
                self.writer.write_once(&mut f).map_err(|(e, _)| e)
            }
            other => other.map_err(|(e, _)| e),
        };
        match &result {
            Ok(_) => self.liveness.committed(),
            Err(e) if e.kind() == ca_core::ErrorKind::StorageUnavailable => {
                self.liveness.write_failed()
            }
            // A refusal: rolled back, and says nothing about the storage.
            Err(_) => {}
        }
        result
    }

    /// Whether a write committed within `within` and none failed for a
    /// storage fault since: the store takes writes, without a write to
    /// find out (readiness).
    pub fn committed_within(&self, within: std::time::Duration) -> bool {
        self.liveness.committed_within(within)
    }

    /// Whether a write recorded a CRL change since the last call (the
    /// signal to publish; the recorded changes themselves are the truth).
    pub fn take_crl_changed(&self) -> bool {
        self.crl_changed
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Like [`write`](Self::write), for operations whose refusal must be
    /// committed (its audit row, application record and notification) and
    /// then reported: `Ok(Err(refusal))` commits, then returns the refusal.
    pub fn write_verdict<T>(&self, f: impl FnMut(&mut Tx<'_>) -> Result<Result<T>>) -> Result<T> {
        self.write(f)?.map_err(ca_core::Error::recorded)
    }
}

impl Tx<'_> {
    /// Appends an audit record at `at` (SPEC §5). The caller's transaction
    /// holds the store lock, so the chain head cannot move underneath.
    pub fn audit(&mut self, at: chrono::DateTime<chrono::Utc>, event: Event<'_>) -> Result<()> {
        audit::append(self.c, &mut self.audit_head, mapping::ts(at), event)
    }

    /// Verifies the audit chain from the start.
    pub fn verify_audit(&mut self) -> Result<ca_core::api::AuditVerification> {
        audit::verify(self.c)
    }

    /// Audit records after `after`, oldest first, at most `limit`.
    pub fn audit_records(
        &mut self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ca_core::api::AuditRecord>> {
        audit::list(self.c, after, limit)
    }
}
