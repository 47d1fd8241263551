//! The `operators` and `sessions` tables (SPEC §5): password hashes and
//! token hashes only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::records::{OperatorRecord, Role};
use ca_core::Result;

use crate::db::db_error;
use crate::mapping::{self, ts};
use crate::models::OperatorRow;
use crate::schema::{operators, sessions};
use crate::Tx;

impl Tx<'_> {
    /// Records an operator who must change the password at first login.
    pub fn insert_operator(
        &mut self,
        username: &str,
        role: Role,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<OperatorRecord> {
        let row = OperatorRow {
            username: username.to_string(),
            role: role.code().to_string(),
            password_hash: password_hash.to_string(),
            must_change_password: 1,
            password_changed_at: ts(now),
            failed_attempts: 0,
            locked: 0,
            disabled: 0,
            created_at: ts(now),
        };
        diesel::insert_into(operators::table)
            .values(&row)
            .execute(self.c)
            .map_err(db_error)?;
        mapping::operator(row)
    }

    /// One operator.
    pub fn operator(&mut self, username: &str) -> Result<Option<OperatorRecord>> {
        operators::table
            .find(username)
            .select(OperatorRow::as_select())
            .first(self.c)
            .optional()
            .map_err(db_error)?
            .map(mapping::operator)
            .transpose()
    }

    /// All operators, by name.
    pub fn operators(&mut self) -> Result<Vec<OperatorRecord>> {
        let rows: Vec<OperatorRow> = operators::table
            .order(operators::username.asc())
            .select(OperatorRow::as_select())
            .load(self.c)
            .map_err(db_error)?;
        rows.into_iter().map(mapping::operator).collect()
    }

    /// How many operators there are.
    pub fn operator_count(&mut self) -> Result<i64> {
        operators::table
            .count()
            .get_result(self.c)
            .map_err(db_error)
    }

    /// Sets the wrong-password counter and the lock.
    pub fn set_login_failures(
        &mut self,
        username: &str,
        attempts: i32,
        locked: bool,
    ) -> Result<()> {
        diesel::update(operators::table.find(username))
            .set((
                operators::failed_attempts.eq(attempts),
                operators::locked.eq(i32::from(locked)),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// Stores a session's token hash (and drops expired sessions).
    pub fn insert_session(
        &mut self,
        username: &str,
        token_sha256: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        diesel::delete(sessions::table.filter(sessions::expires_at.lt(ts(now))))
            .execute(self.c)
            .map_err(db_error)?;
        diesel::insert_into(sessions::table)
            .values((
                sessions::token_sha256.eq(token_sha256),
                sessions::username.eq(username),
                sessions::created_at.eq(ts(now)),
                sessions::expires_at.eq(ts(expires_at)),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// The operator of a session live at `now`.
    pub fn session_operator(
        &mut self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OperatorRecord>> {
        sessions::table
            .inner_join(operators::table)
            .filter(sessions::token_sha256.eq(token_sha256))
            .filter(sessions::expires_at.gt(ts(now)))
            .select(OperatorRow::as_select())
            .first(self.c)
            .optional()
            .map_err(db_error)?
            .map(mapping::operator)
            .transpose()
    }

    /// Ends an operator's sessions, except `keep` when given.
    pub fn end_sessions(&mut self, username: &str, keep: Option<&str>) -> Result<()> {
        diesel::delete(
            sessions::table
                .filter(sessions::username.eq(username))
                .filter(sessions::token_sha256.ne(keep.unwrap_or(""))),
        )
        .execute(self.c)
        .map_err(db_error)?;
        Ok(())
    }

    /// Ends one session.
    pub fn end_session(&mut self, token_sha256: &str) -> Result<bool> {
        let n = diesel::delete(sessions::table.filter(sessions::token_sha256.eq(token_sha256)))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Sets a new password hash and ends the forced change. False when the
    /// operator does not exist.
    pub fn set_password_hash(
        &mut self,
        username: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = diesel::update(operators::table.find(username))
            .set((
                operators::password_hash.eq(password_hash),
                operators::must_change_password.eq(0),
                operators::password_changed_at.eq(ts(now)),
            ))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Disables an operator. False when unknown.
    pub fn disable_operator(&mut self, username: &str) -> Result<bool> {
        let n = diesel::update(operators::table.find(username))
            .set(operators::disabled.eq(1))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Unlocks an operator and clears the counter. False when unknown.
    pub fn unlock_operator(&mut self, username: &str) -> Result<bool> {
        let n = diesel::update(operators::table.find(username))
            .set((operators::locked.eq(0), operators::failed_attempts.eq(0)))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(n == 1)
    }
}
