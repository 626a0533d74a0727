//! Multi-row writes on the hot paths (the sweep and delivery). On PostgreSQL a multi-row
//! `VALUES` list with thousands of bind parameters costs tens of milliseconds to plan, so these
//! statements send one array per column and `unnest` them: one small statement whatever the row
//! count. SQLite binds parameters cheaply and takes sea-orm's multi-row inserts.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ArrayType, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, Statement, Value,
};

use super::entities::{delivery_attempt, escalation, escalation_event, outbox, sla_timer};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::sla::TimerKind;

/// A PostgreSQL array parameter whose elements may be NULL.
fn arr<T: Into<Value>>(ty: ArrayType, items: Vec<T>) -> Value {
    Value::Array(ty, Some(Box::new(items.into_iter().map(Into::into).collect())))
}

// sea-query binds PostgreSQL arrays without NULL elements, so nullable columns travel with a
// sentinel (0 for ids and statuses, '' for text and timestamps) that `NULLIF` turns back into NULL.
fn id0(v: Option<i64>) -> i64 {
    v.unwrap_or(0)
}

fn text0(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn ts0(v: Option<DateTime<Utc>>) -> String {
    v.map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn pg(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

/// A chain's key: ticket, timer, cycle.
pub type ChainKey = (i64, TimerKind, i32);

/// Escalation chains `(ticket, timer, cycle)`, created unless they exist; returns the id and key
/// of each chain created.
pub async fn insert_chains(
    db: &impl ConnectionTrait,
    rows: &[ChainKey],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, ChainKey)>, DbErr> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    if pg(db) {
        let stmt = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO escalations (ticket_id, timer, cycle, created_at) \
             SELECT t, k, c, $4 FROM unnest($1::bigint[], $2::varchar[], $3::int[]) AS u(t, k, c) \
             ON CONFLICT (ticket_id, timer, cycle) DO NOTHING RETURNING id, ticket_id, timer, cycle",
            [
                arr(ArrayType::BigInt, rows.iter().map(|r| r.0).collect()),
                arr(ArrayType::String, rows.iter().map(|r| r.1).collect()),
                arr(ArrayType::Int, rows.iter().map(|r| r.2).collect()),
                now.into(),
            ],
        );
        let mut out = Vec::with_capacity(rows.len());
        for r in db.query_all_raw(stmt).await? {
            let key = (
                r.try_get::<i64>("", "ticket_id")?,
                r.try_get::<TimerKind>("", "timer")?,
                r.try_get::<i32>("", "cycle")?,
            );
            out.push((r.try_get::<i64>("", "id")?, key));
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(500) {
        let created = escalation::Entity::insert_many(chunk.iter().map(|(t, k, c)| escalation::ActiveModel {
            ticket_id: Set(*t),
            timer: Set(*k),
            cycle: Set(*c),
            acked_at: Set(None),
            acked_by: Set(None),
            created_at: Set(now),
            ..Default::default()
        }))
        .on_conflict(
            OnConflict::columns([escalation::Column::TicketId, escalation::Column::Timer, escalation::Column::Cycle])
                .do_nothing()
                .to_owned(),
        )
        .exec_with_returning(db)
        .await?;
        out.extend(created.into_iter().map(|e| (e.id, (e.ticket_id, e.timer, e.cycle))));
    }
    Ok(out)
}

fn col<T, F: Fn(&escalation_event::Model) -> T>(rows: &[escalation_event::Model], f: F) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Inserts escalation events unless their key exists; returns the ones inserted.
pub async fn insert_events(
    db: &impl ConnectionTrait,
    rows: &[escalation_event::Model],
) -> Result<Vec<escalation_event::Model>, DbErr> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    if pg(db) {
        let stmt = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO escalation_events (event_key, escalation_id, ticket_id, on_event, timer, cycle, rule, step, fire_at, due_at, created_at) \
             SELECT k, NULLIF(e, 0), t, o, NULLIF(tm, ''), c, r, st, f, NULLIF(d, '')::timestamptz, ca \
             FROM unnest($1::varchar[], $2::bigint[], $3::bigint[], $4::varchar[], $5::varchar[], $6::int[], $7::varchar[], $8::int[], \
                         $9::timestamptz[], $10::text[], $11::timestamptz[]) AS u(k, e, t, o, tm, c, r, st, f, d, ca) \
             ON CONFLICT (event_key) DO NOTHING RETURNING *",
            [
                arr(ArrayType::String, col(rows, |r| r.event_key.clone())),
                arr(ArrayType::BigInt, col(rows, |r| id0(r.escalation_id))),
                arr(ArrayType::BigInt, col(rows, |r| r.ticket_id)),
                arr(ArrayType::String, col(rows, |r| r.on_event.clone())),
                arr(ArrayType::String, col(rows, |r| r.timer.map_or("", TimerKind::as_str).to_string())),
                arr(ArrayType::Int, col(rows, |r| r.cycle)),
                arr(ArrayType::String, col(rows, |r| r.rule.clone())),
                arr(ArrayType::Int, col(rows, |r| r.step)),
                arr(ArrayType::ChronoDateTimeUtc, col(rows, |r| r.fire_at)),
                arr(ArrayType::String, col(rows, |r| ts0(r.due_at))),
                arr(ArrayType::ChronoDateTimeUtc, col(rows, |r| r.created_at)),
            ],
        );
        return escalation_event::Entity::find().from_raw_sql(stmt).all(db).await;
    }
    let mut out = Vec::new();
    for chunk in rows.chunks(500) {
        out.extend(
            escalation_event::Entity::insert_many(chunk.iter().map(|r| escalation_event::ActiveModel {
                event_key: Set(r.event_key.clone()),
                escalation_id: Set(r.escalation_id),
                ticket_id: Set(r.ticket_id),
                on_event: Set(r.on_event.clone()),
                timer: Set(r.timer),
                cycle: Set(r.cycle),
                rule: Set(r.rule.clone()),
                step: Set(r.step),
                fire_at: Set(r.fire_at),
                due_at: Set(r.due_at),
                created_at: Set(r.created_at),
                ..Default::default()
            }))
            .on_conflict(OnConflict::column(escalation_event::Column::EventKey).do_nothing().to_owned())
            .exec_with_returning(db)
            .await?,
        );
    }
    Ok(out)
}

fn ocol<T, F: Fn(&outbox::Model) -> T>(rows: &[outbox::Model], f: F) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Inserts outbox rows unless their key exists (the `id` of each row is ignored); returns the
/// `(id, outbox_key)` of the rows inserted.
pub async fn insert_outbox(db: &impl ConnectionTrait, rows: &[outbox::Model]) -> Result<Vec<(i64, String)>, DbErr> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    if pg(db) {
        let stmt = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO outbox (outbox_key, event_id, escalation_id, ticket_id, channel, target, kind, payload, status, attempts, \
                                 next_attempt_at, locked_until, last_error, dead_reason, digest_id, created_at, updated_at, delivered_at, \
                                 locked_by) \
             SELECT k, NULLIF(ev, 0), NULLIF(es, 0), NULLIF(t, 0), ch, tg, kd, p, st, a, n, NULLIF(l, '')::timestamptz, NULLIF(le, ''), \
                    NULLIF(dr, ''), NULLIF(dg, 0), ca, ua, NULLIF(da, '')::timestamptz, NULLIF(lb, '') \
             FROM unnest($1::varchar[], $2::bigint[], $3::bigint[], $4::bigint[], $5::varchar[], $6::varchar[], $7::varchar[], \
                         $8::text[], $9::varchar[], $10::int[], $11::timestamptz[], $12::text[], $13::text[], $14::varchar[], \
                         $15::bigint[], $16::timestamptz[], $17::timestamptz[], $18::text[], $19::varchar[]) \
                  AS u(k, ev, es, t, ch, tg, kd, p, st, a, n, l, le, dr, dg, ca, ua, da, lb) \
             ON CONFLICT (outbox_key) DO NOTHING RETURNING id, outbox_key",
            [
                arr(ArrayType::String, ocol(rows, |r| r.outbox_key.clone())),
                arr(ArrayType::BigInt, ocol(rows, |r| id0(r.event_id))),
                arr(ArrayType::BigInt, ocol(rows, |r| id0(r.escalation_id))),
                arr(ArrayType::BigInt, ocol(rows, |r| id0(r.ticket_id))),
                arr(ArrayType::String, ocol(rows, |r| r.channel.as_str().to_string())),
                arr(ArrayType::String, ocol(rows, |r| r.target.clone())),
                arr(ArrayType::String, ocol(rows, |r| r.kind.as_str().to_string())),
                arr(ArrayType::String, ocol(rows, |r| r.payload.clone())),
                arr(ArrayType::String, ocol(rows, |r| r.status.as_str().to_string())),
                arr(ArrayType::Int, ocol(rows, |r| r.attempts)),
                arr(ArrayType::ChronoDateTimeUtc, ocol(rows, |r| r.next_attempt_at)),
                arr(ArrayType::String, ocol(rows, |r| ts0(r.locked_until))),
                arr(ArrayType::String, ocol(rows, |r| text0(&r.last_error))),
                arr(ArrayType::String, ocol(rows, |r| text0(&r.dead_reason))),
                arr(ArrayType::BigInt, ocol(rows, |r| id0(r.digest_id))),
                arr(ArrayType::ChronoDateTimeUtc, ocol(rows, |r| r.created_at)),
                arr(ArrayType::ChronoDateTimeUtc, ocol(rows, |r| r.updated_at)),
                arr(ArrayType::String, ocol(rows, |r| ts0(r.delivered_at))),
                arr(ArrayType::String, ocol(rows, |r| text0(&r.locked_by))),
            ],
        );
        let mut out = Vec::with_capacity(rows.len());
        for r in db.query_all_raw(stmt).await? {
            out.push((r.try_get::<i64>("", "id")?, r.try_get::<String>("", "outbox_key")?));
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(500) {
        let inserted = outbox::Entity::insert_many(chunk.iter().map(|r| outbox::ActiveModel {
            outbox_key: Set(r.outbox_key.clone()),
            event_id: Set(r.event_id),
            escalation_id: Set(r.escalation_id),
            ticket_id: Set(r.ticket_id),
            channel: Set(r.channel),
            target: Set(r.target.clone()),
            kind: Set(r.kind),
            payload: Set(r.payload.clone()),
            status: Set(r.status),
            attempts: Set(r.attempts),
            next_attempt_at: Set(r.next_attempt_at),
            locked_until: Set(r.locked_until),
            locked_by: Set(r.locked_by.clone()),
            last_error: Set(r.last_error.clone()),
            dead_reason: Set(r.dead_reason.clone()),
            digest_id: Set(r.digest_id),
            created_at: Set(r.created_at),
            updated_at: Set(r.updated_at),
            delivered_at: Set(r.delivered_at),
            ..Default::default()
        }))
        .on_conflict(OnConflict::column(outbox::Column::OutboxKey).do_nothing().to_owned())
        .exec_with_returning(db)
        .await?;
        out.extend(inserted.into_iter().map(|m| (m.id, m.outbox_key)));
    }
    Ok(out)
}

/// Outbox row ids grouped by the lease they hold, so that each statement fences its rows by
/// their own lease.
pub fn by_lease(
    rows: impl IntoIterator<Item = (i64, DateTime<Utc>)>,
) -> std::collections::HashMap<DateTime<Utc>, Vec<i64>> {
    let mut groups: std::collections::HashMap<DateTime<Utc>, Vec<i64>> = Default::default();
    for (id, lease) in rows {
        groups.entry(lease).or_default().push(id);
    }
    groups
}

/// Records delivery results: every attempt, and the rows sent (`(id, lease)`, held by `holder`: a
/// row whose lease or holder changed meanwhile belongs to another instance and is left alone).
/// One statement on PostgreSQL.
pub async fn record_sent(
    db: &impl ConnectionTrait,
    attempts: &[delivery_attempt::Model],
    sent: &[(i64, DateTime<Utc>)],
    holder: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if !pg(db) || attempts.is_empty() || sent.is_empty() {
        insert_attempts(db, attempts).await?;
        for (lease, ids) in by_lease(sent.iter().copied()) {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::Status, Expr::value(DeliveryStatus::Delivered))
                .col_expr(outbox::Column::DeliveredAt, Expr::value(Some(now)))
                .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
                .col_expr(outbox::Column::LockedBy, Expr::value(Option::<String>::None))
                .col_expr(outbox::Column::Attempts, ExprTrait::add(Expr::col(outbox::Column::Attempts), 1))
                .col_expr(outbox::Column::LastError, Expr::value(Option::<String>::None))
                .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
                .filter(id_in(db, outbox::Column::Id, ids))
                .filter(outbox::Column::LockedUntil.eq(lease))
                .filter(outbox::Column::LockedBy.eq(holder))
                .exec(db)
                .await?;
        }
        return Ok(());
    }
    let mut values = attempt_arrays(attempts);
    values.extend([
        now.into(),
        arr(ArrayType::BigInt, sent.iter().map(|s| s.0).collect()),
        arr(ArrayType::ChronoDateTimeUtc, sent.iter().map(|s| s.1).collect()),
        holder.into(),
    ]);
    let sql = format!(
        "WITH a AS ({ATTEMPTS_INSERT}) \
         UPDATE outbox AS x SET status = 'delivered', delivered_at = $8, locked_until = NULL, locked_by = NULL, \
                attempts = x.attempts + 1, last_error = NULL, updated_at = $8 \
         FROM unnest($9::bigint[], $10::timestamptz[]) AS s(id, lease) \
         WHERE x.id = s.id AND x.locked_until = s.lease AND x.locked_by = $11"
    );
    let stmt = Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values);
    db.execute_raw(stmt).await?;
    Ok(())
}

