//! The gauges whose truth is in the database (open tickets, timers at risk or in breach, the
//! outbox, sweep lag, checks). Every `metrics.refresh_secs` each instance calls [`refresh`]: the
//! one holding the lease on the `metrics_snapshot` row computes them — ticket counts folded from
//! the deltas the database's triggers append whenever a ticket row is inserted, deleted, or
//! changes level or status (migration m20261206_000012), timer counts served by partial indexes,
//! nothing that grows with the number of tickets — and stores them; every instance then exports
//! the stored values, so two instances export the same numbers and boards take `max by`.

use crate::domain::check::Health;
use crate::domain::delivery::DeliveryStatus;
use crate::domain::sla::TimerState;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value,
};

use super::error::Result;
use crate::metrics::{CheckGauge, Counts, Snapshot};
use crate::persistence::entities::{check, outbox, sla_timer};
use crate::services::timers::Timer;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    /// This instance held the lease and computed the snapshot.
    pub computed: bool,
    /// A stored snapshot was exported.
    pub exported: bool,
}

fn stmt(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// Takes or renews the lease (held for three refresh periods, so that a stopped holder is
/// replaced within that), computes and stores when held, then exports what is stored.
pub async fn refresh(state: &AppState, now: DateTime<Utc>) -> Result<Refreshed> {
    let backend = state.backend();
    let me = state.metrics.holder.clone();
    let period = state.config.settings.metrics.refresh_secs as i64;
    let taken = state
        .db
        .execute_raw(stmt(
            backend,
            "UPDATE metrics_snapshot SET holder = $1, lease_until = $2 \
             WHERE id = 1 AND (holder IS NULL OR holder = $1 OR lease_until IS NULL OR lease_until < $3)",
            vec![me.clone().into(), (now + Duration::seconds(3 * period)).into(), now.into()],
        ))
        .await?
        .rows_affected()
        == 1;
    let mut out = Refreshed { computed: false, exported: false };
    let snapshot = if taken {
        let filled = backfill_risk(state).await?;
        if filled > 0 {
            tracing::info!(timers = filled, "metrics: at-risk instants filled in for timers that lacked them");
        }
        let figured = crate::services::timers::fill_figures(&state.db, &state.versions, None, BACKFILL_BATCH).await?;
        if figured > 0 {
            tracing::info!(
                outcomes = figured,
                "reports: working-time figures filled in for outcomes copied by the migration"
            );
        }
        let s = compute(state, now).await?;
        let body = serde_json::to_string(&s).map_err(|e| super::Error::Internal(e.to_string()))?;
        state
            .db
            .execute_raw(stmt(
                backend,
                "UPDATE metrics_snapshot SET taken_at = $1, body = $2 WHERE id = 1 AND holder = $3",
                vec![now.into(), body.into(), me.into()],
            ))
            .await?;
        out.computed = true;
        Some(s)
    } else {
        match state.db.query_one_raw(stmt(backend, "SELECT body FROM metrics_snapshot WHERE id = 1", vec![])).await? {
            Some(row) => row.try_get::<Option<String>>("", "body")?.and_then(|b| {
                serde_json::from_str::<Snapshot>(&b)
                    .map_err(|e| tracing::warn!(error = %e, "unreadable metrics snapshot"))
                    .ok()
            }),
            None => None,
        }
    };
    if let Some(s) = snapshot {
        state.metrics.apply(&s, now.timestamp());
        out.exported = true;
    }
    let newest = crate::services::versions::config_is_newest(&state.db, &state.versions.config_hash).await?;
    state.metrics.set_config_mismatch(!newest);
    Ok(out)
}

/// Folds the appended deltas into the totals inside the database, however many there are (an
/// operator's bulk `UPDATE` appends two a row), counting each once even when two instances fold
/// at once: on PostgreSQL `DELETE … RETURNING` hands each delta to exactly one folder; SQLite
/// writes one transaction at a time, and a folder whose snapshot went stale fails rather than
/// count twice.
pub async fn fold_counts(db: &sea_orm::DatabaseConnection) -> Result<()> {
    use sea_orm::TransactionTrait;
    const TOTALS: &str = "INSERT INTO ticket_counts (level, status, n) SELECT level, status, SUM(delta)";
    const ADD: &str =
        "GROUP BY level, status ON CONFLICT (level, status) DO UPDATE SET n = ticket_counts.n + excluded.n";
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        let sql =
            format!("WITH d AS (DELETE FROM ticket_count_deltas RETURNING level, status, delta) {TOTALS} FROM d {ADD}");
        db.execute_raw(stmt(backend, &sql, vec![])).await?;
        return Ok(());
    }
    let txn = db.begin().await?;
    // `WHERE true`: SQLite's grammar needs it between a SELECT and an upsert.
    txn.execute_raw(stmt(backend, &format!("{TOTALS} FROM ticket_count_deltas WHERE true {ADD}"), vec![])).await?;
    txn.execute_raw(stmt(backend, "DELETE FROM ticket_count_deltas", vec![])).await?;
    txn.commit().await?;
    Ok(())
}

