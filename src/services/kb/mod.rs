//! The knowledge base (README: Knowledge base): articles with states and versions, drafts from
//! resolved tickets, suggestions while someone types, and what became of them.
//!
//! Every write of an article rewrites its search document and appends its version in one
//! transaction, so the index, the history and the article never disagree.

pub mod draft;
mod edits;
pub mod events;
pub mod suggest;

pub use edits::{create, move_to, update, versions};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{Error, Result};
use crate::domain::kb::{self, ArticleMove, ArticleState, ArticleVisibility};
use crate::domain::ticket::Role;
use crate::persistence::entities::{kb_article, kb_article_source, ticket};
use crate::state::AppState;

const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 20_000;
const MAX_BODY: usize = 100_000;
const MAX_TAGS: usize = 20;

/// An article's text: what a version keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Content {
    pub title: String,
    pub symptom: String,
    pub cause: String,
    pub resolution: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    pub product: Option<String>,
    /// `zh` or `en`.
    pub language: String,
    #[schema(value_type = String, example = "customer")]
    pub visibility: ArticleVisibility,
}

impl Content {
    fn of(a: &kb_article::Model) -> Self {
        Content {
            title: a.title.clone(),
            symptom: a.symptom.clone(),
            cause: a.cause.clone(),
            resolution: a.resolution.clone(),
            body: a.body.clone(),
            tags: serde_json::from_str(&a.tags).unwrap_or_default(),
            product: a.product.clone(),
            language: a.language.clone(),
            visibility: a.visibility,
        }
    }

    /// Checks every field; the first problem names its field.
    fn validate(&mut self) -> Result<()> {
        self.title = self.title.trim().to_string();
        if self.title.is_empty() || self.title.chars().count() > MAX_TITLE {
            return Err(Error::invalid("title", format!("1 to {MAX_TITLE} characters")));
        }
        if self.title.contains(['\n', '\r']) {
            return Err(Error::invalid("title", "one line"));
        }
        for (field, text, max) in [
            ("symptom", &self.symptom, MAX_TEXT),
            ("cause", &self.cause, MAX_TEXT),
            ("resolution", &self.resolution, MAX_TEXT),
            ("body", &self.body, MAX_BODY),
        ] {
            if text.chars().count() > max {
                return Err(Error::invalid(field, format!("at most {max} characters")));
            }
        }
        self.tags = self.tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
        self.tags.dedup();
        if self.tags.len() > MAX_TAGS || self.tags.iter().any(|t| t.chars().count() > 50) {
            return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags of at most 50 characters")));
        }
        if !matches!(self.language.as_str(), "zh" | "en") {
            return Err(Error::invalid("language", "`zh` or `en`"));
        }
        Ok(())
    }

    /// The text a diff between versions compares, a line per field.
    fn diffable(&self) -> String {
        format!(
            "title: {}\nvisibility: {}\nproduct: {}\ntags: {}\nlanguage: {}\n\nsymptom:\n{}\n\ncause:\n{}\n\nresolution:\n{}\n\nbody:\n{}\n",
            self.title,
            self.visibility,
            self.product.as_deref().unwrap_or(""),
            self.tags.join(", "),
            self.language,
            self.symptom,
            self.cause,
            self.resolution,
            self.body
        )
    }
}

/// `POST /api/v1/kb/articles`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    pub title: String,
    #[serde(default)]
    pub symptom: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub resolution: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub product: Option<String>,
    /// `zh` (default) or `en`.
    pub language: Option<String>,
    /// `internal` (default) or `customer`.
    #[schema(value_type = Option<String>, pattern = "^(internal|customer)$")]
    pub visibility: Option<ArticleVisibility>,
    /// The tickets the article was written from.
    #[serde(default)]
    pub source_ticket_ids: Vec<i64>,
}

/// `PATCH /api/v1/kb/articles/{id}`: the fields to change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlePatch {
    /// The version edited; a newer article is 412.
    pub version: Option<i32>,
    pub title: Option<String>,
    pub symptom: Option<String>,
    pub cause: Option<String>,
    pub resolution: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub product: Option<String>,
    pub language: Option<String>,
    #[schema(value_type = Option<String>, pattern = "^(internal|customer)$")]
    pub visibility: Option<ArticleVisibility>,
    /// Why, for the history.
    pub note: Option<String>,
}

