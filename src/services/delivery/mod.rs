//! Delivering the outbox: claim due rows with a lease (a conditional update, so two workers never
//! both claim a row) — or take the rows this instance's sweep wrote already leased (`handoff`) —
//! send with no transaction open, record every attempt, and retry on the
//! configured schedule with jitter — or end in a dead letter with a reason. A crash after sending
//! and before recording sends again; receivers deduplicate by `webhook-id` or `Message-ID`. What a
//! row becomes on the wire (its mail or webhook) is composed in `send.rs`.

mod send;

use send::send;

use crate::domain::delivery::{Channel, DeliveryStatus, MessageKind, retry_wait_ms, thread_id};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use super::error::Result;
use super::{contact_links, instances, reports};
use crate::metrics::AttemptOutcome;
use crate::notify::email::Mail;
use crate::notify::render::{self, Payload};
use crate::notify::{Attempt, Failure, Notifier};
use crate::persistence::bulk::{by_lease, id_in};
use crate::persistence::entities::{contact, delivery_attempt, outbox, rating, ticket};
use crate::persistence::pick_ids;
use crate::services::handoff::Handed;
use crate::signing::SignedFor;
use crate::state::AppState;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// One send's result as it lands: the row, what happened, how long it took (ms).
type Landed = (outbox::Model, Attempt, i64);

/// At most this many landed results are recorded in one go.
const RECORD_MAX: usize = 256;

/// Results that land within this window of the first are recorded with it.
const RECORD_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

/// Queues a mail that belongs to no ticket (a portal link, a service report) in the caller's
/// transaction: sent by the delivery loop like every outbox row, once per `key`.
pub(crate) async fn queue_mail(
    db: &impl sea_orm::ConnectionTrait,
    key: String,
    to: String,
    kind: MessageKind,
    payload: String,
    now: DateTime<Utc>,
) -> Result<()> {
    queue(db, key, Channel::Email, to, kind, payload, now).await
}

