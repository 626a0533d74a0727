//! Business calendars: which instants are working time. A calendar has an IANA time zone, weekly
//! working intervals, holidays and make-up working days (docs/sla.md §3). Instants are whole UTC
//! seconds (`Secs`); local dates and times exist only inside this module. Arithmetic walks the
//! working intervals day by day and never minute by minute; it reads no clock.

mod walk;

use std::collections::HashSet;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;

pub use walk::Step;
pub use walk::StepKind;
pub(crate) use walk::Trace;

/// Unix seconds, UTC. Every instant the engine handles is a whole second.
pub type Secs = i64;

pub const SECS_PER_DAY: u32 = 86_400;
/// More intervals than this on one day is a configuration error; it keeps a day's spans on the
/// stack.
pub const MAX_INTERVALS_PER_DAY: usize = 8;
/// How far the engine looks for working time before it gives up (a calendar whose holidays cover
/// ten years is broken, not busy).
pub const MAX_SEARCH_DAYS: u32 = 3_700;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("no working time within {MAX_SEARCH_DAYS} days of {0}")]
    NoWorkingTime(Date),
    #[error("instant out of range")]
    OutOfRange,
}

/// Working intervals of one weekday, in seconds since local midnight (`end` may be 86 400).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayHours {
    intervals: Vec<(u32, u32)>,
}

impl DayHours {
    /// Intervals must be sorted, valid and non-overlapping; the config layer checks that.
    pub fn new(mut intervals: Vec<(u32, u32)>) -> Self {
        intervals.sort_unstable();
        Self { intervals }
    }

    pub fn intervals(&self) -> &[(u32, u32)] {
        &self.intervals
    }

    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }
}

/// What a local date is, as far as the calendar is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    Working,
    /// A make-up working day: worked although it would not be; works the `mon` intervals.
    Makeup,
    Holiday,
    /// A weekday without working intervals.
    Weekend,
}

#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    tz_name: String,
    always: bool,
    /// Monday first.
    week: [DayHours; 7],
    holidays: HashSet<Date>,
    workdays: HashSet<Date>,
    holidays_known_until: Option<Date>,
}

/// The working spans of one local date as UTC instants, merged and non-empty.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DaySpans {
    pub kind: DayKind,
    pub len: usize,
    pub spans: [(Secs, Secs); MAX_INTERVALS_PER_DAY],
    /// Local midnight starting this date and the next, as instants.
    pub day_start: Secs,
    pub day_end: Secs,
}

impl DaySpans {
    pub fn iter(&self) -> impl Iterator<Item = (Secs, Secs)> + '_ {
        self.spans[..self.len].iter().copied()
    }
}

impl Calendar {
    /// A calendar where every instant is working time.
    pub fn always(tz_name: &str) -> Result<Self, jiff::Error> {
        Ok(Self {
            tz: TimeZone::get(tz_name)?,
            tz_name: tz_name.to_string(),
            always: true,
            week: Default::default(),
            holidays: HashSet::new(),
            workdays: HashSet::new(),
            holidays_known_until: None,
        })
    }

    /// A calendar with weekly hours (Monday first), holidays and make-up days, all already
    /// validated by the config layer.
    pub fn weekly(
        tz_name: &str,
        week: [DayHours; 7],
        holidays: impl IntoIterator<Item = Date>,
        workdays: impl IntoIterator<Item = Date>,
    ) -> Result<Self, jiff::Error> {
        let holidays: HashSet<Date> = holidays.into_iter().collect();
        let workdays: HashSet<Date> = workdays.into_iter().collect();
        // Holiday lists are published a year at a time: a calendar that lists any date is taken
        // to know the whole of the last year it mentions.
        let holidays_known_until =
            holidays.iter().chain(workdays.iter()).map(|d| d.year()).max().and_then(|y| Date::new(y, 12, 31).ok());
        Ok(Self {
            tz: TimeZone::get(tz_name)?,
            tz_name: tz_name.to_string(),
            always: false,
            week,
            holidays,
            workdays,
            holidays_known_until,
        })
    }

    pub fn timezone(&self) -> &str {
        &self.tz_name
    }

    pub fn is_always(&self) -> bool {
        self.always
    }

    pub fn holidays_known_until(&self) -> Option<Date> {
        self.holidays_known_until
    }

