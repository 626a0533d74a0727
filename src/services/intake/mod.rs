//! Alerts and events become tickets: per-customer integration keys, and what a firing,
//! resolved or acknowledged alert does to its ticket — whatever format it came in
//! (`alertmanager`, `events`). An alert's identity (fingerprint, dedup key) is linked to the
//! ticket it opened; repeats of the same notification change nothing, so at-least-once senders
//! (Alertmanager in HA pairs, retries) never open a ticket twice.

pub mod alertmanager;
pub mod email;
pub mod events;
mod keys;
pub mod mail_auth;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::json;

pub use keys::{
    Credential, DEFAULT_LEVEL, Intake, IntegrationView, KEY_PREFIX, Kind, NewIntegration, create, list, resolve,
};

use super::error::{Error, Result};
use super::tickets::{self, Also, ChangeRequest, Entry, NewTicket, Work};
use crate::domain::ticket::{Change, Event, MAX_REASON, MAX_TEXT, MAX_TITLE, Note, Source, Status, cleaned, one_line};
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

impl Alert {
    fn detail(&self) -> serde_json::Value {
        json!({"source": self.source, "dedup": self.dedup, "title": self.title, "episode": self.episode})
    }
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
    // Two instances (or two Alertmanager replicas) may race on the same alert: the link decides
    // (it is unique, and moved only from the state it was read in), and the loser looks again.
    for _ in 0..tickets::ATTEMPTS {
        let Some(l) = link(state, intake, alert.source, &alert.dedup).await? else {
            match open(state, intake, alert, None, now).await? {
                Some(id) => return Ok(Outcome::Opened(id)),
                None => continue,
            }
        };
        if l.firing && l.episode == alert.episode {
            return Ok(Outcome::Unchanged(Some(l.ticket_id)));
        }
        let t = ticket::Entity::find_by_id(l.ticket_id).one(&state.db).await?;
        let mark = Mark { link: &l, firing: true, episode: &alert.episode };
        let window = Duration::seconds(state.config.runtime.tickets.alert_reopen_window_secs);
        let change = match &t {
            Some(t) if t.status.is_unresolved() => {
                Change::Note { note: Note::AlertFiring, detail: alert.detail(), comment: None }
            }
            Some(t)
                if matches!(t.status, Status::Resolved | Status::Closed)
                    && t.resolved_at.is_some_and(|r| now - r < window) =>
            {
                let reason = format!("alert `{}` fired again: {}", alert.dedup, alert.title);
                Change::Reopen { reason: one_line(&reason, MAX_REASON) }
            }
            _ => match open(state, intake, alert, Some(&l), now).await? {
                Some(id) => return Ok(Outcome::Opened(id)),
                None => continue,
            },
        };
        let reopen = matches!(change, Change::Reopen { .. });
        let req = ChangeRequest::new(l.ticket_id, change);
        match tickets::change_with(state, &intake.actor, req, &mark, now).await {
            Ok(Some(_)) if reopen => return Ok(Outcome::Reopened(l.ticket_id)),
            Ok(Some(_)) => return Ok(Outcome::Added(l.ticket_id)),
            // The link or the ticket moved meanwhile (another request, a person): look again.
            Ok(None) | Err(Error::InvalidTransition { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::conflict("concurrent_update", "the alert is being processed elsewhere; send it again"))
}

/// Sets a link's firing state and episode, in the change's transaction, unless another request
/// already moved it.
struct Mark<'a> {
    link: &'a alert_link::Model,
    firing: bool,
    episode: &'a str,
}

impl Also for Mark<'_> {
    async fn write(&self, work: &mut Work<'_>, _: &ticket::Model) -> Result<bool> {
        let txn = &work.txn;
        let l = self.link;
        let res = alert_link::Entity::update_many()
            .col_expr(alert_link::Column::Firing, Expr::value(self.firing))
            .col_expr(alert_link::Column::Episode, Expr::value(self.episode))
            .col_expr(alert_link::Column::UpdatedAt, Expr::value(work.now))
            .filter(alert_link::Column::Id.eq(l.id))
            .filter(alert_link::Column::Firing.eq(l.firing))
            .filter(alert_link::Column::Episode.eq(l.episode.clone()))
            .filter(alert_link::Column::TicketId.eq(l.ticket_id))
            .exec(txn)
            .await?;
        Ok(res.rows_affected == 1)
    }
}

/// Links a new ticket to its alert (a new link, or `previous` moved to it) and notes the firing,
/// in the opening's transaction.
struct LinkAlert<'a> {
    intake: &'a Intake,
    alert: &'a Alert,
    previous: Option<&'a alert_link::Model>,
}

impl Also for LinkAlert<'_> {
    async fn write(&self, work: &mut Work<'_>, t: &ticket::Model) -> Result<bool> {
        let txn = &work.txn;
        let (alert, now) = (self.alert, work.now);
        let linked = match self.previous {
            None => insert_link(txn, self.intake, alert, t.id, now).await?,
            Some(l) => {
                alert_link::Entity::update_many()
                    .col_expr(alert_link::Column::TicketId, Expr::value(t.id))
                    .col_expr(alert_link::Column::Firing, Expr::value(true))
                    .col_expr(alert_link::Column::Episode, Expr::value(alert.episode.clone()))
                    .col_expr(alert_link::Column::UpdatedAt, Expr::value(now))
                    .filter(alert_link::Column::Id.eq(l.id))
                    .filter(alert_link::Column::TicketId.eq(l.ticket_id))
                    .filter(alert_link::Column::Episode.eq(l.episode.clone()))
                    .exec(txn)
                    .await?
                    .rows_affected
                    == 1
            }
        };
        if linked {
            let entry = Entry { new: Some(alert.detail()), ..Default::default() };
            tickets::write_log(txn, t.id, &self.intake.actor, Event::AlertFiring, entry, now).await?;
        }
        Ok(linked)
    }
}

