//! One SLA timer as a pure function of its start, its target and its history (pauses, resumes and
//! level changes). The stored row is a cache of [`replay`]'s answer; replaying the same inputs on
//! the same calendar always gives the same deadline, which is what makes `explain`, calendar
//! changes and what-if trustworthy.

use serde::{Deserialize, Serialize};

use crate::domain::calendar::{Calendar, CalendarError, Secs, Step, StepKind, Trace};
use crate::domain::level::Level;

use super::target::deadline_traced;
use super::{Target, TimerKind, format_hms, rfc3339};

crate::text_enum! {
    /// Why a timer pauses, besides waiting for the customer (an entry without a reason).
    pub enum PauseReason ("pause reason") {
        /// The customer chose a later visit window than the earliest one offered.
        CustomerWindow = "customer_window",
        /// The engineer found no access at the site; until the re-booked window starts.
        SiteNoAccess = "site_no_access",
    }
}

/// What happened to a timer after it started, ordered by instant. Pauses for different reasons
/// overlap: the timer stands still from the first pause until the last of them resumes. A
/// visit's pauses are written ahead (a window the customer chose pauses from the offered start
/// to the chosen one), so an entry may lie in the future.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HistoryEntry {
    Pause {
        at: Secs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<PauseReason>,
    },
    Resume {
        at: Secs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<PauseReason>,
    },
    /// Met at `at`, as `note` says (an arrival: the device's time or the server's, and why).
    Met { at: Secs, note: String },
    /// A level change re-targets the timer (docs/sla.md §5).
    Retarget {
        at: Secs,
        from_level: Level,
        to_level: Level,
        from_target: String,
        to_target: String,
        from_plan: String,
        to_plan: String,
    },
}

impl HistoryEntry {
    /// A pause while waiting for the customer.
    pub fn pause(at: Secs) -> Self {
        HistoryEntry::Pause { at, reason: None }
    }

    /// The end of a wait for the customer.
    pub fn resume(at: Secs) -> Self {
        HistoryEntry::Resume { at, reason: None }
    }

    pub fn at(&self) -> Secs {
        match self {
            HistoryEntry::Pause { at, .. }
            | HistoryEntry::Resume { at, .. }
            | HistoryEntry::Met { at, .. }
            | HistoryEntry::Retarget { at, .. } => *at,
        }
    }

    /// Puts `entry` after every entry at or before its instant, keeping the history ordered.
    pub fn insert(history: &mut Vec<HistoryEntry>, entry: HistoryEntry) {
        let at = entry.at();
        let i = history.partition_point(|e| e.at() <= at);
        history.insert(i, entry);
    }
}

/// A timer's own target and the plan target it depends on (an `end_of_day` resolution does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub target: Target,
    pub plan: Target,
}

/// Records a level change in `history` unless it changes neither the timer's target nor the plan
/// target it depends on; returns whether anything was recorded. A change to the same level
/// changes nothing (docs/sla.md §5).
pub fn change_level(
    history: &mut Vec<HistoryEntry>,
    at: Secs,
    (from_level, to_level): (Level, Level),
    before: Targets,
    after: Targets,
) -> bool {
    let (Targets { target, plan }, Targets { target: new_target, plan: new_plan }) = (before, after);
    if from_level == to_level || (target == new_target && plan == new_plan) {
        return false;
    }
    history.push(HistoryEntry::Retarget {
        at,
        from_level,
        to_level,
        from_target: target.to_string(),
        to_target: new_target.to_string(),
        from_plan: plan.to_string(),
        to_plan: new_plan.to_string(),
    });
    true
}

/// A timer's state after its history, before it is met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// `None` while paused.
    pub due: Option<Secs>,
    pub paused_at: Option<Secs>,
    /// Working seconds left at the pause.
    pub remaining: Option<i64>,
    /// Became breached at one of the history's instants (a breach that happened between events
    /// is for the caller to see, by comparing `now` with `due`).
    pub breached: bool,
    pub target: Target,
    pub plan: Target,
}

struct Inputs<'a> {
    cal: &'a Calendar,
    kind: TimerKind,
    start: Secs,
}

pub fn replay(
    cal: &Calendar,
    kind: TimerKind,
    start: Secs,
    target: Target,
    plan: Target,
    history: &[HistoryEntry],
) -> Result<Replayed, CalendarError> {
    run(&Inputs { cal, kind, start }, target, plan, history, None)
}

