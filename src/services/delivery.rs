//! Delivering the outbox: claim due rows with a lease (a conditional update, so two workers never
//! both claim a row) — or take the rows this instance's sweep wrote already leased (`handoff`) —
//! send with no transaction open, record every attempt, and retry on the
//! configured schedule with jitter — or end in a dead letter with a reason. A crash after sending
//! and before recording sends again; receivers deduplicate by `webhook-id` or `Message-ID`.

use crate::domain::delivery::{Channel, DeliveryStatus, MessageKind};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use rand::Rng;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use super::contact_links;
use super::error::Result;
use crate::notify::email::Mail;
use crate::notify::render::{self, Payload};
use crate::notify::{Attempt, Failure, Notifier};
use crate::persistence::bulk::{by_lease, id_in};
use crate::persistence::entities::{contact, delivery_attempt, outbox};
use crate::persistence::pick_ids;
use crate::signing::SignedFor;
use crate::state::AppState;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// Claims and sends one batch of due deliveries.
pub async fn run_once(state: &AppState, notifier: &Notifier, now: DateTime<Utc>) -> Result<DeliveryOutcome> {
    let d = &state.config.settings.delivery;
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
    if claimed.is_empty() {
        return Ok(out);
    }
    let results: Vec<(outbox::Model, Attempt, i64)> = futures_util::stream::iter(claimed)
        .map(|row| async move {
            let started = std::time::Instant::now();
            let attempt = send(state, notifier, &row, now).await;
            (row, attempt, started.elapsed().as_millis() as i64)
        })
        .buffer_unordered(d.per_loop())
        .collect()
        .await;
    let attempts: Vec<delivery_attempt::Model> =
        results.iter().map(|(row, a, ms)| attempt_row(row, a, *ms, now)).collect();
    // Each attempt, and each send that succeeded, recorded at once. A row's lease (this call's,
    // or the sweep's that handed it over) fences a result that arrives after another worker took
    // the row over.
    let sent = |row: &outbox::Model, a: &Attempt| a.failure.is_none() && row.kind != MessageKind::Digest;
    let delivered: Vec<(i64, DateTime<Utc>)> = results
        .iter()
        .filter(|(row, a, _)| sent(row, a))
        .filter_map(|(row, _, _)| Some((row.id, row.locked_until?)))
        .collect();
    crate::persistence::bulk::record_sent(&state.db, &attempts, &delivered, now).await?;
    for (row, attempt, _) in &results {
        if sent(row, attempt) {
            out.delivered += 1;
            state.metrics.notification(row.channel.as_str(), "delivered");
            continue;
        }
        let outcome = match record(state, row, attempt, now).await? {
            Recorded::Delivered => {
                out.delivered += 1;
                "delivered"
            }
            Recorded::Retrying => {
                out.retrying += 1;
                "retried"
            }
            Recorded::Dead => {
                out.dead += 1;
                "dead"
            }
        };
        state.metrics.notification(row.channel.as_str(), outcome);
    }
    Ok(out)
}

/// Claims a batch of due rows from the outbox: their ids (locked, skipping rows others hold, on
/// PostgreSQL), then the claim of those rows, re-checking that each is still due and unclaimed, so
/// that a row is claimed once.
async fn claim(state: &AppState, now: DateTime<Utc>, lease: DateTime<Utc>) -> Result<Vec<outbox::Model>> {
    let batch = state.config.settings.delivery.batch;
    let due = || {
        Condition::all()
            .add(outbox::Column::Status.eq(DeliveryStatus::Pending))
            .add(outbox::Column::NextAttemptAt.lte(now))
            .add(Condition::any().add(outbox::Column::LockedUntil.is_null()).add(outbox::Column::LockedUntil.lt(now)))
    };
    let update = |ids: Vec<i64>| {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::LockedUntil, Expr::value(Some(lease)))
            .col_expr(
                outbox::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(outbox::Column::Attempts), 1),
            )
            .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
            .filter(outbox::Column::Id.is_in(ids))
            .filter(due())
    };
    let (id, order) = (outbox::Column::Id, outbox::Column::NextAttemptAt);
    Ok(if state.backend() == sea_orm::DatabaseBackend::Postgres {
        let txn = state.db.begin().await?;
        let ids = pick_ids::<outbox::Entity>(&txn, id, due(), order, batch, true).await?;
        let claimed = if ids.is_empty() { Vec::new() } else { update(ids).exec_with_returning(&txn).await? };
        txn.commit().await?;
        claimed
    } else {
        let ids = pick_ids::<outbox::Entity>(&state.db, id, due(), order, batch, false).await?;
        if ids.is_empty() { Vec::new() } else { update(ids).exec_with_returning(&state.db).await? }
    })
}

