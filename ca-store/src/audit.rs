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
use crate::models::AuditRow;
use crate::schema::audit;

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

/// Appends `event` at `at`. Callers hold the store's write lock, so the
/// chain head cannot move underneath.
pub fn append(conn: &mut AnyConnection, at: i64, event: Event<'_>) -> Result<()> {
    let head: Option<(i64, String)> = audit::table
        .select((audit::seq, audit::hash))
        .order(audit::seq.desc())
        .first(conn)
        .optional()
        .map_err(db_error)?;
    let (seq, prev_hash) = match head {
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
            hash,
        })
        .execute(conn)
        .map_err(db_error)?;
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
