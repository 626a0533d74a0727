//! Reading tickets: one by id or number, pages of them with filters and cursors, and their event
//! log.

use base64::Engine;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::super::timers::secs;
use super::change::{TicketRef, load_visible};
use super::parse_ref;
use super::seen_by::SeenBy;
use super::view::{TicketView, ViewContext};
use crate::domain::actor::ActorKind;
use crate::domain::level::Level;
use crate::domain::ticket::Status;
use crate::persistence::entities::{team, ticket, ticket_event};
use crate::persistence::like::containing;
use crate::state::AppState;

pub async fn get(state: &AppState, principal: &Principal, r: &str, now: DateTime<Utc>) -> Result<TicketView> {
    let t = load_visible(&state.db, principal, &TicketRef::from(r)).await?;
    let ctx = ViewContext::load(&state.db, &state.versions, std::slice::from_ref(&t)).await?;
    ctx.view(t, principal, &state.versions, state.config.runtime.tickets.reopen_window_secs, now)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    Urgency,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    User(i64),
    Me,
    Nobody,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Vec<Status>,
    pub level: Vec<Level>,
    pub customer_id: Option<i64>,
    pub assignee: Option<AssigneeFilter>,
    pub team: Option<String>,
    pub breached: Option<bool>,
    pub q: Option<String>,
    pub sort: Sort,
    pub after: Option<String>,
    pub limit: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    s: Sort,
    id: i64,
    #[serde(default)]
    b: i16,
    #[serde(default)]
    k: i64,
}

fn encode(c: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode(s: &str, sort: Sort) -> Result<Cursor> {
    let bad = || Error::invalid("after", "not a cursor from a previous page of this listing");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if c.s != sort {
        return Err(Error::invalid("after", "the cursor belongs to another sort order"));
    }
    Ok(c)
}

pub async fn list(
    state: &AppState,
    principal: &Principal,
    q: ListQuery,
    now: DateTime<Utc>,
) -> Result<Page<TicketView>> {
    let limit = q.limit.clamp(1, 200);
    let cursor = q.after.as_deref().map(|a| decode(a, q.sort)).transpose()?;
    let query = ordered(filtered(state, principal, &q, now).await?, q.sort, cursor.as_ref());
    let mut rows = query.limit(limit + 1).all(&state.db).await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|t| encode(&Cursor { s: q.sort, id: t.id, b: t.urgency_bucket, k: t.urgency_key }))
    } else {
        None
    };
    let ctx = ViewContext::load(&state.db, &state.versions, &rows).await?;
    let window = state.config.runtime.tickets.reopen_window_secs;
    let items =
        rows.into_iter().map(|t| ctx.view(t, principal, &state.versions, window, now)).collect::<Result<_>>()?;
    Ok(Page { items, next })
}

/// The tickets the caller may see that match the filters.
async fn filtered(
    state: &AppState,
    principal: &Principal,
    q: &ListQuery,
    now: DateTime<Utc>,
) -> Result<Select<ticket::Entity>> {
    let mut query = ticket::Entity::find();
    if let Some(own) = principal.customer_id() {
        query = query.filter(ticket::Column::CustomerId.eq(own));
    }
    if let Some(c) = q.customer_id {
        query = query.filter(ticket::Column::CustomerId.eq(c));
    }
    if !q.status.is_empty() {
        query = query.filter(ticket::Column::Status.is_in(q.status.iter().copied()));
    }
    if !q.level.is_empty() {
        query = query.filter(ticket::Column::Level.is_in(q.level.iter().copied()));
    }
    match &q.assignee {
        Some(AssigneeFilter::User(id)) => query = query.filter(ticket::Column::AssigneeId.eq(*id)),
        Some(AssigneeFilter::Me) => match principal.user_id() {
            Some(user_id) => query = query.filter(ticket::Column::AssigneeId.eq(user_id)),
            None => return Err(Error::invalid("assignee", "`me` is for staff")),
        },
        Some(AssigneeFilter::Nobody) => query = query.filter(ticket::Column::AssigneeId.is_null()),
        None => {}
    }
    if let Some(name) = &q.team {
        let id = team::Entity::find().filter(team::Column::Name.eq(name)).one(&state.db).await?.map(|t| t.id);
        query = query.filter(ticket::Column::TeamId.eq(id.unwrap_or(-1)));
    }
    if let Some(b) = q.breached {
        // A running timer past its deadline is breached even before anything recorded it.
        let lazily =
            Condition::all().add(ticket::Column::UrgencyBucket.eq(0)).add(ticket::Column::UrgencyKey.lt(secs(now)));
        let breached = Condition::any().add(ticket::Column::Breached.eq(true)).add(lazily);
        query = query.filter(if b { breached } else { breached.not() });
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        query = query.filter(matching(state, text)?);
    }
    Ok(query)
}

