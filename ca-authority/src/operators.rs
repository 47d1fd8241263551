//! Operators, their logins and sessions (SPEC §5): lockout after wrong
//! passwords in a row, password rules and age, sessions that expire and end
//! when the password changes or the account is disabled.

use chrono::{DateTime, Duration, Utc};

use ca_core::api::Session;
use ca_core::records::{OperatorRecord, Role};
use ca_core::{limits, Error, ErrorKind, Reason, Result};
use ca_store::{Event, Outcome, Tx};

use crate::passwords::{hash_password, new_token, verify_decoy, verify_password};
use crate::Authority;

/// What a login came to.
pub type LoginOutcome = Result<Session>;

fn bad_credentials() -> Error {
    Error::new(ErrorKind::Unauthenticated, "wrong user name or password")
}

fn locked() -> Error {
    Error::new(
        ErrorKind::Forbidden,
        "the account is locked after wrong passwords; an admin can unlock it",
    )
    .with_reasons(&[Reason::AccountLocked])
}

fn username_rules() -> Error {
    Error::invalid("username: 1 to 64 characters of a-z, A-Z, 0-9, '.', '_', '-'")
}

/// Failed logins under names no operator has, coalesced (issue 9 defect 8):
/// the first in a minute is recorded as it comes, the rest of that minute
/// as one summary row (how many, and up to [`NAMES_KEPT`] of the names).
/// The counts of an unfinished minute live in memory: a crash loses at
/// most a minute of anonymous noise, never an operator's action.
#[derive(Debug, Default)]
pub(crate) struct AnonymousLogins {
    since: Option<DateTime<Utc>>,
    count: u64,
    names: std::collections::BTreeSet<String>,
}

const NAMES_KEPT: usize = 20;

fn login_event<'a>(username: &'a str, outcome: Outcome, details: serde_json::Value) -> Event<'a> {
    Event {
        actor: username,
        action: "operator.login",
        object: format!("operator:{username}"),
        outcome,
        reasons: vec![],
        details,
    }
}

/// Who a live session belongs to.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The operator.
    pub operator: OperatorRecord,
    /// The password must be changed before anything else.
    pub must_change_password: bool,
}

impl Authority {
    /// Counts a wrong password against `username` inside the caller's
    /// transaction; returns whether the account is now locked.
    fn count_failure(
        &self,
        tx: &mut Tx<'_>,
        op: &OperatorRecord,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        // Counted from the row as it is now, under the store lock: guesses
        // checked in parallel each count, and none undoes a lock.
        let current = tx.operator(&op.username)?.unwrap_or_else(|| op.clone());
        let attempts = current.failed_attempts + 1;
        let locked = current.locked || self.policies.rules.passwords.locks_at(attempts);
        tx.set_login_failures(&op.username, attempts, locked)?;
        if locked {
            // A lockout locks: sessions opened before it end too (defect 4).
            tx.end_sessions(&op.username, None)?;
        }
        tx.audit(
            now,
            login_event(
                &op.username,
                Outcome::Refused,
                serde_json::json!({"why": "wrong password", "failed_attempts": attempts, "locked": locked}),
            ),
        )?;
        Ok(locked)
    }

    /// Logs an operator in (argon2id; call it where hashing is rationed).
    ///
    /// A wrong password gets one answer whoever the user is: unknown,
    /// disabled, locked, or locked by this very attempt (issue 9 defect
    /// 13). Only the right password learns that the account is locked or
    /// disabled.
    pub fn login(&self, username: &str, password: &str) -> LoginOutcome {
        let now = self.now();
        let policy = &self.policies.rules.passwords;
        // No operator has such a name: a clear 400, recorded coalesced
        // (defects 8 and 9: no 60,000-character rows, no NUL for the database).
        if !limits::is_username(username) {
            self.refuse_anonymous_login(username, "not a user name", now)?;
            return Err(username_rules());
        }
        // Passwords are bounded too: nobody gets to make us hash megabytes.
        let password_fits = password.chars().count() <= limits::PASSWORD;
        let Some(op) = self.store.read(|tx| tx.operator(username))? else {
            if password_fits {
                verify_decoy(password);
            }
            self.refuse_anonymous_login(username, "unknown operator", now)?;
            return Err(bad_credentials());
        };
        let right = password_fits && verify_password(&op.password_hash, password);
        if !right {
            if op.disabled || op.locked {
                let why = if op.disabled { "disabled" } else { "locked" };
                self.refuse_login(username, &format!("wrong password; {why}"), now)?;
            } else {
                self.store.write(|tx| self.count_failure(tx, &op, now))?;
            }
            return Err(bad_credentials());
        }
        if op.disabled {
            self.refuse_login(username, "disabled", now)?;
            return Err(Error::new(ErrorKind::Forbidden, "the account is disabled")
                .with_reasons(&[Reason::AccountDisabled]));
        }
        if op.locked {
            self.refuse_login(username, "locked", now)?;
            return Err(locked());
        }
        let (token, hash) = new_token();
        let expires_at = now + Duration::minutes(policy.session_minutes.into());
        let locked_meanwhile = self.store.write(|tx| {
            // Locked or disabled by another attempt while this password was
            // being checked: the lock stands.
            if tx
                .operator(username)?
                .is_some_and(|o| o.locked || o.disabled)
            {
                return Ok(true);
            }
            tx.set_login_failures(username, 0, false)?;
            tx.insert_session(username, &hash, now, expires_at)?;
            tx.audit(
                now,
                login_event(username, Outcome::Ok, serde_json::json!({})),
            )?;
            Ok(false)
        })?;
        if locked_meanwhile {
            self.refuse_login(username, "locked while the password was checked", now)?;
            return Err(locked());
        }
        Ok(Session {
            token,
            expires_at,
            must_change_password: op.must_change_password
                || policy.expired(op.password_changed_at, now),
        })
    }

