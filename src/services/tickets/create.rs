//! Opening a ticket: classification, the three timers on the customer's contract, the first
//! event, and `Idempotency-Key` replays — one transaction.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs};
use super::view::{TicketView, ViewContext};
use super::{MAX_TEXT, Source, Who, check_text, event, number_for};
use crate::domain::level::Level;
use crate::domain::sla::TimerKind;
use crate::domain::ticket::Status;
use crate::metrics::{Fact, Tally};
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
    pub source: Option<Source>,
    /// When the call began, if before now (staff only; at most `tickets.max_backdate` ago).
    pub reported_at: Option<DateTime<Utc>>,
}

/// Opens a ticket and returns its id; `replayed` is true when an earlier request with the same
/// `Idempotency-Key` already opened it.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    input: NewTicket,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(i64, bool)> {
    refuse_foreign_source(principal, &input)?;
    open_ticket(state, principal, input, idempotency_key, now).await
}

/// [`create`], answering with the ticket as `GET` shows it. A new ticket's view is made from
/// what its transaction wrote, without reading it back.
pub async fn create_view(
    state: &AppState,
    principal: &Principal,
    input: NewTicket,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(TicketView, bool)> {
    refuse_foreign_source(principal, &input)?;
    match open(state, principal, input, idempotency_key, now).await? {
        Opened::Replayed(id) => Ok((super::get(state, principal, &id.to_string(), now).await?, true)),
        Opened::New(new) => {
            let ctx = ViewContext::opened(&state.db, new.customer, new.ticket.contact_id, new.timers).await?;
            let window = state.config.runtime.tickets.reopen_window_secs;
            Ok((ctx.view(new.ticket, principal, &state.versions, window, now)?, false))
        }
    }
}

fn refuse_foreign_source(principal: &Principal, input: &NewTicket) -> Result<()> {
    if matches!(principal, Principal::Contact { .. }) && input.source.is_some_and(|s| s != Source::Portal) {
        return Err(Error::invalid("source", "tickets opened by customers have source `portal`"));
    }
    Ok(())
}

/// [`create`] for Opsline's own intake, which may name the source a contact's ticket came from
/// (a contact's e-mail opens a ticket with source `email`).
pub(crate) async fn open_ticket(
    state: &AppState,
    principal: &Principal,
    input: NewTicket,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(i64, bool)> {
    Ok(match open(state, principal, input, idempotency_key, now).await? {
        Opened::New(new) => (new.ticket.id, false),
        Opened::Replayed(id) => (id, true),
    })
}

/// What opening a ticket did: opened one (with what its view needs), or found the ticket an
/// earlier request with the same `Idempotency-Key` opened.
enum Opened {
    New(Box<NewlyOpened>),
    Replayed(i64),
}

struct NewlyOpened {
    ticket: ticket::Model,
    customer: customer::Model,
    timers: Vec<Timer>,
}

async fn open(
    state: &AppState,
    principal: &Principal,
    input: NewTicket,
    idempotency_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Opened> {
    check_text("title", &input.title, 200)?;
    if input.description.chars().count() > MAX_TEXT {
        return Err(Error::invalid("description", format!("`description` has at most {MAX_TEXT} characters")));
    }
    if let Some(k) = idempotency_key
        && (k.is_empty() || k.len() > 255)
    {
        return Err(Error::invalid("Idempotency-Key", "1–255 characters"));
    }
    let is_contact = matches!(principal, Principal::Contact { .. });
    if is_contact {
        if input.level.is_some() {
            return Err(Error::invalid(
                "level",
                "a customer's ticket is always classified; staff may change the level later",
            ));
        }
        if input.reported_at.is_some() {
            return Err(Error::invalid("reported_at", "only staff may backdate a ticket"));
        }
    }
    let customer_id = match (principal.customer_id(), input.customer_id) {
        (Some(own), None) => own,
        (Some(own), Some(c)) if c == own => own,
        (Some(_), Some(_)) => return Err(Error::not_found("customer_not_found", "customer")),
        (None, Some(c)) => c,
        (None, None) => return Err(Error::invalid("customer_id", "`customer_id` is required")),
    };
    let reported_at = match input.reported_at {
        None => now,
        Some(r) => {
            let r = r.with_timezone(&Utc);
            let r = timers::utc(secs(r));
            let max = state.config.runtime.tickets.max_backdate_secs;
            if r > now {
                return Err(Error::invalid("reported_at", "must not be in the future"));
            }
            if r < now - Duration::seconds(max) {
                return Err(Error::invalid(
                    "reported_at",
                    format!(
                        "may be at most {} before now (tickets.max_backdate)",
                        state.config.settings.tickets.max_backdate
                    ),
                ));
            }
            r
        }
    };
    let request_hash = hex::encode(Sha256::digest(serde_json::to_vec(&input).unwrap_or_default()));

    let txn = state.db.begin().await?;
    if let Some(key) = idempotency_key
        && let Some(found) = idempotent_replay(&txn, principal, key, &request_hash, now).await?
    {
        txn.commit().await?;
        return Ok(Opened::Replayed(found));
    }
    let cust = customer::Entity::find_by_id(customer_id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::invalid("customer_id", format!("no customer with id {customer_id}")))?;
    let contact_id = match (principal, input.contact_id) {
        (Principal::Contact { contact_id, .. }, None) => Some(*contact_id),
        (Principal::Contact { contact_id, .. }, Some(c)) if c == *contact_id => Some(c),
        (Principal::Contact { .. }, Some(_)) => {
            return Err(Error::invalid("contact_id", "customers open tickets as themselves"));
        }
        (_, Some(c)) => {
            let found = contact::Entity::find_by_id(c).one(&txn).await?;
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
    let source = input.source.unwrap_or(if is_contact { Source::Portal } else { Source::Hotline });
    let created_by = match principal {
        Principal::Staff { user_id, .. } => (Some(*user_id), None),
        Principal::Contact { contact_id, .. } => (None, Some(*contact_id)),
    };
    let opening = Opening {
        customer: &cust,
        contact_id,
        title: &input.title,
        description: &input.description,
        level: input.level,
        source,
        reported_at,
        who: Who::Principal(principal),
        created_by,
    };
    let mut tally = Tally::default();
    let t = insert_new(&txn, state, &opening, now, &mut tally).await?;
    if let Some(key) = idempotency_key {
        let inserted = idempotency_key::ActiveModel {
            principal: Set(principal.key()),
            key: Set(key.to_string()),
            request_hash: Set(request_hash.clone()),
            ticket_id: Set(t.ticket.id),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        if let Err(e) = inserted {
            if is_unique_violation(&e) {
                // A concurrent request with the same key won; answer with its ticket.
                txn.rollback().await?;
                let txn = state.db.begin().await?;
                let found = idempotent_replay(&txn, principal, key, &request_hash, now).await?;
                txn.commit().await?;
                return found.map(Opened::Replayed).ok_or_else(|| Error::Internal("idempotency key vanished".into()));
            }
            return Err(e.into());
        }
    }
    txn.commit().await?;
    state.opened(tally, t.next_fire, now);
    Ok(Opened::New(Box::new(NewlyOpened { ticket: t.ticket, customer: cust, timers: t.timers })))
}

/// The ticket an earlier request with this key opened, if within 24 hours. The same key with a
/// different body is refused rather than silently answered with the wrong ticket.
async fn idempotent_replay(
    db: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let Some(row) = idempotency_key::Entity::find()
        .filter(idempotency_key::Column::Principal.eq(principal.key()))
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
    Ok(Some(row.ticket_id))
}

/// What a new ticket is opened with, by a person or by the system.
pub(crate) struct Opening<'a> {
    pub customer: &'a customer::Model,
    pub contact_id: Option<i64>,
    pub title: &'a str,
    pub description: &'a str,
    /// Overrides the classification (`manual`).
    pub level: Option<Level>,
    pub source: Source,
    pub reported_at: DateTime<Utc>,
    pub who: Who<'a>,
    /// The user or contact who opened it.
    pub created_by: (Option<i64>, Option<i64>),
}

/// A ticket just written, and the earliest firing its timers were scheduled for (for
/// [`AppState::opened`] once the transaction commits).
pub(crate) struct Inserted {
    pub ticket: ticket::Model,
    pub next_fire: Option<DateTime<Utc>>,
    pub timers: Vec<Timer>,
}

/// Inserts the ticket, starts its three timers, logs `created` and fires the `opened` rules, in
/// the caller's transaction.
pub(crate) async fn insert_new(
    txn: &sea_orm::DatabaseTransaction,
    state: &AppState,
    o: &Opening<'_>,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<Inserted> {
    let classification = state.config.runtime.classifier.classify(o.title, o.description);
    let (level, level_source) = match o.level {
        Some(l) => (l, "manual"),
        None => (classification.level, "classified"),
    };
    let (created_by_user, created_by_contact) = o.created_by;
    let (customer_id, contact_id, reported_at, source) = (o.customer.id, o.contact_id, o.reported_at, o.source);
    let placeholder = format!("new-{}", &uuid::Uuid::new_v4().simple().to_string()[..24]);
    let t = ticket::ActiveModel {
        number: Set(placeholder),
        customer_id: Set(customer_id),
        contact_id: Set(contact_id),
        title: Set(o.title.trim().to_string()),
        description: Set(o.description.to_string()),
        level: Set(level.to_string()),
        level_source: Set(level_source.into()),
        classification: Set(serde_json::to_string(&classification).unwrap_or_default()),
        status: Set(Status::Open.as_str().into()),
        assignee_id: Set(None),
        team_id: Set(None),
        source: Set(source.as_str().into()),
        parent_id: Set(None),
        plan: Set(None),
        resolution: Set(None),
        public_title: Set(None),
        created_by_user_id: Set(created_by_user),
        created_by_contact_id: Set(created_by_contact),
        reported_at: Set(reported_at),
        created_at: Set(now),
        updated_at: Set(now),
        waiting_since: Set(None),
        resolved_at: Set(None),
        closed_at: Set(None),
        version: Set(1),
        urgency_bucket: Set(2),
        urgency_key: Set(0),
        breached: Set(false),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let rules = &state.config.runtime.escalation.rules;
    let start = secs(reported_at);
    let mut started =
        timers::start(txn, &state.versions, rules, t.id, &TimerKind::ALL, 1, level, o.customer, start, now).await?;
    // Its number and urgency in one statement: every timer of the new ticket is in hand.
    let (bucket, key, breached_now) = timers::urgency(&started, secs(now));
    let breached = breached_now || started.iter().any(|tm| tm.model.breached);
    let number = number_for(t.id);
    ticket::Entity::update_many()
        .col_expr(ticket::Column::Number, Expr::value(number.clone()))
        .col_expr(ticket::Column::UrgencyBucket, Expr::value(bucket))
        .col_expr(ticket::Column::UrgencyKey, Expr::value(key))
        .col_expr(ticket::Column::Breached, Expr::value(breached))
        .filter(ticket::Column::Id.eq(t.id))
        .exec(txn)
        .await?;
    let t = ticket::Model { number, urgency_bucket: bucket, urgency_key: key, breached, ..t };
    crate::services::gauges::count_move(txn, None, (&t.level, &t.status)).await?;
    tally.push(Fact::Opened { level: t.level.clone(), source: t.source.clone(), tier: o.customer.tier.clone() });
    for tm in started.iter_mut() {
        tm.take_facts(&o.customer.tier, tally);
    }
    let deadlines: serde_json::Map<String, serde_json::Value> =
        started.iter().map(|tm| (tm.kind.to_string(), json!(tm.model.due_at))).collect();
    event(
        txn,
        t.id,
        o.who,
        "created",
        None,
        Some(json!({
            "status": t.status, "level": t.level, "level_source": t.level_source,
            "classification": classification, "source": t.source,
            "reported_at": reported_at, "created_at": now, "due": deadlines,
        })),
        None,
        now,
    )
    .await?;
    super::writes::notify_rules(state, txn, crate::domain::escalation::On::Opened, t.id, now, tally).await?;
    let next_fire = started.iter().filter_map(|tm| tm.model.next_fire_at).min();
    Ok(Inserted { ticket: t, next_fire, timers: started })
}
