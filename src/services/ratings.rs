//! Satisfaction ratings (README: Satisfaction). When a ticket closes, its contact is asked — in
//! the closing transaction, when the customer's tier is sampled — by a mail with one link per
//! score and in the portal. The rating is a change on the ticket (the one change path): a score
//! at or below `ratings.callback_below`, or any score from a VIP customer, starts the callback
//! timer on the SLA engine, met when staff log the call (`POST /api/v1/ratings/{id}/callback`).

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{Error, Result};
use super::tickets::{Also, ChangeRequest, Work, change_with};
use super::timers::Timer;
use crate::domain::actor::Actor;
use crate::domain::delivery::MessageKind;
use crate::domain::rating::{Rated as RatedFact, RatingFacts, needs_callback, sampled};
use crate::domain::sla::TimerKind;
use crate::domain::ticket::{Change, Role};
use crate::persistence::entities::{contact, customer, rating, ticket, user};
use crate::state::AppState;

/// What the rating mail's outbox row carries; the mail is composed when it is sent.
#[derive(Debug, Serialize, Deserialize)]
pub struct RatingMail {
    pub rating_id: i64,
}

/// Asks the closed ticket's contact for a rating, in the closing transaction: once per
/// resolution cycle, when the customer's tier is sampled and the contact can be mailed.
pub(crate) async fn ask(work: &mut Work<'_>, t: &ticket::Model, timers: &[Timer]) -> Result<()> {
    let Some(contact_id) = t.contact_id else { return Ok(()) };
    let Some(who) = contact::Entity::find_by_id(contact_id).one(&work.txn).await?.filter(|c| c.active) else {
        return Ok(());
    };
    let cust = customer::Entity::find_by_id(t.customer_id)
        .one(&work.txn)
        .await?
        .ok_or_else(|| Error::Internal(format!("ticket {} names a missing customer", t.id)))?;
    let cycle = timers.iter().filter(|tm| tm.kind == TimerKind::Resolution).map(|tm| tm.model.cycle).max().unwrap_or(1);
    let settings = &work.state.config.settings.ratings;
    if !sampled(t.id, cycle, settings.sample_percent.of(cust.tier)) {
        return Ok(());
    }
    let expires = work.now + Duration::seconds(work.state.config.runtime.tickets.rating_expire_secs);
    let row = rating::ActiveModel {
        ticket_id: Set(t.id),
        cycle: Set(cycle),
        customer_id: Set(t.customer_id),
        contact_id: Set(who.id),
        engineer_id: Set(t.assignee_id),
        tier: Set(cust.tier),
        asked_at: Set(work.now),
        expires_at: Set(expires),
        callback: Set(false),
        ..Default::default()
    };
    let unique = OnConflict::columns([rating::Column::TicketId, rating::Column::Cycle]).do_nothing().to_owned();
    let id = match rating::Entity::insert(row).on_conflict(unique).exec(&work.txn).await {
        Ok(r) => r.last_insert_id,
        Err(DbErr::RecordNotInserted) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let payload = serde_json::to_string(&RatingMail { rating_id: id }).map_err(Error::internal)?;
    super::delivery::queue_mail(&work.txn, format!("rating:{id}"), who.email, MessageKind::Rating, payload, work.now)
        .await?;
    work.queued();
    Ok(())
}

/// A rating as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RatingView {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_number: String,
    pub ticket_title: String,
    pub customer_id: i64,
    pub contact_id: i64,
    pub engineer_id: Option<i64>,
    pub tier: String,
    pub asked_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// 1 to 5; absent until the contact rates.
    pub score: Option<u8>,
    pub comment: Option<String>,
    pub rated_at: Option<DateTime<Utc>>,
    /// The rating asks for a follow-up call (its timer is the ticket's `callback`).
    pub callback: bool,
    pub called_back_at: Option<DateTime<Utc>>,
    pub callback_note: Option<String>,
}

fn view(r: rating::Model, t: &ticket::Model) -> RatingView {
    RatingView {
        id: r.id,
        ticket_id: r.ticket_id,
        ticket_number: t.number.clone(),
        ticket_title: t.title.clone(),
        customer_id: r.customer_id,
        contact_id: r.contact_id,
        engineer_id: r.engineer_id,
        tier: r.tier.to_string(),
        asked_at: r.asked_at,
        expires_at: r.expires_at,
        score: r.score.and_then(|s| u8::try_from(s).ok()),
        comment: r.comment,
        rated_at: r.rated_at,
        callback: r.callback,
        called_back_at: r.called_back_at,
        callback_note: r.callback_note,
    }
}

/// The rating and its ticket, if `actor` may see it: staff any, a contact their customer's.
pub async fn get(state: &AppState, actor: &Actor, id: i64) -> Result<RatingView> {
    let not_found = || Error::not_found("not_found", "rating");
    let r = rating::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(not_found)?;
    if actor.customer_id().is_some_and(|c| c != r.customer_id) {
        return Err(not_found());
    }
    let t = ticket::Entity::find_by_id(r.ticket_id).one(&state.db).await?.ok_or_else(not_found)?;
    Ok(view(r, &t))
}

