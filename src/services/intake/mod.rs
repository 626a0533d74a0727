//! Alerts and events become tickets: per-customer integration keys, and what a firing,
//! resolved or acknowledged alert does to its ticket — whatever format it came in
//! (`alertmanager`, `events`). An alert's identity (fingerprint, dedup key) is linked to the
//! ticket it opened; repeats of the same notification change nothing, so at-least-once senders
//! (Alertmanager in HA pairs, retries) never open a ticket twice.

pub mod alertmanager;
pub mod email;
pub mod events;
mod keys;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::json;

pub use keys::{Credential, Intake, IntegrationView, KEY_PREFIX, Kind, NewIntegration, create, list, resolve};

use super::error::{Error, Result};
use super::tickets::{self, Opening, Source, Who};
use crate::domain::level::Level;
use crate::domain::ticket::Status;
use crate::metrics::Tally;
use crate::persistence::entities::{alert_link, escalation, ticket};
use crate::persistence::is_unique_violation;
use crate::state::AppState;

/// An alert as the intake sees it, whatever its format.
#[derive(Debug, Clone)]
pub struct Alert {
    /// `alertmanager` or `events`.
    pub source: &'static str,
    /// Fingerprint or dedup key: the alert's identity for this customer and source.
    pub dedup: String,
    /// What tells one firing notification from a repeat of it (`startsAt`, a payload hash).
    pub episode: String,
    pub title: String,
    pub description: String,
    pub severity: Option<String>,
}

/// What one alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "result", content = "ticket_id", rename_all = "snake_case")]
pub enum Outcome {
    Opened(i64),
    /// Firing again on its open ticket (event `alert_firing`).
    Added(i64),
    Reopened(i64),
    Resolved(i64),
    Acknowledged(i64),
    /// A repeat, or a resolve of an alert Opsline never saw.
    Unchanged(Option<i64>),
}

const OPEN: [&str; 3] = ["open", "in_progress", "waiting_customer"];

async fn link(state: &AppState, intake: &Intake, source: &str, dedup: &str) -> Result<Option<alert_link::Model>> {
    Ok(alert_link::Entity::find()
        .filter(alert_link::Column::CustomerId.eq(intake.customer.id))
        .filter(alert_link::Column::Source.eq(source))
        .filter(alert_link::Column::Dedup.eq(dedup))
        .one(&state.db)
        .await?)
}

/// A firing alert: opens a ticket, adds to its open one, reopens it within
/// `integrations.reopen_window` of its resolution, or opens a new one after that.
pub async fn fire(state: &AppState, intake: &Intake, alert: &Alert, now: DateTime<Utc>) -> Result<Outcome> {
    // Two instances (or two Alertmanager replicas) may race to open the same alert's ticket:
    // the unique link decides, and the loser goes round again and finds the winner's.
    for _ in 0..3 {
        let existing = link(state, intake, alert.source, &alert.dedup).await?;
        let Some(l) = existing else {
            match open(state, intake, alert, None, now).await? {
                Some(id) => return Ok(Outcome::Opened(id)),
                None => continue,
            }
        };
        if l.firing && l.episode == alert.episode {
            return Ok(Outcome::Unchanged(Some(l.ticket_id)));
        }
        let t = ticket::Entity::find_by_id(l.ticket_id).one(&state.db).await?;
        let status = t.as_ref().map_or("cancelled", |t| t.status.as_str());
        if OPEN.contains(&status) {
            // The link and the ticket's event change together, or neither does.
            let txn = state.db.begin().await?;
            if !mark(&txn, &l, true, &alert.episode, now).await? {
                txn.rollback().await?;
                continue;
            }
            firing_event(&txn, l.ticket_id, intake, alert, now).await?;
            txn.commit().await?;
            return Ok(Outcome::Added(l.ticket_id));
        }
        let window = Duration::seconds(state.config.runtime.tickets.alert_reopen_window_secs);
        let recent = t.as_ref().and_then(|t| t.resolved_at).is_some_and(|r| now - r < window);
        if recent && matches!(status, "resolved" | "closed") {
            let reason = format!("alert `{}` fired again: {}", alert.dedup, alert.title);
            if tickets::reopen_by_system(state, l.ticket_id, &intake.by, &reason, now).await? {
                // Losing this update means another request recorded the same firing: fine.
                mark(&state.db, &l, true, &alert.episode, now).await?;
                return Ok(Outcome::Reopened(l.ticket_id));
            }
            // The ticket changed meanwhile (reopened by someone else): look again.
            continue;
        }
        match open(state, intake, alert, Some(&l), now).await? {
            Some(id) => return Ok(Outcome::Opened(id)),
            None => continue,
        }
    }
    Err(Error::conflict("concurrent_update", "the alert is being processed elsewhere; send it again"))
}

async fn firing_event(
    db: &impl sea_orm::ConnectionTrait,
    ticket_id: i64,
    intake: &Intake,
    alert: &Alert,
    now: DateTime<Utc>,
) -> Result<()> {
    let detail = json!({"source": alert.source, "dedup": alert.dedup, "title": alert.title, "episode": alert.episode});
    tickets::record_event(db, ticket_id, &intake.by, "alert_firing", detail, now).await
}

