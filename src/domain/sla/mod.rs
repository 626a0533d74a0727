//! The SLA clock engine (docs/sla.md): targets, policies and the three timers per ticket. Pure: every
//! function takes the instants it needs; nothing here reads a clock or a database.

mod frozen;
mod policy;
mod target;
mod timer;

pub use frozen::{Figures, figures};
pub use policy::{LevelTargets, SlaPolicy};
pub use target::{Target, TargetParseError, deadline, format_hms, parse_hms};
pub use timer::{HistoryEntry, PauseReason, Replayed, Targets, change_level, replay, replay_explained};

#[cfg(test)]
mod props;

use crate::domain::calendar::Secs;

crate::text_enum! {
    /// The timers of a ticket (docs/sla.md §2). `arrival` runs only while on-site service is
    /// asked for, `callback` only after a low (or a VIP's) satisfaction rating, and each only
    /// where the contract sets a target for it.
    #[derive(PartialOrd, Ord)]
    pub enum TimerKind ("timer") {
        Response = "response",
        Plan = "plan",
        Resolution = "resolution",
        Arrival = "arrival",
        Callback = "callback",
    }
}

impl TimerKind {
    /// The timers every ticket starts with.
    pub const TICKET: [TimerKind; 3] = [TimerKind::Response, TimerKind::Plan, TimerKind::Resolution];
}

crate::text_enum! {
    /// A timer's state as shown to users (docs/sla.md §2).
    pub enum TimerState ("timer state") {
        Running = "running",
        Paused = "paused",
        Breached = "breached",
        Met = "met",
        AutoResolved = "auto_resolved",
        Cancelled = "cancelled",
    }
}

impl TimerState {
    /// Still counting towards a deadline (a breached timer keeps running until met).
    pub fn is_unmet_active(self) -> bool {
        matches!(self, TimerState::Running | TimerState::Paused | TimerState::Breached)
    }
}

crate::text_enum! {
    /// How a finished timer ended; the immutable fact reports count.
    pub enum Outcome ("timer outcome") {
        InTime = "in_time",
        Late = "late",
        /// Ended unmet after its deadline (the ticket was resolved by the system or cancelled).
        Breached = "breached",
        AutoResolved = "auto_resolved",
        Cancelled = "cancelled",
    }
}

/// RFC 3339 in UTC, whole seconds.
pub fn rfc3339(t: Secs) -> String {
    jiff::Timestamp::from_second(t).map(|ts| ts.to_string()).unwrap_or_else(|_| t.to_string())
}
