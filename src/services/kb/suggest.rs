//! Suggestions while someone types (`POST /api/v1/suggest`): the resolved tickets and the
//! articles most like the words so far, each with the words it matched. Staff see resolved
//! tickets of every customer (other customers' names hidden from agents when
//! `kb.hide_customer_from_agents` says so) and every article not retired; a customer's contact
//! sees published customer articles only — never a ticket.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::events::{self, Happened};
use crate::domain::kb::{self, ArticleState, ArticleVisibility, KbOutcome};
use crate::domain::level::Level;
use crate::domain::ticket::Role;
use crate::persistence::by_id;
use crate::persistence::entities::{customer, kb_article, ticket};
use crate::services::search::{self, Hit, Scope};
use crate::state::AppState;

/// How many of each kind are suggested.
pub const SUGGESTED: usize = 5;
const EXCERPT: usize = 160;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestInput {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The caller's customer, when known: its tickets are marked `same_customer`.
    pub customer_id: Option<i64>,
    /// The ticket being worked on: left out of the suggestions, and named in what is recorded.
    pub ticket_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SimilarTicket {
    pub id: i64,
    pub number: String,
    pub title: String,
    #[schema(value_type = String, example = "II")]
    pub level: Level,
    /// Hidden (null) from agents for other customers when configured.
    pub customer: Option<String>,
    pub same_customer: bool,
    /// The start of its resolution.
    pub resolution: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub score: f64,
    /// The words of the query it holds, as typed.
    pub matched: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuggestedArticle {
    pub id: i64,
    pub reference: String,
    pub title: String,
    /// The start of its symptom.
    pub symptom: String,
    #[schema(value_type = String)]
    pub state: ArticleState,
    #[schema(value_type = String)]
    pub visibility: ArticleVisibility,
    pub score: f64,
    pub matched: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Suggestions {
    pub tickets: Vec<SimilarTicket>,
    pub articles: Vec<SuggestedArticle>,
}

fn excerpt(text: &str) -> String {
    let t: String = text.chars().take(EXCERPT).collect();
    if text.chars().count() > EXCERPT { format!("{t}…") } else { t }
}

fn check(input: &SuggestInput) -> Result<()> {
    if input.title.chars().count() > 200 {
        return Err(Error::invalid("title", "at most 200 characters"));
    }
    if input.description.chars().count() > 20_000 {
        return Err(Error::invalid("description", "at most 20000 characters"));
    }
    Ok(())
}

pub async fn suggest(
    state: &AppState,
    actor: &Principal,
    input: SuggestInput,
    now: DateTime<Utc>,
) -> Result<Suggestions> {
    check(&input)?;
    let text = format!("{}\n{}", input.title, input.description);
    let (tickets, article_scope) = match actor {
        Principal::Staff { .. } => (true, Scope::Articles),
        Principal::Contact { .. } => (false, Scope::CustomerArticles),
        Principal::System { .. } => return Err(Error::forbidden("suggestions are for people")),
    };
    let mut out = Suggestions::default();
    let similar = search::Similar::of(state, &text).await?;
    if tickets {
        let hits = similar.in_scope(&state.db, Scope::ResolvedTickets, SUGGESTED + 1).await?;
        let hits: Vec<Hit> = hits.into_iter().filter(|h| Some(h.id) != input.ticket_id).take(SUGGESTED).collect();
        out.tickets = similar_tickets(state, actor, &input, hits).await?;
    }
    let hits = similar.in_scope(&state.db, article_scope, SUGGESTED).await?;
    out.articles = articles(state, hits).await?;
    let mut shown: Vec<Happened> = out
        .tickets
        .iter()
        .map(|t| Happened { suggested_ticket_id: Some(t.id), ticket_id: input.ticket_id, ..Default::default() })
        .collect();
    shown.extend(out.articles.iter().map(|a| Happened {
        article_id: Some(a.id),
        ticket_id: input.ticket_id,
        ..Default::default()
    }));
    if !shown.is_empty() {
        events::write(&state.db, actor, KbOutcome::Shown, &shown, now).await?;
        state.metrics.kb(KbOutcome::Shown, shown.len() as u64);
    }
    Ok(out)
}

async fn similar_tickets(
    state: &AppState,
    actor: &Principal,
    input: &SuggestInput,
    hits: Vec<Hit>,
) -> Result<Vec<SimilarTicket>> {
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let rows = by_id::<ticket::Entity>(&state.db, ticket::Column::Id, ids, |t| t.id).await?;
    let customer_ids: Vec<i64> = rows.values().map(|t| t.customer_id).collect();
    let names: HashMap<i64, String> =
        by_id::<customer::Entity>(&state.db, customer::Column::Id, customer_ids, |c| c.id)
            .await?
            .into_iter()
            .map(|(id, c)| (id, c.name))
            .collect();
    let hide = state.config.settings.kb.hide_customer_from_agents && actor.role() == Some(Role::Agent);
    let mut out = Vec::new();
    for h in hits {
        let Some(t) = rows.get(&h.id) else { continue };
        let same_customer = input.customer_id == Some(t.customer_id);
        let customer = if hide && !same_customer { None } else { names.get(&t.customer_id).cloned() };
        out.push(SimilarTicket {
            id: t.id,
            number: t.number.clone(),
            title: t.title.clone(),
            level: t.level,
            customer,
            same_customer,
            resolution: excerpt(t.resolution.as_deref().unwrap_or("")),
            resolved_at: t.resolved_at,
            score: h.score,
            matched: h.matched,
        });
    }
    Ok(out)
}

async fn articles(state: &AppState, hits: Vec<Hit>) -> Result<Vec<SuggestedArticle>> {
    let ids: Vec<i64> = hits.iter().map(|h| h.id).collect();
    let rows = by_id::<kb_article::Entity>(&state.db, kb_article::Column::Id, ids, |a| a.id).await?;
    Ok(hits
        .into_iter()
        .filter_map(|h| {
            let a = rows.get(&h.id)?;
            Some(SuggestedArticle {
                id: a.id,
                reference: kb::reference(a.id),
                title: a.title.clone(),
                symptom: excerpt(&a.symptom),
                state: a.state,
                visibility: a.visibility,
                score: h.score,
                matched: h.matched,
            })
        })
        .collect())
}