/// Sets a link's firing state and episode unless another request already did.
async fn mark(
    db: &impl sea_orm::ConnectionTrait,
    l: &alert_link::Model,
    firing: bool,
    episode: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = alert_link::Entity::update_many()
        .col_expr(alert_link::Column::Firing, Expr::value(firing))
        .col_expr(alert_link::Column::Episode, Expr::value(episode))
        .col_expr(alert_link::Column::UpdatedAt, Expr::value(now))
        .filter(alert_link::Column::Id.eq(l.id))
        .filter(alert_link::Column::Firing.eq(l.firing))
        .filter(alert_link::Column::Episode.eq(l.episode.clone()))
        .filter(alert_link::Column::TicketId.eq(l.ticket_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Opens the alert's ticket and links it (a new link, or `previous` moved to the new ticket);
/// `None` when another request linked the alert first.
async fn open(
    state: &AppState,
    intake: &Intake,
    alert: &Alert,
    previous: Option<&alert_link::Model>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let level: Level = intake.level_for(alert.severity.as_deref());
    let title: String = alert.title.chars().take(200).collect();
    let description: String = alert.description.chars().take(tickets::MAX_TEXT).collect();
    let txn = state.db.begin().await?;
    let opening = Opening {
        customer: &intake.customer,
        contact_id: None,
        title: if title.trim().is_empty() { "Alert" } else { &title },
        description: &description,
        level: Some(level),
        source: Source::Integration,
        reported_at: now,
        who: Who::System(&intake.by),
        created_by: (None, None),
    };
    let mut tally = Tally::default();
    let opened = tickets::insert_new(&txn, state, &opening, now, &mut tally).await?;
    let t = &opened.ticket;
    let linked = match previous {
        None => {
            let inserted = alert_link::ActiveModel {
                customer_id: Set(intake.customer.id),
                source: Set(alert.source.into()),
                dedup: Set(alert.dedup.clone()),
                ticket_id: Set(t.id),
                firing: Set(true),
                episode: Set(alert.episode.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await;
            match inserted {
                Ok(_) => true,
                Err(e) if is_unique_violation(&e) => false,
                Err(e) => return Err(e.into()),
            }
        }
        Some(l) => {
            alert_link::Entity::update_many()
                .col_expr(alert_link::Column::TicketId, Expr::value(t.id))
                .col_expr(alert_link::Column::Firing, Expr::value(true))
                .col_expr(alert_link::Column::Episode, Expr::value(alert.episode.clone()))
                .col_expr(alert_link::Column::UpdatedAt, Expr::value(now))
                .filter(alert_link::Column::Id.eq(l.id))
                .filter(alert_link::Column::TicketId.eq(l.ticket_id))
                .filter(alert_link::Column::Episode.eq(l.episode.clone()))
                .exec(&txn)
                .await?
                .rows_affected
                == 1
        }
    };
    if !linked {
        txn.rollback().await?;
        return Ok(None);
    }
    firing_event(&txn, t.id, intake, alert, now).await?;
    txn.commit().await?;
    state.opened(tally, opened.next_fire, now);
    tracing::info!(ticket = %t.number, source = alert.source, customer = intake.customer.id, "alert opened a ticket");
    Ok(Some(t.id))
}

/// A resolved alert: a comment and the event `alert_resolved` on its ticket and, with
/// `auto_resolve`, the ticket resolved (unmet, unbreached timers end `auto_resolved`).
pub async fn resolve_alert(
    state: &AppState,
    intake: &Intake,
    source: &str,
    dedup: &str,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let Some(l) = link(state, intake, source, dedup).await? else { return Ok(Outcome::Unchanged(None)) };
    if !l.firing {
        return Ok(Outcome::Unchanged(Some(l.ticket_id)));
    }
    // The link, the comment and the event change together, or none does.
    let txn = state.db.begin().await?;
    if !mark(&txn, &l, false, &l.episode, now).await? {
        txn.rollback().await?;
        return Ok(Outcome::Unchanged(Some(l.ticket_id)));
    }
    if let Some(t) = ticket::Entity::find_by_id(l.ticket_id).one(&txn).await?
        && !t.status.parse::<Status>().is_ok_and(|s| s.is_final())
    {
        let body = format!("Alert `{dedup}` ({source}) resolved at {}.", now.to_rfc3339());
        tickets::insert_comment(&txn, t.id, Who::System(&intake.by), &body, "internal", now).await?;
    }
    tickets::record_event(
        &txn,
        l.ticket_id,
        &intake.by,
        "alert_resolved",
        json!({"source": source, "dedup": dedup}),
        now,
    )
    .await?;
    txn.commit().await?;
    if intake.auto_resolve {
        let resolution = format!("Alert `{dedup}` resolved; resolved automatically (auto_resolve).");
        tickets::resolve_by_system(state, l.ticket_id, &intake.by, &resolution, now).await?;
        state.wake_delivery.notify_one();
    }
    Ok(Outcome::Resolved(l.ticket_id))
}

/// An acknowledgement: recorded on the ticket, and every open escalation chain of the ticket is
/// acknowledged (repeats stop). No timer is met by it.
pub async fn acknowledge(
    state: &AppState,
    intake: &Intake,
    source: &str,
    dedup: &str,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let Some(l) = link(state, intake, source, dedup).await? else { return Ok(Outcome::Unchanged(None)) };
    let chains = escalation::Entity::find()
        .filter(escalation::Column::TicketId.eq(l.ticket_id))
        .filter(escalation::Column::AckedAt.is_null())
        .all(&state.db)
        .await?;
    for c in &chains {
        super::escalation::ack::acknowledge(state, c.id, &intake.by, now).await?;
    }
    tickets::record_event(
        &state.db,
        l.ticket_id,
        &intake.by,
        "alert_acknowledged",
        json!({"source": source, "dedup": dedup, "escalations": chains.len()}),
        now,
    )
    .await?;
    Ok(Outcome::Acknowledged(l.ticket_id))
}
