//! `ca-store`: the CA's registry on a real database (diesel; SQLite embedded
//! by default, PostgreSQL in production) and the operations that change it.
//!
//! Every operation is one write transaction that (1) takes the store lock —
//! an update of the single `store_lock` row, which serialises writers across
//! processes and instances — (2) loads the records, (3) asks `ca_core::rules`
//! for a verdict, (4) writes the outcome, its audit record and its
//! notification together. Refusals are committed too (with their audit row);
//! they come back as `Err` after the commit.

#![forbid(unsafe_code)]

pub mod audit;
pub mod clock;
pub mod db;
mod issuance;
mod models;
mod notify;
mod operators;
mod people;
mod publication;
mod requests;
mod revocation;
pub mod schema;

use std::sync::Arc;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};

use ca_core::policy::Policies;
use ca_core::{CertificateAuthority, Error, ErrorKind, Result};

pub use clock::{Clock, ManualClock, SystemClock};
pub use db::AnyConnection;
pub use issuance::Reservation;
pub use notify::Notification;
pub use operators::OperatorRecord;
pub use publication::StoredCrl;
pub use requests::{ActData, Submission};

use crate::db::db_error;
use crate::schema::store_lock;

/// The registry: database, CA, policies and clock.
pub struct Registry {
    pool: Pool<ConnectionManager<AnyConnection>>,
    ca: Arc<CertificateAuthority>,
    policies: Arc<Policies>,
    clock: Arc<dyn Clock>,
}

/// A diesel error or ours, inside a transaction closure.
struct TxError(Error);

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError(db_error(e))
    }
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError(e)
    }
}

impl Registry {
    /// Opens the database at `url` (migrating it) for `ca` under `policies`.
    pub fn open(
        url: &str,
        ca: Arc<CertificateAuthority>,
        policies: Arc<Policies>,
        clock: Arc<dyn Clock>,
    ) -> Result<Registry> {
        Ok(Registry {
            pool: db::open_pool(url)?,
            ca,
            policies,
            clock,
        })
    }

    /// The CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The policies.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The current time, from the injected clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    fn conn(&self) -> Result<db::Conn> {
        self.pool
            .get()
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("database: {e}")))
    }

    /// Runs `f` in a read-only transaction-free context.
    fn read<T>(&self, f: impl FnOnce(&mut AnyConnection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        f(&mut conn)
    }

    /// Runs `f` in a write transaction holding the store lock. An `Err` from
    /// `f` rolls everything back.
    fn write<T>(&self, f: impl FnOnce(&mut AnyConnection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        conn.transaction::<T, TxError, _>(|c| {
            diesel::update(store_lock::table.filter(store_lock::id.eq(1)))
                .set(store_lock::writes.eq(store_lock::writes + 1))
                .execute(c)?;
            Ok(f(c)?)
        })
        .map_err(|TxError(e)| e)
    }

    /// Like [`write`](Self::write), for operations whose refusal must be
    /// committed (its audit row, application record and notification) and
    /// then reported: `Ok(Err(refusal))` commits, then returns the refusal.
    fn write_verdict<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<Result<T>>,
    ) -> Result<T> {
        self.write(f)?
    }
}

/// Comma-joined reason codes, as stored.
fn join_reasons(reasons: &[ca_core::Reason]) -> String {
    reasons
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(",")
}
