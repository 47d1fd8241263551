//! The single writer, with group commit (issue 10).
//!
//! Writers serialise anyway (one SQLite writer; the `store_lock` row in
//! PostgreSQL), and each used to pay its own commit: an fsync held under
//! the lock, so the fsync, not the CPU, set the ceiling on writes per
//! second. Now a writer that arrives while another's transaction is open
//! runs in that transaction, in a savepoint of its own, and the last writer
//! in commits for everyone: one fsync for many writes, as PostgreSQL's and
//! InnoDB's group commit do. The first writer of a transaction needs no
//! savepoint (if it fails, nobody else has written yet, so the whole
//! transaction is rolled back), and the writer keeps its connection
//! between transactions: at one writer at a time, a write costs the same
//! statements as before group commit, less a pool checkout.
//!
//! What stays true: a writer returns only after the commit that makes its
//! changes durable (so nothing is signed before its reservation is on
//! disk), a writer's `Err` rolls back its own savepoint and nothing else,
//! and each writer's closure runs on its own thread, in order, seeing the
//! writes before it in the same transaction as it would have seen them
//! committed.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use diesel::connection::SimpleConnection;
use diesel::connection::{Connection, TransactionManager};

use ca_core::{Error, Result};

use crate::db::{self, db_error, AnyConnection, Liveness};
use crate::Tx;

/// At most this many writes share a commit by default, so a steady stream
/// of writers cannot hold the first one's answer back for long.
const MAX_SHARED: usize = 64;

type Manager = <AnyConnection as Connection>::TransactionManager;

/// A failed write or transaction: the error, and whether the write may be
/// run again (nothing was committed and the connection was lost).
pub(crate) type Failure = (Error, bool);

/// How a shared transaction ended.
type Ended = std::result::Result<(), Failure>;

pub(crate) struct Writer {
    pool: db::DbPool,
    liveness: Arc<Liveness>,
    open: Mutex<Open>,
    /// Writers between arriving and taking `open`: while any wait, the
    /// transaction stays open for them.
    arriving: AtomicUsize,
    /// Signalled when a shared transaction ends, under `ending`: a lock of
    /// its own, so the writers it wakes do not queue behind the next
    /// transaction's writers for `open`.
    ended: Condvar,
    ending: Mutex<()>,
    /// At most this many writes share a commit.
    max_shared: AtomicUsize,
    /// Set after a commit that carried a CRL change.
    crl_changed: Arc<AtomicBool>,
}

/// The writer's connection and the shared transaction, when one is open.
#[derive(Default)]
struct Open {
    /// Kept between transactions (no pool checkout, and the pool's
    /// `SELECT 1`, per write); given back when it broke.
    conn: Option<db::Conn>,
    /// A transaction is open on `conn`.
    active: bool,
    writes: usize,
    /// A write that succeeded in it recorded a CRL change.
    crl_changed: bool,
    /// Set when the transaction can only be rolled back.
    broken: Option<Failure>,
    /// A writer's savepoint was rolled back in it.
    savepoint_rolled_back: bool,
    /// The audit chain's head as the writers so far left it: the next
    /// writer appends without reading it again (the lock keeps every other
    /// writer out until the commit).
    audit_head: crate::audit::Head,
    ended: Arc<OnceLock<Ended>>,
}