/// Delivery attempts from one array per column ($1–$7).
const ATTEMPTS_INSERT: &str = "INSERT INTO delivery_attempts (outbox_id, attempt, attempted_at, duration_ms, outcome, http_status, error) \
     SELECT o, a, t, d, oc, NULLIF(h, 0), NULLIF(e, '') \
     FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::bigint[], $5::varchar[], $6::int[], $7::text[]) \
          AS u(o, a, t, d, oc, h, e)";

fn attempt_arrays(rows: &[delivery_attempt::Model]) -> Vec<Value> {
    vec![
        arr(ArrayType::BigInt, rows.iter().map(|r| r.outbox_id).collect()),
        arr(ArrayType::Int, rows.iter().map(|r| r.attempt).collect()),
        arr(ArrayType::ChronoDateTimeUtc, rows.iter().map(|r| r.attempted_at).collect()),
        arr(ArrayType::BigInt, rows.iter().map(|r| r.duration_ms).collect()),
        arr(ArrayType::String, rows.iter().map(|r| r.outcome.clone()).collect()),
        arr(ArrayType::Int, rows.iter().map(|r| r.http_status.unwrap_or(0)).collect()),
        arr(ArrayType::String, rows.iter().map(|r| text0(&r.error)).collect()),
    ]
}

