//! Operators and their sessions (SPEC §5). The store keeps password hashes
//! and token hashes only; hashing and password rules live in the server.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::api::Operator;
use ca_core::{Error, Result};

use crate::audit::{self, Event, Outcome};
use crate::clock::{dt, ts};
use crate::db::db_error;
use crate::models::OperatorRow;
use crate::schema::{operators, sessions};
use crate::Registry;

/// An operator as the server's authentication sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorRecord {
    /// Name.
    pub username: String,
    /// `admin`, `registrar` or `auditor`.
    pub role: String,
    /// The slow salted hash (PHC string).
    pub password_hash: String,
    /// Must change the password before anything else.
    pub must_change_password: bool,
    /// When the password was last set.
    pub password_changed_at: DateTime<Utc>,
    /// Wrong passwords in a row.
    pub failed_attempts: i32,
    /// Locked after too many wrong passwords.
    pub locked: bool,
    /// Disabled by an admin.
    pub disabled: bool,
}

impl From<OperatorRow> for OperatorRecord {
    fn from(r: OperatorRow) -> Self {
        OperatorRecord {
            username: r.username,
            role: r.role,
            password_hash: r.password_hash,
            must_change_password: r.must_change_password != 0,
            password_changed_at: dt(r.password_changed_at),
            failed_attempts: r.failed_attempts,
            locked: r.locked != 0,
            disabled: r.disabled != 0,
        }
    }
}

impl From<&OperatorRecord> for Operator {
    fn from(r: &OperatorRecord) -> Self {
        Operator {
            username: r.username.clone(),
            role: r.role.clone(),
            locked: r.locked,
            disabled: r.disabled,
            must_change_password: r.must_change_password,
        }
    }
}

const ROLES: [&str; 3] = ["admin", "registrar", "auditor"];

impl Registry {
    /// Adds an operator; the password must be changed at first login.
    pub fn add_operator(
        &self,
        actor: &str,
        username: &str,
        role: &str,
        password_hash: &str,
    ) -> Result<Operator> {
        if !ROLES.contains(&role) {
            return Err(Error::invalid(format!("role must be one of {ROLES:?}")));
        }
        if username.is_empty()
            || username.len() > 64
            || !username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(Error::invalid(
                "username: 1 to 64 of a-z, A-Z, 0-9, '.', '_', '-'",
            ));
        }
        let now = ts(self.now());
        let row = OperatorRow {
            username: username.to_string(),
            role: role.to_string(),
            password_hash: password_hash.to_string(),
            must_change_password: 1,
            password_changed_at: now,
            failed_attempts: 0,
            locked: 0,
            disabled: 0,
            created_at: now,
        };
        self.write(|c| {
            diesel::insert_into(operators::table)
                .values(&row)
                .execute(c)
                .map_err(db_error)?;
            audit::append(
                c,
                now,
                Event {
                    actor,
                    action: "operator.add",
                    object: format!("operator:{username}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({"role": role}),
                },
            )
        })?;
        Ok(Operator::from(&OperatorRecord::from(row)))
    }

    /// One operator.
    pub fn operator(&self, username: &str) -> Result<Option<OperatorRecord>> {
        self.read(|c| {
            operators::table
                .find(username)
                .select(OperatorRow::as_select())
                .first(c)
                .optional()
                .map_err(db_error)
                .map(|r| r.map(OperatorRecord::from))
        })
    }

    /// All operators.
    pub fn operators(&self) -> Result<Vec<Operator>> {
        self.read(|c| {
            let rows: Vec<OperatorRow> = operators::table
                .order(operators::username.asc())
                .select(OperatorRow::as_select())
                .load(c)
                .map_err(db_error)?;
            Ok(rows
                .into_iter()
                .map(|r| Operator::from(&OperatorRecord::from(r)))
                .collect())
        })
    }

    /// Counts population of operators (the bootstrap admin is made when zero).
    pub fn operator_count(&self) -> Result<i64> {
        self.read(|c| operators::table.count().get_result(c).map_err(db_error))
    }

    /// Records a wrong password; locks the account at `lockout_after` in a
    /// row. Returns whether it is now locked.
    pub fn login_failed(&self, username: &str, lockout_after: u32) -> Result<bool> {
        let now = ts(self.now());
        self.write(|c| {
            let Some(row) = operators::table.find(username).select(OperatorRow::as_select()).first(c).optional().map_err(db_error)? else {
                audit::append(c, now, Event { actor: username, action: "operator.login", object: format!("operator:{username}"), outcome: Outcome::Refused, reasons: vec![], details: serde_json::json!({"why": "unknown operator"}) })?;
                return Ok(false);
            };
            let attempts = row.failed_attempts + 1;
            let locked = row.locked != 0 || attempts >= lockout_after as i32;
            diesel::update(operators::table.find(username))
                .set((operators::failed_attempts.eq(attempts), operators::locked.eq(i32::from(locked))))
                .execute(c)
                .map_err(db_error)?;
            audit::append(c, now, Event {
                actor: username,
                action: "operator.login",
                object: format!("operator:{username}"),
                outcome: Outcome::Refused,
                reasons: vec![],
                details: serde_json::json!({"why": "wrong password", "failed_attempts": attempts, "locked": locked}),
            })?;
            Ok(locked)
        })
    }