/// [`replay`] with the steps a person needs to check the deadline by hand.
pub fn replay_explained(
    cal: &Calendar,
    kind: TimerKind,
    start: Secs,
    target: Target,
    plan: Target,
    history: &[HistoryEntry],
) -> Result<(Replayed, Vec<Step>), CalendarError> {
    let mut steps = Vec::new();
    let r = run(&Inputs { cal, kind, start }, target, plan, history, Some(&mut steps))?;
    steps.sort_by_key(|s| s.from);
    Ok((r, steps))
}

fn run(
    inp: &Inputs,
    target: Target,
    plan: Target,
    history: &[HistoryEntry],
    mut steps: Option<&mut Vec<Step>>,
) -> Result<Replayed, CalendarError> {
    let cal = inp.cal;
    // The first level change remembers the targets the timer started with.
    let (mut target, mut plan) = match history.iter().find_map(|e| match e {
        HistoryEntry::Retarget { from_target, from_plan, .. } => Some((from_target, from_plan)),
        _ => None,
    }) {
        Some((t, p)) => (t.parse().unwrap_or(target), p.parse().unwrap_or(plan)),
        None => (target, plan),
    };
    let due0 = deadline_traced(cal, inp.kind, inp.start, target, plan, &mut Trace(steps.as_deref_mut()))?;
    let mut r = Replayed { due: Some(due0), paused_at: None, remaining: None, breached: false, target, plan };
    let mut pauses: Vec<(Secs, Secs)> = Vec::new();
    // The reasons of the pauses in force, in the order they began.
    let mut holding: Vec<Option<PauseReason>> = Vec::new();
    // Every reason the current pause has had, for its explain step.
    let mut span: Vec<Option<PauseReason>> = Vec::new();

    for entry in history {
        let at = entry.at();
        if let (Some(due), None) = (r.due, r.paused_at)
            && at > due
        {
            r.breached = true;
        }
        match entry {
            HistoryEntry::Pause { at, reason } => {
                // A breached timer is not paused: it keeps its deadline and runs until met.
                if r.breached || holding.contains(reason) {
                    continue;
                }
                holding.push(*reason);
                if !span.contains(reason) {
                    span.push(*reason);
                }
                if r.paused_at.is_some() {
                    if let Some(last) =
                        steps.as_deref_mut().and_then(|s| s.iter_mut().rev().find(|s| s.kind == StepKind::Pause))
                    {
                        *last = pause_step(last.from, None, r.remaining.unwrap_or(0), &span);
                    }
                    continue;
                }
                let due = r.due.unwrap_or(*at);
                let remaining = cal.working_between(*at, due)?;
                truncate(steps.as_deref_mut(), *at);
                push(steps.as_deref_mut(), pause_step(*at, None, remaining, &span));
                r.paused_at = Some(*at);
                r.remaining = Some(remaining);
                r.due = None;
            }
            HistoryEntry::Resume { at, reason } => {
                let Some(i) = holding.iter().position(|h| h == reason) else {
                    continue;
                };
                holding.remove(i);
                let Some(paused_at) = r.paused_at else {
                    continue;
                };
                if !holding.is_empty() {
                    continue;
                }
                let remaining = r.remaining.unwrap_or(0);
                if let Some(last) =
                    steps.as_deref_mut().and_then(|s| s.iter_mut().rev().find(|s| s.kind == StepKind::Pause))
                {
                    *last = pause_step(paused_at, Some(*at), remaining, &span);
                }
                span.clear();
                let due = cal.add_working_traced(*at, remaining, &mut Trace(steps.as_deref_mut()))?;
                pauses.push((paused_at, *at));
                r.paused_at = None;
                r.remaining = None;
                r.due = Some(due);
            }
            HistoryEntry::Met { at, note } => push(
                steps.as_deref_mut(),
                Step { kind: StepKind::Met, from: *at, to: *at, counted_secs: None, note: Some(note.clone()) },
            ),
            HistoryEntry::Retarget { at, from_level, to_level, to_target, to_plan, .. } => {
                if r.breached {
                    continue;
                }
                let (Ok(new_target), Ok(new_plan)) = (to_target.parse::<Target>(), to_plan.parse::<Target>()) else {
                    continue;
                };
                let old_due = r.due;
                target = new_target;
                plan = new_plan;
                if let Some(s) = steps.as_deref_mut() {
                    s.clear();
                }
                let base = deadline_traced(cal, inp.kind, inp.start, target, plan, &mut Trace(steps.as_deref_mut()))?;
                let mut paused_secs = 0;
                for &(p, q) in &pauses {
                    let w = cal.working_between(p, q)?;
                    paused_secs += w;
                    push(
                        steps.as_deref_mut(),
                        Step {
                            kind: StepKind::Pause,
                            from: p,
                            to: q,
                            counted_secs: Some(w),
                            note: Some(format!(
                                "paused for {} of working time, which pushes the deadline out",
                                format_hms(w)
                            )),
                        },
                    );
                }
                let new_due = if paused_secs > 0 {
                    cal.add_working_traced(base, paused_secs, &mut Trace(steps.as_deref_mut()))?
                } else {
                    base
                };
                push(
                    steps.as_deref_mut(),
                    Step {
                        kind: StepKind::LevelChange,
                        from: *at,
                        to: *at,
                        counted_secs: None,
                        note: Some(format!(
                            "level {from_level} → {to_level}: target {new_target} from the original start; due {} → {}",
                            old_due.map_or_else(|| "paused".to_string(), rfc3339),
                            rfc3339(new_due)
                        )),
                    },
                );
                r.target = target;
                r.plan = plan;
                if let Some(p) = r.paused_at {
                    if new_due < p {
                        // Over before the pause began: breached at once, and so not paused.
                        holding.clear();
                        span.clear();
                        r.breached = true;
                        r.paused_at = None;
                        r.remaining = None;
                        r.due = Some(new_due);
                    } else {
                        let remaining = cal.working_between(p, new_due)?;
                        truncate(steps.as_deref_mut(), p);
                        push(steps.as_deref_mut(), pause_step(p, None, remaining, &span));
                        r.remaining = Some(remaining);
                    }
                } else {
                    r.due = Some(new_due);
                    if *at > new_due {
                        r.breached = true;
                    }
                }
            }
        }
    }
    Ok(r)
}

