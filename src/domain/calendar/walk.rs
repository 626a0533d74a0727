//! Working-time arithmetic over a [`Calendar`]: adding working time, counting it between two
//! instants, `Nd` working days and the end of a working day (docs/sla.md §3). Every function can record
//! the steps it took, which is what `explain` shows a customer.

use jiff::civil::Date;
use serde::Serialize;

use super::{Calendar, CalendarError, DayKind, MAX_SEARCH_DAYS, SECS_PER_DAY, Secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Interval,
    Holiday,
    Weekend,
    MakeupDay,
    Pause,
    LevelChange,
    /// The instant a timer was met, and whose clock it counted by.
    Met,
}

/// One line of a deadline's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub from: Secs,
    pub to: Secs,
    pub counted_secs: Option<i64>,
    pub note: Option<String>,
}

/// Where steps go; `None` on the hot path, so nothing is allocated there.
pub(crate) struct Trace<'a>(pub Option<&'a mut Vec<Step>>);

impl Trace<'_> {
    pub fn off() -> Trace<'static> {
        Trace(None)
    }

    pub fn push(&mut self, step: impl FnOnce() -> Step) {
        if let Some(steps) = self.0.as_deref_mut() {
            steps.push(step());
        }
    }

    fn counted(&mut self, kind: DayKind, from: Secs, to: Secs) {
        self.push(|| Step {
            kind: if kind == DayKind::Makeup { StepKind::MakeupDay } else { StepKind::Interval },
            from,
            to,
            counted_secs: Some(to - from),
            note: (kind == DayKind::Makeup).then(|| "make-up working day (works the Monday hours)".to_string()),
        });
    }

    /// A whole day without working time; consecutive days of the same kind merge into one step.
    fn non_working(&mut self, kind: DayKind, from: Secs, to: Secs) {
        let Some(steps) = self.0.as_deref_mut() else {
            return;
        };
        let kind = if kind == DayKind::Holiday { StepKind::Holiday } else { StepKind::Weekend };
        if let Some(last) = steps.last_mut()
            && last.kind == kind
            && last.to == from
        {
            last.to = to;
            return;
        }
        steps.push(Step { kind, from, to, counted_secs: None, note: None });
    }
}

impl Calendar {
    /// The instant at which `secs` of working time have passed, counted from the first working
    /// instant at or after `start`. With `secs == 0` that first working instant itself.
    pub fn add_working(&self, start: Secs, secs: i64) -> Result<Secs, CalendarError> {
        self.add_working_traced(start, secs, &mut Trace::off())
    }

    pub(crate) fn add_working_traced(&self, start: Secs, secs: i64, trace: &mut Trace) -> Result<Secs, CalendarError> {
        if self.always {
            let due = start + secs.max(0);
            if secs > 0 {
                trace.counted(DayKind::Working, start, due);
            }
            return Ok(due);
        }
        let mut remaining = secs.max(0);
        let mut cursor = start;
        let first = self.local_date(start)?;
        let mut date = first;
        for _ in 0..MAX_SEARCH_DAYS {
            let day = self.spans(date)?;
            if day.len == 0 {
                trace.non_working(day.kind, day.day_start.max(start), day.day_end);
            }
            for (a, b) in day.iter() {
                if b <= cursor {
                    continue;
                }
                let s = a.max(cursor);
                let available = b - s;
                if available >= remaining {
                    if remaining > 0 {
                        trace.counted(day.kind, s, s + remaining);
                    }
                    return Ok(s + remaining);
                }
                trace.counted(day.kind, s, b);
                remaining -= available;
                cursor = b;
            }
            date = date.tomorrow().map_err(|_| CalendarError::OutOfRange)?;
        }
        Err(CalendarError::NoWorkingTime(first))
    }

    /// The first working instant at or after `t`.
    pub fn next_working(&self, t: Secs) -> Result<Secs, CalendarError> {
        self.add_working(t, 0)
    }

    /// Pushing a deadline by working time counts from the deadline as from a start; pushing by
    /// zero changes nothing (docs/sla.md §5).
    pub fn push(&self, t: Secs, secs: i64) -> Result<Secs, CalendarError> {
        if secs <= 0 { Ok(t) } else { self.add_working(t, secs) }
    }

    /// Working seconds in `[from, to)`; zero when `to <= from`.
    pub fn working_between(&self, from: Secs, to: Secs) -> Result<i64, CalendarError> {
        if to <= from {
            return Ok(0);
        }
        if self.always {
            return Ok(to - from);
        }
        let mut total = 0;
        let mut date = self.local_date(from)?;
        loop {
            let day = self.spans(date)?;
            if day.day_start >= to {
                return Ok(total);
            }
            for (a, b) in day.iter() {
                let (s, e) = (a.max(from), b.min(to));
                if e > s {
                    total += e - s;
                }
            }
            date = date.tomorrow().map_err(|_| CalendarError::OutOfRange)?;
        }
    }

