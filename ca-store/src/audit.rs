//! The audit trail (SPEC §5): append-only, each record's hash covering the
//! previous record's hash and its own fields, written in the same transaction
//! as the action it records, so an action whose audit row cannot be written
//! does not happen (SPEC §7 "Audit fails closed").

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use ca_core::api::{AuditRecord, AuditVerification};
use ca_core::{limits, Reason, Result};

use crate::db::{db_error, AnyConnection};
use crate::mapping::dt;
use crate::models::{AuditRow, CheckpointRow};
use crate::schema::{audit, audit_checkpoints};

/// The hash the first record links to.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused by a rule.
    Refused,
}

impl Outcome {
    fn code(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
        }
    }
}

/// One thing to record.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    /// Operator name, `client` or `system`.
    pub actor: &'a str,
    /// e.g. `certificate.revoke`.
    pub action: &'a str,
    /// e.g. `certificate:3f…`.
    pub object: String,
    /// Done or refused.
    pub outcome: Outcome,
    /// Reason codes.
    pub reasons: Vec<Reason>,
    /// Anything else worth keeping.
    pub details: serde_json::Value,
}

fn record_hash(prev: &str, seq: i64, at: i64, row: (&str, &str, &str, &str, &str, &str)) -> String {
    // JSON keeps field boundaries unambiguous.
    let fields = serde_json::json!([seq, at, row.0, row.1, row.2, row.3, row.4, row.5]);
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(fields.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The chain's last record (sequence number and hash), as far as the
/// writing transaction knows it: read at its first append, then carried
/// from one append to the next (issue 10: one round trip less per record).
pub type Head = Option<(i64, String)>;

/// Appends `event` at `at` after `head` (read from the table when not
/// known yet), and moves `head` to the new record. Callers hold the
/// store's write lock, so the chain head cannot move underneath.
pub fn append(conn: &mut AnyConnection, head: &mut Head, at: i64, event: Event<'_>) -> Result<()> {
    let last = match head.take() {
        Some(known) => Some(known),
        None => audit::table
            .select((audit::seq, audit::hash))
            .order(audit::seq.desc())
            .first(conn)
            .optional()
            .map_err(db_error)?,
    };
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let reasons = event
        .reasons
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(",");
    let details = event.details.to_string();
    let outcome = event.outcome.code();
    // Who and what may come from outside (a user name typed at a login);
    // stored with control characters written out, as PostgreSQL refuses
    // NUL in text and a terminal obeys the rest.
    let actor = limits::escape_controls(event.actor);
    let object = limits::escape_controls(&event.object);
    let event = Event {
        actor: &actor,
        object,
        ..event
    };
    let hash = record_hash(
        &prev_hash,
        seq,
        at,
        (
            event.actor,
            event.action,
            &event.object,
            outcome,
            &reasons,
            &details,
        ),
    );
    diesel::insert_into(audit::table)
        .values(AuditRow {
            seq,
            at,
            actor: event.actor.to_string(),
            action: event.action.to_string(),
            object: event.object,
            outcome: outcome.to_string(),
            reasons,
            details,
            prev_hash,
            hash: hash.clone(),
        })
        .execute(conn)
        .map_err(db_error)?;
    *head = Some((seq, hash));
    Ok(())
}

/// Walks the chain from the start; the first record whose link or hash does
/// not hold is reported.
pub fn verify(conn: &mut AnyConnection) -> Result<AuditVerification> {
    let mut expected_prev = GENESIS.to_string();
    let mut expected_seq = 1i64;
    let mut records = 0u64;
    let mut after = 0i64;
    loop {
        let page: Vec<AuditRow> = audit::table
            .filter(audit::seq.gt(after))
            .order(audit::seq.asc())
            .limit(1000)
            .select(AuditRow::as_select())
            .load(conn)
            .map_err(db_error)?;
        if page.is_empty() {
            return Ok(AuditVerification {
                ok: true,
                records,
                first_broken: None,
                checkpoints: 0,
                last_checkpoint: None,
                problem: None,
            });
        }
        for row in page {
            let hash = record_hash(
                &row.prev_hash,
                row.seq,
                row.at,
                (
                    &row.actor,
                    &row.action,
                    &row.object,
                    &row.outcome,
                    &row.reasons,
                    &row.details,
                ),
            );
            if row.seq != expected_seq || row.prev_hash != expected_prev || hash != row.hash {
                return Ok(AuditVerification {
                    ok: false,
                    records,
                    first_broken: Some(row.seq),
                    checkpoints: 0,
                    last_checkpoint: None,
                    problem: Some(format!(
                        "record {} does not follow from the one before it",
                        row.seq
                    )),
                });
            }
            expected_prev = row.hash;
            expected_seq += 1;
            records += 1;
            after = row.seq;
        }
    }
}

/// Records after `after`, oldest first, at most `limit`.
pub fn list(conn: &mut AnyConnection, after: i64, limit: i64) -> Result<Vec<AuditRecord>> {
    let rows: Vec<AuditRow> = audit::table
        .filter(audit::seq.gt(after))
        .order(audit::seq.asc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)
        .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRecord {
            seq: r.seq,
            at: dt(r.at),
            actor: r.actor,
            action: r.action,
            object: r.object,
            outcome: r.outcome,
            reasons: split_codes(&r.reasons),
            details: r.details,
            hash: r.hash,
        })
        .collect())
}