/// Gives back the leases of the rows handed over and not sent, when this instance stops, so that
/// another instance sends them now rather than when their leases run out. Returns how many.
pub async fn release_handed(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    let (fresh, stale) = state.handoff.take(usize::MAX, now, 0);
    let mut released = 0;
    for (lease, ids) in by_lease(fresh.iter().chain(&stale).filter_map(|r| Some((r.id, r.locked_until?)))) {
        released += still_held(state, ids, lease, now)
            .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(
                outbox::Column::Attempts,
                sea_orm::sea_query::ExprTrait::sub(Expr::col(outbox::Column::Attempts), 1),
            )
            .exec(&state.db)
            .await?
            .rows_affected;
    }
    Ok(released)
}

/// A batch of the rows the sweep handed over, already leased. One whose lease would run out
/// before the batch is sent is leased again first (unless another worker took it meanwhile).
async fn take_handed(state: &AppState, now: DateTime<Utc>, lease: DateTime<Utc>) -> Result<Vec<outbox::Model>> {
    let batch = state.config.settings.delivery.batch as usize;
    let (mut rows, stale) = state.handoff.take(batch, now, state.config.settings.delivery_batch_secs().1);
    for (old, ids) in by_lease(stale.iter().filter_map(|r| Some((r.id, r.locked_until?)))) {
        rows.extend(
            still_held(state, ids, old, now)
                .col_expr(outbox::Column::LockedUntil, Expr::value(Some(lease)))
                .exec_with_returning(&state.db)
                .await?,
        );
    }
    Ok(rows)
}

/// An update of the handed-over rows among `ids` that are still pending under `lease`: a row
/// another worker took over meanwhile (its lease changed) is left alone.
fn still_held(
    state: &AppState,
    ids: Vec<i64>,
    lease: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<outbox::Entity> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
        .filter(id_in(&state.db, outbox::Column::Id, ids))
        .filter(outbox::Column::Status.eq(DeliveryStatus::Pending))
        .filter(outbox::Column::LockedUntil.eq(lease))
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
        attempt: row.attempts,
        attempted_at: now,
        duration_ms: ms,
        outcome: outcome.into(),
        http_status: a.http_status.map(i32::from),
        error: a.error.clone(),
    }
}

/// A portal link mail: the token is signed now, from the row's link id and expiry.
async fn send_link(state: &AppState, notifier: &Notifier, row: &outbox::Model) -> Attempt {
    let Ok(link) = serde_json::from_str::<contact_links::LinkMail>(&row.payload) else {
        return Attempt::failed(Failure::Permanent, None, "unreadable payload".into());
    };
    let Some(mailer) = &notifier.mailer else {
        return Attempt::failed(Failure::Permanent, None, "e-mail is not configured (email.smtp_url)".into());
    };
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let token = state.signer.sign(SignedFor::PortalLink, &contact_links::token_value(link.link_id, link.expires_at));
    let url = format!("{base}/portal/link/{token}");
    let password = link.purpose == contact_links::Purpose::Password;
    let (subject, text, html) =
        render::portal_link(&link.name, password, &link.language, &url, contact_links::LINK_MINUTES);
    let mail = Mail {
        to: row.target.clone(),
        subject,
        text,
        html,
        message_id: format!("portal-link-{}@opsline", link.link_id),
        thread: None,
    };
    mailer.send(&mail).await
}

async fn send(state: &AppState, notifier: &Notifier, row: &outbox::Model, now: DateTime<Utc>) -> Attempt {
    if row.kind == MessageKind::PortalLink {
        return send_link(state, notifier, row).await;
    }
    let Ok(payload) = serde_json::from_str::<Payload>(&row.payload) else {
        return Attempt::failed(Failure::Permanent, None, "unreadable payload".into());
    };
    match row.channel {
        Channel::Webhook => {
            let Some(endpoint) = state.config.runtime.escalation.endpoints.get(&row.target) else {
                let why = format!("no endpoint named `{}` is configured", row.target);
                return Attempt::failed(Failure::Permanent, None, why);
            };
            let mut body = payload.clone();
            body.language = None;
            match serde_json::to_vec(&body) {
                Ok(body) => notifier.webhooks.send(endpoint, &payload.id, now.timestamp(), &body).await,
                Err(e) => Attempt::failed(Failure::Permanent, None, format!("unserialisable payload: {e}")),
            }
        }
        Channel::Email => {
            let Some(mailer) = &notifier.mailer else {
                return Attempt::failed(Failure::Permanent, None, "e-mail is not configured (email.smtp_url)".into());
            };
            let mail = if row.kind == MessageKind::Digest {
                digest_mail(state, row, &payload).await
            } else {
                notification_mail(state, row, &payload, now).await
            };
            match mail {
                Ok(mail) => mailer.send(&mail).await,
                Err(failed) => failed,
            }
        }
        other => Attempt::failed(Failure::Permanent, None, format!("unknown channel `{other}`")),
    }
}

/// A database error while composing a mail: tried again later.
fn database(e: sea_orm::DbErr) -> Attempt {
    Attempt::failed(Failure::Retry { retry_after: None }, None, format!("database: {e}"))
}

