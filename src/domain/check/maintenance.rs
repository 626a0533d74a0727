//! Maintenance windows, as Gatus writes them: `{start = "23:00", duration = "1h", timezone =
//! "Asia/Shanghai", every = ["mon", "thu"]}` (every day when `every` is empty). While a window is
//! open a check's results are recorded but open no ticket.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::sla::parse_hms;

/// A window as configured or sent through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Local start time, `HH:MM`.
    pub start: String,
    /// How long it stays open: `30m`, `2h`.
    pub duration: String,
    /// IANA zone of `start`; default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Days it opens on (`mon` … `sun`); every day when empty.
    #[serde(default)]
    pub every: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Window {
    start: Time,
    duration_secs: i64,
    tz: TimeZone,
    days: Vec<Weekday>,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

impl WindowSpec {
    /// The window, or what is wrong with it (`field: problem`).
    pub fn compile(&self) -> Result<Window, String> {
        let start: Time = self.start.parse().map_err(|_| format!("start: `{}` is not HH:MM", self.start))?;
        let duration_secs = parse_hms(&self.duration)
            .filter(|d| (1..=7 * 86_400).contains(d))
            .ok_or_else(|| format!("duration: `{}` is not a duration between 1s and 7 days", self.duration))?;
        let tz_name = self.timezone.as_deref().unwrap_or("UTC");
        let tz = TimeZone::get(tz_name).map_err(|_| format!("timezone: unknown zone `{tz_name}`"))?;
        let days = self
            .every
            .iter()
            .map(|d| weekday(d).ok_or_else(|| format!("every: `{d}` is not a day (mon … sun)")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Window { start, duration_secs, tz, days })
    }
}

impl Window {
    /// Whether the window is open at `now` (unix seconds).
    pub fn is_open(&self, now: i64) -> bool {
        let Ok(ts) = jiff::Timestamp::from_second(now) else { return false };
        let today: Date = ts.to_zoned(self.tz.clone()).date();
        let back = self.duration_secs / 86_400 + 1;
        (0..=back).any(|k| {
            let Ok(day) = today.checked_sub(jiff::Span::new().days(k)) else { return false };
            if !self.days.is_empty() && !self.days.contains(&day.weekday()) {
                return false;
            }
            let Ok(opened) = day.to_datetime(self.start).to_zoned(self.tz.clone()) else { return false };
            let opened = opened.timestamp().as_second();
            (opened..opened + self.duration_secs).contains(&now)
        })
    }
}

/// Whether any of the windows is open.
pub fn in_maintenance(windows: &[Window], now: i64) -> bool {
    windows.iter().any(|w| w.is_open(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    fn spec(start: &str, duration: &str, every: &[&str]) -> Window {
        WindowSpec {
            start: start.into(),
            duration: duration.into(),
            timezone: Some("Asia/Shanghai".into()),
            every: every.iter().map(|s| s.to_string()).collect(),
        }
        .compile()
        .unwrap()
    }

    #[test]
    fn a_window_across_midnight_is_open_on_both_sides_only_after_its_days() {
        // 2026-12-03 is a Thursday.
        let w = spec("23:00", "2h", &["thu"]);
        assert!(!w.is_open(at("2026-12-03T22:59:59+08:00")));
        assert!(w.is_open(at("2026-12-03T23:00:00+08:00")));
        assert!(w.is_open(at("2026-12-04T00:59:59+08:00")));
        assert!(!w.is_open(at("2026-12-04T01:00:00+08:00")));
        assert!(!w.is_open(at("2026-12-04T23:30:00+08:00")));
    }

    #[test]
    fn every_day_when_no_days_are_given() {
        let w = spec("02:00", "30m", &[]);
        assert!(w.is_open(at("2026-12-06T02:10:00+08:00")));
        assert!(!w.is_open(at("2026-12-06T02:30:00+08:00")));
    }

    #[test]
    fn bad_windows_say_which_field() {
        let bad = |s: &str, d: &str, z: &str, e: &str| {
            WindowSpec { start: s.into(), duration: d.into(), timezone: Some(z.into()), every: vec![e.into()] }
                .compile()
                .unwrap_err()
        };
        assert!(bad("25:00", "1h", "UTC", "mon").starts_with("start"));
        assert!(bad("23:00", "forever", "UTC", "mon").starts_with("duration"));
        assert!(bad("23:00", "1h", "Mars/Olympus", "mon").starts_with("timezone"));
        assert!(bad("23:00", "1h", "UTC", "someday").starts_with("every"));
    }
}