    /// The kind of a local date and the intervals it works, as written.
    pub fn day(&self, date: Date) -> (DayKind, &[(u32, u32)]) {
        const ALL_DAY: &[(u32, u32)] = &[(0, SECS_PER_DAY)];
        if self.always {
            return (DayKind::Working, ALL_DAY);
        }
        if self.holidays.contains(&date) {
            return (DayKind::Holiday, &[]);
        }
        if self.workdays.contains(&date) {
            return (DayKind::Makeup, self.week[0].intervals());
        }
        let hours = self.week[weekday_index(date.weekday())].intervals();
        if hours.is_empty() { (DayKind::Weekend, hours) } else { (DayKind::Working, hours) }
    }

    /// The local date an instant falls on.
    pub fn local_date(&self, t: Secs) -> Result<Date, CalendarError> {
        Ok(self.local_datetime(t)?.date())
    }

    pub fn local_datetime(&self, t: Secs) -> Result<DateTime, CalendarError> {
        let ts = jiff::Timestamp::from_second(t).map_err(|_| CalendarError::OutOfRange)?;
        Ok(self.tz.to_datetime(ts))
    }

    /// The instant of a local date and time of day (`sod` may be 86 400, the next midnight).
    /// Skipped local times move forward by the gap; repeated ones take the earlier instant.
    pub fn instant(&self, date: Date, sod: u32) -> Result<Secs, CalendarError> {
        let (date, sod) = if sod >= SECS_PER_DAY {
            (date.tomorrow().map_err(|_| CalendarError::OutOfRange)?, sod - SECS_PER_DAY)
        } else {
            (date, sod)
        };
        let dt = date.to_datetime(
            jiff::civil::Time::new((sod / 3600) as i8, ((sod / 60) % 60) as i8, (sod % 60) as i8, 0)
                .map_err(|_| CalendarError::OutOfRange)?,
        );
        self.tz.to_ambiguous_timestamp(dt).compatible().map(|ts| ts.as_second()).map_err(|_| CalendarError::OutOfRange)
    }

    /// The working spans of a date as instants: the union of its intervals (DST may empty or
    /// shorten one), sorted and merged.
    pub(crate) fn spans(&self, date: Date) -> Result<DaySpans, CalendarError> {
        let (kind, hours) = self.day(date);
        let day_start = self.instant(date, 0)?;
        let day_end = self.instant(date, SECS_PER_DAY)?;
        let mut out = DaySpans { kind, len: 0, spans: [(0, 0); MAX_INTERVALS_PER_DAY], day_start, day_end };
        // A day without a UTC offset change is exactly 86 400 s long and needs no zone lookups.
        let regular = day_end - day_start == i64::from(SECS_PER_DAY);
        for &(s, e) in hours.iter().take(MAX_INTERVALS_PER_DAY) {
            let (a, b) = if regular {
                (day_start + i64::from(s), day_start + i64::from(e))
            } else {
                (self.instant(date, s)?, if e >= SECS_PER_DAY { day_end } else { self.instant(date, e)? })
            };
            if b <= a {
                continue;
            }
            if out.len > 0 && a <= out.spans[out.len - 1].1 {
                let last = &mut out.spans[out.len - 1];
                last.1 = last.1.max(b);
            } else {
                out.spans[out.len] = (a, b);
                out.len += 1;
            }
        }
        Ok(out)
    }
}

pub fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

#[cfg(test)]
pub(crate) mod tests;

/// `HH:MM-HH:MM` with `00:00 ≤ start < end ≤ 24:00`; only an end may be `24:00`.
pub fn parse_interval(s: &str) -> Result<(u32, u32), String> {
    let bad = || {
        format!(
            "`{s}` is not an interval: write `HH:MM-HH:MM` with start before end, e.g. `09:00-12:00` (only an end may be 24:00)"
        )
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let start = parse_hhmm(a).ok_or_else(bad)?;
    let end = parse_hhmm(b).ok_or_else(bad)?;
    if start >= SECS_PER_DAY || start >= end || end > SECS_PER_DAY {
        return Err(bad());
    }
    Ok((start, end))
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 3600 + m * 60)
}

/// A date `YYYY-MM-DD` or an inclusive range `YYYY-MM-DD..YYYY-MM-DD`, expanded.
pub fn parse_dates(s: &str) -> Result<Vec<Date>, String> {
    let one = |d: &str| -> Result<Date, String> {
        d.parse::<Date>().map_err(|_| format!("`{d}` is not a date: write YYYY-MM-DD"))
    };
    match s.split_once("..") {
        None => Ok(vec![one(s)?]),
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("`{s}`: a range A..B needs A ≤ B"));
            }
            let mut out = Vec::new();
            let mut d = a;
            while d <= b {
                out.push(d);
                if out.len() > 3_700 {
                    return Err(format!("`{s}`: a range may span at most ten years"));
                }
                d = d.tomorrow().map_err(|e| e.to_string())?;
            }
            Ok(out)
        }
    }
}