/// The minute's folded mails to one address, as one.
async fn digest_mail(state: &AppState, row: &outbox::Model, payload: &Payload) -> std::result::Result<Mail, Attempt> {
    let folded = outbox::Entity::find()
        .filter(outbox::Column::DigestId.eq(row.id))
        .order_by_asc(outbox::Column::Id)
        .all(&state.db)
        .await
        .map_err(database)?;
    let items: Vec<Payload> = folded.iter().filter_map(|f| serde_json::from_str(&f.payload).ok()).collect();
    let (subject, text, html) = render::digest(&items, payload.language.as_deref());
    Ok(Mail {
        to: row.target.clone(),
        subject,
        text,
        html,
        message_id: format!("{}@opsline", payload.id),
        thread: None,
    })
}

/// An escalation's or a ticket event's mail: a link to the ticket (the portal's for a customer's
/// contact, the console's for staff) and, for warnings and breaches, a signed acknowledge link.
async fn notification_mail(
    state: &AppState,
    row: &outbox::Model,
    payload: &Payload,
    now: DateTime<Utc>,
) -> std::result::Result<Mail, Attempt> {
    let base = state.config.settings.escalation.public_url.trim_end_matches('/');
    let ack = match payload.escalation_id {
        Some(id) if payload.kind.starts_with("sla.") => {
            let expires = now.timestamp() + state.config.runtime.escalation.ack_link_ttl_secs;
            let token = state.signer.sign_until(SignedFor::Acknowledge, &id.to_string(), expires);
            Some(format!("{base}/ack/{token}"))
        }
        _ => None,
    };
    let contact = contact::Entity::find()
        .filter(contact::Column::EmailLower.eq(row.target.to_lowercase()))
        .one(&state.db)
        .await
        .map_err(database)?;
    let ticket_url = match contact {
        Some(_) => format!("{base}/portal/tickets/{}", payload.ticket.number),
        None => format!("{base}/console/tickets/{}", payload.ticket.id),
    };
    let (subject, text, html) = render::mail(payload, &ticket_url, ack.as_deref());
    Ok(Mail {
        to: row.target.clone(),
        subject,
        text,
        html,
        message_id: format!("{}@opsline", payload.id),
        thread: Some(format!("ticket-{}@opsline", payload.ticket.id)),
    })
}

enum Recorded {
    Delivered,
    Retrying,
    Dead,
}

/// The wait before retry number `attempt` (1-based), with jitter; `Retry-After` counts within
/// [the scheduled wait, ten times it].
fn backoff(state: &AppState, attempt: i32, retry_after: Option<i64>) -> Option<i64> {
    let schedule = &state.config.runtime.escalation.retry_schedule_secs;
    let base = *schedule.get((attempt - 1).max(0) as usize)?;
    let j = i64::from(state.config.settings.delivery.jitter_percent);
    let jitter = if j > 0 { rand::rng().random_range(-j..=j) } else { 0 };
    let wait = base + base * jitter / 100;
    Some(match retry_after {
        Some(ra) => ra.clamp(base, base * 10),
        None => wait.max(1),
    })
}

async fn record(state: &AppState, row: &outbox::Model, a: &Attempt, now: DateTime<Utc>) -> Result<Recorded> {
    let (status, next, dead_reason, recorded) = match a.failure {
        None => (DeliveryStatus::Delivered, now, None, Recorded::Delivered),
        Some(Failure::Permanent) => (DeliveryStatus::Dead, now, Some("rejected"), Recorded::Dead),
        Some(Failure::Retry { retry_after }) => match backoff(state, row.attempts, retry_after) {
            Some(wait) => (DeliveryStatus::Pending, now + Duration::seconds(wait), None, Recorded::Retrying),
            None => (DeliveryStatus::Dead, now, Some("retries_exhausted"), Recorded::Dead),
        },
    };
    let mut upd = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(status))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
        .col_expr(outbox::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(outbox::Column::LastError, Expr::value(a.error.clone()))
        .col_expr(outbox::Column::DeadReason, Expr::value(dead_reason.map(String::from)))
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now));
    if status == DeliveryStatus::Delivered {
        upd = upd.col_expr(outbox::Column::DeliveredAt, Expr::value(Some(now)));
    }
    // The attempt count fences a late result from a worker whose lease another one took over.
    upd.filter(outbox::Column::Id.eq(row.id)).filter(outbox::Column::Attempts.eq(row.attempts)).exec(&state.db).await?;
    if status == DeliveryStatus::Delivered && row.kind == MessageKind::Digest {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::DeliveredAt, Expr::value(Some(now)))
            .filter(outbox::Column::DigestId.eq(row.id))
            .filter(outbox::Column::Status.eq(DeliveryStatus::Folded))
            .exec(&state.db)
            .await?;
    }
    if status != DeliveryStatus::Delivered {
        tracing::warn!(outbox_id = row.id, channel = %row.channel, attempt = row.attempts, status = %status, error = a.error.as_deref().unwrap_or(""), "delivery failed");
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