    /// `Nd`: that time of day on the N-th working day after the day counting starts on.
    pub(crate) fn add_days_traced(&self, start: Secs, days: u32, trace: &mut Trace) -> Result<Secs, CalendarError> {
        if self.always {
            let dt = self.local_datetime(start)?;
            let date = dt
                .date()
                .checked_add(jiff::Span::new().days(i64::from(days)))
                .map_err(|_| CalendarError::OutOfRange)?;
            let due = self.instant(date, time_of_day(dt.time()))?;
            trace.push(|| Step {
                kind: StepKind::Interval,
                from: start,
                to: due,
                counted_secs: Some(due - start),
                note: Some(format!("{days} calendar day(s) on a 24×7 calendar: the same local time on {date}")),
            });
            return Ok(due);
        }
        let begin = self.next_working(start)?;
        let dt = self.local_datetime(begin)?;
        let day0 = dt.date();
        let tod = time_of_day(dt.time());
        trace.push(|| Step {
            kind: StepKind::Interval,
            from: start,
            to: begin,
            counted_secs: Some(0),
            note: Some(format!(
                "counting starts at the first working instant: day 0 is {day0}, time of day {}",
                hms(tod)
            )),
        });
        let mut date = day0;
        let mut counted = 0;
        let mut searched = 0;
        while counted < days {
            date = date.tomorrow().map_err(|_| CalendarError::OutOfRange)?;
            searched += 1;
            if searched > MAX_SEARCH_DAYS {
                return Err(CalendarError::NoWorkingTime(day0));
            }
            let day = self.spans(date)?;
            if day.len == 0 {
                trace.non_working(day.kind, day.day_start, day.day_end);
                continue;
            }
            counted += 1;
            let n = counted;
            trace.push(|| Step {
                kind: if day.kind == DayKind::Makeup { StepKind::MakeupDay } else { StepKind::Interval },
                from: day.spans[0].0,
                to: day.spans[day.len - 1].1,
                counted_secs: None,
                note: Some(format!("working day {n} of {days}")),
            });
        }
        let (_, hours) = self.day(date);
        let within = hours.iter().find(|&&(s, e)| s <= tod && tod < e).map(|&(_, e)| e);
        let (sod, why) = if within.is_some() {
            (tod, "the time of day carried over")
        } else if let Some(end) = hours.iter().map(|&(_, e)| e).filter(|&e| e <= tod).max() {
            (end, "the time of day is not working time: the end of the last interval before it")
        } else {
            (hours.first().map_or(0, |&(s, _)| s), "the time of day is before the first interval: its start")
        };
        let mut due = self.instant(date, sod)?;
        // A time of day in a DST gap is read an hour on; the interval holding it still ends where
        // it ends, and the deadline never falls past that.
        if let Some(end) = within {
            due = due.min(self.instant(date, end)?);
        }
        trace.push(|| Step {
            kind: StepKind::Interval,
            from: due,
            to: due,
            counted_secs: None,
            note: Some(format!("deadline {} on {date}: {why}", hms(sod))),
        });
        Ok(due)
    }

    /// `end_of_day`: the end of the last working interval of the working day counting starts on;
    /// on a 24×7 calendar the midnight ending that date.
    pub(crate) fn end_of_day_traced(&self, start: Secs, trace: &mut Trace) -> Result<Secs, CalendarError> {
        let begin = self.next_working(start)?;
        let date = self.local_date(begin)?;
        let due = self.end_of_working_day(date)?;
        trace.push(|| Step {
            kind: StepKind::Interval,
            from: begin,
            to: due,
            counted_secs: Some(self.working_between(begin, due).unwrap_or(0)),
            note: Some(format!("end of the working day {date}")),
        });
        Ok(due)
    }

    /// The end of the working day that holds the last working instant before `t` (the
    /// `end_of_day` resolution rule, docs/sla.md §3).
    pub(crate) fn end_of_day_before_traced(&self, t: Secs, trace: &mut Trace) -> Result<Secs, CalendarError> {
        let mut date = self.local_date(t - 1)?;
        if !self.always {
            let mut searched = 0;
            loop {
                let day = self.spans(date)?;
                if day.iter().any(|(a, _)| a < t) {
                    break;
                }
                date = date.yesterday().map_err(|_| CalendarError::OutOfRange)?;
                searched += 1;
                if searched > MAX_SEARCH_DAYS {
                    return Err(CalendarError::NoWorkingTime(date));
                }
            }
        }
        let due = self.end_of_working_day(date)?;
        trace.push(|| Step {
            kind: StepKind::Interval,
            from: due,
            to: due,
            counted_secs: None,
            note: Some(format!("the last working instant before the plan deadline is on {date}; resolution is due at the end of that working day")),
        });
        Ok(due)
    }

    fn end_of_working_day(&self, date: Date) -> Result<Secs, CalendarError> {
        if self.always {
            return self.instant(date, SECS_PER_DAY);
        }
        let day = self.spans(date)?;
        Ok(if day.len == 0 { day.day_end } else { day.spans[day.len - 1].1 })
    }
}

fn time_of_day(t: jiff::civil::Time) -> u32 {
    t.hour() as u32 * 3600 + t.minute() as u32 * 60 + t.second() as u32
}

fn hms(sod: u32) -> String {
    format!("{:02}:{:02}:{:02}", sod / 3600, (sod / 60) % 60, sod % 60)
}

impl Calendar {
    /// The next `n` working intervals from `t` (the current one clipped to start at `t`), with
    /// touching intervals across midnight joined.
    pub fn next_intervals(&self, t: Secs, n: usize) -> Result<Vec<(Secs, Secs)>, CalendarError> {
        let mut out: Vec<(Secs, Secs)> = Vec::new();
        if self.always {
            return Ok(vec![]);
        }
        let mut date = self.local_date(t)?;
        for _ in 0..MAX_SEARCH_DAYS {
            for (a, b) in self.spans(date)?.iter() {
                if b <= t {
                    continue;
                }
                let a = a.max(t);
                if let Some(last) = out.last_mut().filter(|l| l.1 == a) {
                    last.1 = b;
                } else if out.len() == n {
                    return Ok(out);
                } else {
                    out.push((a, b));
                }
            }
            date = date.tomorrow().map_err(|_| CalendarError::OutOfRange)?;
        }
        Ok(out)
    }
}