async fn insert_link(
    txn: &impl ConnectionTrait,
    intake: &Intake,
    alert: &Alert,
    ticket_id: i64,
    now: DateTime<Utc>,
) -> Result<bool> {
    let inserted = alert_link::ActiveModel {
        customer_id: Set(intake.customer.id),
        source: Set(alert.source.into()),
        dedup: Set(alert.dedup.clone()),
        ticket_id: Set(ticket_id),
        firing: Set(true),
        episode: Set(alert.episode.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The ticket an alert opens.
fn new_ticket(intake: &Intake, alert: &Alert) -> NewTicket {
    let title = one_line(&alert.title, MAX_TITLE);
    NewTicket {
        customer_id: Some(intake.customer.id),
        title: if title.trim().is_empty() { "Alert".into() } else { title },
        description: cleaned(&alert.description, MAX_TEXT),
        level: Some(intake.level_for(alert.severity.as_deref())),
        contact_id: None,
        source: Some(Source::Integration),
        reported_at: None,
    }
}

/// Opens the alert's ticket and links it; `None` when another request linked the alert first.
async fn open(
    state: &AppState,
    intake: &Intake,
    alert: &Alert,
    previous: Option<&alert_link::Model>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let also = LinkAlert { intake, alert, previous };
    let Some(opened) = tickets::open_with(state, &intake.actor, new_ticket(intake, alert), None, &also, now).await?
    else {
        return Ok(None);
    };
    let t = &opened.ticket;
    tracing::info!(ticket = %t.number, source = alert.source, customer = intake.customer.id, "alert opened a ticket");
    Ok(Some(t.id))
}

/// Of `dedups`, those no ticket is linked to yet for this customer and source.
async fn unlinked(state: &AppState, intake: &Intake, source: &str, dedups: &[&str]) -> Result<Vec<String>> {
    let mut linked = std::collections::HashSet::new();
    for chunk in dedups.chunks(500) {
        let found: Vec<String> = alert_link::Entity::find()
            .filter(alert_link::Column::CustomerId.eq(intake.customer.id))
            .filter(alert_link::Column::Source.eq(source))
            .filter(alert_link::Column::Dedup.is_in(chunk.iter().copied()))
            .select_only()
            .column(alert_link::Column::Dedup)
            .into_tuple()
            .all(&state.db)
            .await?;
        linked.extend(found);
    }
    Ok(dedups.iter().filter(|d| !linked.contains(**d)).map(|d| d.to_string()).collect())
}

/// Opens and links the tickets of new alerts in one transaction (a storm's batch); `None`, with
/// nothing written, when another request linked one of them first.
async fn open_new(
    state: &AppState,
    intake: &Intake,
    alerts: &[&Alert],
    now: DateTime<Utc>,
) -> Result<Option<Vec<i64>>> {
    let inputs: Vec<(NewTicket, LinkAlert)> =
        alerts.iter().map(|alert| (new_ticket(intake, alert), LinkAlert { intake, alert, previous: None })).collect();
    let Some(opened) = tickets::open_all(state, &intake.actor, &inputs, now).await? else { return Ok(None) };
    tracing::info!(
        tickets = opened.len(),
        source = alerts.first().map_or("", |a| a.source),
        customer = intake.customer.id,
        "alerts opened tickets"
    );
    Ok(Some(opened.iter().map(|t| t.id).collect()))
}

/// A resolved alert: an internal comment and the event `alert_resolved` on its ticket and, with
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
    let note = Change::Note {
        note: Note::AlertResolved,
        detail: json!({"source": source, "dedup": dedup}),
        comment: Some(format!("Alert `{dedup}` ({source}) resolved at {}.", now.to_rfc3339())),
    };
    let mark = Mark { link: &l, firing: false, episode: &l.episode };
    let noted = tickets::change_with(state, &intake.actor, ChangeRequest::new(l.ticket_id, note), &mark, now).await?;
    if noted.is_none() {
        return Ok(Outcome::Unchanged(Some(l.ticket_id)));
    }
    if intake.auto_resolve {
        let resolution = format!("Alert `{dedup}` resolved; resolved automatically (auto_resolve).");
        resolve_by_itself(state, &intake.actor, l.ticket_id, resolution, now).await?;
    }
    Ok(Outcome::Resolved(l.ticket_id))
}

/// Opsline resolves a ticket (an alert resolved, a check recovered): unmet, unbreached timers
/// end `auto_resolved`. A ticket that is no longer open to resolving is left as it is.
pub(crate) async fn resolve_by_itself(
    state: &AppState,
    actor: &crate::domain::actor::Actor,
    ticket_id: i64,
    resolution: String,
    now: DateTime<Utc>,
) -> Result<bool> {
    let req = ChangeRequest::new(ticket_id, Change::Resolve { resolution });
    match tickets::change(state, actor, req, now).await {
        Ok(_) => Ok(true),
        Err(Error::InvalidTransition { .. }) => Ok(false),
        Err(e) => Err(e),
    }
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
        super::escalation::ack::acknowledge(state, c.id, &intake.actor, now).await?;
    }
    let note = Change::Note {
        note: Note::AlertAcknowledged,
        detail: json!({"source": source, "dedup": dedup, "escalations": chains.len()}),
        comment: None,
    };
    tickets::change(state, &intake.actor, ChangeRequest::new(l.ticket_id, note), now).await?;
    Ok(Outcome::Acknowledged(l.ticket_id))
}
