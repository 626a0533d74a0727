//! Opening a ticket: the input is checked ([`NewTicket`]), the ticket is classified and inserted
//! with its three timers on the customer's contract, `created` is logged and the `opened` rules
//! fire — one transaction ([`Work`]) that ends like every ticket change. `Idempotency-Key`
//! replays answer with the ticket the first request opened.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs};
use super::change::{Also, Nothing, load_visible};
use super::log::{self, Entry};
use super::view::{TicketView, ViewContext};
use super::work::Work;
use super::{TicketRef, number_for};
use crate::domain::actor::Actor;
use crate::domain::escalation::On;
use crate::domain::level::Level;
use crate::domain::sla::TimerKind;
use crate::domain::ticket::{Event, MAX_TEXT, MAX_TITLE, Source, Status, line, plain};
use crate::metrics::Fact;
use crate::persistence::entities::{contact, customer, idempotency_key, ticket};
use crate::persistence::is_unique_violation;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// Optional for contacts (their own customer).
    pub customer_id: Option<i64>,
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// Overrides the classification (`level_source = manual`); staff only.
    #[schema(value_type = Option<String>, example = "I", pattern = "^([Ii]|[Ii][Ii]|[Ii][Ii][Ii]|[Ii][Vv])$")]
    pub level: Option<Level>,
    pub contact_id: Option<i64>,
    /// hotline | portal | email | check | integration
    #[schema(value_type = Option<String>, example = "hotline")]
    pub source: Option<Source>,
    /// When the call began, if before now (staff only; at most `tickets.max_backdate` ago).
    pub reported_at: Option<DateTime<Utc>>,
}

impl NewTicket {
    /// Customers open tickets through the portal: any other source is Opsline's own intake's to
    /// name.
    pub fn check_source_for(&self, actor: &Actor) -> Result<()> {
        if actor.is_contact() && self.source.is_some_and(|s| s != Source::Portal) {
            return Err(Error::invalid("source", "tickets opened by customers have source `portal`"));
        }
        Ok(())
    }
}

/// A ticket opened (or found again by its `Idempotency-Key`).
pub struct Opened {
    pub ticket: ticket::Model,
    /// An earlier request with the same key opened it.
    pub replayed: bool,
    /// What the view needs, when this request opened it.
    fresh: Option<(customer::Model, Vec<Timer>)>,
}

impl Opened {
    /// The ticket as `GET` shows it; a ticket just opened is shown from what its transaction
    /// wrote, without reading it back.
    pub async fn view(self, state: &AppState, actor: &Actor, now: DateTime<Utc>) -> Result<TicketView> {
        let window = state.config.runtime.tickets.reopen_window_secs;
        let ctx = match self.fresh {
            Some((customer, timers)) => {
                ViewContext::opened(&state.db, customer, self.ticket.contact_id, timers).await?
            }
            None => ViewContext::load(&state.db, &state.versions, std::slice::from_ref(&self.ticket)).await?,
        };
        ctx.view(self.ticket, actor, &state.versions, window, now)
    }
}