/// Records delivery attempts.
async fn insert_attempts(db: &impl ConnectionTrait, rows: &[delivery_attempt::Model]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    if pg(db) {
        let stmt = Statement::from_sql_and_values(DatabaseBackend::Postgres, ATTEMPTS_INSERT, attempt_arrays(rows));
        db.execute_raw(stmt).await?;
        return Ok(());
    }
    for chunk in rows.chunks(500) {
        delivery_attempt::Entity::insert_many(chunk.iter().map(|r| delivery_attempt::ActiveModel {
            outbox_id: Set(r.outbox_id),
            attempt: Set(r.attempt),
            attempted_at: Set(r.attempted_at),
            duration_ms: Set(r.duration_ms),
            outcome: Set(r.outcome.clone()),
            http_status: Set(r.http_status),
            error: Set(r.error.clone()),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Which of `keys` name escalation events already recorded.
pub async fn existing_event_keys(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<std::collections::HashSet<String>, DbErr> {
    use sea_orm::{QuerySelect, sea_query::PgFunc};
    let mut found = std::collections::HashSet::new();
    // PostgreSQL takes the whole list as one array; SQLite's `IN` lists stay under its limit.
    let size = if pg(db) { keys.len().max(1) } else { 500 };
    for chunk in keys.chunks(size) {
        let cond = if pg(db) {
            sea_orm::sea_query::ExprTrait::eq(
                Expr::col(escalation_event::Column::EventKey),
                PgFunc::any(Expr::val(chunk.to_vec())),
            )
        } else {
            escalation_event::Column::EventKey.is_in(chunk.iter().cloned())
        };
        let rows: Vec<String> = escalation_event::Entity::find()
            .select_only()
            .column(escalation_event::Column::EventKey)
            .filter(cond)
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// `column IN (ids)`, written `= ANY($1)` on PostgreSQL so that the statement stays small.
pub fn id_in<C: ColumnTrait>(db: &impl ConnectionTrait, column: C, ids: Vec<i64>) -> sea_orm::sea_query::SimpleExpr {
    if pg(db) {
        sea_orm::sea_query::ExprTrait::eq(Expr::col(column), sea_orm::sea_query::PgFunc::any(Expr::val(ids)))
    } else {
        column.is_in(ids)
    }
}

/// Sets `next_fire_at` on many timers; with `breached`, also records that each has just breached
/// (its state, its flag, and no more risk point: what `Timer::observe` changes, written at once).
pub async fn set_next_fire(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
    at: Option<DateTime<Utc>>,
    breached: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let cond = id_in(db, sla_timer::Column::Id, ids);
    let mut q = sla_timer::Entity::update_many().col_expr(sla_timer::Column::NextFireAt, Expr::value(at));
    if let Some(now) = breached {
        q = q
            .col_expr(sla_timer::Column::Breached, Expr::value(true))
            .col_expr(sla_timer::Column::State, Expr::value(crate::domain::sla::TimerState::Breached.as_str()))
            .col_expr(sla_timer::Column::RiskAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(sla_timer::Column::UpdatedAt, Expr::value(now));
    }
    q.filter(cond).exec(db).await?;
    Ok(())
}