/// Tickets holding every word of `text` in their title, description, plan, resolution or public
/// comments (the search index: Chinese words wherever their characters stand together,
/// identifiers such as `ORA-12170` whole), or the ticket it names. Text without a word to search
/// for (`%_`) is looked for as written in titles and descriptions.
fn matching(state: &AppState, text: &str) -> Result<Condition> {
    if text.chars().count() > 200 {
        return Err(Error::invalid("q", "at most 200 characters"));
    }
    let mut any = Condition::any();
    match crate::services::search::tickets_holding(state.backend(), &state.search, text) {
        Some(holding) => any = any.add(holding),
        None => {
            let pattern = || containing(&text.to_lowercase());
            any = any
                .add(Expr::expr(Func::lower(Expr::col(ticket::Column::Title))).like(pattern()))
                .add(Expr::expr(Func::lower(Expr::col(ticket::Column::Description))).like(pattern()));
        }
    }
    if let Some(id) = parse_ref(text) {
        any = any.add(ticket::Column::Id.eq(id));
    }
    Ok(any)
}

/// The order of `sort`, from after the cursor's ticket.
fn ordered(query: Select<ticket::Entity>, sort: Sort, cursor: Option<&Cursor>) -> Select<ticket::Entity> {
    match sort {
        Sort::Newest => match cursor {
            Some(c) => query.filter(ticket::Column::Id.lt(c.id)),
            None => query,
        }
        .order_by_desc(ticket::Column::Id),
        Sort::Oldest => match cursor {
            Some(c) => query.filter(ticket::Column::Id.gt(c.id)),
            None => query,
        }
        .order_by_asc(ticket::Column::Id),
        Sort::Urgency => {
            let query = match cursor {
                Some(c) => query.filter(
                    Condition::any()
                        .add(ticket::Column::UrgencyBucket.gt(c.b))
                        .add(
                            Condition::all()
                                .add(ticket::Column::UrgencyBucket.eq(c.b))
                                .add(ticket::Column::UrgencyKey.gt(c.k)),
                        )
                        .add(
                            Condition::all()
                                .add(ticket::Column::UrgencyBucket.eq(c.b))
                                .add(ticket::Column::UrgencyKey.eq(c.k))
                                .add(ticket::Column::Id.gt(c.id)),
                        ),
                ),
                None => query,
            };
            query
                .order_by_asc(ticket::Column::UrgencyBucket)
                .order_by_asc(ticket::Column::UrgencyKey)
                .order_by_asc(ticket::Column::Id)
        }
    }
}

