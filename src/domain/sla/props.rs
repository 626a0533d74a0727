//! Property tests of the clock engine on calendars with lunch breaks, holidays, make-up days,
//! midnight-spanning night shifts and DST.

use proptest::prelude::*;

use super::{HistoryEntry, Target, Targets, TimerKind, change_level, replay};
use crate::domain::calendar::tests::{at, cn2026, day};
use crate::domain::calendar::{Calendar, DayHours, Secs};
use crate::domain::level::Level;

fn night_desk() -> Calendar {
    let both = day(&["00:00-05:00", "21:00-24:00"]);
    let week = [
        day(&["21:00-24:00"]),
        both.clone(),
        both.clone(),
        both.clone(),
        both,
        day(&["00:00-05:00"]),
        DayHours::default(),
    ];
    Calendar::weekly("Asia/Shanghai", week, [], []).unwrap()
}

fn berlin() -> Calendar {
    // 01:30–03:30 catches both DST changes.
    let d = day(&["01:30-03:30", "08:00-17:00"]);
    Calendar::weekly("Europe/Berlin", std::array::from_fn(|_| d.clone()), [], []).unwrap()
}

fn calendars() -> Vec<Calendar> {
    vec![cn2026(), night_desk(), berlin(), Calendar::always("America/New_York").unwrap()]
}

/// Instants across 2026 and early 2027, whole seconds.
fn instant() -> impl Strategy<Value = Secs> {
    let from = at("2026-01-01T00:00:00Z");
    let to = at("2027-04-01T00:00:00Z");
    from..to
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![1i64..600, 600i64..40 * 3600]
}

/// Whether `t` is a working instant or exactly the end of a working interval.
fn at_working_time_or_interval_end(cal: &Calendar, t: Secs) -> bool {
    let next = cal.next_working(t).unwrap();
    next == t || cal.working_between(t - 1, t).unwrap() == 1
}

/// Found by the property below: Saturday 2027-03-27 02:30:01 in Berlin plus `1d` carries 02:30:01
/// into Sunday's DST gap, read as 03:30:01 — a second past the 01:30–03:30 interval.
#[test]
fn a_day_target_carried_into_a_dst_gap_ends_with_its_interval() {
    let start = at("2027-03-27T01:30:01Z");
    let due = super::deadline(&berlin(), TimerKind::Resolution, start, Target::Days(1), Target::Working(1800)).unwrap();
    assert_eq!(due, at("2027-03-28T01:30:00Z"), "Sunday 03:30 CEST, the interval's end");
    assert!(at_working_time_or_interval_end(&berlin(), due));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn adding_working_time_is_monotonic(c in 0usize..4, t in instant(), a in amount(), b in amount(), gap in 0i64..200_000) {
        let cal = &calendars()[c];
        let (small, large) = (a.min(b), a.max(b));
        prop_assert!(cal.add_working(t, small).unwrap() <= cal.add_working(t, large).unwrap());
        prop_assert!(cal.add_working(t, a).unwrap() <= cal.add_working(t + gap, a).unwrap());
    }

    #[test]
    fn adding_in_two_steps_equals_adding_once(c in 0usize..4, t in instant(), a in amount(), b in amount()) {
        let cal = &calendars()[c];
        let once = cal.add_working(t, a + b).unwrap();
        let twice = cal.add_working(cal.add_working(t, a).unwrap(), b).unwrap();
        prop_assert_eq!(once, twice);
        prop_assert_eq!(cal.working_between(cal.next_working(t).unwrap(), once).unwrap(), a + b);
    }

    #[test]
    fn business_deadlines_fall_in_working_time_or_exactly_at_an_interval_end(
        c in 0usize..3, t in instant(), a in amount(), days in 1u32..6, kind in 0usize..3,
    ) {
        let cal = &calendars()[c];
        let target = [Target::Working(a), Target::Days(days), Target::EndOfDay][kind];
        for timer in [TimerKind::Response, TimerKind::Resolution] {
            let due = super::deadline(cal, timer, t, target, Target::Working(1800)).unwrap();
            prop_assert!(at_working_time_or_interval_end(cal, due), "{target} from {t} → {due}");
        }
    }

    #[test]
    fn pausing_and_resuming_preserves_the_remaining_working_time(
        c in 0usize..4, t in instant(), a in amount(), pause_after in 0i64..100_000, pause_for in 0i64..400_000,
    ) {
        let cal = &calendars()[c];
        let target = Target::Working(a);
        let due = replay(cal, TimerKind::Plan, t, target, target, &[]).unwrap().due.unwrap();
        let p = t + pause_after;
        prop_assume!(p <= due);
        let r = p + pause_for;
        let history = [HistoryEntry::pause(p), HistoryEntry::resume(r)];
        let paused = replay(cal, TimerKind::Plan, t, target, target, &history[..1]).unwrap();
        let remaining = paused.remaining.unwrap();
        prop_assert_eq!(remaining, cal.working_between(p, due).unwrap());
        let resumed = replay(cal, TimerKind::Plan, t, target, target, &history).unwrap();
        let new_due = resumed.due.unwrap();
        prop_assert_eq!(cal.working_between(r, new_due).unwrap(), remaining);
        prop_assert!(new_due >= due);
    }

    #[test]
    fn a_level_change_to_the_same_level_changes_nothing(c in 0usize..4, t in instant(), a in amount(), later in 0i64..100_000) {
        let cal = &calendars()[c];
        let target = Target::Working(a);
        let mut history = vec![HistoryEntry::pause(t + later / 2), HistoryEntry::resume(t + later)];
        let before = replay(cal, TimerKind::Plan, t, target, target, &history).unwrap();
        let same = Targets { target, plan: target };
        let recorded = change_level(&mut history, t + later + 1, (Level::II, Level::II), same, same);
        prop_assert!(!recorded);
        prop_assert_eq!(history.len(), 2);
        prop_assert_eq!(replay(cal, TimerKind::Plan, t, target, target, &history).unwrap(), before);
    }

    #[test]
    fn no_breach_is_ever_cleared(
        c in 0usize..4,
        t in instant(),
        ops in proptest::collection::vec((0u8..3, 1i64..20_000, 0usize..4), 1..12),
    ) {
        let cal = &calendars()[c];
        let targets = [Target::Working(600), Target::Working(7200), Target::Days(1), Target::EndOfDay];
        let levels = [Level::I, Level::II, Level::III, Level::IV];
        let mut history = Vec::new();
        let (mut now, mut level, mut target) = (t, Level::III, Target::Working(3600));
        let mut breached_due: Option<Secs> = None;
        for (op, step, pick) in ops {
            now += step;
            match op {
                0 => history.push(HistoryEntry::pause(now)),
                1 => history.push(HistoryEntry::resume(now)),
                _ => {
                    let (to, new_target) = (levels[pick], targets[pick]);
                    let (before, after) = (Targets { target, plan: target }, Targets { target: new_target, plan: new_target });
                    if change_level(&mut history, now, (level, to), before, after) {
                        level = to;
                        target = new_target;
                    }
                }
            }
            let r = replay(cal, TimerKind::Plan, t, Target::Working(3600), Target::Working(3600), &history).unwrap();
            if let Some(d) = breached_due {
                prop_assert!(r.breached, "a breach was cleared");
                prop_assert_eq!(r.due, Some(d), "a breached deadline moved");
            } else if r.breached {
                breached_due = r.due;
            }
        }
    }
}
