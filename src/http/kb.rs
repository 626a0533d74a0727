//! The knowledge base: articles, their versions and moves, drafts from resolved tickets,
//! suggestions while typing, and what became of them.

use actix_web::{HttpResponse, get, patch, post, web};

use super::auth::Auth;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::domain::kb::ArticleMove;
use crate::services::Error;
use crate::services::kb::events::{self, Feedback, NewEvent};
use crate::services::kb::suggest::{self, SuggestInput, Suggestions};
use crate::services::kb::{self, ArticleFilter, ArticlePatch, ArticleView, NewArticle, VersionView, draft};
use crate::state::AppState;

/// Articles, most recently changed first (at most 200): staff see every article; a customer's
/// contact only published `customer` articles. `q` finds words (Chinese too).
#[utoipa::path(get, path = "/api/v1/kb/articles", tag = "knowledge base", params(ArticleFilter),
    responses((status = 200, description = "Articles", body = Vec<ArticleView>), errors::Caller,
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 422, description = "q too long", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/kb/articles")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ArticleFilter>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(kb::list(&state, &auth.0, q.into_inner()).await?))
}

/// A new draft, owned by the caller (engineer or higher).
#[utoipa::path(post, path = "/api/v1/kb/articles", tag = "knowledge base", request_body = NewArticle,
    responses((status = 201, description = "The draft", body = ArticleView), errors::Engineer, errors::JsonBody),
    security(("bearer" = [])))]
#[post("/kb/articles")]
pub async fn create(state: web::Data<AppState>, auth: Auth, body: Body<NewArticle>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(kb::create(&state, &auth.0, body.into_inner()?, None, state.clock.now()).await?))
}

/// A draft from a resolved or closed ticket, personal data replaced by placeholders; the ticket
/// is its source.
#[utoipa::path(post, path = "/api/v1/kb/articles/from-ticket/{ticket}", tag = "knowledge base",
    params(("ticket" = String, Path, description = "Ticket id or number")),
    responses((status = 201, description = "The draft", body = ArticleView), errors::Engineer,
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "The ticket is not resolved", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/kb/articles/from-ticket/{ticket}")]
pub async fn from_ticket(
    state: web::Data<AppState>,
    auth: Auth,
    ticket: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(draft::from_ticket(&state, &auth.0, &ticket, state.clock.now()).await?))
}

#[utoipa::path(get, path = "/api/v1/kb/articles/{id}", tag = "knowledge base",
    params(("id" = i64, Path, description = "Article id")),
    responses((status = 200, description = "The article", body = ArticleView), errors::Caller,
        (status = 404, description = "No such article (or not one the caller may read)", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/kb/articles/{id:\\d+}")]
pub async fn get_one(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(kb::get(&state, &auth.0, *id).await?))
}

/// Edit a draft or an article in review (engineer or higher); a new version.
#[utoipa::path(patch, path = "/api/v1/kb/articles/{id}", tag = "knowledge base", request_body = ArticlePatch,
    params(("id" = i64, Path, description = "Article id")),
    responses((status = 200, description = "The article", body = ArticleView), errors::Engineer, errors::JsonBody,
        (status = 404, description = "No such article", body = ErrorBody),
        (status = 409, description = "Published or retired: reopen it first; or changed concurrently", body = ErrorBody),
        (status = 412, description = "Not the version given", body = ErrorBody)),
    security(("bearer" = [])))]
#[patch("/kb/articles/{id:\\d+}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<ArticlePatch>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(kb::update(&state, &auth.0, *id, body.into_inner()?, state.clock.now()).await?))
}

/// Move an article: `submit` (engineer: draft → review), `publish` (lead: draft or review →
/// published), `retire` (lead), `reopen` (back to draft: an engineer from review, a lead after).
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/{action}", tag = "knowledge base",
    params(("id" = i64, Path, description = "Article id"),
        ("action" = String, Path, description = "submit, publish, retire or reopen"),
        ("version" = Option<i32>, Query, description = "The version seen; a newer article is 412")),
    responses((status = 200, description = "The article", body = ArticleView), errors::Engineer,
        (status = 404, description = "No such article or action", body = ErrorBody),
        (status = 409, description = "Not from this state", body = ErrorBody),
        (status = 412, description = "Not the version given", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/kb/articles/{id:\\d+}/{action:submit|publish|retire|reopen}")]
pub async fn move_to(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(i64, String)>,
    q: web::Query<VersionQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let mv: ArticleMove = action.parse().map_err(|_| Error::not_found("not_found", "action"))?;
    Ok(HttpResponse::Ok().json(kb::move_to(&state, &auth.0, id, mv, q.version, state.clock.now()).await?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    version: Option<i32>,
}

/// Every version, oldest first, each with a unified diff from the one before (staff).
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/versions", tag = "knowledge base",
    params(("id" = i64, Path, description = "Article id")),
    responses((status = 200, description = "Versions", body = Vec<VersionView>), errors::Staff,
        (status = 404, description = "No such article", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/kb/articles/{id:\\d+}/versions")]
pub async fn versions(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(kb::versions(&state, &auth.0, *id).await?))
}

/// "Did this solve your problem?" on a published article the caller may read.
#[utoipa::path(post, path = "/api/v1/kb/articles/{id}/feedback", tag = "knowledge base", request_body = Feedback,
    params(("id" = i64, Path, description = "Article id")),
    responses((status = 204, description = "Counted"), errors::Caller, errors::JsonBody,
        (status = 404, description = "No such article", body = ErrorBody),
        (status = 409, description = "Not published", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/kb/articles/{id:\\d+}/feedback")]
pub async fn feedback(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<Feedback>,
) -> Result<HttpResponse, ApiError> {
    events::feedback(&state, &auth.0, *id, body.into_inner()?, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A suggestion opened, or used on a ticket.
#[utoipa::path(post, path = "/api/v1/kb/events", tag = "knowledge base", request_body = NewEvent,
    responses((status = 204, description = "Recorded"), errors::Caller, errors::JsonBody,
        (status = 404, description = "No such article or ticket", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/kb/events")]
pub async fn event(state: web::Data<AppState>, auth: Auth, body: Body<NewEvent>) -> Result<HttpResponse, ApiError> {
    events::record(&state, &auth.0, body.into_inner()?, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The five resolved tickets and five articles most like the words so far, each with the words
/// it matched. Staff: tickets of every customer and every article not retired; a contact:
/// published customer articles only, never tickets.
#[utoipa::path(post, path = "/api/v1/suggest", tag = "knowledge base", request_body = SuggestInput,
    responses((status = 200, description = "Suggestions", body = Suggestions), errors::Caller, errors::JsonBody),
    security(("bearer" = [])))]
#[post("/suggest")]
pub async fn suggest_now(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<SuggestInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(suggest::suggest(&state, &auth.0, body.into_inner()?, state.clock.now()).await?))
}
