//! What became of suggestions and articles: shown (recorded with each suggestion), opened, used
//! (an agent linked it to the ticket they work on), solved_by (a resolution cites `KB-n`), and
//! readers' "did this solve your problem?". Each is a row in `kb_events` and a count in
//! `opsline_knowledge_suggestions_total{outcome}`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use crate::domain::kb::{self, ArticleState, KbOutcome};
use crate::domain::ticket::Status;
use crate::persistence::entities::{kb_article, kb_event, ticket};
use crate::services::tickets::{TicketRef, load_visible};
use crate::state::AppState;

/// One event to write.
#[derive(Debug, Clone, Copy, Default)]
pub struct Happened {
    pub article_id: Option<i64>,
    pub suggested_ticket_id: Option<i64>,
    pub ticket_id: Option<i64>,
}

/// Writes events of `outcome` (in the caller's transaction).
pub async fn write(
    db: &impl ConnectionTrait,
    actor: &Principal,
    outcome: KbOutcome,
    items: &[Happened],
    now: DateTime<Utc>,
) -> Result<()> {
    for h in items {
        kb_event::ActiveModel {
            outcome: Set(outcome),
            article_id: Set(h.article_id),
            suggested_ticket_id: Set(h.suggested_ticket_id),
            ticket_id: Set(h.ticket_id),
            user_id: Set(actor.user_id()),
            contact_id: Set(actor.contact_id()),
            at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// `POST /api/v1/kb/events`: a suggestion opened, or used on a ticket.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// `opened` or `used`.
    #[schema(value_type = String, pattern = "^(opened|used)$")]
    pub outcome: KbOutcome,
    /// The article suggested (one of this and `suggested_ticket_id`).
    pub article_id: Option<i64>,
    /// The resolved ticket suggested.
    pub suggested_ticket_id: Option<i64>,
    /// The ticket being worked on (required for `used`).
    pub ticket_id: Option<i64>,
}

/// Records an opened or used suggestion. Contacts record only articles they may read, opened.
pub async fn record(state: &AppState, actor: &Principal, e: NewEvent, now: DateTime<Utc>) -> Result<()> {
    if !matches!(e.outcome, KbOutcome::Opened | KbOutcome::Used) {
        return Err(Error::invalid("outcome", "`opened` or `used`; the others are recorded by Opsline"));
    }
    if e.article_id.is_some() == e.suggested_ticket_id.is_some() {
        return Err(Error::invalid("article_id", "name either an article or a suggested ticket"));
    }
    if actor.is_contact() && (e.outcome != KbOutcome::Opened || e.suggested_ticket_id.is_some()) {
        return Err(Error::forbidden("customers record only the articles they open"));
    }
    if actor.is_system() {
        return Err(Error::forbidden("suggestions are for people"));
    }
    if let Some(a) = e.article_id {
        super::readable(&state.db, actor, a).await?;
    }
    if let Some(t) = e.suggested_ticket_id {
        let s = ticket::Entity::find_by_id(t).one(&state.db).await?;
        if !s.is_some_and(|s| matches!(s.status, Status::Resolved | Status::Closed)) {
            return Err(Error::invalid("suggested_ticket_id", format!("no resolved ticket with id {t}")));
        }
    }
    let ticket_id = match e.ticket_id {
        Some(id) => Some(load_visible(&state.db, actor, &TicketRef::Id(id)).await?.id),
        None if e.outcome == KbOutcome::Used => {
            return Err(Error::invalid("ticket_id", "a suggestion is used on a ticket: name it"));
        }
        None => None,
    };
    let h = Happened { article_id: e.article_id, suggested_ticket_id: e.suggested_ticket_id, ticket_id };
    write(&state.db, actor, e.outcome, &[h], now).await?;
    state.metrics.kb(e.outcome, 1);
    Ok(())
}

/// The articles a resolution cites, recorded as `solved_by` for `ticket_id` (in the change's
/// transaction); how many.
pub async fn cited_by_resolution(
    db: &impl ConnectionTrait,
    actor: &Principal,
    ticket_id: i64,
    resolution: &str,
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut items = Vec::new();
    for id in kb::cited(resolution) {
        if kb_article::Entity::find_by_id(id).one(db).await?.is_some() {
            items.push(Happened { article_id: Some(id), ticket_id: Some(ticket_id), ..Default::default() });
        }
    }
    write(db, actor, KbOutcome::SolvedBy, &items, now).await?;
    Ok(items.len() as u64)
}

/// What the knowledge base did for customer `customer_id` in `[from, to)` (a service report's
/// section): its contacts' answers and opened articles, and the suggestions used on and the
/// articles cited by its tickets.
pub async fn for_report(
    db: &impl ConnectionTrait,
    customer_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<crate::domain::report::Knowledge> {
    let mut sql = crate::persistence::raw::Sql::new(db.get_database_backend());
    sql.push("SELECT e.outcome, count(*) AS n FROM kb_events e WHERE e.at >= ")
        .bind(from)
        .push(" AND e.at < ")
        .bind(to)
        .push(" AND (e.contact_id IN (SELECT c.id FROM contacts c WHERE c.customer_id = ")
        .bind(customer_id)
        .push(") OR e.ticket_id IN (SELECT t.id FROM tickets t WHERE t.customer_id = ")
        .bind(customer_id)
        .push(")) GROUP BY e.outcome");
    let mut k = crate::domain::report::Knowledge::default();
    for r in db.query_all_raw(sql.statement()).await? {
        let n = u64::try_from(r.try_get::<i64>("", "n")?).unwrap_or(0);
        match r.try_get::<KbOutcome>("", "outcome")? {
            KbOutcome::Helpful => k.helpful += n,
            KbOutcome::NotHelpful => k.not_helpful += n,
            KbOutcome::Opened => k.articles_opened += n,
            KbOutcome::Used => k.suggestions_used += n,
            KbOutcome::SolvedBy => k.solved_by_articles += n,
            KbOutcome::Shown => {}
        }
    }
    Ok(k)
}

/// `POST /api/v1/kb/articles/{id}/feedback`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// Did this solve your problem?
    pub helpful: bool,
}

/// A reader's answer to "did this solve your problem?" on a published article.
pub async fn feedback(state: &AppState, actor: &Principal, id: i64, f: Feedback, now: DateTime<Utc>) -> Result<()> {
    if actor.is_system() {
        return Err(Error::forbidden("answers are for people"));
    }
    let a = super::readable(&state.db, actor, id).await?;
    if a.state != ArticleState::Published {
        return Err(Error::conflict("not_published", "only published articles are answered"));
    }
    let (outcome, column) = if f.helpful {
        (KbOutcome::Helpful, kb_article::Column::Helpful)
    } else {
        (KbOutcome::NotHelpful, kb_article::Column::NotHelpful)
    };
    let txn = state.db.begin().await?;
    kb_article::Entity::update_many()
        .col_expr(column, Expr::col(column).add(1))
        .filter(kb_article::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    write(&txn, actor, outcome, &[Happened { article_id: Some(id), ..Default::default() }], now).await?;
    txn.commit().await?;
    state.metrics.kb(outcome, 1);
    Ok(())
}
