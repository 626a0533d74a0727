//! A report's period: how weekly, monthly and custom periods are cut in the customer's time
//! zone, the period before one, and when a schedule is due.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{ToSpan, Zoned};

use crate::domain::calendar::Secs;

crate::text_enum! {
    /// How a report's period is cut.
    pub enum ReportKind ("report period") {
        /// Monday to Sunday in the customer's time zone.
        Weekly = "weekly",
        /// A calendar month in the customer's time zone.
        Monthly = "monthly",
        /// Any run of whole days.
        Custom = "custom",
    }
}

crate::text_enum! {
    /// How often a customer's reports are made and sent.
    pub enum ReportSchedule ("report schedule") {
        /// Each Monday, for the week before.
        Weekly = "weekly",
        /// Each first of the month, for the month before.
        Monthly = "monthly",
        None = "none",
    }
}

impl ReportSchedule {
    pub fn kind(self) -> Option<ReportKind> {
        match self {
            ReportSchedule::Weekly => Some(ReportKind::Weekly),
            ReportSchedule::Monthly => Some(ReportKind::Monthly),
            ReportSchedule::None => None,
        }
    }
}

/// `HH:MM` as seconds of the day.
pub fn time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 3600 + m * 60)
}

/// The latest period a `kind` schedule is due to report on by `now`, and when it fell due: at
/// `send_at` (seconds of the day) on the day after the period ends, in `tz`.
pub fn due_period(kind: ReportKind, now: Secs, send_at: u32, tz: &TimeZone) -> Result<(Period, Secs), String> {
    let today = jiff::Timestamp::from_second(now).map_err(|e| e.to_string())?.to_zoned(tz.clone()).date();
    let back = match kind {
        ReportKind::Monthly => today.first_of_month().yesterday(),
        _ => today.checked_sub(7.days()),
    }
    .map_err(|e| e.to_string())?;
    let mut period = Period::of(kind, back, None, tz)?;
    loop {
        let due = period.end + i64::from(send_at);
        if due <= now {
            return Ok((period, due));
        }
        period = period.previous(tz)?;
    }
}

/// How many periods the trend shows, this one included.
/// A report's days `[first, last]` in the customer's time zone and the instants they span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: ReportKind,
    pub first: Date,
    pub last: Date,
    pub start: Secs,
    /// Exclusive.
    pub end: Secs,
}

impl Period {
    /// The period of `kind` holding `from` (weekly, monthly), or `from..=to` (custom).
    pub fn of(kind: ReportKind, from: Date, to: Option<Date>, tz: &TimeZone) -> Result<Period, String> {
        let (first, last) = match kind {
            ReportKind::Weekly => {
                let monday = from
                    .checked_sub(i64::from(from.weekday().to_monday_zero_offset()).days())
                    .map_err(|e| e.to_string())?;
                (monday, monday.checked_add(6.days()).map_err(|e| e.to_string())?)
            }
            ReportKind::Monthly => (from.first_of_month(), from.last_of_month()),
            ReportKind::Custom => {
                let to = to.ok_or("a custom period needs `to`, its last day")?;
                if to < from {
                    return Err("`to` must not be before `from`".into());
                }
                if from.until(to).map_err(|e| e.to_string())?.get_days() > 366 {
                    return Err("a report covers at most 366 days".into());
                }
                (from, to)
            }
        };
        if kind != ReportKind::Custom && to.is_some() {
            return Err(format!("a {kind} period is found from `from` alone: leave out `to`"));
        }
        let start = midnight(first, tz)?;
        let end = midnight(last.tomorrow().map_err(|e| e.to_string())?, tz)?;
        Ok(Period { kind, first, last, start, end })
    }

