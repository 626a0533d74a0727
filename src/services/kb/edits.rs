//! Every write of an article — creating it, editing it, moving it between states — each
//! recording its version and rewriting its search document in the same transaction; and the
//! history those versions make.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::{ArticlePatch, ArticleView, Content, NewArticle, VersionView, readable, require_writer, staff_role, view};
use crate::domain::kb::{self, ArticleMove, ArticleState, ArticleVisibility, MoveRefusal};
use crate::persistence::entities::{kb_article, kb_article_source, kb_article_version, ticket};
use crate::state::AppState;

/// The tickets an article may come from: they exist.
async fn check_sources(db: &impl ConnectionTrait, ids: &[i64]) -> Result<()> {
    for id in ids {
        if ticket::Entity::find_by_id(*id).one(db).await?.is_none() {
            return Err(Error::invalid("source_ticket_ids", format!("no ticket with id {id}")));
        }
    }
    Ok(())
}

/// Writes version `a.version` of the article and its search document.
async fn record(
    db: &impl ConnectionTrait,
    state: &AppState,
    actor: &Principal,
    a: &kb_article::Model,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    kb_article_version::ActiveModel {
        article_id: Set(a.id),
        version: Set(a.version),
        state: Set(a.state),
        content: Set(serde_json::to_string(&Content::of(a)).map_err(Error::internal)?),
        editor_id: Set(actor.user_id()),
        editor_name: Set(actor.name().to_string()),
        note: Set(note),
        at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    crate::services::search::index_article(db, &state.search, a, now).await
}

/// Creates a draft owned by the caller (an engineer or higher).
pub async fn create(
    state: &AppState,
    actor: &Principal,
    input: NewArticle,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<ArticleView> {
    require_writer(actor)?;
    let owner = actor.user_id().ok_or_else(|| Error::forbidden("only staff write articles"))?;
    let mut content = Content {
        title: input.title,
        symptom: input.symptom,
        cause: input.cause,
        resolution: input.resolution,
        body: input.body,
        tags: input.tags,
        product: input.product.filter(|p| !p.trim().is_empty()),
        language: input.language.unwrap_or_else(|| "zh".into()),
        visibility: input.visibility.unwrap_or(ArticleVisibility::Internal),
    };
    content.validate()?;
    let txn = state.db.begin().await?;
    check_sources(&txn, &input.source_ticket_ids).await?;
    let a = kb_article::ActiveModel {
        state: Set(ArticleState::Draft),
        visibility: Set(content.visibility),
        title: Set(content.title),
        symptom: Set(content.symptom),
        cause: Set(content.cause),
        resolution: Set(content.resolution),
        body: Set(content.body),
        tags: Set(serde_json::to_string(&content.tags).map_err(Error::internal)?),
        product: Set(content.product),
        language: Set(content.language),
        owner_id: Set(owner),
        reviewer_id: Set(None),
        reviewed_at: Set(None),
        published_at: Set(None),
        version: Set(1),
        helpful: Set(0),
        not_helpful: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut ids = input.source_ticket_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    for ticket_id in ids {
        kb_article_source::ActiveModel { article_id: Set(a.id), ticket_id: Set(ticket_id) }.insert(&txn).await?;
    }
    record(&txn, state, actor, &a, note, now).await?;
    let v = view(&txn, actor, a, true).await?;
    txn.commit().await?;
    Ok(v)
}

/// Loads the article for a write, checking the version the caller saw.
async fn for_write(db: &impl ConnectionTrait, id: i64, seen: Option<i32>) -> Result<kb_article::Model> {
    let a =
        kb_article::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::not_found("not_found", "article"))?;
    if let Some(v) = seen
        && v != a.version
    {
        return Err(Error::VersionMismatch { expected: v, current: a.version });
    }
    Ok(a)
}

/// Saves `am` if the article is still at `version`; 409 when someone else saved first.
async fn save(
    db: &impl ConnectionTrait,
    mut am: kb_article::ActiveModel,
    version: i32,
    now: DateTime<Utc>,
) -> Result<kb_article::Model> {
    am.version = Set(version + 1);
    am.updated_at = Set(now);
    let updated =
        kb_article::Entity::update(am).validate()?.filter(kb_article::Column::Version.eq(version)).exec(db).await;
    match updated {
        Ok(a) => Ok(a),
        Err(sea_orm::DbErr::RecordNotUpdated) => {
            Err(Error::conflict("concurrent_update", "the article was changed by someone else; load it again"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Edits a draft or an article in review.
pub async fn update(
    state: &AppState,
    actor: &Principal,
    id: i64,
    patch: ArticlePatch,
    now: DateTime<Utc>,
) -> Result<ArticleView> {
    require_writer(actor)?;
    let txn = state.db.begin().await?;
    let a = for_write(&txn, id, patch.version).await?;
    if !kb::editable(a.state) {
        return Err(Error::conflict(
            "not_editable",
            format!("a {} article is not edited; reopen it as a draft first", a.state),
        ));
    }
    let before = Content::of(&a);
    let mut c = before.clone();
    let ArticlePatch { title, symptom, cause, resolution, body, tags, product, language, visibility, note, .. } = patch;
    c.title = title.unwrap_or(c.title);
    c.symptom = symptom.unwrap_or(c.symptom);
    c.cause = cause.unwrap_or(c.cause);
    c.resolution = resolution.unwrap_or(c.resolution);
    c.body = body.unwrap_or(c.body);
    c.tags = tags.unwrap_or(c.tags);
    if let Some(p) = product {
        c.product = Some(p).filter(|p| !p.trim().is_empty());
    }
    c.language = language.unwrap_or(c.language);
    c.visibility = visibility.unwrap_or(c.visibility);
    c.validate()?;
    if c == before {
        txn.rollback().await?;
        return view(&state.db, actor, a, true).await;
    }
    let version = a.version;
    let mut am = a.into_active_model();
    am.title = Set(c.title);
    am.symptom = Set(c.symptom);
    am.cause = Set(c.cause);
    am.resolution = Set(c.resolution);
    am.body = Set(c.body);
    am.tags = Set(serde_json::to_string(&c.tags).map_err(Error::internal)?);
    am.product = Set(c.product);
    am.language = Set(c.language);
    am.visibility = Set(c.visibility);
    let a = save(&txn, am, version, now).await?;
    record(&txn, state, actor, &a, note, now).await?;
    let v = view(&txn, actor, a, true).await?;
    txn.commit().await?;
    Ok(v)
}

/// Moves an article between states (submit, publish, retire, reopen).
pub async fn move_to(
    state: &AppState,
    actor: &Principal,
    id: i64,
    mv: ArticleMove,
    seen: Option<i32>,
    now: DateTime<Utc>,
) -> Result<ArticleView> {
    let role = staff_role(actor).ok_or_else(|| Error::forbidden("only staff move articles"))?;
    let txn = state.db.begin().await?;
    let a = for_write(&txn, id, seen).await?;
    let to = match kb::next_state(a.state, mv, role) {
        Ok(to) => to,
        Err(MoveRefusal::Forbidden) => {
            return Err(Error::forbidden(format!("to {mv} an article needs the lead role or higher; you are {role}")));
        }
        Err(MoveRefusal::NotNow(possible)) => {
            return Err(Error::InvalidTransition {
                message: format!("`{mv}` is not possible for a {} article", a.state),
                status: a.state.to_string(),
                allowed_actions: possible.iter().map(|m| m.to_string()).collect(),
            });
        }
    };
    let version = a.version;
    let mut am = a.into_active_model();
    am.state = Set(to);
    if to == ArticleState::Published {
        am.reviewer_id = Set(actor.user_id());
        am.reviewed_at = Set(Some(now));
        am.published_at = Set(Some(now));
    }
    let a = save(&txn, am, version, now).await?;
    record(&txn, state, actor, &a, Some(mv.to_string()), now).await?;
    let v = view(&txn, actor, a, true).await?;
    txn.commit().await?;
    Ok(v)
}

/// Every version of an article, oldest first, each with its diff from the one before.
pub async fn versions(state: &AppState, actor: &Principal, id: i64) -> Result<Vec<VersionView>> {
    // Contacts read the published text, not its history.
    if !actor.is_staff() {
        return Err(Error::not_found("not_found", "article"));
    }
    readable(&state.db, actor, id).await?;
    let rows = kb_article_version::Entity::find()
        .filter(kb_article_version::Column::ArticleId.eq(id))
        .order_by_asc(kb_article_version::Column::Version)
        .all(&state.db)
        .await?;
    let mut out: Vec<VersionView> = Vec::with_capacity(rows.len());
    let mut previous = String::new();
    for r in rows {
        let content: Content = serde_json::from_str(&r.content).map_err(|e| {
            Error::Internal(format!("kb_article_versions, row {}: `content` is not an article: {e}", r.id))
        })?;
        let text = content.diffable();
        let diff = if out.is_empty() {
            String::new()
        } else {
            similar::TextDiff::from_lines(&previous, &text)
                .unified_diff()
                .header(&format!("version {}", r.version - 1), &format!("version {}", r.version))
                .to_string()
        };
        previous = text;
        out.push(VersionView {
            version: r.version,
            state: r.state,
            editor: r.editor_name,
            note: r.note,
            at: r.at,
            content,
            diff,
        });
    }
    Ok(out)
}