/// `GET /api/v1/ratings` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RatingFilter {
    pub customer_id: Option<i64>,
    pub ticket_id: Option<i64>,
    /// `open`: callbacks asked for and not yet made; `done`: made.
    pub callback: Option<String>,
    /// `true`: only ratings given; `false`: only those still waiting for the contact.
    pub rated: Option<bool>,
}

/// Ratings, newest first (at most 500): staff see every customer's, a contact their own's.
pub async fn list(state: &AppState, actor: &Actor, f: RatingFilter) -> Result<Vec<RatingView>> {
    if actor.is_system() {
        return Err(Error::forbidden("ratings are for staff and the customer's contacts"));
    }
    let mut q = rating::Entity::find().order_by_desc(rating::Column::Id).limit(500);
    if let Some(c) = actor.customer_id().or(f.customer_id) {
        q = q.filter(rating::Column::CustomerId.eq(c));
    }
    if let Some(t) = f.ticket_id {
        q = q.filter(rating::Column::TicketId.eq(t));
    }
    match f.callback.as_deref() {
        None => {}
        Some("open") => q = q.filter(rating::Column::Callback.eq(true)).filter(rating::Column::CalledBackAt.is_null()),
        Some("done") => q = q.filter(rating::Column::CalledBackAt.is_not_null()),
        Some(other) => return Err(Error::invalid("callback", format!("`{other}` is not open or done"))),
    }
    match f.rated {
        None => {}
        Some(true) => q = q.filter(rating::Column::Score.is_not_null()),
        Some(false) => q = q.filter(rating::Column::Score.is_null()),
    }
    let rows = q.all(&state.db).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.ticket_id).collect();
    let tickets = crate::persistence::by_id::<ticket::Entity>(&state.db, ticket::Column::Id, ids, |t| t.id).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let t = tickets.get(&r.ticket_id)?;
            Some(view(r, t))
        })
        .collect())
}

/// The rating of a closed ticket, by its contact.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRating {
    pub ticket_id: i64,
    /// 1 (very dissatisfied) to 5 (very satisfied).
    pub score: u8,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Why a rating link or form no longer takes a rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Expired,
    Rated,
}

/// The latest rating asked of a contact on a ticket, taken or not ([`closed`] says which).
pub async fn open_for(state: &AppState, who: &contact::Model, ticket_id: i64) -> Result<Option<rating::Model>> {
    Ok(rating::Entity::find()
        .filter(rating::Column::TicketId.eq(ticket_id))
        .filter(rating::Column::ContactId.eq(who.id))
        .order_by_desc(rating::Column::Cycle)
        .one(&state.db)
        .await?)
}

/// Whether rating `r` still takes a score at `now`.
pub fn closed(r: &rating::Model, now: DateTime<Utc>) -> Option<Closed> {
    if r.score.is_some() {
        Some(Closed::Rated)
    } else if now > r.expires_at {
        Some(Closed::Expired)
    } else {
        None
    }
}

/// Contact `who` rates: the rating asked of them on `ticket_id` (from the API, the portal or the
/// mail's link). A low (or a VIP's) score starts the callback timer.
pub async fn rate(
    state: &AppState,
    who: &contact::Model,
    rating_id: i64,
    score: u8,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<RatingView> {
    let not_found = || Error::not_found("not_found", "rating");
    let r = rating::Entity::find_by_id(rating_id).one(&state.db).await?.ok_or_else(not_found)?;
    if r.contact_id != who.id || !who.active {
        return Err(not_found());
    }
    match closed(&r, now) {
        Some(Closed::Rated) => return Err(Error::conflict("already_rated", "this ticket was rated already")),
        Some(Closed::Expired) => {
            return Err(Error::conflict(
                "rating_expired",
                format!("the rating closed at {}", r.expires_at.to_rfc3339()),
            ));
        }
        None => {}
    }
    let comment = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    let below = state.config.settings.ratings.callback_below;
    let callback = needs_callback(score, r.tier, below);
    let actor = Actor::Contact { contact_id: who.id, customer_id: who.customer_id, name: who.name.clone() };
    let change = Change::Rate { score, comment: comment.clone(), callback };
    let claim = Rated { id: r.id, score, comment, callback, now };
    match change_with(state, &actor, ChangeRequest::new(r.ticket_id, change), &claim, now).await? {
        Some(_) => {}
        None => return Err(Error::conflict("already_rated", "this ticket was rated already")),
    }
    state.metrics.rating(score, r.tier);
    tracing::info!(rating = r.id, ticket = r.ticket_id, score, callback, "ticket rated");
    get(state, &actor, r.id).await
}

/// `POST /api/v1/ratings`: a contact rates one of their customer's closed tickets.
pub async fn rate_ticket(
    state: &AppState,
    who: &contact::Model,
    new: NewRating,
    now: DateTime<Utc>,
) -> Result<RatingView> {
    let Some(r) = open_for(state, who, new.ticket_id).await? else {
        return Err(Error::not_found("not_found", "rating asked of you for this ticket"));
    };
    rate(state, who, r.id, new.score, new.comment, now).await
}

/// The score, written once: only while the rating has none.
struct Rated {
    id: i64,
    score: u8,
    comment: Option<String>,
    callback: bool,
    now: DateTime<Utc>,
}

impl Also for Rated {
    async fn write(&self, work: &mut Work<'_>, _: &ticket::Model) -> Result<bool> {
        let done = rating::Entity::update_many()
            .col_expr(rating::Column::Score, Expr::value(Some(i16::from(self.score))))
            .col_expr(rating::Column::Comment, Expr::value(self.comment.clone()))
            .col_expr(rating::Column::RatedAt, Expr::value(Some(self.now)))
            .col_expr(rating::Column::Callback, Expr::value(self.callback))
            .filter(rating::Column::Id.eq(self.id))
            .filter(rating::Column::Score.is_null())
            .exec(&work.txn)
            .await?;
        Ok(done.rows_affected == 1)
    }
}

/// `POST /api/v1/ratings/{id}/callback`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCallback {
    /// What the customer said (an internal comment on the ticket).
    pub note: String,
}

