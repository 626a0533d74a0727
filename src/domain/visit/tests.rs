//! The visit rules' tests: a visit's states, the pauses of the arrival clock, free windows and
//! working windows on the calendar, and what travel and a customer's window move.

use super::*;
use proptest::prelude::*;

#[test]
fn a_visit_goes_from_proposed_to_signed_and_nothing_moves_a_final_one() {
    let mut s = VisitState::Proposed;
    for a in [VisitAction::Book, VisitAction::Depart, VisitAction::Arrive, VisitAction::Complete, VisitAction::Sign] {
        s = a.next(s).unwrap_or_else(|| panic!("{a} from {s}"));
    }
    assert_eq!(s, VisitState::Signed);
    assert!(VisitState::Signed.actions().is_empty() && VisitState::Cancelled.actions().is_empty());
    assert!(VisitState::ALL.iter().all(|s| s.is_final() == s.actions().is_empty()));
    // No access at the door, booked again, then the work goes on.
    let s = VisitAction::NoAccess.next(VisitState::EnRoute).unwrap();
    assert_eq!(VisitAction::Rebook.next(s), Some(VisitState::Booked));
    assert_eq!(VisitAction::Complete.next(VisitState::Booked), None, "checked out without checking in");
    assert_eq!(VisitAction::Cancel.next(VisitState::OnSite), None, "on site, the visit is finished, not cancelled");
    assert_eq!((VisitAction::Sign.party(), VisitAction::Arrive.party()), (Party::Customer, Party::Engineer));
}

#[test]
fn only_a_customers_later_window_pauses_the_clocks() {
    assert_eq!(customer_window_pause(100, 500, WindowChooser::Customer), Some((100, 500)));
    assert_eq!(customer_window_pause(100, 500, WindowChooser::Dispatcher), None);
    assert_eq!(customer_window_pause(500, 500, WindowChooser::Customer), None);
    assert_eq!(customer_window_pause(500, 100, WindowChooser::Customer), None);
}

#[test]
fn free_windows_are_working_time_minus_what_is_booked() {
    let working = [(9, 12), (13, 18)];
    assert_eq!(free_windows(&working, &[]), working.to_vec());
    // Leave 10–11, a visit 14–15 with an hour's travel each way, training over lunch.
    let busy = [(10, 11), blocked((14, 15), 1), (11, 14)];
    assert_eq!(free_windows(&working, &busy), vec![(9, 10), (16, 18)]);
    assert_eq!(free_windows(&working, &[(0, 24)]), vec![]);
}

#[test]
fn working_windows_follow_the_calendar_between_two_instants() {
    use crate::domain::calendar::tests::{at, cn2026};
    // Friday 2026-10-23 15:00 to Monday 10:30, Asia/Shanghai business hours.
    let got = working_windows(&cn2026(), at("2026-10-23T07:00:00Z"), at("2026-10-26T02:30:00Z")).unwrap();
    assert_eq!(
        got,
        vec![
            (at("2026-10-23T07:00:00Z"), at("2026-10-23T10:00:00Z")),
            (at("2026-10-26T01:00:00Z"), at("2026-10-26T02:30:00Z"))
        ]
    );
    let always = Calendar::always("Asia/Shanghai").unwrap();
    assert_eq!(working_windows(&always, 5, 9).unwrap(), vec![(5, 9)]);
    assert!(working_windows(&always, 9, 5).unwrap().is_empty());
}

fn intervals() -> impl Strategy<Value = Vec<(Secs, Secs)>> {
    prop::collection::vec((0i64..200, 0i64..40).prop_map(|(a, len)| (a, a + len)), 0..8)
}

fn covered(set: &[(Secs, Secs)], t: Secs) -> bool {
    set.iter().any(|(a, b)| *a <= t && t < *b)
}

