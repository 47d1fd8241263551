//! The `requests` table (SPEC §3.1–3.3) and the `applications` table (the
//! paper applications and terminations operators record, SPEC §3.4–3.6).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use ca_core::records::RequestRecord;
use ca_core::request_status::RequestStatus;
use ca_core::Result;

use crate::db::db_error;
use crate::mapping::{self, join_codes, ts};
use crate::models::{ApplicationRow, RequestRow};
use crate::schema::{applications, requests};
use crate::Tx;

/// What a status change of a request writes besides the status.
#[derive(Clone, Debug, Default)]
pub struct RequestDecision<'a> {
    /// Reason codes (rejections).
    pub reasons: Option<&'a [String]>,
    /// The operator's comment (rejections).
    pub comment: Option<&'a str>,
    /// Who decided and when.
    pub decided: Option<(&'a str, DateTime<Utc>)>,
    /// Who confirmed the paper act and when.
    pub act_confirmed: Option<(&'a str, DateTime<Utc>)>,
    /// A new due time.
    pub decision_due: Option<DateTime<Utc>>,
    /// The issued certificate.
    pub certificate_serial: Option<&'a str>,
    /// The person the request turned out to be for (act confirmation).
    pub person_id: Option<&'a str>,
}

/// The columns one status change sets; `None` leaves a column alone.
#[derive(AsChangeset)]
#[diesel(table_name = requests)]
struct RequestChange<'a> {
    status: &'a str,
    reasons: Option<String>,
    comment: Option<Option<&'a str>>,
    decided_by: Option<&'a str>,
    decided_at: Option<i64>,
    act_confirmed_by: Option<&'a str>,
    act_confirmed_at: Option<i64>,
    decision_due: Option<i64>,
    certificate_serial: Option<&'a str>,
    person_id: Option<&'a str>,
}

/// How an application ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplicationOutcome {
    /// Carried out.
    Done,
    /// Refused by a rule.
    Refused,
}

/// A paper application or termination, as recorded.
#[derive(Clone, Debug)]
pub struct Application<'a> {
    /// `suspend`, `resume`, `revoke`, `authority_ended`, `agreement_ended`.
    pub kind: &'a str,
    /// The document's number.
    pub document: &'a str,
    /// The certificate it names.
    pub certificate_serial: Option<&'a str>,
    /// The person concerned.
    pub person_id: Option<&'a str>,
    /// The organisation concerned.
    pub organization_id: Option<&'a str>,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// When the answer is due (SPEC §3.3).
    pub due_at: DateTime<Utc>,
    /// Done or refused.
    pub outcome: ApplicationOutcome,
    /// Reason codes of a refusal.
    pub reasons: &'a [&'a str],
    /// The operator.
    pub operator: &'a str,
}

impl Tx<'_> {
    /// One request.
    pub fn request(&mut self, id: &str) -> Result<Option<RequestRecord>> {
        requests::table
            .find(id)
            .select(RequestRow::as_select())
            .first(self.c)
            .optional()
            .map_err(db_error)?
            .map(mapping::request)
            .transpose()
    }

    /// The request made from these envelope bytes (by their SHA-256).
    pub fn request_by_envelope(&mut self, cms_sha256: &str) -> Result<Option<RequestRecord>> {
        requests::table
            .filter(requests::cms_sha256.eq(cms_sha256))
            .select(RequestRow::as_select())
            .first(self.c)
            .optional()
            .map_err(db_error)?
            .map(mapping::request)
            .transpose()
    }

    /// Requests in any of `statuses` (all when empty), oldest first.
    pub fn requests(&mut self, statuses: &[RequestStatus]) -> Result<Vec<RequestRecord>> {
        let mut q = requests::table
            .select(RequestRow::as_select())
            .order(requests::received_at.asc())
            .into_boxed();
        if !statuses.is_empty() {
            let codes: Vec<&str> = statuses.iter().map(|s| s.code()).collect();
            q = q.filter(requests::status.eq_any(codes));
        }
        let rows: Vec<RequestRow> = q.load(self.c).map_err(db_error)?;
        rows.into_iter().map(mapping::request).collect()
    }

    /// Requests in `status` received before `before`, oldest first.
    pub fn requests_received_before(
        &mut self,
        status: RequestStatus,
        before: DateTime<Utc>,
    ) -> Result<Vec<RequestRecord>> {
        let rows: Vec<RequestRow> = requests::table
            .filter(requests::status.eq(status.code()))
            .filter(requests::received_at.lt(ts(before)))
            .select(RequestRow::as_select())
            .order(requests::received_at.asc())
            .load(self.c)
            .map_err(db_error)?;
        rows.into_iter().map(mapping::request).collect()
    }

    /// Records a new request.
    pub fn insert_request(&mut self, r: &RequestRecord) -> Result<()> {
        diesel::insert_into(requests::table)
            .values(mapping::request_row(r))
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }

    /// Compare-and-set: `from` → `to` with the decision's fields. False when
    /// the request was no longer in `from`.
    pub fn set_request_status(
        &mut self,
        id: &str,
        from: RequestStatus,
        to: RequestStatus,
        d: &RequestDecision<'_>,
    ) -> Result<bool> {
        let change = RequestChange {
            status: to.code(),
            reasons: d.reasons.map(|r| join_codes(r.iter().map(String::as_str))),
            comment: d.reasons.map(|_| d.comment),
            decided_by: d.decided.map(|(who, _)| who),
            decided_at: d.decided.map(|(_, at)| ts(at)),
            act_confirmed_by: d.act_confirmed.map(|(who, _)| who),
            act_confirmed_at: d.act_confirmed.map(|(_, at)| ts(at)),
            decision_due: d.decision_due.map(ts),
            certificate_serial: d.certificate_serial,
            person_id: d.person_id,
        };
        // One compare-and-set UPDATE: the status moves only from `from`.
        let n = diesel::update(
            requests::table
                .find(id)
                .filter(requests::status.eq(from.code())),
        )
        .set(&change)
        .execute(self.c)
        .map_err(db_error)?;
        Ok(n == 1)
    }

    /// Open requests (not issued, not rejected) of these persons.
    pub fn open_requests_of(&mut self, person_ids: &[String]) -> Result<Vec<RequestRecord>> {
        let open: Vec<&str> = RequestStatus::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .map(|s| s.code())
            .collect();
        let rows: Vec<RequestRow> = requests::table
            .filter(requests::person_id.eq_any(person_ids))
            .filter(requests::status.eq_any(open))
            .select(RequestRow::as_select())
            .load(self.c)
            .map_err(db_error)?;
        rows.into_iter().map(mapping::request).collect()
    }

    /// Records a paper application or termination.
    pub fn record_application(&mut self, a: &Application<'_>) -> Result<()> {
        diesel::insert_into(applications::table)
            .values(ApplicationRow {
                id: ca_core::random_id(),
                kind: a.kind.to_string(),
                document: a.document.to_string(),
                certificate_serial: a.certificate_serial.map(str::to_string),
                person_id: a.person_id.map(str::to_string),
                organization_id: a.organization_id.map(str::to_string),
                received_at: ts(a.received_at),
                due_at: ts(a.due_at),
                outcome: match a.outcome {
                    ApplicationOutcome::Done => "done",
                    ApplicationOutcome::Refused => "refused",
                }
                .into(),
                reasons: join_codes(a.reasons.iter().copied()),
                operator: a.operator.to_string(),
            })
            .execute(self.c)
            .map_err(db_error)?;
        Ok(())
    }
}