/// Opens a ticket.
pub async fn open(
    state: &AppState,
    actor: &Actor,
    input: NewTicket,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Opened> {
    open_with(state, actor, input, idempotency_key, &Nothing, now)
        .await?
        .ok_or_else(|| Error::Internal("abandoned".into()))
}

/// [`open`] with other writes in the same transaction; `None` when those abandoned it.
pub(crate) async fn open_with(
    state: &AppState,
    actor: &Actor,
    input: NewTicket,
    idempotency_key: Option<&str>,
    also: &impl Also,
    now: DateTime<Utc>,
) -> Result<Option<Opened>> {
    let reported_at = check(state, actor, &input, idempotency_key, now)?;
    let request_hash = hex::encode(Sha256::digest(serde_json::to_vec(&input).map_err(Error::internal)?));
    let mut work = Work::begin(state, now).await?;
    if let Some(key) = idempotency_key
        && let Some(found) = replay(&work.txn, actor, key, &request_hash, now).await?
    {
        work.commit().await?;
        return Ok(Some(Opened { ticket: found, replayed: true, fresh: None }));
    }
    let (customer, contact_id) = parties(&work, actor, &input).await?;
    let (t, timers) = insert(&mut work, actor, &input, &customer, contact_id, reported_at).await?;
    if let Some(key) = idempotency_key
        && !remember(&work, actor, key, &request_hash, t.id).await?
    {
        // A concurrent request with the same key won; answer with its ticket.
        work.rollback().await?;
        let found = replay(&state.db, actor, key, &request_hash, now).await?;
        let found = found.ok_or_else(|| Error::Internal("an idempotency key vanished".into()))?;
        return Ok(Some(Opened { ticket: found, replayed: true, fresh: None }));
    }
    if !also.write(&mut work, &t).await? {
        work.rollback().await?;
        return Ok(None);
    }
    work.commit().await?;
    Ok(Some(Opened { ticket: t, replayed: false, fresh: Some((customer, timers)) }))
}

/// Opens tickets in one transaction — an alert storm's batch — each checked and written as
/// [`open_with`] does (without idempotency keys), each with its own other writes. `None`, and
/// nothing written, when any of those abandoned (another request linked the same alert first):
/// the caller then opens them one at a time.
pub(crate) async fn open_all<A: Also>(
    state: &AppState,
    actor: &Actor,
    inputs: &[(NewTicket, A)],
    now: DateTime<Utc>,
) -> Result<Option<Vec<ticket::Model>>> {
    let mut work = Work::begin(state, now).await?;
    let mut opened = Vec::with_capacity(inputs.len());
    for (input, also) in inputs {
        let reported_at = check(state, actor, input, None, now)?;
        let (customer, contact_id) = parties(&work, actor, input).await?;
        let (t, _) = insert(&mut work, actor, input, &customer, contact_id, reported_at).await?;
        if !also.write(&mut work, &t).await? {
            work.rollback().await?;
            return Ok(None);
        }
        opened.push(t);
    }
    work.commit().await?;
    Ok(Some(opened))
}

/// Checks the input; returns when the timers start.
fn check(
    state: &AppState,
    actor: &Actor,
    input: &NewTicket,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let invalid = |r| super::change::refusal(r, None, actor, state);
    line("title", &input.title, MAX_TITLE).map_err(invalid)?;
    if !input.description.trim().is_empty() {
        plain("description", &input.description, MAX_TEXT).map_err(invalid)?;
    } else if input.description.chars().count() > MAX_TEXT {
        return Err(Error::invalid("description", format!("`description` has at most {MAX_TEXT} characters")));
    }
    if idempotency_key.is_some_and(|k| k.is_empty() || k.len() > 255) {
        return Err(Error::invalid("Idempotency-Key", "1–255 characters"));
    }
    if actor.is_contact() && input.level.is_some() {
        return Err(Error::invalid(
            "level",
            "a customer's ticket is always classified; staff may change the level later",
        ));
    }
    let Some(r) = input.reported_at else { return Ok(now) };
    if !actor.is_staff() {
        return Err(Error::invalid("reported_at", "only staff may backdate a ticket"));
    }
    let r = timers::utc(secs(r.with_timezone(&Utc)));
    if r > now {
        return Err(Error::invalid("reported_at", "must not be in the future"));
    }
    if r < now - Duration::seconds(state.config.runtime.tickets.max_backdate_secs) {
        let max = &state.config.settings.tickets.max_backdate;
        return Err(Error::invalid("reported_at", format!("may be at most {max} before now (tickets.max_backdate)")));
    }
    Ok(r)
}

/// The customer and the contact the ticket is for.
async fn parties(work: &Work<'_>, actor: &Actor, input: &NewTicket) -> Result<(customer::Model, Option<i64>)> {
    let customer_id = match (actor.customer_id(), input.customer_id) {
        (Some(own), None) => own,
        (Some(own), Some(c)) if c == own => own,
        (Some(_), Some(_)) => return Err(Error::not_found("customer_not_found", "customer")),
        (None, Some(c)) => c,
        (None, None) => return Err(Error::invalid("customer_id", "`customer_id` is required")),
    };
    let customer = customer::Entity::find_by_id(customer_id)
        .one(&work.txn)
        .await?
        .ok_or_else(|| Error::invalid("customer_id", format!("no customer with id {customer_id}")))?;
    let contact_id = match (actor, input.contact_id) {
        (Actor::Contact { contact_id, .. }, None) => Some(*contact_id),
        (Actor::Contact { contact_id, .. }, Some(c)) if c == *contact_id => Some(c),
        (Actor::Contact { .. }, Some(_)) => {
            return Err(Error::invalid("contact_id", "customers open tickets as themselves"));
        }
        (_, Some(c)) => {
            let found = contact::Entity::find_by_id(c).one(&work.txn).await?;
            if found.is_none_or(|ct| ct.customer_id != customer_id) {
                return Err(Error::invalid(
                    "contact_id",
                    format!("contact {c} is not a contact of customer {customer_id}"),
                ));
            }
            Some(c)
        }
        (_, None) => None,
    };
    Ok((customer, contact_id))
}

/// Writes the ticket, its timers and its first event, and fires the `opened` rules.
async fn insert(
    work: &mut Work<'_>,
    actor: &Actor,
    input: &NewTicket,
    customer: &customer::Model,
    contact_id: Option<i64>,
    reported_at: DateTime<Utc>,
) -> Result<(ticket::Model, Vec<Timer>)> {
    let (state, now) = (work.state, work.now);
    let classification = state.config.runtime.classifier.classify(&input.title, &input.description);
    let (level, level_source) = match input.level {
        Some(l) => (l, "manual"),
        None => (classification.level, "classified"),
    };
    let source = input.source.unwrap_or(if actor.is_contact() { Source::Portal } else { Source::Hotline });
    // The timers first: the ticket row is written with the urgency they give it.
    let start = timers::Start { cycle: 1, level, customer, at: secs(reported_at) };
    let planned = timers::plan(work, &TimerKind::TICKET, &start)?;
    let (urgency_bucket, urgency_key, breached) = timers::urgency(&planned, secs(now));
    // The database numbers the row (`INC-` and its id) and counts it into the ticket gauges
    // (migration m20261206_000012); the placeholder only keeps the unique number free until then.
    let placeholder = format!("new-{}", &uuid::Uuid::new_v4().simple().to_string()[..24]);
    let t = ticket::ActiveModel {
        number: Set(placeholder),
        customer_id: Set(customer.id),
        contact_id: Set(contact_id),
        title: Set(input.title.trim().to_string()),
        description: Set(input.description.clone()),
        level: Set(level),
        level_source: Set(level_source.into()),
        classification: Set(serde_json::to_string(&classification).map_err(Error::internal)?),
        status: Set(Status::Open),
        assignee_id: Set(None),
        team_id: Set(None),
        source: Set(source),
        parent_id: Set(None),
        plan: Set(None),
        resolution: Set(None),
        public_title: Set(None),
        created_by_user_id: Set(actor.user_id()),
        created_by_contact_id: Set(actor.contact_id()),
        reported_at: Set(reported_at),
        created_at: Set(now),
        updated_at: Set(now),
        waiting_since: Set(None),
        resolved_at: Set(None),
        closed_at: Set(None),
        version: Set(1),
        urgency_bucket: Set(urgency_bucket),
        urgency_key: Set(urgency_key),
        breached: Set(breached || planned.iter().any(|tm| tm.model.breached)),
        ..Default::default()
    }
    .insert(&work.txn)
    .await?;
    let t = ticket::Model { number: number_for(t.id), ..t };
    work.written(&t, true);
    let mut started = timers::insert(work, t.id, planned).await?;
    work.tally.push(Fact::Opened { level: t.level, source: t.source, tier: customer.tier });
    for tm in started.iter_mut() {
        tm.take_facts(customer.tier, &mut work.tally);
    }
    let due: serde_json::Map<String, serde_json::Value> =
        started.iter().map(|tm| (tm.kind.to_string(), json!(tm.model.due_at))).collect();
    let created = json!({
        "status": t.status, "level": t.level, "level_source": t.level_source,
        "classification": classification, "source": t.source,
        "reported_at": reported_at, "created_at": now, "due": due,
    });
    log::write(&work.txn, t.id, actor, Event::Created, Entry { new: Some(created), ..Default::default() }, now).await?;
    crate::services::escalation::announce(work, On::Opened, &t).await?;
    Ok((t, started))
}

/// The ticket an earlier request with this key opened, if within 24 hours. The same key with a
/// different body is refused rather than silently answered with the wrong ticket.
async fn replay(
    db: &impl ConnectionTrait,
    actor: &Actor,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<ticket::Model>> {
    let Some(row) = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::Principal.eq(actor.key()))
        .filter(idempotency_key::Column::Key.eq(key))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.created_at < now - Duration::hours(24) {
        idempotency_key::Entity::delete_by_id(row.id).exec(db).await?;
        return Ok(None);
    }
    if row.request_hash != request_hash {
        return Err(Error::Invalid {
            code: "idempotency_key_reused",
            field: Some("Idempotency-Key".into()),
            message: "this Idempotency-Key was used with a different request body in the last 24 hours".into(),
        });
    }
    Ok(Some(load_visible(db, actor, &TicketRef::Id(row.ticket_id)).await?))
}

/// Records the key with the ticket; false when a concurrent request recorded it first.
async fn remember(work: &Work<'_>, actor: &Actor, key: &str, request_hash: &str, ticket_id: i64) -> Result<bool> {
    let inserted = idempotency_key::ActiveModel {
        principal: Set(actor.key()),
        key: Set(key.to_string()),
        request_hash: Set(request_hash.to_string()),
        ticket_id: Set(ticket_id),
        created_at: Set(work.now),
        ..Default::default()
    }
    .insert(&work.txn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