/// A ticket an article came from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceView {
    pub id: i64,
    pub number: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArticleView {
    pub id: i64,
    /// How a ticket cites it: `KB-12`.
    pub reference: String,
    #[schema(value_type = String, example = "published")]
    pub state: ArticleState,
    #[schema(value_type = String, example = "customer")]
    pub visibility: ArticleVisibility,
    pub title: String,
    pub symptom: String,
    pub cause: String,
    pub resolution: String,
    pub body: String,
    /// The body rendered (raw HTML shown as text; only web and mail links).
    pub body_html: String,
    pub tags: Vec<String>,
    pub product: Option<String>,
    pub language: String,
    pub version: i32,
    pub owner_id: Option<i64>,
    pub reviewer_id: Option<i64>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub helpful: i64,
    pub not_helpful: i64,
    /// Staff only.
    pub sources: Vec<SourceView>,
    /// The moves the caller may make now.
    #[schema(value_type = Vec<String>)]
    pub moves: Vec<ArticleMove>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/v1/kb/articles` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ArticleFilter {
    #[param(value_type = Option<String>, pattern = "^(draft|review|published|retired)$")]
    pub state: Option<ArticleState>,
    #[param(value_type = Option<String>, pattern = "^(internal|customer)$")]
    pub visibility: Option<ArticleVisibility>,
    /// Words the article holds (the search index).
    pub q: Option<String>,
}

/// A version of an article and what changed from the one before.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionView {
    pub version: i32,
    #[schema(value_type = String)]
    pub state: ArticleState,
    pub editor: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub content: Content,
    /// A unified diff against the previous version; empty for the first.
    pub diff: String,
}

fn staff_role(actor: &Principal) -> Option<Role> {
    actor.role()
}

/// The article, if the caller may read it; 404 otherwise (a contact cannot tell a draft from
/// nothing).
async fn readable(db: &impl ConnectionTrait, actor: &Principal, id: i64) -> Result<kb_article::Model> {
    let a =
        kb_article::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::not_found("not_found", "article"))?;
    let may = match actor {
        Principal::Staff { .. } => true,
        Principal::Contact { .. } => kb::contact_reads(a.state, a.visibility),
        Principal::System { .. } => false,
    };
    if may { Ok(a) } else { Err(Error::not_found("not_found", "article")) }
}

fn require_writer(actor: &Principal) -> Result<Role> {
    match staff_role(actor) {
        Some(r) if kb::may_write(r) => Ok(r),
        Some(r) => Err(Error::forbidden(format!("writing articles needs the engineer role or higher; you are {r}"))),
        None => Err(Error::forbidden("only staff write articles")),
    }
}

/// The article as `actor` sees it; its source tickets only with `with_sources` (staff).
pub async fn view(
    db: &impl ConnectionTrait,
    actor: &Principal,
    a: kb_article::Model,
    with_sources: bool,
) -> Result<ArticleView> {
    let sources = if with_sources && actor.is_staff() { sources(db, a.id).await? } else { Vec::new() };
    let moves = match staff_role(actor) {
        Some(r) => ArticleMove::ALL.into_iter().filter(|m| kb::next_state(a.state, *m, r).is_ok()).collect(),
        None => Vec::new(),
    };
    let c = Content::of(&a);
    Ok(ArticleView {
        id: a.id,
        reference: kb::reference(a.id),
        state: a.state,
        visibility: a.visibility,
        body_html: crate::domain::markdown::to_html(&a.body),
        title: c.title,
        symptom: c.symptom,
        cause: c.cause,
        resolution: c.resolution,
        body: c.body,
        tags: c.tags,
        product: c.product,
        language: c.language,
        version: a.version,
        owner_id: actor.is_staff().then_some(a.owner_id),
        reviewer_id: if actor.is_staff() { a.reviewer_id } else { None },
        reviewed_at: a.reviewed_at,
        published_at: a.published_at,
        helpful: a.helpful,
        not_helpful: a.not_helpful,
        sources,
        moves,
        created_at: a.created_at,
        updated_at: a.updated_at,
    })
}

async fn sources(db: &impl ConnectionTrait, id: i64) -> Result<Vec<SourceView>> {
    let ids: Vec<i64> = kb_article_source::Entity::find()
        .filter(kb_article_source::Column::ArticleId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.ticket_id)
        .collect();
    let tickets =
        ticket::Entity::find().filter(ticket::Column::Id.is_in(ids)).order_by_asc(ticket::Column::Id).all(db).await?;
    Ok(tickets.into_iter().map(|t| SourceView { id: t.id, number: t.number, title: t.title }).collect())
}

pub async fn get(state: &AppState, actor: &Principal, id: i64) -> Result<ArticleView> {
    let a = readable(&state.db, actor, id).await?;
    view(&state.db, actor, a, true).await
}

/// Articles the caller may read, newest change first (at most 200).
pub async fn list(state: &AppState, actor: &Principal, f: ArticleFilter) -> Result<Vec<ArticleView>> {
    let mut q = kb_article::Entity::find();
    match actor {
        Principal::Staff { .. } => {}
        Principal::Contact { .. } => {
            q = q
                .filter(kb_article::Column::State.eq(ArticleState::Published))
                .filter(kb_article::Column::Visibility.eq(ArticleVisibility::Customer));
        }
        Principal::System { .. } => return Err(Error::forbidden("articles are for people")),
    }
    if let Some(s) = f.state {
        q = q.filter(kb_article::Column::State.eq(s));
    }
    if let Some(v) = f.visibility {
        q = q.filter(kb_article::Column::Visibility.eq(v));
    }
    if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > 200 {
            return Err(Error::invalid("q", "at most 200 characters"));
        }
        match crate::services::search::articles_holding(state.backend(), &state.search, text) {
            Some(holding) => q = q.filter(holding),
            None => return Ok(Vec::new()),
        }
    }
    let rows = q
        .order_by_desc(kb_article::Column::UpdatedAt)
        .order_by_desc(kb_article::Column::Id)
        .limit(200)
        .all(&state.db)
        .await?;
    let mut out = Vec::new();
    for a in rows {
        out.push(view(&state.db, actor, a, false).await?);
    }
    Ok(out)
}
