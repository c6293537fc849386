//! Alert timestamps and incident windows.
//!
//! Wazuh writes `2022-11-17T19:17:42.694+0200` (older versions without
//! milliseconds); MISP wants first_seen and last_seen in ISO 8601 with a
//! colon in the offset and microseconds (`2022-11-17T19:17:42.694000+02:00`).

use anyhow::{anyhow, Result};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// Parses a Wazuh alert timestamp, with or without fractional seconds,
/// with an offset written `+0200`, `+02:00` or `Z`.
pub fn parse(text: &str) -> Result<DateTime<FixedOffset>> {
    let text = text.trim();
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Ok(time);
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map_err(|_| anyhow!("timestamp {text:?} is not ISO 8601 with an offset"))
}

/// `time` as MISP stores first_seen: microseconds and a `+hh:mm` offset.
pub fn misp_format(time: &DateTime<FixedOffset>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
}

/// The start of the incident window holding `time`: windows of `hours`
/// hours, aligned on midnight UTC, so a one-day window is a UTC day.
pub fn window_start(time: &DateTime<FixedOffset>, hours: u32) -> DateTime<Utc> {
    let width = i64::from(hours.max(1)) * 3600;
    let seconds = time.timestamp();
    let start = seconds - seconds.rem_euclid(width);
    Utc.timestamp_opt(start, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wazuh_timestamps_of_every_vintage_parse() {
        let new = parse("2022-11-17T19:17:42.694+0200").unwrap();
        assert_eq!(misp_format(&new), "2022-11-17T19:17:42.694000+02:00");
        let old = parse("2018-01-24T17:15:47+0000").unwrap();
        assert_eq!(misp_format(&old), "2018-01-24T17:15:47.000000+00:00");
        assert!(parse("2026-11-18T09:14:02.5Z").is_ok());
        assert_eq!(
            format!("{:#}", parse("yesterday").unwrap_err()),
            "timestamp \"yesterday\" is not ISO 8601 with an offset"
        );
    }

    #[test]
    fn a_one_day_window_is_the_utc_day() {
        let late = parse("2026-11-18T23:30:00.000-0200").unwrap();
        assert_eq!(window_start(&late, 24).to_rfc3339(), "2026-11-19T00:00:00+00:00");
        let morning = parse("2026-11-18T09:14:02.000+0000").unwrap();
        assert_eq!(window_start(&morning, 24).to_rfc3339(), "2026-11-18T00:00:00+00:00");
        assert_eq!(window_start(&morning, 6).to_rfc3339(), "2026-11-18T06:00:00+00:00");
    }
}
