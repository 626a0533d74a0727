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

crate::text_enum! {
    /// Why an engineer is not free.
    pub enum BlockKind ("block kind") {
        Leave = "leave",
        Training = "training",
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

/// What a visit change needs to know about the visit as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitFacts {
    pub id: i64,
    pub state: VisitState,
    pub engineer_id: Option<i64>,
    /// When the visit was proposed: no check-in counts from before it.
    pub proposed_at: Secs,
    /// Whether another visit of the ticket is still open (not signed, completed or cancelled).
    pub others_open: bool,
}

/// A window agreed for a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub engineer_id: i64,
    pub window: (Secs, Secs),
    /// The earliest start Opsline offered; the window's own start when not given.
    pub offered_start: Secs,
    pub chooser: WindowChooser,
    /// Travel each way, blocked in the engineer's time before and after the window.
    pub travel_secs: Secs,
    /// Book even though the engineer is booked then (a lead's decision, recorded).
    pub override_clash: bool,
}

/// A check-in, check-out or "on my way": the device's clock when the event was made, if the
/// device says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckIn {
    pub device_at: Option<Secs>,
}

crate::text_enum! {
    /// How a visit ended at the site.
    pub enum VisitOutcome ("visit outcome") {
        Fixed = "fixed",
        Partial = "partial",
        NoAccess = "no_access",
    }
}

/// A part used on site.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Part {
    pub name: String,
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

/// A new visit: asking for on-site service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVisit {
    pub site_address: String,
    pub site_contact: String,
    pub site_phone: Option<String>,
    pub note: Option<String>,
}

/// A step of an existing visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitStep {
    Book(Booking),
    Depart(CheckIn),
    Arrive(CheckIn),
    NoAccess(CheckIn),
    Complete { check: CheckIn, summary: String, parts: Vec<Part>, outcome: VisitOutcome },
    Sign { signer: String, image_png: Vec<u8> },
    Rebook(Booking),
    Cancel { reason: String },
}

impl VisitStep {
    pub fn action(&self) -> VisitAction {
        match self {
            VisitStep::Book(_) => VisitAction::Book,
            VisitStep::Depart(_) => VisitAction::Depart,
            VisitStep::Arrive(_) => VisitAction::Arrive,
            VisitStep::NoAccess(_) => VisitAction::NoAccess,
            VisitStep::Complete { .. } => VisitAction::Complete,
            VisitStep::Sign { .. } => VisitAction::Sign,
            VisitStep::Rebook(_) => VisitAction::Rebook,
            VisitStep::Cancel { .. } => VisitAction::Cancel,
        }
    }

    /// The device's clock of a check-in, for the steps that carry one.
    pub fn check_in(&self) -> Option<CheckIn> {
        match self {
            VisitStep::Depart(c) | VisitStep::Arrive(c) | VisitStep::NoAccess(c) => Some(*c),
            VisitStep::Complete { check, .. } => Some(*check),
            _ => None,
        }
    }
}

/// A change to a ticket's on-site service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitChange {
    Propose(NewVisit),
    Step { visit_id: i64, step: VisitStep },
}

/// Whose clock an event counts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub at: Secs,
    pub device: bool,
    /// Why, in words for `explain`.
    pub why: String,
}

/// The instant a check-in counts at: the device's time when the event comes from the visit's
/// engineer and is at most `max_offline` old (and not in the future, nor before the visit was
/// proposed); the server's otherwise.
pub fn counted_at(
    device_at: Option<Secs>,
    from_engineer: bool,
    server_at: Secs,
    max_offline: Secs,
    proposed_at: Secs,
) -> Counted {
    let server = |why: String| Counted { at: server_at, device: false, why };
    let Some(d) = device_at else {
        return server("the server's time: the event carries no device time".into());
    };
    if !from_engineer {
        return server("the server's time: the event does not come from the visit's engineer".into());
    }
    if d > server_at {
        return server("the server's time: the device's time is ahead of the server's".into());
    }
    if d < proposed_at {
        return server("the server's time: the device's time is before the visit was proposed".into());
    }
    if server_at - d > max_offline {
        return server(format!(
            "the server's time: the device's time is {} old, more than visits.max_offline ({})",
            crate::domain::sla::format_hms(server_at - d),
            crate::domain::sla::format_hms(max_offline)
        ));
    }
    let why = if server_at == d {
        "the device's time, the same as the server's".to_string()
    } else {
        format!("the device's time, recorded offline and sent {} later", crate::domain::sla::format_hms(server_at - d))
    };
    Counted { at: d, device: true, why }
}

/// Whether `a` and `b` overlap (half-open).
pub fn overlaps(a: (Secs, Secs), b: (Secs, Secs)) -> bool {
    a.0 < b.1 && b.0 < a.1
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
mod tests;
