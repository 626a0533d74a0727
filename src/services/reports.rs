//! SLA reports from the system of record: every timer (each cycle) counted by how it ended, per
//! level and timer, with compliance = in time ÷ (in time + late + breached).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::Result;
use crate::domain::level::Level;
use crate::domain::sla::{Outcome, TimerKind, TimerState};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportRow {
    #[schema(value_type = String)]
    pub level: Level,
    #[schema(value_type = String)]
    pub timer: TimerKind,
    pub in_time: u64,
    pub late: u64,
    /// Unmet past the deadline: still running, or ended unmet.
    pub breached: u64,
    pub auto_resolved: u64,
    pub cancelled: u64,
    /// Still running or paused within their deadline.
    pub open: u64,
    /// in_time ÷ (in_time + late + breached); null when nothing counts yet.
    pub compliance: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaReport {
    pub customer_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub generated_at: DateTime<Utc>,
    pub rows: Vec<ReportRow>,
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
    let mut table: BTreeMap<(Level, TimerKind), ReportRow> = BTreeMap::new();
    for level in Level::ALL {
        for kind in TimerKind::ALL {
            let row = ReportRow {
                level,
                timer: kind,
                in_time: 0,
                late: 0,
                breached: 0,
                auto_resolved: 0,
                cancelled: 0,
                open: 0,
                compliance: None,
            };
            table.insert((level, kind), row);
        }
    }
    for (level, kind, timer_state, outcome, overdue, n) in rows {
        let Some(row) = table.get_mut(&(level, kind)) else { continue };
        let n = n as u64;
        match outcome {
            Some(Outcome::InTime) => row.in_time += n,
            Some(Outcome::Late) => row.late += n,
            Some(Outcome::Breached) => row.breached += n,
            Some(Outcome::AutoResolved) => row.auto_resolved += n,
            Some(Outcome::Cancelled) => row.cancelled += n,
            None if timer_state == TimerState::Breached || (timer_state == TimerState::Running && overdue == 1) => {
                row.breached += n
            }
            None => row.open += n,
        }
    }
    let rows = table
        .into_values()
        .map(|mut r| {
            let denominator = r.in_time + r.late + r.breached;
            r.compliance = (denominator > 0).then(|| r.in_time as f64 / denominator as f64);
            r
        })
        .collect();
    Ok(SlaReport { customer_id, from, to, generated_at: now, rows })
}
