//! The SLA clock engine (SLA.md): targets, policies and the three timers per ticket. Pure: every
//! function takes the instants it needs; nothing here reads a clock or a database.

mod policy;
mod target;
mod timer;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use policy::{LevelTargets, SlaPolicy};
pub use target::{Target, TargetParseError, deadline, format_hms, parse_hms};
pub use timer::{HistoryEntry, Replayed, change_level, replay, replay_explained};

#[cfg(test)]
mod props;

use crate::domain::calendar::Secs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    Response,
    Plan,
    Resolution,
}

impl TimerKind {
    pub const ALL: [TimerKind; 3] = [TimerKind::Response, TimerKind::Plan, TimerKind::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Response => "response",
            TimerKind::Plan => "plan",
            TimerKind::Resolution => "resolution",
        }
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "response" => Ok(TimerKind::Response),
            "plan" => Ok(TimerKind::Plan),
            "resolution" => Ok(TimerKind::Resolution),
            _ => Err(format!("`{s}` is not a timer: use response, plan or resolution")),
        }
    }
}

/// A timer's state as shown to users (SLA.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerState {
    Running,
    Paused,
    Breached,
    Met,
    AutoResolved,
    Cancelled,
}

impl TimerState {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerState::Running => "running",
            TimerState::Paused => "paused",
            TimerState::Breached => "breached",
            TimerState::Met => "met",
            TimerState::AutoResolved => "auto_resolved",
            TimerState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => TimerState::Running,
            "paused" => TimerState::Paused,
            "breached" => TimerState::Breached,
            "met" => TimerState::Met,
            "auto_resolved" => TimerState::AutoResolved,
            "cancelled" => TimerState::Cancelled,
            _ => return None,
        })
    }

    /// Still counting towards a deadline (a breached timer keeps running until met).
    pub fn is_unmet_active(self) -> bool {
        matches!(self, TimerState::Running | TimerState::Paused | TimerState::Breached)
    }
}

/// How a finished timer ended; the immutable fact reports count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    InTime,
    Late,
    /// Ended unmet after its deadline (the ticket was resolved by the system or cancelled).
    Breached,
    AutoResolved,
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InTime => "in_time",
            Outcome::Late => "late",
            Outcome::Breached => "breached",
            Outcome::AutoResolved => "auto_resolved",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in_time" => Outcome::InTime,
            "late" => Outcome::Late,
            "breached" => Outcome::Breached,
            "auto_resolved" => Outcome::AutoResolved,
            "cancelled" => Outcome::Cancelled,
            _ => return None,
        })
    }
}

/// RFC 3339 in UTC, whole seconds.
pub fn rfc3339(t: Secs) -> String {
    jiff::Timestamp::from_second(t).map(|ts| ts.to_string()).unwrap_or_else(|_| t.to_string())
}
