//! On-site visits, as pure rules: a visit's states and the actions that move it (each with the
//! party that may take it), the pause a customer's later window puts on the clocks, and an
//! engineer's free windows — working time minus what is booked. Times are unix seconds.

use crate::domain::calendar::{Calendar, CalendarError, Secs};

crate::text_enum! {
    /// Where a visit stands.
    pub enum VisitState ("visit state") {
        /// Asked for; no window agreed yet.
        Proposed = "proposed",
        /// A window and an engineer are agreed.
        Booked = "booked",
        /// The engineer is on the way.
        EnRoute = "en_route",
        /// The engineer checked in at the site.
        OnSite = "on_site",
        /// The engineer checked out, with the work done.
        Completed = "completed",
        /// The customer signed the work order.
        Signed = "signed",
        Cancelled = "cancelled",
        /// The engineer could not get in; booked again, the visit goes on.
        NoAccess = "no_access",
    }
}

crate::text_enum! {
    /// What moves a visit.
    pub enum VisitAction ("visit action") {
        Book = "book",
        Depart = "depart",
        Arrive = "arrive",
        Complete = "complete",
        Sign = "sign",
        Cancel = "cancel",
        /// At the site, no way in.
        NoAccess = "no_access",
        /// A visit that found no access, given a new window.
        Rebook = "rebook",
    }
}

crate::text_enum! {
    /// Who chose a visit's window.
    pub enum WindowChooser ("window chooser") {
        Customer = "customer",
        Dispatcher = "dispatcher",
    }
}

/// Who may take an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Staff who dispatch: engineers and above.
    Dispatcher,
    /// The visit's own engineer.
    Engineer,
    /// A contact of the visit's customer.
    Customer,
}

impl VisitAction {
    /// The party that may take this action.
    pub fn party(self) -> Party {
        match self {
            VisitAction::Book | VisitAction::Cancel | VisitAction::Rebook => Party::Dispatcher,
            VisitAction::Depart | VisitAction::Arrive | VisitAction::Complete | VisitAction::NoAccess => {
                Party::Engineer
            }
            VisitAction::Sign => Party::Customer,
        }
    }

    /// The state this action leads to from `from`; `None` when it is not allowed there.
    pub fn next(self, from: VisitState) -> Option<VisitState> {
        use VisitAction as A;
        use VisitState as S;
        Some(match (self, from) {
            (A::Book, S::Proposed) => S::Booked,
            (A::Depart, S::Booked) => S::EnRoute,
            (A::Arrive, S::Booked | S::EnRoute) => S::OnSite,
            (A::NoAccess, S::Booked | S::EnRoute) => S::NoAccess,
            (A::Rebook, S::NoAccess) => S::Booked,
            (A::Complete, S::OnSite) => S::Completed,
            (A::Sign, S::Completed) => S::Signed,
            (A::Cancel, S::Proposed | S::Booked | S::EnRoute | S::NoAccess) => S::Cancelled,
            _ => return None,
        })
    }
}

impl VisitState {
    /// A visit that is over: nothing moves it any more.
    pub fn is_final(self) -> bool {
        matches!(self, VisitState::Signed | VisitState::Cancelled)
    }

    /// The actions allowed from here.
    pub fn actions(self) -> Vec<VisitAction> {
        VisitAction::ALL.into_iter().filter(|a| a.next(self).is_some()).collect()
    }
}

/// The pause a window puts on the arrival and resolution clocks (reason `customer_window`): from
/// the earliest start Opsline offered to the start the customer chose, when the customer chose a
/// later one. A window the dispatcher chose — or one no later than offered — pauses nothing.
pub fn customer_window_pause(offered_start: Secs, chosen_start: Secs, chooser: WindowChooser) -> Option<(Secs, Secs)> {
    (chooser == WindowChooser::Customer && chosen_start > offered_start).then_some((offered_start, chosen_start))
}

/// A booked visit as time it blocks: its window with the travel before and after it.
pub fn blocked(window: (Secs, Secs), travel_secs: Secs) -> (Secs, Secs) {
    (window.0 - travel_secs.max(0), window.1 + travel_secs.max(0))
}

/// Free windows: the `working` intervals minus every `busy` one (leave, training, visits with
/// their travel), in order, without empty pieces. Neither input needs to be sorted or disjoint.
pub fn free_windows(working: &[(Secs, Secs)], busy: &[(Secs, Secs)]) -> Vec<(Secs, Secs)> {
    let merged = merge(busy);
    let mut out = Vec::new();
    for &(start, end) in &merge(working) {
        let mut from = start;
        for &(b0, b1) in merged.iter().filter(|(b0, b1)| *b1 > start && *b0 < end) {
            if b0 > from {
                out.push((from, b0));
            }
            from = from.max(b1);
        }
        if from < end {
            out.push((from, end));
        }
    }
    out
}

/// The working intervals of `calendar` within [`from`, `to`): all of it on a 24×7 calendar.
pub fn working_windows(calendar: &Calendar, from: Secs, to: Secs) -> Result<Vec<(Secs, Secs)>, CalendarError> {
    if from >= to {
        return Ok(vec![]);
    }
    if calendar.is_always() {
        return Ok(vec![(from, to)]);
    }
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        let next = calendar.next_intervals(t, 64)?;
        let Some(&(_, last_end)) = next.last() else { break };
        out.extend(next.into_iter().filter(|(a, _)| *a < to).map(|(a, b)| (a, b.min(to))));
        t = last_end;
    }
    Ok(out)
}

/// Intervals sorted, with overlapping and touching ones joined and empty ones dropped.
fn merge(intervals: &[(Secs, Secs)]) -> Vec<(Secs, Secs)> {
    let mut v: Vec<(Secs, Secs)> = intervals.iter().copied().filter(|(a, b)| a < b).collect();
    v.sort_unstable();
    let mut out: Vec<(Secs, Secs)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_visit_goes_from_proposed_to_signed_and_nothing_moves_a_final_one() {
        let mut s = VisitState::Proposed;
        for a in [VisitAction::Book, VisitAction::Depart, VisitAction::Arrive, VisitAction::Complete, VisitAction::Sign]
        {
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

    proptest! {
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
}