    /// Records a failed login under a name no operator has, coalesced per
    /// minute (see [`AnonymousLogins`]).
    fn refuse_anonymous_login(&self, username: &str, why: &str, now: DateTime<Utc>) -> Result<()> {
        // Bounded; the CLI escapes what it prints.
        let name: String = username.chars().take(limits::USERNAME).collect();
        let summary = {
            let mut window = self.anonymous_window();
            match window.since {
                Some(since) if now - since < Duration::minutes(1) => {
                    window.count += 1;
                    if window.names.len() < NAMES_KEPT {
                        window.names.insert(name);
                    }
                    return Ok(());
                }
                _ => {
                    let ended = std::mem::take(&mut *window);
                    window.since = Some(now);
                    ended
                }
            }
        };
        self.store.write(|tx| {
            write_summary(tx, &summary, now)?;
            tx.audit(
                now,
                login_event(&name, Outcome::Refused, serde_json::json!({ "why": why })),
            )
        })
    }

    /// The current minute of anonymous failed logins (a panic elsewhere
    /// holding the lock leaves counts that are still good to use).
    fn anonymous_window(&self) -> std::sync::MutexGuard<'_, AnonymousLogins> {
        self.anonymous_logins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the summary of a minute of anonymous failed logins once the
    /// minute is over (the background work calls this).
    pub fn flush_anonymous_logins(&self) -> Result<()> {
        let now = self.now();
        let summary = {
            let mut window = self.anonymous_window();
            match window.since {
                Some(since) if now - since >= Duration::minutes(1) => std::mem::take(&mut *window),
                _ => return Ok(()),
            }
        };
        if summary.count == 0 {
            return Ok(());
        }
        self.store.write(|tx| write_summary(tx, &summary, now))
    }

    /// Audits a refused login that counts nothing.
    fn refuse_login(&self, username: &str, why: &str, now: DateTime<Utc>) -> Result<()> {
        self.store.write(|tx| {
            tx.audit(
                now,
                login_event(
                    username,
                    Outcome::Refused,
                    serde_json::json!({ "why": why }),
                ),
            )
        })
    }

