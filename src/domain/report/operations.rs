//! A report's operations section: how the customer's health checks did (uptime and failures,
//! from the per-day rollups), the inspections that covered them, and the backlog at the
//! period's end (from the tickets' append-only log).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::level::Level;

/// One of the customer's checks over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckUptime {
    pub name: String,
    pub passes: u64,
    pub failures: u64,
    /// passes ÷ (passes + failures); results that were neither count in neither.
    pub uptime: Option<f64>,
}

/// An inspection that finished in the period and covered some of the customer's checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InspectionRow {
    pub id: i64,
    pub finished_at: String,
    /// The customer's checks it ran, and those of them that were down.
    pub checked: u64,
    pub down: Vec<String>,
}

/// Tickets still open when the period ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Backlog {
    /// Per level (I to IV): unresolved at the end.
    pub open: [u64; 4],
    /// Of those, waiting for the customer.
    pub waiting_customer: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Operations {
    pub checks: Vec<CheckUptime>,
    /// The latest inspections of the period (at most 20) …
    pub inspections: Vec<InspectionRow>,
    /// … of this many.
    pub inspections_total: u64,
    pub backlog: Backlog,
}

/// A check's uptime from its counts.
pub fn uptime(name: String, passes: u64, failures: u64) -> CheckUptime {
    let counted = passes + failures;
    let uptime = (counted > 0).then(|| passes as f64 / counted as f64);
    CheckUptime { name, passes, failures, uptime }
}

/// Where a ticket stood, as its log says, for the backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stood {
    Open,
    WaitingCustomer,
    /// Resolved, closed or cancelled.
    Done,
}

/// The backlog from each ticket's level and where it stood at the end.
pub fn backlog(tickets: impl IntoIterator<Item = (Level, Stood)>) -> Backlog {
    let mut b = Backlog::default();
    for (level, stood) in tickets {
        if stood == Stood::Done {
            continue;
        }
        b.open[level.index()] += 1;
        if stood == Stood::WaitingCustomer {
            b.waiting_customer += 1;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_counts_passes_over_decided_results_and_the_backlog_skips_what_was_done() {
        assert_eq!(uptime("web".into(), 3, 1).uptime, Some(0.75));
        assert_eq!(uptime("idle".into(), 0, 0).uptime, None);
        let b = backlog([
            (Level::I, Stood::Open),
            (Level::III, Stood::WaitingCustomer),
            (Level::III, Stood::Done),
            (Level::IV, Stood::Open),
        ]);
        assert_eq!((b.open, b.waiting_customer), ([1, 0, 1, 1], 1));
    }
}