/// Staff log the follow-up call a rating asked for: the ticket's callback timer is met.
pub async fn call_back(
    state: &AppState,
    actor: &Actor,
    id: i64,
    c: NewCallback,
    now: DateTime<Utc>,
) -> Result<RatingView> {
    actor.require(Role::Engineer).map_err(|e| Error::forbidden(e.0))?;
    let r =
        rating::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| Error::not_found("not_found", "rating"))?;
    if !r.callback {
        return Err(Error::conflict("no_callback", "this rating asks for no callback"));
    }
    if r.called_back_at.is_some() {
        return Err(Error::conflict("already_called_back", "the callback was logged already"));
    }
    let by = match actor {
        Actor::Staff { user_id, .. } => *user_id,
        _ => return Err(Error::forbidden("staff log callbacks")),
    };
    let note = c.note.trim().to_string();
    if note.is_empty() {
        return Err(Error::invalid("note", "say what the customer said"));
    }
    let claim = CalledBack { id, by, note: note.clone(), now };
    let change = Change::CallBack { note };
    if change_with(state, actor, ChangeRequest::new(r.ticket_id, change), &claim, now).await?.is_none() {
        return Err(Error::conflict("already_called_back", "the callback was logged already"));
    }
    get(state, actor, id).await
}

struct CalledBack {
    id: i64,
    by: i64,
    note: String,
    now: DateTime<Utc>,
}

impl Also for CalledBack {
    async fn write(&self, work: &mut Work<'_>, _: &ticket::Model) -> Result<bool> {
        let done = rating::Entity::update_many()
            .col_expr(rating::Column::CalledBackAt, Expr::value(Some(self.now)))
            .col_expr(rating::Column::CalledBackBy, Expr::value(Some(self.by)))
            .col_expr(rating::Column::CallbackNote, Expr::value(Some(self.note.clone())))
            .filter(rating::Column::Id.eq(self.id))
            .filter(rating::Column::CalledBackAt.is_null())
            .exec(&work.txn)
            .await?;
        Ok(done.rows_affected == 1)
    }
}

/// What a report counts of customer `customer_id`'s ratings in `[from, to)`: closings asked about,
/// ratings given (with the engineer's name) and the callbacks they asked for. Each row's asking,
/// score and rating time are written once, so a past period counts the same later.
pub(crate) async fn facts(
    db: &impl sea_orm::ConnectionTrait,
    customer_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<RatingFacts> {
    use sea_orm::PaginatorTrait;
    let mine = || rating::Entity::find().filter(rating::Column::CustomerId.eq(customer_id));
    let asked =
        mine().filter(rating::Column::AskedAt.gte(from)).filter(rating::Column::AskedAt.lt(to)).count(db).await?;
    let rows = mine()
        .filter(rating::Column::RatedAt.gte(from))
        .filter(rating::Column::RatedAt.lt(to))
        .filter(rating::Column::Score.is_not_null())
        .order_by_asc(rating::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.engineer_id).collect();
    let names: std::collections::HashMap<i64, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect();
    let rated = rows
        .iter()
        .filter_map(|r| {
            let score = u8::try_from(r.score?).ok()?;
            Some(RatedFact { score, engineer: r.engineer_id.and_then(|e| names.get(&e).cloned()) })
        })
        .collect();
    let callbacks_asked = rows.iter().filter(|r| r.callback).count() as u64;
    Ok(RatingFacts { asked, rated, callbacks_asked })
}