    /// A successful login: resets the counter and stores the session's token hash.
    pub fn login_succeeded(
        &self,
        username: &str,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(self.now());
        self.write(|c| {
            diesel::update(operators::table.find(username))
                .set(operators::failed_attempts.eq(0))
                .execute(c)
                .map_err(db_error)?;
            diesel::delete(sessions::table.filter(sessions::expires_at.lt(now)))
                .execute(c)
                .map_err(db_error)?;
            diesel::insert_into(sessions::table)
                .values((
                    sessions::token_sha256.eq(token_sha256),
                    sessions::username.eq(username),
                    sessions::created_at.eq(now),
                    sessions::expires_at.eq(ts(expires_at)),
                ))
                .execute(c)
                .map_err(db_error)?;
            audit::append(
                c,
                now,
                Event {
                    actor: username,
                    action: "operator.login",
                    object: format!("operator:{username}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({}),
                },
            )
        })
    }

    /// The operator of a live session.
    pub fn session_operator(&self, token_sha256: &str) -> Result<Option<OperatorRecord>> {
        let now = ts(self.now());
        self.read(|c| {
            let row: Option<OperatorRow> = sessions::table
                .inner_join(operators::table)
                .filter(sessions::token_sha256.eq(token_sha256))
                .filter(sessions::expires_at.gt(now))
                .select(OperatorRow::as_select())
                .first(c)
                .optional()
                .map_err(db_error)?;
            Ok(row.map(OperatorRecord::from))
        })
    }

    /// Sets a new password hash, ends the forced change, and ends every
    /// other session of the operator (the one in `keep_session` stays).
    pub fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        keep_session: &str,
    ) -> Result<()> {
        let now = ts(self.now());
        self.write(|c| {
            let n = diesel::update(operators::table.find(username))
                .set((
                    operators::password_hash.eq(password_hash),
                    operators::must_change_password.eq(0),
                    operators::password_changed_at.eq(now),
                ))
                .execute(c)
                .map_err(db_error)?;
            if n != 1 {
                return Err(Error::not_found(format!("no operator {username}")));
            }
            diesel::delete(
                sessions::table
                    .filter(sessions::username.eq(username))
                    .filter(sessions::token_sha256.ne(keep_session)),
            )
            .execute(c)
            .map_err(db_error)?;
            audit::append(
                c,
                now,
                Event {
                    actor: username,
                    action: "operator.password",
                    object: format!("operator:{username}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({}),
                },
            )
        })
    }

    /// Disables an operator and ends their sessions.
    pub fn disable_operator(&self, actor: &str, username: &str) -> Result<Operator> {
        let now = ts(self.now());
        self.write(|c| {
            let n = diesel::update(operators::table.find(username))
                .set(operators::disabled.eq(1))
                .execute(c)
                .map_err(db_error)?;
            if n != 1 {
                return Err(Error::not_found(format!("no operator {username}")));
            }
            diesel::delete(sessions::table.filter(sessions::username.eq(username)))
                .execute(c)
                .map_err(db_error)?;
            audit::append(
                c,
                now,
                Event {
                    actor,
                    action: "operator.disable",
                    object: format!("operator:{username}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({}),
                },
            )?;
            let row: OperatorRow = operators::table
                .find(username)
                .select(OperatorRow::as_select())
                .first(c)
                .map_err(db_error)?;
            Ok(Operator::from(&OperatorRecord::from(row)))
        })
    }

    /// Unlocks an operator locked after wrong passwords.
    pub fn unlock_operator(&self, actor: &str, username: &str) -> Result<Operator> {
        let now = ts(self.now());
        self.write(|c| {
            let n = diesel::update(operators::table.find(username))
                .set((operators::locked.eq(0), operators::failed_attempts.eq(0)))
                .execute(c)
                .map_err(db_error)?;
            if n != 1 {
                return Err(Error::not_found(format!("no operator {username}")));
            }
            audit::append(
                c,
                now,
                Event {
                    actor,
                    action: "operator.unlock",
                    object: format!("operator:{username}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({}),
                },
            )?;
            let row: OperatorRow = operators::table
                .find(username)
                .select(OperatorRow::as_select())
                .first(c)
                .map_err(db_error)?;
            Ok(Operator::from(&OperatorRecord::from(row)))
        })
    }

    /// Writes an audit record for an action outside the store's operations
    /// (e.g. a refused operator request); fails closed like every other.
    pub fn audit_event(
        &self,
        actor: &str,
        action: &str,
        object: &str,
        refused: bool,
        details: serde_json::Value,
    ) -> Result<()> {
        let now = ts(self.now());
        self.write(|c| {
            audit::append(
                c,
                now,
                Event {
                    actor,
                    action,
                    object: object.to_string(),
                    outcome: if refused {
                        Outcome::Refused
                    } else {
                        Outcome::Ok
                    },
                    reasons: vec![],
                    details,
                },
            )
        })
    }

    /// Audit records after `after`.
    pub fn audit_records(&self, after: i64, limit: i64) -> Result<Vec<ca_core::api::AuditRecord>> {
        self.read(|c| audit::list(c, after, limit.clamp(1, 1000)))
    }

    /// Verifies the audit chain.
    pub fn verify_audit(&self) -> Result<ca_core::api::AuditVerification> {
        self.read(audit::verify)
    }
}