/// Timers per refresh that get their at-risk instant filled in.
const BACKFILL_BATCH: u64 = 500;

/// Running timers stored before the at-risk instant existed get it, a bounded batch per refresh;
/// returns how many.
async fn backfill_risk(state: &AppState) -> Result<u64> {
    let rows = sla_timer::Entity::find()
        .filter(sla_timer::Column::Outcome.is_null())
        .filter(sla_timer::Column::Breached.eq(false))
        .filter(sla_timer::Column::State.eq(TimerState::Running))
        .filter(sla_timer::Column::RiskAt.is_null())
        .filter(sla_timer::Column::DueAt.is_not_null())
        .limit(BACKFILL_BATCH)
        .all(&state.db)
        .await?;
    let n = rows.len() as u64;
    for model in rows {
        let (id, due) = (model.id, model.due_at);
        let timer = Timer::from_model(&state.db, &state.versions, model).await?;
        // A timer whose instant cannot be computed gets its deadline, so it is not picked again.
        let at = timer.risk_at().ok().flatten().or(due);
        sla_timer::Entity::update_many()
            .col_expr(sla_timer::Column::RiskAt, sea_orm::sea_query::Expr::value(at))
            .filter(sla_timer::Column::Id.eq(id))
            .filter(sla_timer::Column::RiskAt.is_null())
            .exec(&state.db)
            .await?;
    }
    Ok(n)
}

async fn counts(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<Counts> {
    let mut out = Vec::new();
    for r in db.query_all_raw(stmt(db.get_database_backend(), sql, values)).await? {
        out.push((r.try_get::<String>("", "a")?, r.try_get::<String>("", "b")?, r.try_get::<i64>("", "n")?));
    }
    Ok(out)
}

/// The snapshot at `now`. Each predicate repeats a partial index's, so the planner can use it.
pub async fn compute(state: &AppState, now: DateTime<Utc>) -> Result<Snapshot> {
    let db = &state.db;
    fold_counts(db).await?;
    let tickets_open = counts(
        db,
        "SELECT level AS a, status AS b, n FROM ticket_counts \
         WHERE status IN ('open', 'in_progress', 'waiting_customer') AND n <> 0",
        vec![],
    )
    .await?;
    let at_risk = counts(
        db,
        "SELECT level AS a, kind AS b, COUNT(*) AS n FROM sla_timers \
         WHERE outcome IS NULL AND breached = false AND risk_at <= $1 AND due_at >= $1 AND state = 'running' \
         GROUP BY level, kind",
        vec![now.into()],
    )
    .await?;
    let breached = counts(
        db,
        "SELECT level AS a, kind AS b, COUNT(*) AS n FROM sla_timers \
         WHERE outcome IS NULL AND breached = true GROUP BY level, kind",
        vec![],
    )
    .await?;
    let outbox_pending =
        outbox::Entity::find().filter(outbox::Column::Status.eq(DeliveryStatus::Pending)).count(db).await? as i64;
    let outbox_dead =
        outbox::Entity::find().filter(outbox::Column::Status.eq(DeliveryStatus::Dead)).count(db).await? as i64;
    let oldest = outbox::Entity::find()
        .filter(outbox::Column::Status.eq(DeliveryStatus::Pending))
        .order_by_asc(outbox::Column::CreatedAt)
        .limit(1)
        .one(db)
        .await?;
    let lagging = sla_timer::Entity::find()
        .filter(sla_timer::Column::NextFireAt.lte(now))
        .filter(sla_timer::Column::Outcome.is_null())
        .order_by_asc(sla_timer::Column::NextFireAt)
        .limit(1)
        .one(db)
        .await?;
    Ok(Snapshot {
        taken_at: now.timestamp(),
        tickets_open,
        at_risk,
        breached,
        outbox_pending,
        outbox_oldest_pending_at: oldest.map(|o| o.created_at.timestamp()),
        outbox_dead,
        sweep_oldest_due_at: lagging.and_then(|t| t.next_fire_at).map(|t| t.timestamp()),
        checks: checks(state).await?,
    })
}

async fn checks(state: &AppState) -> Result<Vec<CheckGauge>> {
    let rows = check::Entity::find().order_by_asc(check::Column::Name).all(&state.db).await?;
    let mut last = super::checks::latest_results(&state.db, rows.iter().map(|r| r.id).collect()).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let result = last.remove(&r.id);
            CheckGauge {
                up: match r.health {
                    Health::Up => Some(true),
                    Health::Down => Some(false),
                    Health::Unknown => None,
                },
                duration_secs: result.as_ref().map(|x| x.duration_ms as f64 / 1000.0),
                cert_expires_at: result.and_then(|x| x.cert_expires_at).map(|t| t.timestamp()),
                name: r.name,
            }
        })
        .collect())
}
