//! Per-minute and per-day rollups of check results (the status page and reports read these, so
//! raw results can go after a week), and the retention job that deletes old rows in bounded
//! batches (DESIGN.md §3).

use chrono::{DateTime, Duration, DurationRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::super::error::Result;
use crate::domain::check::health::Verdict;
use crate::persistence::entities::{check_result, check_rollup, delivery_attempt, outbox};
use crate::state::AppState;

/// Counts one result into its minute and its day.
pub async fn add(db: &impl ConnectionTrait, check_id: i64, v: Verdict, ms: i64, now: DateTime<Utc>) -> Result<()> {
    let (p, f, u) = match v {
        Verdict::Pass => (1, 0, 0),
        Verdict::Fail => (0, 1, 0),
        Verdict::Unknown => (0, 0, 1),
    };
    for (period, len) in [("minute", Duration::minutes(1)), ("day", Duration::days(1))] {
        let bucket = now.duration_trunc(len).unwrap_or(now);
        let mut q = Query::insert();
        q.into_table(check_rollup::Entity)
            .columns([
                check_rollup::Column::CheckId,
                check_rollup::Column::Period,
                check_rollup::Column::BucketStart,
                check_rollup::Column::Passes,
                check_rollup::Column::Failures,
                check_rollup::Column::Unknowns,
                check_rollup::Column::TotalMs,
            ])
            .values([check_id.into(), period.into(), bucket.into(), p.into(), f.into(), u.into(), ms.into()])
            .map_err(|e| crate::services::Error::Internal(e.to_string()))?
            .on_conflict(
                OnConflict::columns([
                    check_rollup::Column::CheckId,
                    check_rollup::Column::Period,
                    check_rollup::Column::BucketStart,
                ])
                .value(check_rollup::Column::Passes, Expr::cust("check_rollups.passes + excluded.passes"))
                .value(check_rollup::Column::Failures, Expr::cust("check_rollups.failures + excluded.failures"))
                .value(check_rollup::Column::Unknowns, Expr::cust("check_rollups.unknowns + excluded.unknowns"))
                .value(check_rollup::Column::TotalMs, Expr::cust("check_rollups.total_ms + excluded.total_ms"))
                .to_owned(),
            );
        db.execute(&q).await?;
    }
    Ok(())
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
    let mut out = Purged::default();
    let cutoff = now - Duration::seconds(r.check_results_secs);
    loop {
        let ids: Vec<i64> = check_result::Entity::find()
            .select_only()
            .column(check_result::Column::Id)
            .filter(check_result::Column::StartedAt.lt(cutoff))
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            break;
        }
        let n = ids.len() as u64;
        out.check_results += check_result::Entity::delete_many()
            .filter(check_result::Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected;
        if n < batch {
            break;
        }
    }
    for (period, keep) in [("minute", r.minute_rollups_secs), ("day", r.day_rollups_secs)] {
        let cutoff = now - Duration::seconds(keep);
        loop {
            let ids: Vec<i64> = check_rollup::Entity::find()
                .select_only()
                .column(check_rollup::Column::Id)
                .filter(check_rollup::Column::Period.eq(period))
                .filter(check_rollup::Column::BucketStart.lt(cutoff))
                .limit(batch)
                .into_tuple()
                .all(db)
                .await?;
            if ids.is_empty() {
                break;
            }
            let n = ids.len() as u64;
            out.rollups += check_rollup::Entity::delete_many()
                .filter(check_rollup::Column::Id.is_in(ids))
                .exec(db)
                .await?
                .rows_affected;
            if n < batch {
                break;
            }
        }
    }
    let cutoff = now - Duration::seconds(r.delivered_notifications_secs);
    loop {
        let ids: Vec<i64> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(outbox::Column::Status.is_in(["delivered", "folded"]))
            .filter(outbox::Column::DeliveredAt.lt(cutoff))
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            break;
        }
        let n = ids.len() as u64;
        delivery_attempt::Entity::delete_many()
            .filter(delivery_attempt::Column::OutboxId.is_in(ids.clone()))
            .exec(db)
            .await?;
        out.notifications +=
            outbox::Entity::delete_many().filter(outbox::Column::Id.is_in(ids)).exec(db).await?.rows_affected;
        if n < batch {
            break;
        }
    }
    Ok(out)
}