/// The clock effect of booking `window` on a visit proposed at `proposed`, as the ticket's
/// decision gives it.
fn booked_clock(
    proposed: Secs,
    offered: Secs,
    window: (Secs, Secs),
    chooser: WindowChooser,
    travel_secs: Secs,
) -> crate::domain::ticket::TimerEffect {
    use crate::domain::actor::Actor;
    use crate::domain::level::Level;
    use crate::domain::ticket::{Change, Facts, Role, Status, decide};
    let facts = Facts {
        status: Status::InProgress,
        level: Level::II,
        response_met: true,
        reopen_ok: true,
        needs_signature: false,
        visit: Some(VisitFacts {
            id: 1,
            state: VisitState::Proposed,
            engineer_id: None,
            proposed_at: proposed,
            others_open: false,
        }),
        now: proposed,
        max_offline: 12 * 3600,
    };
    let dispatcher = Actor::Staff { user_id: 9, username: "d".into(), display_name: "D".into(), role: Role::Engineer };
    let booking =
        Booking { engineer_id: 7, window, offered_start: offered, chooser, travel_secs, override_clash: false };
    let change = Change::Visit(Box::new(VisitChange::Step { visit_id: 1, step: VisitStep::Book(booking) }));
    decide(facts, &dispatcher, &change).unwrap().timers
}

/// The deadline of a timer after a booking's clock effect.
fn due_after(
    cal: &Calendar,
    kind: crate::domain::sla::TimerKind,
    start: Secs,
    target: crate::domain::sla::Target,
    effect: &crate::domain::ticket::TimerEffect,
) -> Secs {
    use crate::domain::sla::{HistoryEntry, replay};
    use crate::domain::ticket::{TimerEffect, VisitClock};
    let history = match effect {
        TimerEffect::Visit(VisitClock::Pause { reason, from, to: Some(to) }) => vec![
            HistoryEntry::Pause { at: *from, reason: Some(*reason) },
            HistoryEntry::Resume { at: *to, reason: Some(*reason) },
        ],
        TimerEffect::Visit(VisitClock::Nothing) => vec![],
        other => panic!("a booking moves the clocks by a pause or not at all: {other:?}"),
    };
    replay(cal, kind, start, target, target, &history).unwrap().due.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Travel never changes a deadline; a window the customer chose later than offered moves
    /// the arrival and resolution deadlines by exactly the working time between the offered
    /// and the chosen start (when the offered start comes before the deadline); a window the
    /// dispatcher chose moves nothing.
    #[test]
    fn travel_moves_nothing_and_a_customers_later_window_moves_by_the_working_time_between(
        always in any::<bool>(),
        start_min in 0i64..(60 * 24 * 60),
        hours in 1i64..40,
        offered_after_min in 0i64..(60 * 24 * 5),
        later_min in 0i64..(60 * 24 * 6),
        travel_a in 0i64..(12 * 3600),
        travel_b in 0i64..(12 * 3600),
        customer in any::<bool>(),
    ) {
        use crate::domain::calendar::tests::{at, cn2026};
        use crate::domain::sla::{Target, TimerKind};
        let cal = if always { Calendar::always("Asia/Shanghai").unwrap() } else { cn2026() };
        let start = at("2026-10-12T00:00:00+08:00") + start_min * 60;
        let offered = start + offered_after_min * 60;
        let chosen = offered + later_min * 60;
        let window = (chosen, chosen + 3600);
        let chooser = if customer { WindowChooser::Customer } else { WindowChooser::Dispatcher };
        let a = booked_clock(start, offered, window, chooser, travel_a);
        let b = booked_clock(start, offered, window, chooser, travel_b);
        prop_assert_eq!(&a, &b, "travel is the provider's time");
        for kind in [TimerKind::Arrival, TimerKind::Resolution] {
            let target = Target::Working(hours * 3600);
            let due0 = crate::domain::sla::deadline(&cal, kind, start, target, target).unwrap();
            let due1 = due_after(&cal, kind, start, target, &a);
            if !customer || later_min == 0 || offered > due0 {
                prop_assert_eq!(due1, due0, "nothing paused");
            } else {
                let paused = cal.working_between(offered, chosen).unwrap();
                prop_assert_eq!(
                    cal.working_between(start, due1).unwrap(),
                    cal.working_between(start, due0).unwrap() + paused,
                    "moved by the working time between {} and {}", offered, chosen
                );
                prop_assert!(due1 >= due0);
            }
        }
    }

    /// Each second is free exactly when it is working time and not busy; the windows are
    /// sorted, disjoint and not empty.
    #[test]
    fn a_second_is_free_exactly_when_working_and_not_busy(working in intervals(), busy in intervals()) {
        let free = free_windows(&working, &busy);
        for t in 0..260 {
            prop_assert_eq!(covered(&free, t), covered(&working, t) && !covered(&busy, t), "second {}", t);
        }
        prop_assert!(free.iter().all(|(a, b)| a < b));
        prop_assert!(free.windows(2).all(|w| w[0].1 <= w[1].0));
    }
}