    /// The period just before this one, of the same kind and length.
    pub fn previous(&self, tz: &TimeZone) -> Result<Period, String> {
        let last = self.first.yesterday().map_err(|e| e.to_string())?;
        match self.kind {
            ReportKind::Weekly | ReportKind::Monthly => Period::of(self.kind, last, None, tz),
            ReportKind::Custom => {
                let days = self.first.until(self.last).map_err(|e| e.to_string())?.get_days();
                let first = last.checked_sub(days.days()).map_err(|e| e.to_string())?;
                Period::of(self.kind, first, Some(last), tz)
            }
        }
    }
}

fn midnight(d: Date, tz: &TimeZone) -> Result<Secs, String> {
    let z: Zoned = d.to_zoned(tz.clone()).map_err(|e| e.to_string())?;
    Ok(z.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{date, shanghai};
    use super::*;
    use crate::domain::sla::rfc3339;

    #[test]
    fn a_week_runs_monday_to_sunday_in_the_customers_zone() {
        let p = Period::of(ReportKind::Weekly, date("2026-11-26"), None, &shanghai()).unwrap();
        assert_eq!((p.first, p.last), (date("2026-11-23"), date("2026-11-29")));
        assert_eq!(rfc3339(p.start), "2026-11-22T16:00:00Z");
        assert_eq!(p.end - p.start, 7 * 86_400);
        let before = p.previous(&shanghai()).unwrap();
        assert_eq!((before.first, before.last), (date("2026-11-16"), date("2026-11-22")));
    }

    #[test]
    fn a_schedule_is_due_on_the_first_morning_after_its_period() {
        let tz = shanghai();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second();
        let nine_thirty = time_of_day("09:30").unwrap();
        // Monday 09:29 in Shanghai: last week is not due yet, the week before is.
        let (p, due) = due_period(ReportKind::Weekly, at("2026-11-30T01:29:00Z"), nine_thirty, &tz).unwrap();
        assert_eq!((p.first, rfc3339(due)), (date("2026-11-16"), "2026-11-23T01:30:00Z".to_string()));
        let (p, due) = due_period(ReportKind::Weekly, at("2026-11-30T01:30:00Z"), nine_thirty, &tz).unwrap();
        assert_eq!(
            (p.first, p.last, rfc3339(due)),
            (date("2026-11-23"), date("2026-11-29"), "2026-11-30T01:30:00Z".to_string())
        );
        let (p, _) = due_period(ReportKind::Monthly, at("2026-12-01T02:00:00Z"), nine_thirty, &tz).unwrap();
        assert_eq!((p.first, p.last), (date("2026-11-01"), date("2026-11-30")));
        let (p, _) = due_period(ReportKind::Monthly, at("2026-12-01T01:00:00Z"), nine_thirty, &tz).unwrap();
        assert_eq!(p.first, date("2026-10-01"));
        assert_eq!(time_of_day("9:30"), None);
        assert_eq!(time_of_day("24:00"), None);
        assert_eq!(time_of_day("00:05"), Some(300));
    }

    #[test]
    fn a_month_is_the_calendar_month_and_a_custom_period_its_days() {
        let m = Period::of(ReportKind::Monthly, date("2026-02-14"), None, &shanghai()).unwrap();
        assert_eq!((m.first, m.last), (date("2026-02-01"), date("2026-02-28")));
        assert_eq!(m.previous(&shanghai()).unwrap().first, date("2026-01-01"));
        let c = Period::of(ReportKind::Custom, date("2026-11-10"), Some(date("2026-11-12")), &shanghai()).unwrap();
        assert_eq!(c.end - c.start, 3 * 86_400);
        let before = c.previous(&shanghai()).unwrap();
        assert_eq!((before.first, before.last), (date("2026-11-07"), date("2026-11-09")));
        assert!(Period::of(ReportKind::Custom, date("2026-11-10"), None, &shanghai()).is_err());
        assert!(Period::of(ReportKind::Custom, date("2026-11-10"), Some(date("2026-11-09")), &shanghai()).is_err());
        assert!(Period::of(ReportKind::Weekly, date("2026-11-10"), Some(date("2026-11-12")), &shanghai()).is_err());
    }
}