/// [`queue_mail`] for either channel: `to` is an address or a webhook endpoint's name.
pub(crate) async fn queue(
    db: &impl sea_orm::ConnectionTrait,
    key: String,
    channel: Channel,
    to: String,
    kind: MessageKind,
    payload: String,
    now: DateTime<Utc>,
) -> Result<()> {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    outbox::ActiveModel {
        outbox_key: Set(key),
        event_id: Set(None),
        escalation_id: Set(None),
        ticket_id: Set(None),
        channel: Set(channel),
        target: Set(to),
        kind: Set(kind),
        payload: Set(payload),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Claims and sends one batch of due deliveries. Each result is recorded as soon as it lands —
/// with the others that land within `RECORD_WINDOW` — while the rest are still being sent, so
/// that a crash sends again only what was in flight (and what landed in the last few
/// milliseconds).
pub async fn run_once(state: &AppState, notifier: &Notifier, now: DateTime<Utc>) -> Result<DeliveryOutcome> {
    let d = &state.config.settings.delivery;
    // The leases this batch takes name this instance: it must look alive while they are held.
    instances::beat_if_due(state, now).await?;
    let lease = now + Duration::seconds(d.lease_secs as i64);
    // Rows the sweep handed over come first, except on one turn in a few, when the database's
    // own due rows (other writers', retries, expired leases) go first: neither waits long.
    let claimed = if state.handoff.database_turn() {
        match claim(state, now, lease).await? {
            rows if rows.is_empty() => take_handed(state, now, lease).await?,
            rows => rows,
        }
    } else {
        match take_handed(state, now, lease).await? {
            rows if rows.is_empty() => claim(state, now, lease).await?,
            rows => rows,
        }
    };
    let mut out = DeliveryOutcome { claimed: claimed.len(), ..Default::default() };
    let claimed = in_order(state, claimed, now).await?;
    if claimed.is_empty() {
        return Ok(out);
    }
    send_all(state, notifier, claimed, now, &mut out).await?;
    Ok(out)
}

/// Sends the rows, `delivery.per_loop()` at a time, and records each result as it lands.
async fn send_all(
    state: &AppState,
    notifier: &Notifier,
    rows: Vec<outbox::Model>,
    now: DateTime<Utc>,
    out: &mut DeliveryOutcome,
) -> Result<()> {
    let per_loop = state.config.settings.delivery.per_loop();
    let (landed, mut results) = tokio::sync::mpsc::unbounded_channel::<Landed>();
    let sending = async move {
        futures_util::stream::iter(rows)
            .for_each_concurrent(per_loop, |row| {
                let landed = landed.clone();
                async move {
                    let started = std::time::Instant::now();
                    let attempt = send(state, notifier, &row, now).await;
                    // The receiving half lives until every send has landed.
                    let _ = landed.send((row, attempt, started.elapsed().as_millis() as i64));
                }
            })
            .await;
    };
    let recording = async {
        let mut batch = Vec::new();
        let mut failed = None;
        while results.recv_many(&mut batch, RECORD_MAX).await > 0 {
            // What lands within a short window is recorded together: a few statements per batch
            // rather than one per send.
            let until = tokio::time::Instant::now() + RECORD_WINDOW;
            while batch.len() < RECORD_MAX {
                let room = RECORD_MAX - batch.len();
                match tokio::time::timeout_at(until, results.recv_many(&mut batch, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            // After a failed write the rest are still drained (and sent), but not recorded:
            // their leases run out and they are sent again.
            if failed.is_none()
                && let Err(e) = record_landed(state, &batch, now, out).await
            {
                failed = Some(e);
            }
            batch.clear();
        }
        failed.map_or(Ok(()), Err)
    };
    let ((), recorded) = tokio::join!(sending, recording);
    recorded
}

/// Records results that landed: every attempt, and each send that succeeded, at once; then each
/// failure with its retry or dead letter. A row's lease (this instance's name and lease end)
/// fences a result that arrives after another instance took the row over.
async fn record_landed(
    state: &AppState,
    landed: &[Landed],
    now: DateTime<Utc>,
    out: &mut DeliveryOutcome,
) -> Result<()> {
    let attempts: Vec<delivery_attempt::Model> =
        landed.iter().map(|(row, a, ms)| attempt_row(row, a, *ms, now)).collect();
    let sent = |row: &outbox::Model, a: &Attempt| a.failure.is_none() && row.kind != MessageKind::Digest;
    let delivered: Vec<(i64, DateTime<Utc>)> = landed
        .iter()
        .filter(|(row, a, _)| sent(row, a))
        .filter_map(|(row, _, _)| Some((row.id, row.locked_until?)))
        .collect();
    crate::persistence::bulk::record_sent(&state.db, &attempts, &delivered, &state.instance.id, now).await?;
    for (row, attempt, _) in landed {
        if sent(row, attempt) {
            out.delivered += 1;
            state.metrics.notification(row.channel, AttemptOutcome::Delivered);
            continue;
        }
        let outcome = match record(state, row, attempt, now).await? {
            Recorded::Delivered => {
                out.delivered += 1;
                AttemptOutcome::Delivered
            }
            Recorded::Retrying => {
                out.retrying += 1;
                AttemptOutcome::Retried
            }
            Recorded::Dead => {
                out.dead += 1;
                AttemptOutcome::Dead
            }
        };
        state.metrics.notification(row.channel, outcome);
    }
    Ok(())
}

/// The rows to send now, in each chain's order: a row waits while an earlier row of the same
/// escalation chain to the same receiver is still pending (a warning goes before its breach, a
/// first message before its repeat). A row that waits gives its lease back and comes due again
/// with the row it waits for (in a second at the earliest).
async fn in_order(state: &AppState, rows: Vec<Handed>, now: DateTime<Utc>) -> Result<Vec<outbox::Model>> {
    let mut chains: Vec<i64> = rows.iter().filter(|c| !c.first).filter_map(|c| c.row.escalation_id).collect();
    let rows = rows.into_iter().map(|c| (c.first, c.row));
    if chains.is_empty() {
        return Ok(rows.map(|(_, row)| row).collect());
    }
    chains.sort_unstable();
    chains.dedup();
    let pending = outbox::Entity::find()
        .filter(id_in(&state.db, outbox::Column::EscalationId, chains))
        .filter(outbox::Column::Status.eq(DeliveryStatus::Pending))
        .all(&state.db)
        .await?;
    let earlier = |r: &outbox::Model| {
        pending
            .iter()
            .filter(|e| e.id < r.id && e.escalation_id == r.escalation_id)
            .filter(|e| e.channel == r.channel && e.target == r.target)
            .map(|e| e.next_attempt_at)
            .max()
    };
    let mut go = Vec::new();
    for (first, row) in rows {
        let Some(until) = earlier(&row).filter(|_| !first) else {
            go.push(row);
            continue;
        };
        let Some(lease) = row.locked_until else { continue };
        let until = until.max(now + Duration::seconds(1));
        still_held(state, vec![row.id], lease, now)
            .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(outbox::Column::LockedBy, Expr::value(Option::<String>::None))
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(until.max(row.next_attempt_at)))
            .exec(&state.db)
            .await?;
    }
    Ok(go)
}

/// Claims a batch of rows that are due and that nobody holds (`instances::unheld`): their ids
/// (locked, skipping rows others are claiming, on PostgreSQL), then the claim of those rows,
/// re-checking each, so that a row is claimed once. The lease names this instance.
async fn claim(state: &AppState, now: DateTime<Utc>, lease: DateTime<Utc>) -> Result<Vec<Handed>> {
    let batch = state.config.settings.delivery.batch;
    let due = || {
        Condition::all()
            .add(outbox::Column::Status.eq(DeliveryStatus::Pending))
            .add(outbox::Column::NextAttemptAt.lte(now))
            .add(instances::unheld(state, now))
    };
    let update = |ids: Vec<i64>| {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::LockedUntil, Expr::value(Some(lease)))
            .col_expr(outbox::Column::LockedBy, Expr::value(Some(state.instance.id.clone())))
            .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
            .filter(outbox::Column::Id.is_in(ids))
            .filter(due())
    };
    let (id, order) = (outbox::Column::Id, outbox::Column::NextAttemptAt);
    let claimed = if state.backend() == sea_orm::DatabaseBackend::Postgres {
        let txn = state.db.begin().await?;
        let ids = pick_ids::<outbox::Entity>(&txn, id, due(), order, batch, true).await?;
        let claimed = if ids.is_empty() { Vec::new() } else { update(ids).exec_with_returning(&txn).await? };
        txn.commit().await?;
        claimed
    } else {
        let ids = pick_ids::<outbox::Entity>(&state.db, id, due(), order, batch, false).await?;
        if ids.is_empty() { Vec::new() } else { update(ids).exec_with_returning(&state.db).await? }
    };
    Ok(claimed.into_iter().map(|row| Handed { row, first: false }).collect())
}

/// A batch of the rows the sweep handed over, already leased. While this instance has beaten
/// without a gap since it leased them, nobody can have taken them over, and they are sent as they
/// are; otherwise (it stalled, say, past `delivery.takeover_secs`) — or when a lease would end
/// mid-batch — each lease is renewed, fenced, so that a row another instance took meanwhile is
/// left to it.
async fn take_handed(state: &AppState, now: DateTime<Utc>, lease: DateTime<Utc>) -> Result<Vec<Handed>> {
    let handed = state.handoff.take(state.config.settings.delivery.batch as usize);
    let lease_secs = Duration::seconds(state.config.settings.delivery.lease_secs as i64);
    // A lease that would end before the batch is sent is renewed too.
    let outlasts = now + Duration::seconds(state.config.settings.delivery_batch_secs().1 as i64);
    let (mut rows, doubtful): (Vec<_>, Vec<_>) = handed.into_iter().partition(|h| {
        h.row
            .locked_until
            .is_some_and(|l| l > outlasts && state.instance.held_throughout(l - lease_secs, now, state.takeover()))
    });
    let first: std::collections::HashSet<i64> = doubtful.iter().filter(|h| h.first).map(|h| h.row.id).collect();
    for (old, ids) in by_lease(doubtful.iter().filter_map(|h| Some((h.row.id, h.row.locked_until?)))) {
        let renewed = still_held(state, ids, old, now)
            .col_expr(outbox::Column::LockedUntil, Expr::value(Some(lease)))
            .exec_with_returning(&state.db)
            .await?;
        rows.extend(renewed.into_iter().map(|row| Handed { first: first.contains(&row.id), row }));
    }
    Ok(rows)
}

/// An update of the rows among `ids` that this instance still holds under `lease`.
fn still_held(
    state: &AppState,
    ids: Vec<i64>,
    lease: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<outbox::Entity> {
    outbox::Entity::update_many().col_expr(outbox::Column::UpdatedAt, Expr::value(now)).filter(held(state, ids, lease))
}

/// The rows among `ids` that are pending and that this instance still holds under `lease`: a row
/// another instance took over meanwhile (its lease or holder changed) is left alone.
fn held(state: &AppState, ids: Vec<i64>, lease: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(id_in(&state.db, outbox::Column::Id, ids))
        .add(outbox::Column::Status.eq(DeliveryStatus::Pending))
        .add(outbox::Column::LockedUntil.eq(lease))
        .add(outbox::Column::LockedBy.eq(state.instance.id.clone()))
}

fn attempt_row(row: &outbox::Model, a: &Attempt, ms: i64, now: DateTime<Utc>) -> delivery_attempt::Model {
    let outcome = match a.failure {
        None => "delivered",
        Some(Failure::Permanent) => "rejected",
        Some(Failure::Retry { .. }) => "failed",
    };
    delivery_attempt::Model {
        id: 0,
        outbox_id: row.id,
        // `attempts` counts the requests made and recorded before this one.
        attempt: row.attempts + 1,
        attempted_at: now,
        duration_ms: ms,
        outcome: outcome.into(),
        http_status: a.http_status.map(i32::from),
        error: a.error.clone(),
    }
}

enum Recorded {
    Delivered,
    Retrying,
    Dead,
}

/// The wait before retry number `attempt` (1-based), in milliseconds (`domain::delivery::retry_wait_ms`).
fn backoff(state: &AppState, attempt: i32, retry_after: Option<i64>) -> Option<i64> {
    let schedule = &state.config.runtime.escalation.retry_schedule_secs;
    let jitter = state.config.settings.delivery.jitter_percent;
    retry_wait_ms(schedule, attempt, jitter, retry_after, &mut rand::rng())
}

async fn record(state: &AppState, row: &outbox::Model, a: &Attempt, now: DateTime<Utc>) -> Result<Recorded> {
    let (status, next, dead_reason, recorded) = match a.failure {
        None => (DeliveryStatus::Delivered, now, None, Recorded::Delivered),
        Some(Failure::Permanent) => (DeliveryStatus::Dead, now, Some("rejected"), Recorded::Dead),
        Some(Failure::Retry { retry_after }) => match backoff(state, row.attempts + 1, retry_after) {
            Some(wait) => (DeliveryStatus::Pending, now + Duration::milliseconds(wait), None, Recorded::Retrying),
            None => (DeliveryStatus::Dead, now, Some("retries_exhausted"), Recorded::Dead),
        },
    };
    let mut upd = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(status))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
        .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(outbox::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(outbox::Column::Attempts, sea_orm::sea_query::ExprTrait::add(Expr::col(outbox::Column::Attempts), 1))
        .col_expr(outbox::Column::LastError, Expr::value(a.error.clone()))
        .col_expr(outbox::Column::DeadReason, Expr::value(dead_reason.map(String::from)))
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now));
    if status == DeliveryStatus::Delivered {
        upd = upd.col_expr(outbox::Column::DeliveredAt, Expr::value(Some(now)));
    }
    // The lease fences a late result from an instance whose row another one took over.
    let Some(lease) = row.locked_until else { return Ok(recorded) };
    upd.filter(held(state, vec![row.id], lease)).exec(&state.db).await?;
    if status == DeliveryStatus::Delivered && row.kind == MessageKind::Digest {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::DeliveredAt, Expr::value(Some(now)))
            .filter(outbox::Column::DigestId.eq(row.id))
            .filter(outbox::Column::Status.eq(DeliveryStatus::Folded))
            .exec(&state.db)
            .await?;
    }
    if status != DeliveryStatus::Delivered {
        tracing::warn!(outbox_id = row.id, channel = %row.channel, attempt = row.attempts + 1, status = %status, error = a.error.as_deref().unwrap_or(""), "delivery failed");
    }
    Ok(recorded)
}

/// The earliest pending delivery, for the loop's sleep.
pub async fn next_attempt(state: &AppState) -> Result<Option<DateTime<Utc>>> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Status.eq(DeliveryStatus::Pending))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .one(&state.db)
        .await?
        .map(|o| o.next_attempt_at.max(o.locked_until.unwrap_or(o.next_attempt_at))))
}