thread_local! {
    /// This thread is inside a write: a write from within it would wait
    /// for itself.
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

struct NotWriting;

impl Drop for NotWriting {
    fn drop(&mut self) {
        WRITING.set(false);
    }
}

impl Writer {
    pub(crate) fn new(
        pool: db::DbPool,
        liveness: Arc<Liveness>,
        crl_changed: Arc<AtomicBool>,
    ) -> Writer {
        Writer {
            pool,
            liveness,
            open: Mutex::default(),
            arriving: AtomicUsize::new(0),
            ended: Condvar::new(),
            ending: Mutex::new(()),
            max_shared: AtomicUsize::new(MAX_SHARED),
            crl_changed,
        }
    }

    pub(crate) fn set_max_shared(&self, writes: usize) {
        self.max_shared.store(writes.max(1), SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` once in the shared transaction (opening one if none is),
    /// and returns when the transaction has committed, or failed.
    pub(crate) fn write_once<T>(
        &self,
        f: &mut impl FnMut(&mut Tx<'_>) -> Result<T>,
    ) -> std::result::Result<T, Failure> {
        if WRITING.replace(true) {
            return Err((Error::internal("a write was started inside a write"), false));
        }
        let _done = NotWriting;
        self.arriving.fetch_add(1, SeqCst);
        let mut open = self.lock();
        self.arriving.fetch_sub(1, SeqCst);
        let first = !open.active;
        if first {
            self.begin(&mut open)?;
        }
        let ended = open.ended.clone();
        let Open {
            conn, audit_head, ..
        } = &mut *open;
        let conn = conn.as_mut().expect("an open transaction");
        let run = run_one(conn, &self.liveness, audit_head, f, !first);
        open.writes += 1;
        open.crl_changed |= run.crl_changed;
        open.savepoint_rolled_back |= !first && run.result.is_err();
        if run.broken {
            if let Err(failure) = &run.result {
                open.broken = Some(failure.clone());
            }
        }
        if self.arriving.load(SeqCst) == 0
            || open.writes >= self.max_shared.load(SeqCst)
            || open.broken.is_some()
        {
            self.end(&mut open);
        }
        drop(open);
        if let Some(panic) = run.panic {
            resume_unwind(panic);
        }
        // A refused write has nothing to commit; it answers at once.
        let value = run.result?;
        let ending = self.ending.lock().unwrap_or_else(PoisonError::into_inner);
        let _ending = self
            .ended
            .wait_while(ending, |_| ended.get().is_none())
            .unwrap_or_else(PoisonError::into_inner);
        match ended.get() {
            Some(Ok(())) => Ok(value),
            Some(Err(failure)) => Err(failure.clone()),
            None => Err((Error::internal("the shared transaction did not end"), false)),
        }
    }

    /// Opens the shared transaction and takes the store lock.
    fn begin(&self, open: &mut Open) -> std::result::Result<(), Failure> {
        if open.conn.is_none() {
            open.conn = Some(
                self.pool
                    .get()
                    .map_err(|e| (Error::storage_unavailable(format!("database: {e}")), false))?,
            );
        }
        let conn = open.conn.as_mut().expect("a connection");
        let started = begin_locked(conn).map_err(db_error);
        if let Err(e) = started {
            // The batch may have failed after its BEGIN, which diesel has
            // not counted: rolled back by hand (an error when none is open
            // does no harm).
            let _ = conn.batch_execute("ROLLBACK");
            let lost = self.liveness.lost(&e, conn);
            if lost || Manager::is_broken_transaction_manager(conn) {
                open.conn = None;
            }
            return Err((e, lost));
        }
        open.active = true;
        open.writes = 0;
        open.crl_changed = false;
        open.broken = None;
        open.savepoint_rolled_back = false;
        // Another instance may have appended since the last transaction.
        open.audit_head = None;
        open.ended = Arc::default();
        Ok(())
    }

    /// Commits the shared transaction (rolls it back when broken) and
    /// wakes every writer waiting for it.
    fn end(&self, open: &mut Open) {
        if !std::mem::take(&mut open.active) {
            return;
        }
        let Some(conn) = open.conn.as_mut() else {
            // Cannot happen (a transaction is opened on a connection); its
            // writers must not wait for ever all the same.
            let _ = open.ended.set(Err((
                Error::internal("the shared transaction lost its connection"),
                false,
            )));
            self.ended.notify_all();
            return;
        };
        // A writer's savepoint was rolled back: in PostgreSQL that must
        // have left the transaction usable (a COMMIT of an aborted one
        // "succeeds" by rolling back); one round trip, on that path only.
        if std::mem::take(&mut open.savepoint_rolled_back) && open.broken.is_none() {
            use diesel::r2d2::R2D2Connection;
            if let Err(e) = conn.ping() {
                open.broken = Some((
                    Error::storage_unavailable(format!("the shared transaction failed: {e}")),
                    true,
                ));
            }
        }
        let ended = match open.broken.take() {
            Some(failure) => {
                let _ = Manager::rollback_transaction(conn);
                Err(failure)
            }
            None => match Manager::commit_transaction(conn) {
                Ok(()) => {
                    if open.crl_changed {
                        // Only after the commit: whoever takes it sees the change.
                        self.crl_changed.store(true, SeqCst);
                    }
                    Ok(())
                }
                // The commit was sent: its outcome is unknown, so nothing
                // is repeated.
                Err(e) => Err((db_error(e), false)),
            },
        };
        let lost = matches!(&ended, Err((e, _)) if self.liveness.lost(e, conn));
        if lost || Manager::is_broken_transaction_manager(conn) {
            // Back to the pool, which drops a broken one.
            open.conn = None;
        }
        // Set under `ending`, so no waiter can check before and sleep after.
        {
            let _ending = self.ending.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = open.ended.set(ended);
        }
        self.ended.notify_all();
    }
}

/// Opens a transaction and takes the store lock in one round trip (a
/// simple-query batch): the lock row's counter also tells tests how many
/// transactions were committed.
fn begin_locked(conn: &mut AnyConnection) -> diesel::QueryResult<()> {
    use diesel::connection::AnsiTransactionManager as Ansi;
    const SQL: &str = "BEGIN; UPDATE store_lock SET writes = writes + 1 WHERE id = 1";
    match conn {
        AnyConnection::Postgresql(c) => Ansi::begin_transaction_sql(c, SQL),
        AnyConnection::Sqlite(c) => Ansi::begin_transaction_sql(c, SQL),
    }
}

/// What one write in the shared transaction came to.
struct Run<T> {
    result: std::result::Result<T, Failure>,
    /// It recorded a CRL change (and succeeded).
    crl_changed: bool,
    /// It left the transaction unusable: it can only be rolled back.
    broken: bool,
    panic: Option<Box<dyn Any + Send>>,
}

/// Runs `f` in the open transaction on `conn`, in a savepoint when
/// `savepoint` (released when `f` succeeds, rolled back when it fails or
/// panics); without one, a failure leaves the transaction to be rolled
/// back whole. `audit_head` follows what `f` appended, and goes back to
/// where it was when its savepoint is rolled back.
fn run_one<T>(
    conn: &mut db::Conn,
    liveness: &Liveness,
    audit_head: &mut crate::audit::Head,
    f: &mut impl FnMut(&mut Tx<'_>) -> Result<T>,
    savepoint: bool,
) -> Run<T> {
    let failed = |failure: Failure, broken: bool| Run {
        result: Err(failure),
        crl_changed: false,
        broken,
        panic: None,
    };
    if savepoint {
        if let Err(e) = Manager::begin_transaction(conn) {
            let e = db_error(e);
            let lost = liveness.lost(&e, conn);
            return failed((e, lost), true);
        }
    }
    let before = audit_head.clone();
    let mut tx = Tx {
        c: conn,
        crl_changed: false,
        audit_head: audit_head.take(),
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut tx)));
    let changed = tx.crl_changed;
    // Kept only if `f`'s work is: anything else forgets the head, or
    // puts back the one from before the rolled-back savepoint.
    let after = tx.audit_head.take();
    *audit_head = match &result {
        Ok(Ok(_)) => after,
        _ if savepoint => before,
        _ => None,
    };
    match result {
        Ok(Ok(value)) if !savepoint => Run {
            result: Ok(value),
            crl_changed: changed,
            broken: false,
            panic: None,
        },
        Ok(Ok(value)) => match Manager::commit_transaction(conn) {
            Ok(()) => Run {
                result: Ok(value),
                crl_changed: changed,
                broken: false,
                panic: None,
            },
            Err(e) => {
                let e = db_error(e);
                let lost = liveness.lost(&e, conn);
                failed((e, lost), true)
            }
        },
        Ok(Err(e)) => {
            // Rolled back before asking whether the connection is lost: in
            // PostgreSQL a failed statement aborts the transaction, and the
            // ping would fail on a live connection. (Without a savepoint
            // this rolls back the whole transaction.)
            let rolled_back = Manager::rollback_transaction(conn).is_ok();
            let lost = liveness.lost(&e, conn);
            failed((e, lost), !savepoint || !rolled_back || lost)
        }
        Err(panic) => {
            let broken = !savepoint || Manager::rollback_transaction(conn).is_err();
            Run {
                panic: Some(panic),
                ..failed((Error::internal("a write panicked"), false), broken)
            }
        }
    }
}
