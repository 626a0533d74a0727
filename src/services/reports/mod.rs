//! SLA reports from the system of record: every timer (each cycle) counted by how it ended, per
//! level and timer, with compliance = in time ÷ (in time + late + breached); and each customer's
//! service report from frozen outcomes (`customer`).

mod customer;
mod decide;
mod operations;
mod schedule;
mod unacknowledged;

pub use customer::*;
pub use decide::{NewDecision, decide};
pub use schedule::{ReportMail, run_scheduled};
pub use unacknowledged::{Unanswered, run_unacknowledged};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::Result;
use crate::domain::level::Level;
use crate::domain::report::{ComplianceRow, Counted, compliance_table};
use crate::domain::sla::{Outcome, TimerKind, TimerState};
use crate::state::AppState;

/// A service report as documents: the HTML page (the mail's body) and the PDF. The web layer,
/// which owns the report's templates and texts, provides it (`web::report::Documents`); the state
/// holds it behind this trait so that services depend on no layer above them.
pub trait ReportDocuments: Send + Sync {
    /// The report as one HTML document; `base` (the public URL) prefixes its links, and
    /// `answer_link`, when given, is the customer's link to acknowledge or dispute it.
    fn html(
        &self,
        content: &crate::domain::report::Content,
        sha256: &str,
        base: &str,
        answer_link: Option<&str>,
    ) -> std::result::Result<String, String>;

    /// The report's PDF; `None` when this build renders none (without the `pdf` feature).
    fn pdf(
        &self,
        content: &crate::domain::report::Content,
        sha256: &str,
    ) -> Option<std::result::Result<Vec<u8>, String>>;
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaReport {
    pub customer_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub generated_at: DateTime<Utc>,
    pub rows: Vec<ComplianceRow>,
}

/// Timers started in `[from, to)`, optionally of one customer's tickets.
pub async fn sla_report(
    state: &AppState,
    customer_id: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<SlaReport> {
    let backend = state.db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = vec![now.into()];
    let mut param = |v: sea_orm::Value| {
        values.push(v);
        if backend == DatabaseBackend::Postgres { format!("${}", values.len()) } else { "?".to_string() }
    };
    let first = if backend == DatabaseBackend::Postgres { "$1" } else { "?" };
    let mut sql = format!(
        "SELECT t.level, t.kind, t.state, t.outcome, \
         CASE WHEN t.due_at < {first} THEN 1 ELSE 0 END AS overdue, COUNT(*) AS n \
         FROM sla_timers t JOIN tickets k ON k.id = t.ticket_id WHERE 1 = 1"
    );
    if let Some(c) = customer_id {
        sql.push_str(&format!(" AND k.customer_id = {}", param(c.into())));
    }
    if let Some(f) = from {
        sql.push_str(&format!(" AND t.started_at >= {}", param(f.into())));
    }
    if let Some(t) = to {
        sql.push_str(&format!(" AND t.started_at < {}", param(t.into())));
    }
    sql.push_str(" GROUP BY 1, 2, 3, 4, 5");
    let mut rows = Vec::new();
    for r in state.db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await? {
        rows.push((
            r.try_get::<Level>("", "level")?,
            r.try_get::<TimerKind>("", "kind")?,
            r.try_get::<TimerState>("", "state")?,
            r.try_get::<Option<Outcome>>("", "outcome")?,
            r.try_get::<i32>("", "overdue")?,
            r.try_get::<i64>("", "n")?,
        ));
    }
    let rows = compliance_table(rows.into_iter().map(|(level, kind, timer_state, outcome, overdue, n)| {
        let how = match outcome {
            Some(o) => Counted::Ended(o),
            None if timer_state == TimerState::Breached || (timer_state == TimerState::Running && overdue == 1) => {
                Counted::Overdue
            }
            None => Counted::Open,
        };
        (level, kind, how, n as u64)
    }));
    Ok(SlaReport { customer_id, from, to, generated_at: now, rows })
}
