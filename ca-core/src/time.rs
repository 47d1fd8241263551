//! Times in certificates and CRLs (RFC 5280 §4.1.2.5): UTCTime through 2049,
//! GeneralizedTime from 2050, always UTC with whole seconds.

use chrono::{DateTime, Datelike, Timelike, Utc};
use der::asn1::{GeneralizedTime, UtcTime};
use der::DateTime as DerDateTime;
use x509_cert::time::Time;

use crate::error::{Error, Result};

fn der_date_time(t: DateTime<Utc>) -> Result<DerDateTime> {
    DerDateTime::new(
        u16::try_from(t.year()).map_err(|_| Error::internal("year out of range"))?,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .map_err(|e| Error::internal(format!("time out of range: {e}")))
}

/// The X.509 `Time` for `t`, choosing the encoding RFC 5280 requires.
pub fn x509_time(t: DateTime<Utc>) -> Result<Time> {
    let dt = der_date_time(t)?;
    if t.year() < 2050 {
        let utc = UtcTime::from_date_time(dt).map_err(|e| Error::internal(e.to_string()))?;
        Ok(Time::UtcTime(utc))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// A GeneralizedTime, as the invalidityDate CRL entry extension requires.
pub fn generalized_time(t: DateTime<Utc>) -> Result<GeneralizedTime> {
    Ok(GeneralizedTime::from_date_time(der_date_time(t)?))
}

/// The chrono time of an X.509 `Time`.
pub fn from_x509_time(t: &Time) -> DateTime<Utc> {
    let secs = t.to_unix_duration().as_secs();
    DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn utc_time_until_2049_generalized_from_2050() {
        let t = Utc.with_ymd_and_hms(2049, 12, 31, 23, 59, 59).unwrap();
        assert!(matches!(x509_time(t).unwrap(), Time::UtcTime(_)));
        let t = Utc.with_ymd_and_hms(2050, 1, 1, 0, 0, 0).unwrap();
        assert!(matches!(x509_time(t).unwrap(), Time::GeneralTime(_)));
        assert_eq!(from_x509_time(&x509_time(t).unwrap()), t);
    }
}