/// A comma-separated list of codes.
pub fn split_codes(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A signed checkpoint of the audit trail's head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// How many records the trail held.
    pub records: i64,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The hash of the last of them.
    pub head_hash: String,
    /// The text the CA key signed.
    pub statement: String,
    /// The signature.
    pub signature: Vec<u8>,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(r: CheckpointRow) -> Self {
        Checkpoint {
            records: r.records,
            at: dt(r.at),
            head_hash: r.head_hash,
            statement: r.statement,
            signature: r.signature,
        }
    }
}

impl crate::Tx<'_> {
    /// The newest record's number and hash; `None` while the trail is empty.
    pub fn audit_head(&mut self) -> Result<Option<(i64, String)>> {
        audit::table
            .select((audit::seq, audit::hash))
            .order(audit::seq.desc())
            .first(self.c)
            .optional()
            .map_err(db_error)
    }

    /// The hash of record `seq`, if it exists.
    pub fn audit_hash_at(&mut self, seq: i64) -> Result<Option<String>> {
        audit::table
            .find(seq)
            .select(audit::hash)
            .first(self.c)
            .optional()
            .map_err(db_error)
    }

    /// Stores a checkpoint; false when one for that many records exists.
    pub fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<bool> {
        let exists = audit_checkpoints::table
            .find(c.records)
            .select(audit_checkpoints::records)
            .first::<i64>(self.c)
            .optional()
            .map_err(db_error)?
            .is_some();
        if exists {
            return Ok(false);
        }
        diesel::insert_into(audit_checkpoints::table)
            .values(CheckpointRow {
                records: c.records,
                at: crate::mapping::ts(c.at),
                head_hash: c.head_hash.clone(),
                statement: c.statement.clone(),
                signature: c.signature.clone(),
            })
            .execute(self.c)
            .map_err(db_error)?;
        Ok(true)
    }

    /// Every checkpoint, oldest first.
    pub fn checkpoints(&mut self) -> Result<Vec<Checkpoint>> {
        let rows: Vec<CheckpointRow> = audit_checkpoints::table
            .select(CheckpointRow::as_select())
            .order(audit_checkpoints::records.asc())
            .load(self.c)
            .map_err(db_error)?;
        Ok(rows.into_iter().map(Checkpoint::from).collect())
    }

    /// The newest checkpoint.
    pub fn latest_checkpoint(&mut self) -> Result<Option<Checkpoint>> {
        let row: Option<CheckpointRow> = audit_checkpoints::table
            .select(CheckpointRow::as_select())
            .order(audit_checkpoints::records.desc())
            .first(self.c)
            .optional()
            .map_err(db_error)?;
        Ok(row.map(Checkpoint::from))
    }
}