fn pause_step(from: Secs, to: Option<Secs>, remaining: i64, reasons: &[Option<PauseReason>]) -> Step {
    let why: Vec<&str> = reasons
        .iter()
        .map(|r| match r {
            None => "while waiting for the customer",
            Some(PauseReason::CustomerWindow) => {
                "(customer_window) from the earliest visit window offered to the later one the customer chose"
            }
            Some(PauseReason::SiteNoAccess) => {
                "(site_no_access) from the visit that found no access until the re-booked window starts"
            }
        })
        .collect();
    let why = if why.is_empty() { "while waiting for the customer".to_string() } else { why.join(", then ") };
    Step {
        kind: StepKind::Pause,
        from,
        to: to.unwrap_or(from),
        counted_secs: None,
        note: Some(match to {
            Some(_) => format!(
                "paused {why}; {} of working time remained, counted again from the resume",
                format_hms(remaining)
            ),
            None => format!("paused {why}; {} of working time remains", format_hms(remaining)),
        }),
    }
}

fn push(steps: Option<&mut Vec<Step>>, step: Step) {
    if let Some(s) = steps {
        s.push(step);
    }
}

/// Drops what a pause at `t` makes moot: steps after `t` go, a step across `t` ends there.
fn truncate(steps: Option<&mut Vec<Step>>, t: Secs) {
    let Some(steps) = steps else { return };
    steps.retain(|s| {
        s.from < t
            || matches!(s.kind, StepKind::LevelChange | StepKind::Met)
            || (s.from == t && s.to == t && s.kind == StepKind::Pause)
    });
    for s in steps.iter_mut() {
        if s.to > t && s.from < t && s.kind != StepKind::LevelChange {
            if s.counted_secs == Some(s.to - s.from) {
                s.counted_secs = Some(t - s.from);
            }
            s.to = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::tests::{at, business};

    fn t(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn paused_an_hour_before_tuesday_1800_and_resumed_at_1730_is_due_wednesday_0930() {
        // Resolution `end_of_day` of a level I ticket opened Tue 10:00 is due Tue 18:00.
        let cal = business(&[], &[]);
        let start = at("2026-10-20T10:00:00+08:00");
        let history = [
            HistoryEntry::pause(at("2026-10-20T17:00:00+08:00")),
            HistoryEntry::resume(at("2026-10-20T17:30:00+08:00")),
        ];
        let before = replay(&cal, TimerKind::Resolution, start, t("end_of_day"), t("30m"), &history[..1]).unwrap();
        assert_eq!((before.due, before.remaining), (None, Some(3600)));
        let r = replay(&cal, TimerKind::Resolution, start, t("end_of_day"), t("30m"), &history).unwrap();
        assert_eq!(r.due, Some(at("2026-10-21T09:30:00+08:00")));
    }

    #[test]
    fn paused_overnight_outside_working_hours_keeps_wednesday_1800() {
        // Due Wed 18:00 (resolution of a level I ticket opened Tue 17:40), paused Tue 20:00,
        // resumed Wed 08:00.
        let cal = business(&[], &[]);
        let start = at("2026-10-20T17:40:00+08:00");
        let history = [
            HistoryEntry::pause(at("2026-10-20T20:00:00+08:00")),
            HistoryEntry::resume(at("2026-10-21T08:00:00+08:00")),
        ];
        let r = replay(&cal, TimerKind::Resolution, start, t("end_of_day"), t("30m"), &history).unwrap();
        assert_eq!(r.due, Some(at("2026-10-21T18:00:00+08:00")));
    }

    #[test]
    fn pushing_tuesday_1800_by_ten_minutes_gives_wednesday_0910() {
        let cal = business(&[], &[]);
        assert_eq!(cal.push(at("2026-10-20T18:00:00+08:00"), 600), Ok(at("2026-10-21T09:10:00+08:00")));
        assert_eq!(cal.push(at("2026-10-20T18:00:00+08:00"), 0), Ok(at("2026-10-20T18:00:00+08:00")));
    }

    #[test]
    fn a_breached_timer_is_not_paused() {
        let cal = business(&[], &[]);
        let start = at("2026-10-20T10:00:00+08:00");
        let history = [HistoryEntry::pause(at("2026-10-20T10:31:00+08:00"))];
        let r = replay(&cal, TimerKind::Plan, start, t("30m"), t("30m"), &history).unwrap();
        assert_eq!((r.due, r.paused_at, r.breached), (Some(at("2026-10-20T10:30:00+08:00")), None, true));
    }

    fn retarget(at_: Secs, from: (&str, &str), to: (&str, &str)) -> HistoryEntry {
        HistoryEntry::Retarget {
            at: at_,
            from_level: Level::II,
            to_level: Level::I,
            from_target: from.0.into(),
            to_target: to.0.into(),
            from_plan: from.1.into(),
            to_plan: to.1.into(),
        }
    }

    #[test]
    fn upgrading_forty_minutes_in_breaches_a_thirty_minute_plan_at_once() {
        let cal = business(&[], &[]);
        let start = at("2026-10-20T10:00:00+08:00");
        let h = [retarget(at("2026-10-20T10:40:00+08:00"), ("1h", "1h"), ("30m", "30m"))];
        let r = replay(&cal, TimerKind::Plan, start, t("30m"), t("30m"), &h).unwrap();
        assert_eq!((r.due, r.breached), (Some(at("2026-10-20T10:30:00+08:00")), true));
    }

    #[test]
    fn a_level_change_counts_from_the_original_start_plus_the_paused_working_time() {
        let cal = business(&[], &[]);
        let start = at("2026-10-20T09:00:00+08:00");
        let h = [
            HistoryEntry::pause(at("2026-10-20T09:20:00+08:00")),
            HistoryEntry::resume(at("2026-10-20T09:50:00+08:00")),
            retarget(at("2026-10-20T10:00:00+08:00"), ("2h", "2h"), ("1h", "1h")),
        ];
        let (r, steps) = replay_explained(&cal, TimerKind::Plan, start, t("1h"), t("1h"), &h).unwrap();
        // 09:00 + 1h = 10:00, pushed by the 30 paused minutes → 10:30.
        assert_eq!((r.due, r.breached), (Some(at("2026-10-20T10:30:00+08:00")), false));
        assert!(steps.iter().any(|s| s.kind == StepKind::LevelChange));
        assert!(steps.iter().any(|s| s.kind == StepKind::Pause && s.counted_secs == Some(1800)));
    }

    #[test]
    fn a_timer_paused_during_a_level_change_stays_paused_with_remaining_recomputed() {
        let cal = business(&[], &[]);
        let start = at("2026-10-20T09:00:00+08:00");
        let h = [
            HistoryEntry::pause(at("2026-10-20T09:20:00+08:00")),
            retarget(at("2026-10-20T10:00:00+08:00"), ("2h", "2h"), ("1h", "1h")),
        ];
        let r = replay(&cal, TimerKind::Plan, start, t("1h"), t("1h"), &h).unwrap();
        assert_eq!((r.due, r.paused_at, r.remaining), (None, Some(at("2026-10-20T09:20:00+08:00")), Some(2400)));
    }

    #[test]
    fn explain_steps_add_up_to_the_target() {
        let cal = business(&[], &[]);
        let (r, steps) =
            replay_explained(&cal, TimerKind::Response, at("2026-10-16T17:55:00+08:00"), t("10m"), t("30m"), &[])
                .unwrap();
        assert_eq!(r.due, Some(at("2026-10-19T09:05:00+08:00")));
        let counted: i64 = steps.iter().filter_map(|s| s.counted_secs).sum();
        assert_eq!(counted, 600);
        assert!(steps.iter().any(|s| s.kind == StepKind::Weekend));
    }
}
