//! `calendar.toml`: the business calendar (SPEC §3.3): weekends, public
//! holidays and transferred working days, in the bank's time zone, and the
//! due times computed from it.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::Deserialize;

use crate::error::{Error, Result};

pub(super) const FILE: &str = "calendar.toml";

/// A business calendar.
#[derive(Clone, Debug)]
pub struct Calendar {
    offset: FixedOffset,
    day_ends_at: NaiveTime,
    weekend: Vec<Weekday>,
    holidays: BTreeSet<NaiveDate>,
    working_days: BTreeSet<NaiveDate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    utc_offset: String,
    day_ends_at: String,
    weekend: Vec<String>,
    #[serde(default)]
    holidays: Vec<toml::value::Datetime>,
    #[serde(default)]
    working_days: Vec<toml::value::Datetime>,
}

fn date(field: &str, d: &toml::value::Datetime) -> Result<NaiveDate> {
    match (d.date, d.time) {
        (Some(date), None) => {
            NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())
                .ok_or_else(|| Error::config(FILE, field, format!("{d} is not a date")))
        }
        _ => Err(Error::config(
            FILE,
            field,
            format!("{d} must be a plain date like 2026-01-01"),
        )),
    }
}

impl Calendar {
    pub(super) fn from_raw(raw: Raw) -> Result<Self> {
        let offset = raw.utc_offset.parse::<FixedOffset>().map_err(|_| {
            Error::config(
                FILE,
                "utc_offset",
                format!("{:?} is not like +03:00", raw.utc_offset),
            )
        })?;
        let day_ends_at = NaiveTime::parse_from_str(&raw.day_ends_at, "%H:%M").map_err(|_| {
            Error::config(
                FILE,
                "day_ends_at",
                format!("{:?} is not like 18:00", raw.day_ends_at),
            )
        })?;
        let weekend = raw
            .weekend
            .iter()
            .map(|w| {
                w.parse::<Weekday>()
                    .map_err(|_| Error::config(FILE, "weekend", format!("{w:?} is not a weekday")))
            })
            .collect::<Result<Vec<_>>>()?;
        let holidays = raw
            .holidays
            .iter()
            .map(|d| date("holidays", d))
            .collect::<Result<BTreeSet<_>>>()?;
        let working_days = raw
            .working_days
            .iter()
            .map(|d| date("working_days", d))
            .collect::<Result<BTreeSet<_>>>()?;
        if let Some(both) = holidays.intersection(&working_days).next() {
            return Err(Error::config(
                FILE,
                "working_days",
                format!("{both} is also listed as a holiday"),
            ));
        }
        Ok(Calendar {
            offset,
            day_ends_at,
            weekend,
            holidays,
            working_days,
        })
    }

    /// Whether `day` is a business day: a transferred working day, or neither a
    /// weekend day nor a holiday.
    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        self.working_days.contains(&day)
            || !(self.weekend.contains(&day.weekday()) || self.holidays.contains(&day))
    }

    /// The `n`-th business day after `day` (`n` ≥ 1).
    pub fn business_days_after(&self, day: NaiveDate, n: u32) -> NaiveDate {
        let mut d = day;
        let mut left = n;
        while left > 0 {
            d = d + Days::new(1);
            if self.is_business_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// The end of business on `day`, in UTC.
    pub fn end_of(&self, day: NaiveDate) -> DateTime<Utc> {
        self.offset
            .from_local_datetime(&day.and_time(self.day_ends_at))
            .single()
            .expect("a fixed offset maps every local time once")
            .with_timezone(&Utc)
    }

    /// The bank's time zone: documents and letters show times in it.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// The local date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.offset).date_naive()
    }

    /// SPEC §3.3: a refusal is notified by the end of the business day after
    /// the day of receipt.
    pub fn refusal_due(&self, received: DateTime<Utc>) -> DateTime<Utc> {
        self.end_of(self.business_days_after(self.local_date(received), 1))
    }

    /// SPEC §3.3: an issuance within 2 business days, not counting the day of
    /// receipt.
    pub fn issuance_due(&self, received: DateTime<Utc>) -> DateTime<Utc> {
        self.end_of(self.business_days_after(self.local_date(received), 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar() -> Calendar {
        Calendar::from_raw(
            toml::from_str(
                r#"
                utc_offset = "+03:00"
                day_ends_at = "18:00"
                weekend = ["Sat", "Sun"]
                holidays = [2026-01-01, 2026-01-02, 2026-01-05, 2026-01-06, 2026-01-07, 2026-01-08, 2026-01-09, 2026-06-12]
                working_days = [2026-11-28]
                "#,
            )
            .unwrap(),
        )
        .unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weekends_holidays_and_transferred_days() {
        let c = calendar();
        assert!(c.is_business_day(d(2026, 11, 23))); // Monday
        assert!(!c.is_business_day(d(2026, 11, 22))); // Sunday
        assert!(!c.is_business_day(d(2026, 6, 12))); // Russia Day, a Friday
        assert!(c.is_business_day(d(2026, 11, 28))); // a Saturday made a working day
    }

    #[test]
    fn due_times_count_business_days_after_receipt() {
        let c = calendar();
        // Received Thursday 11 June 2026 at 15:00 Moscow; Friday 12 June is a holiday.
        let received = Utc.with_ymd_and_hms(2026, 6, 11, 12, 0, 0).unwrap();
        assert_eq!(
            c.refusal_due(received),
            Utc.with_ymd_and_hms(2026, 6, 15, 15, 0, 0).unwrap()
        );
        assert_eq!(
            c.issuance_due(received),
            Utc.with_ymd_and_hms(2026, 6, 16, 15, 0, 0).unwrap()
        );
        // Received late on 31 December: the January holidays push it to 12 January.
        let received = Utc.with_ymd_and_hms(2025, 12, 31, 20, 0, 0).unwrap(); // 23:00 Moscow
        assert_eq!(c.local_date(received), d(2025, 12, 31));
        assert_eq!(
            c.refusal_due(received),
            Utc.with_ymd_and_hms(2026, 1, 12, 15, 0, 0).unwrap()
        );
        // A UTC evening that is already the next day in Moscow counts from that day.
        let received = Utc.with_ymd_and_hms(2026, 11, 22, 22, 30, 0).unwrap(); // Mon 01:30 Moscow
        assert_eq!(
            c.refusal_due(received),
            Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap()
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let base =
            "utc_offset = \"+03:00\"\nday_ends_at = \"18:00\"\nweekend = [\"Sat\", \"Sun\"]\n";
        for (text, field) in [
            (base.replace("+03:00", "Moscow"), "utc_offset"),
            (base.replace("18:00", "6pm"), "day_ends_at"),
            (base.replace("\"Sat\"", "\"Caturday\""), "weekend"),
            (
                format!("{base}holidays = [2026-01-01T10:00:00]\n"),
                "holidays",
            ),
            (
                format!("{base}holidays = [2026-01-03]\nworking_days = [2026-01-03]\n"),
                "working_days",
            ),
        ] {
            let err = Calendar::from_raw(toml::from_str(&text).unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("calendar.toml: {field}")), "{err}");
        }
    }
}
