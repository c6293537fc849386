//! Time as MISP shows it: Unix seconds for timestamps, `YYYY-MM-DD`
//! for event dates, ISO 8601 with microseconds for `first_seen` and
//! `last_seen`, and the HTTP date of the `Date` header.
//!
//! Everything is UTC, as on a MISP server whose PHP time zone is UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Today's date as `YYYY-MM-DD`, the default date of a new event.
pub fn today() -> String {
    let (y, m, d) = civil_from_days(now().div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The `Date` header value for `secs`, e.g. `Tue, 09 Sep 2025 08:15:02 GMT`.
pub fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month = MONTHS[(m - 1) as usize];
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{weekday}, {d:02} {month} {y} {hh:02}:{mm:02}:{ss:02} GMT")
}

/// Renders microseconds since the epoch the way MISP returns
/// `first_seen`: `2025-09-10T08:15:02.123456+00:00`.
pub fn iso_from_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:06}+00:00")
}

/// Parses an ISO 8601 date or date-time into microseconds since the
/// epoch. A missing offset means UTC. Returns `None` for anything else.
pub fn parse_iso(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_at(text.len().min(10));
    let days = parse_date(date)?;
    if rest.is_empty() {
        return Some(days * 86_400 * 1_000_000);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, offset) = split_offset(rest)?;
    let micros_of_day = parse_clock(clock)?;
    Some(days * 86_400 * 1_000_000 + micros_of_day - offset * 1_000_000)
}

/// Parses `YYYY-MM-DD` into days since the epoch, checking the calendar.
pub fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let y: i64 = digits(&text[0..4])?;
    let m: i64 = digits(&text[5..7])?;
    let d: i64 = digits(&text[8..10])?;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Splits `HH:MM:SS.ffffff+02:00` into the clock and the offset in seconds.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(pos) = rest.rfind(['+', '-']) else {
        return Some((rest, 0));
    };
    let (clock, offset) = rest.split_at(pos);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits_only: String = offset[1..].chars().filter(|c| *c != ':').collect();
    let (hh, mm) = match digits_only.len() {
        2 => (digits(&digits_only)?, 0),
        4 => (digits(&digits_only[..2])?, digits(&digits_only[2..])?),
        _ => return None,
    };
    Some((clock, sign * (hh * 3600 + mm * 60)))
}

/// Parses `HH:MM[:SS[.fraction]]` into microseconds since midnight.
fn parse_clock(clock: &str) -> Option<i64> {
    let (hms, fraction) = match clock.split_once(['.', ',']) {
        Some((hms, fraction)) => (hms, fraction),
        None => (clock, ""),
    };
    let mut parts = hms.split(':');
    let hh: i64 = digits(parts.next()?)?;
    let mm: i64 = digits(parts.next()?)?;
    let ss: i64 = parts.next().map(digits).unwrap_or(Some(0))?;
    if parts.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let micros = fraction_micros(fraction)?;
    Some((hh * 3600 + mm * 60 + ss) * 1_000_000 + micros)
}

/// Turns the digits after the decimal point into microseconds.
fn fraction_micros(fraction: &str) -> Option<i64> {
    if fraction.is_empty() {
        return Some(0);
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded: String = fraction.chars().chain(std::iter::repeat('0')).take(6).collect();
    padded.parse().ok()
}

/// Parses a run of ASCII digits, refusing signs and blanks.
fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    const DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if m == 2 && leap {
        29
    } else {
        DAYS[(m - 1) as usize]
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_timestamp_is_stored_in_utc_with_microseconds() {
        let micros = parse_iso("2025-09-10T10:15:02.123456+02:00").unwrap();
        assert_eq!(iso_from_micros(micros), "2025-09-10T08:15:02.123456+00:00");
    }

    #[test]
    fn a_timestamp_without_fraction_or_offset_is_utc() {
        let micros = parse_iso("2025-09-10T08:15:02").unwrap();
        assert_eq!(iso_from_micros(micros), "2025-09-10T08:15:02.000000+00:00");
        assert_eq!(parse_iso("2025-09-10T08:15:02Z"), Some(micros));
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert_eq!(parse_iso("2025-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso("yesterday"), None);
        assert!(parse_date("2024-02-29").is_some());
    }

    #[test]
    fn the_http_date_names_the_weekday() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_757_492_102), "Wed, 10 Sep 2025 08:15:02 GMT");
    }
}