    /// The operator of a live session, by the token's hash.
    pub fn authenticate(&self, token_sha256: &str) -> Result<Authenticated> {
        let now = self.now();
        let operator = self
            .store
            .read(|tx| tx.session_operator(token_sha256, now))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthenticated,
                    "the session is unknown or has expired; log in again",
                )
            })?;
        // Their sessions were ended; this holds even for one that was not.
        if operator.disabled || operator.locked {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                "the account is disabled or locked",
            ));
        }
        let policy = &self.policies.rules.passwords;
        Ok(Authenticated {
            must_change_password: operator.must_change_password
                || policy.expired(operator.password_changed_at, now),
            operator,
        })
    }

    /// Ends one session (logout): the token stops working at once.
    pub fn logout(&self, username: &str, token_sha256: &str) -> Result<()> {
        let now = self.now();
        self.store.write(|tx| {
            tx.end_session(token_sha256)?;
            tx.audit(
                now,
                Event {
                    actor: username,
                    action: "operator.logout",
                    object: format!("operator:{username}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({}),
                },
            )
        })
    }

    /// Changes one's own password; every other session of the operator
    /// ends. A wrong old password counts towards the lockout, like a wrong
    /// login: a stolen session must not allow unlimited guessing.
    pub fn change_password(
        &self,
        username: &str,
        session_token_sha256: &str,
        old_password: &str,
        new_password: &str,
    ) -> Result<()> {
        let object = format!("operator:{username}");
        self.recording(username, "operator.password", object, || {
            let now = self.now();
            let op = self
                .store
                .read(|tx| tx.operator(username))?
                .ok_or_else(|| Error::not_found("operator vanished"))?;
            // No password operation on a locked or disabled account, not even
            // checking a guess (defect 4).
            if op.locked || op.disabled {
                return Err(locked());
            }
            if !verify_password(&op.password_hash, old_password) {
                let locked_now = self.store.write(|tx| self.count_failure(tx, &op, now))?;
                return Err(if locked_now {
                    Error::new(
                        ErrorKind::Unauthenticated,
                        "too many wrong passwords: the account is locked and its sessions ended",
                    )
                } else {
                    Error::new(ErrorKind::Forbidden, "the old password is wrong")
                });
            }
            if old_password == new_password {
                return Err(Error::invalid(
                    "the new password must differ from the old one",
                ));
            }
            self.policies.rules.passwords.check(new_password)?;
            let hash = hash_password(new_password)?;
            self.store.write(|tx| {
                // Locked by another session's guesses while this one hashed.
                if tx
                    .operator(username)?
                    .is_some_and(|o| o.locked || o.disabled)
                {
                    return Err(locked());
                }
                if !tx.set_password_hash(username, &hash, now)? {
                    return Err(Error::not_found(format!("no operator {username}")));
                }
                tx.end_sessions(username, Some(session_token_sha256))?;
                tx.audit(
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
        })
    }

    /// Adds an operator; the password must be changed at first login.
    pub fn add_operator(
        &self,
        actor: &str,
        username: &str,
        role: &str,
        password: &str,
    ) -> Result<OperatorRecord> {
        let object = format!("operator:{username}");
        self.recording(actor, "operator.add", object, || {
            let role = Role::from_code(role).ok_or_else(|| {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
                Error::invalid(format!("role must be one of {all:?}"))
            })?;
            if !limits::is_username(username) {
                return Err(username_rules());
            }
            self.policies.rules.passwords.check(password)?;
            let hash = hash_password(password)?;
            let now = self.now();
            self.store.write(|tx| {
                let op = tx.insert_operator(username, role, &hash, now)?;
                tx.audit(
                    now,
                    Event {
                        actor,
                        action: "operator.add",
                        object: format!("operator:{username}"),
                        outcome: Outcome::Ok,
                        reasons: vec![],
                        details: serde_json::json!({"role": role.code()}),
                    },
                )?;
                Ok(op)
            })
        })
    }

    /// The first start's operator `admin` (SPEC §4), when there is none.
    /// Returns false when operators exist already.
    pub fn bootstrap_admin(&self, password: &str) -> Result<bool> {
        if self.store.read(|tx| tx.operator_count())? > 0 {
            return Ok(false);
        }
        self.add_operator("system", "admin", Role::Admin.code(), password)?;
        Ok(true)
    }

    /// Whether any operator exists (readiness).
    pub fn operator_count(&self) -> Result<i64> {
        self.store.read(|tx| tx.operator_count())
    }

    /// All operators.
    pub fn operators(&self) -> Result<Vec<OperatorRecord>> {
        self.store.read(|tx| tx.operators())
    }

    /// Disables an operator and ends their sessions.
    pub fn disable_operator(&self, actor: &str, username: &str) -> Result<OperatorRecord> {
        let object = format!("operator:{username}");
        self.recording(actor, "operator.disable", object, || {
            if actor == username {
                return Err(Error::wrong_state(
                    "an admin cannot disable their own account",
                ));
            }
            self.operator_change(actor, username, "operator.disable", |tx| {
                let found = tx.disable_operator(username)?;
                tx.end_sessions(username, None)?;
                Ok(found)
            })
        })
    }

    /// Unlocks an operator locked after wrong passwords.
    pub fn unlock_operator(&self, actor: &str, username: &str) -> Result<OperatorRecord> {
        let object = format!("operator:{username}");
        self.recording(actor, "operator.unlock", object, || {
            self.operator_change(actor, username, "operator.unlock", |tx| {
                tx.unlock_operator(username)
            })
        })
    }

    fn operator_change(
        &self,
        actor: &str,
        username: &str,
        action: &str,
        mut change: impl FnMut(&mut Tx<'_>) -> Result<bool>,
    ) -> Result<OperatorRecord> {
        let now = self.now();
        self.store.write(|tx| {
            if !change(tx)? {
                return Err(Error::not_found(format!("no operator {username}")));
            }
            tx.audit(
                now,
                Event {
                    actor,
                    action,
                    object: format!("operator:{username}"),
                    outcome: Outcome::Ok,
                    reasons: vec![],
                    details: serde_json::json!({}),
                },
            )?;
            tx.operator(username)?
                .ok_or_else(|| Error::not_found(format!("no operator {username}")))
        })
    }

    /// Writes an audit record for an action the use cases do not see (a
    /// request refused by the server before it reached them, such as a role
    /// refusal); fails closed like every other.
    pub fn audit_event(
        &self,
        actor: &str,
        action: &str,
        object: &str,
        refused: bool,
        details: serde_json::Value,
    ) -> Result<()> {
        let now = self.now();
        self.store.write(|tx| {
            tx.audit(
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
                    details: details.clone(),
                },
            )
        })
    }
}

/// The summary row of a coalesced minute, if anything was coalesced.
fn write_summary(tx: &mut Tx<'_>, window: &AnonymousLogins, now: DateTime<Utc>) -> Result<()> {
    if window.count == 0 {
        return Ok(());
    }
    tx.audit(
        now,
        Event {
            actor: "anonymous",
            action: "operator.login",
            object: "operator:*".into(),
            outcome: Outcome::Refused,
            reasons: vec![],
            details: serde_json::json!({
                "why": "unknown operators, coalesced",
                "attempts": window.count,
                "since": window.since,
                "names": window.names,
            }),
        },
    )
}
