//! SLA targets (docs/sla.md §3): working time (`30s`, `10m`, `1h30m`), working days (`1d`) and
//! `end_of_day`, and the deadline each gives from a start on a calendar.

use std::fmt;
use std::str::FromStr;

use crate::domain::calendar::Trace;
use crate::domain::calendar::{Calendar, CalendarError, Secs};

use super::TimerKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Working seconds.
    Working(i64),
    /// Working days.
    Days(u32),
    EndOfDay,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a target: use working time such as `30s`, `10m`, `1h30m`, working days such as `1d`, or `end_of_day`; it must be greater than zero"
)]
pub struct TargetParseError(pub String);

impl FromStr for Target {
    type Err = TargetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TargetParseError(s.to_string());
        if s == "end_of_day" {
            return Ok(Target::EndOfDay);
        }
        if let Some(n) = s.strip_suffix('d') {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let n: u32 = n.parse().map_err(|_| err())?;
            return if n == 0 || n > 3650 { Err(err()) } else { Ok(Target::Days(n)) };
        }
        let secs = parse_hms(s).ok_or_else(err)?;
        if secs == 0 { Err(err()) } else { Ok(Target::Working(secs)) }
    }
}

/// `1h30m`, `90m`, `30s`, `1m30s`: units in the order h, m, s, each at most once, lower case,
/// whole numbers, no spaces.
pub fn parse_hms(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut last_unit = 0; // 0 none, 1 h, 2 m, 3 s
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let (unit, factor) = match c {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return None,
        };
        if number.is_empty() || unit <= last_unit || number.len() > 9 {
            return None;
        }
        total = total.checked_add(number.parse::<i64>().ok()?.checked_mul(factor)?)?;
        number.clear();
        last_unit = unit;
    }
    if !number.is_empty() || last_unit == 0 {
        return None;
    }
    Some(total)
}

/// Working seconds written back in the `1h30m` form.
pub fn format_hms(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Working(s) => f.write_str(&format_hms(*s)),
            Target::Days(n) => write!(f, "{n}d"),
            Target::EndOfDay => f.write_str("end_of_day"),
        }
    }
}

/// The deadline of a timer of `kind` with `target` started at `start`. An `end_of_day`
/// resolution is due at the end of the working day holding the last working instant before the
/// plan deadline from the same start (`plan` is that level's plan target).
pub fn deadline(
    cal: &Calendar,
    kind: TimerKind,
    start: Secs,
    target: Target,
    plan: Target,
) -> Result<Secs, CalendarError> {
    deadline_traced(cal, kind, start, target, plan, &mut Trace::off())
}

pub(crate) fn deadline_traced(
    cal: &Calendar,
    kind: TimerKind,
    start: Secs,
    target: Target,
    plan: Target,
    trace: &mut Trace,
) -> Result<Secs, CalendarError> {
    match target {
        Target::Working(secs) => cal.add_working_traced(start, secs, trace),
        Target::Days(n) => cal.add_days_traced(start, n, trace),
        Target::EndOfDay if kind == TimerKind::Resolution => {
            let plan_due = deadline(cal, TimerKind::Plan, start, plan, plan)?;
            trace.push(|| crate::domain::calendar::Step {
                kind: crate::domain::calendar::StepKind::Interval,
                from: start,
                to: plan_due,
                counted_secs: None,
                note: Some(format!(
                    "the plan target {plan} from the same start is due at {}",
                    super::rfc3339(plan_due)
                )),
            });
            cal.end_of_day_before_traced(plan_due, trace)
        }
        Target::EndOfDay => cal.end_of_day_traced(start, trace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_in_every_documented_form() {
        assert_eq!("30s".parse(), Ok(Target::Working(30)));
        assert_eq!("10m".parse(), Ok(Target::Working(600)));
        assert_eq!("1h30m".parse(), Ok(Target::Working(5400)));
        assert_eq!("90m".parse(), Ok(Target::Working(5400)));
        assert_eq!("1m30s".parse(), Ok(Target::Working(90)));
        assert_eq!("2h".parse(), Ok(Target::Working(7200)));
        assert_eq!("3d".parse(), Ok(Target::Days(3)));
        assert_eq!("end_of_day".parse(), Ok(Target::EndOfDay));
    }

    #[test]
    fn zero_misordered_spaced_and_upper_case_targets_are_refused() {
        for bad in [
            "0m",
            "0d",
            "0h0m",
            "",
            "m",
            "30",
            "1H",
            "30m1h",
            "1h 30m",
            "1.5h",
            "1d2h",
            "-1m",
            "1h1h",
            "d",
            "end-of-day",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn targets_display_canonically() {
        assert_eq!(Target::Working(5400).to_string(), "1h30m");
        assert_eq!(Target::Working(600).to_string(), "10m");
        assert_eq!(Target::Working(30).to_string(), "30s");
        assert_eq!(Target::Days(1).to_string(), "1d");
    }
}
