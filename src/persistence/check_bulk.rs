//! Multi-row writes for the check runner: a batch of results, the checks' new health and the
//! rollups in a handful of statements (arrays and `unnest` on PostgreSQL, as in `bulk`), so that
//! a thousand checks a second stay within one core.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ArrayType, Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, Statement, Value};

use super::entities::{check, check_result, check_rollup};
use crate::domain::check::RollupPeriod;

fn arr<T: Into<Value>>(ty: ArrayType, items: Vec<T>) -> Value {
    Value::Array(ty, Some(Box::new(items.into_iter().map(Into::into).collect())))
}

fn pg(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// What one result changes on its check.
#[derive(Debug, Clone)]
pub struct CheckUpdate {
    pub id: i64,
    pub health: crate::domain::check::Health,
    pub tracker: String,
    pub flapping: bool,
    pub last_run_at: DateTime<Utc>,
    pub next_run_at: Option<DateTime<Utc>>,
}

/// One rollup increment.
#[derive(Debug, Clone)]
pub struct RollupAdd {
    pub check_id: i64,
    pub period: RollupPeriod,
    pub bucket_start: DateTime<Utc>,
    pub passes: i32,
    pub failures: i32,
    pub unknowns: i32,
    pub total_ms: i64,
}

pub async fn insert_results(db: &impl ConnectionTrait, rows: &[check_result::Model]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    if pg(db) {
        let t = |v: &Option<String>| v.clone().unwrap_or_default();
        let stmt = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO check_results (check_id, inspection_id, started_at, duration_ms, outcome, health, transition, \
             failed_condition, observed, error, cert_expires_at) \
             SELECT c, NULLIF(i, 0), s, d, o, h, NULLIF(tr, ''), NULLIF(fc, ''), NULLIF(ob, ''), NULLIF(e, ''), to_timestamp(NULLIF(x, 0)) \
             FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::varchar[], $6::varchar[], \
             $7::varchar[], $8::text[], $9::text[], $10::text[], $11::bigint[]) \
             AS u(c, i, s, d, o, h, tr, fc, ob, e, x)",
            [
                arr(ArrayType::BigInt, rows.iter().map(|r| r.check_id).collect()),
                arr(ArrayType::BigInt, rows.iter().map(|r| r.inspection_id.unwrap_or(0)).collect()),
                arr(ArrayType::ChronoDateTimeUtc, rows.iter().map(|r| r.started_at).collect()),
                arr(ArrayType::BigInt, rows.iter().map(|r| r.duration_ms).collect()),
                arr(ArrayType::String, rows.iter().map(|r| r.outcome).collect()),
                arr(ArrayType::String, rows.iter().map(|r| r.health.as_str().to_string()).collect()),
                arr(ArrayType::String, rows.iter().map(|r| t(&r.transition)).collect()),
                arr(ArrayType::String, rows.iter().map(|r| t(&r.failed_condition)).collect()),
                arr(ArrayType::String, rows.iter().map(|r| t(&r.observed)).collect()),
                arr(ArrayType::String, rows.iter().map(|r| t(&r.error)).collect()),
                arr(ArrayType::BigInt, rows.iter().map(|r| r.cert_expires_at.map_or(0, |t| t.timestamp())).collect()),
            ],
        );
        db.execute_raw(stmt).await?;
        return Ok(());
    }
    for chunk in rows.chunks(200) {
        check_result::Entity::insert_many(chunk.iter().map(|r| check_result::ActiveModel {
            check_id: sea_orm::ActiveValue::Set(r.check_id),
            inspection_id: sea_orm::ActiveValue::Set(r.inspection_id),
            started_at: sea_orm::ActiveValue::Set(r.started_at),
            duration_ms: sea_orm::ActiveValue::Set(r.duration_ms),
            outcome: sea_orm::ActiveValue::Set(r.outcome),
            health: sea_orm::ActiveValue::Set(r.health),
            transition: sea_orm::ActiveValue::Set(r.transition.clone()),
            failed_condition: sea_orm::ActiveValue::Set(r.failed_condition.clone()),
            observed: sea_orm::ActiveValue::Set(r.observed.clone()),
            error: sea_orm::ActiveValue::Set(r.error.clone()),
            cert_expires_at: sea_orm::ActiveValue::Set(r.cert_expires_at),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Writes the checks' new health and schedule and releases their claims.
pub async fn update_checks(db: &impl ConnectionTrait, rows: &[CheckUpdate]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    if pg(db) {
        let stmt = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "UPDATE checks SET health = u.h, tracker = u.t, flapping = u.f, last_run_at = u.l, \
             next_run_at = NULLIF(u.n, '')::timestamptz, locked_until = NULL \
             FROM unnest($1::bigint[], $2::varchar[], $3::text[], $4::bool[], $5::timestamptz[], $6::text[]) \
             AS u(id, h, t, f, l, n) WHERE checks.id = u.id",
            [
                arr(ArrayType::BigInt, rows.iter().map(|r| r.id).collect()),
                arr(ArrayType::String, rows.iter().map(|r| r.health.as_str().to_string()).collect()),
                arr(ArrayType::String, rows.iter().map(|r| r.tracker.clone()).collect()),
                arr(ArrayType::Bool, rows.iter().map(|r| r.flapping).collect()),
                arr(ArrayType::ChronoDateTimeUtc, rows.iter().map(|r| r.last_run_at).collect()),
                arr(
                    ArrayType::String,
                    rows.iter().map(|r| r.next_run_at.map(|t| t.to_rfc3339()).unwrap_or_default()).collect(),
                ),
            ],
        );
        db.execute_raw(stmt).await?;
        return Ok(());
    }
    for r in rows {
        check::Entity::update_many()
            .col_expr(check::Column::Health, Expr::value(r.health))
            .col_expr(check::Column::Tracker, Expr::value(r.tracker.clone()))
            .col_expr(check::Column::Flapping, Expr::value(r.flapping))
            .col_expr(check::Column::LastRunAt, Expr::value(Some(r.last_run_at)))
            .col_expr(check::Column::NextRunAt, Expr::value(r.next_run_at))
            .col_expr(check::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(check::Column::Id.eq(r.id))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Adds the increments to their buckets, creating buckets as needed. Increments for the same
/// bucket must already be summed (one row per bucket).
pub async fn add_rollups(db: &impl ConnectionTrait, rows: &[RollupAdd]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    if pg(db) {
        let stmt = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO check_rollups (check_id, period, bucket_start, passes, failures, unknowns, total_ms) \
             SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::timestamptz[], $4::int[], $5::int[], $6::int[], $7::bigint[]) \
             ON CONFLICT (check_id, period, bucket_start) DO UPDATE SET \
             passes = check_rollups.passes + excluded.passes, failures = check_rollups.failures + excluded.failures, \
             unknowns = check_rollups.unknowns + excluded.unknowns, total_ms = check_rollups.total_ms + excluded.total_ms",
            [
                arr(ArrayType::BigInt, rows.iter().map(|r| r.check_id).collect()),
                arr(ArrayType::String, rows.iter().map(|r| r.period.as_str().to_string()).collect()),
                arr(ArrayType::ChronoDateTimeUtc, rows.iter().map(|r| r.bucket_start).collect()),
                arr(ArrayType::Int, rows.iter().map(|r| r.passes).collect()),
                arr(ArrayType::Int, rows.iter().map(|r| r.failures).collect()),
                arr(ArrayType::Int, rows.iter().map(|r| r.unknowns).collect()),
                arr(ArrayType::BigInt, rows.iter().map(|r| r.total_ms).collect()),
            ],
        );
        db.execute_raw(stmt).await?;
        return Ok(());
    }
    for chunk in rows.chunks(100) {
        let mut q = Query::insert();
        q.into_table(check_rollup::Entity).columns([
            check_rollup::Column::CheckId,
            check_rollup::Column::Period,
            check_rollup::Column::BucketStart,
            check_rollup::Column::Passes,
            check_rollup::Column::Failures,
            check_rollup::Column::Unknowns,
            check_rollup::Column::TotalMs,
        ]);
        for r in chunk {
            q.values([
                r.check_id.into(),
                r.period.into(),
                r.bucket_start.into(),
                r.passes.into(),
                r.failures.into(),
                r.unknowns.into(),
                r.total_ms.into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        q.on_conflict(
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
