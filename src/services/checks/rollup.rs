//! Per-minute and per-day rollups of check results (the status page and reports read these, so
//! raw results can go after a week), and the retention job that deletes old rows in bounded
//! batches (README: PostgreSQL and several instances).

use crate::domain::delivery::DeliveryStatus;
use chrono::{DateTime, Duration, DurationRound, Utc};
use sea_orm::sea_query::{Condition, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use super::super::error::Result;
use crate::domain::check::RollupPeriod;
use crate::domain::check::health::Verdict;
use crate::persistence::check_bulk::{self, RollupAdd};
use crate::persistence::entities::{check_result, check_rollup, delivery_attempt, outbox};
use crate::state::AppState;

/// One result as increments of its minute and its day.
pub fn increments(check_id: i64, v: Verdict, ms: i64, now: DateTime<Utc>) -> [RollupAdd; 2] {
    let (passes, failures, unknowns) = match v {
        Verdict::Pass => (1, 0, 0),
        Verdict::Fail => (0, 1, 0),
        Verdict::Unknown => (0, 0, 1),
    };
    let at = |period, len| RollupAdd {
        check_id,
        period,
        bucket_start: now.duration_trunc(len).unwrap_or(now),
        passes,
        failures,
        unknowns,
        total_ms: ms,
    };
    [at(RollupPeriod::Minute, Duration::minutes(1)), at(RollupPeriod::Day, Duration::days(1))]
}

/// Counts one result into its minute and its day.
pub async fn add(db: &impl ConnectionTrait, check_id: i64, v: Verdict, ms: i64, now: DateTime<Utc>) -> Result<()> {
    Ok(check_bulk::add_rollups(db, &increments(check_id, v, ms, now)).await?)
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    pub check_results: u64,
    pub rollups: u64,
    pub notifications: u64,
}

/// Deletes rows past their retention, `retention.batch` at a time, and counts them.
pub async fn purge(state: &AppState, now: DateTime<Utc>) -> Result<Purged> {
    let r = &state.config.runtime.checks.retention;
    let batch = state.config.settings.retention.batch;
    let db = &state.db;
    let before = |secs: i64| now - Duration::seconds(secs);
    let check_results = delete_old::<check_result::Entity>(
        db,
        batch,
        check_result::Column::Id,
        Condition::all().add(check_result::Column::StartedAt.lt(before(r.check_results_secs))),
    )
    .await?;
    let mut rollups = 0;
    for (period, keep) in [(RollupPeriod::Minute, r.minute_rollups_secs), (RollupPeriod::Day, r.day_rollups_secs)] {
        let old = Condition::all()
            .add(check_rollup::Column::Period.eq(period))
            .add(check_rollup::Column::BucketStart.lt(before(keep)));
        rollups += delete_old::<check_rollup::Entity>(db, batch, check_rollup::Column::Id, old).await?;
    }
    let delivered = Condition::all()
        .add(outbox::Column::Status.is_in([DeliveryStatus::Delivered, DeliveryStatus::Folded]))
        .add(outbox::Column::DeliveredAt.lt(before(r.delivered_notifications_secs)));
    // Their attempts first, so that no attempt outlives its notification.
    let mut attempts_of = Query::select();
    attempts_of.column(outbox::Column::Id).from(outbox::Entity).cond_where(delivered.clone());
    let attempts = Condition::all().add(delivery_attempt::Column::OutboxId.in_subquery(attempts_of));
    delete_old::<delivery_attempt::Entity>(db, batch, delivery_attempt::Column::Id, attempts).await?;
    let notifications = delete_old::<outbox::Entity>(db, batch, outbox::Column::Id, delivered).await?;
    // Sign-in sessions past their end (few rows: one statement).
    crate::persistence::entities::web_session::Entity::delete_many()
        .filter(crate::persistence::entities::web_session::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(Purged { check_results, rollups, notifications })
}

/// Deletes the rows matching `old`, `batch` at a time (pick ids, delete them) until a pick comes
/// back short, so that no statement holds locks for long; the number deleted.
async fn delete_old<E: EntityTrait>(db: &DatabaseConnection, batch: u64, id: E::Column, old: Condition) -> Result<u64> {
    let mut total = 0;
    loop {
        let ids: Vec<i64> =
            E::find().select_only().column(id).filter(old.clone()).limit(batch).into_tuple().all(db).await?;
        let n = ids.len() as u64;
        if n > 0 {
            total += E::delete_many().filter(id.is_in(ids)).exec(db).await?.rows_affected;
        }
        if n < batch {
            return Ok(total);
        }
    }
}