crate::text_enum! {
    /// The log an event of a ticket's history comes from.
    pub enum EventLog ("event log") {
        /// The ticket's own log.
        Ticket = "ticket",
        /// A warning or breach that fired.
        Escalation = "escalation",
        /// A notification sent or failed.
        Delivery = "delivery",
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    /// ticket (the ticket's own log), escalation (a warning or breach that fired) or delivery
    /// (a notification sent or failed); `id` is the row's id in that log.
    #[schema(value_type = String)]
    pub source: EventLog,
    pub id: i64,
    pub ticket_id: i64,
    /// user | contact | system
    #[schema(value_type = String)]
    pub actor_kind: ActorKind,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    #[schema(value_type = Option<Object>)]
    pub old_value: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub new_value: Option<serde_json::Value>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Events that only staff see: internal notes and internal attachments.
fn internal(e: &ticket_event::Model) -> bool {
    e.new_value.as_deref().is_some_and(|v| v.contains("\"visibility\":\"internal\""))
}

pub async fn list_events(state: &AppState, principal: &Principal, r: &str) -> Result<Vec<EventView>> {
    let t = load_visible(&state.db, principal, &TicketRef::from(r)).await?;
    let rows = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(t.id))
        .order_by_asc(ticket_event::Column::Id)
        .limit(10_000)
        .all(&state.db)
        .await?;
    let contact = matches!(principal, Principal::Contact { .. });
    let users = rows.iter().filter(|e| e.actor_kind == ActorKind::User).filter_map(|e| e.actor_id).collect();
    let seen = SeenBy::load(&state.db, principal, users).await?;
    let mut out: Vec<EventView> = rows
        .into_iter()
        .filter(|e| !(contact && internal(e)))
        .map(|e| {
            let who = seen.actor(e.actor_kind, e.actor_id, e.actor_name);
            EventView {
                source: EventLog::Ticket,
                id: e.id,
                ticket_id: e.ticket_id,
                actor_kind: who.kind,
                actor_id: who.id,
                actor_name: who.name,
                action: e.action.to_string(),
                old_value: seen.value(e.old_value.and_then(|v| serde_json::from_str(&v).ok())),
                new_value: seen.value(e.new_value.and_then(|v| serde_json::from_str(&v).ok())),
                note: e.note,
                created_at: e.created_at,
            }
        })
        .collect();
    if !contact {
        use crate::persistence::entities::{escalation_event, outbox};
        for e in escalation_event::Entity::find()
            .filter(escalation_event::Column::TicketId.eq(t.id))
            .order_by_asc(escalation_event::Column::Id)
            .all(&state.db)
            .await?
        {
            out.push(EventView {
                source: EventLog::Escalation,
                id: e.id,
                ticket_id: e.ticket_id,
                actor_kind: ActorKind::System,
                actor_id: None,
                actor_name: "escalation".into(),
                action: format!("escalation.{}", e.on_event),
                old_value: None,
                new_value: Some(serde_json::json!({"rule": e.rule, "step": e.step, "timer": e.timer, "cycle": e.cycle, "escalation_id": e.escalation_id, "due_at": e.due_at, "fire_at": e.fire_at})),
                note: None,
                created_at: e.created_at,
            });
        }
        for o in outbox::Entity::find()
            .filter(outbox::Column::TicketId.eq(t.id))
            .order_by_asc(outbox::Column::Id)
            .all(&state.db)
            .await?
        {
            out.push(EventView {
                source: EventLog::Delivery,
                id: o.id,
                ticket_id: t.id,
                actor_kind: ActorKind::System,
                actor_id: None,
                actor_name: "delivery".into(),
                action: format!("delivery.{}", o.status),
                old_value: None,
                new_value: Some(serde_json::json!({"channel": o.channel, "target": o.target, "kind": o.kind, "status": o.status, "attempts": o.attempts, "dead_reason": o.dead_reason, "last_error": o.last_error, "delivered_at": o.delivered_at})),
                note: None,
                created_at: o.delivered_at.unwrap_or(o.updated_at),
            });
        }
        out.sort_by_key(|e| e.created_at);
    }
    Ok(out)
}

/// Every timer of the ticket, all cycles, in kind and cycle order, as of `now`.
pub async fn timer_views(
    state: &AppState,
    principal: &Principal,
    r: &str,
    now: DateTime<Utc>,
) -> Result<Vec<super::view::TimerView>> {
    use crate::persistence::entities::sla_timer;
    let t = load_visible(&state.db, principal, &TicketRef::from(r)).await?;
    let rows = sla_timer::Entity::find()
        .filter(sla_timer::Column::TicketId.eq(t.id))
        .order_by_asc(sla_timer::Column::Id)
        .all(&state.db)
        .await?;
    let mut out = Vec::new();
    for m in rows {
        let timer = super::super::timers::Timer::from_model(&state.db, &state.versions, m).await?;
        out.push(super::view::timer_view(&timer, &state.versions, now)?);
    }
    out.sort_by_key(|v| (v.kind, v.cycle));
    Ok(out)
}
