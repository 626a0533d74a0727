//! The knowledge base in the console and the portal (README: Knowledge base): similar cases while
//! an agent or a customer types, the article pages, drafting from a resolved ticket, linking a
//! suggestion to a ticket, and customers' help with "did this solve your problem?".

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use minijinja::context;
use serde::Deserialize;

use super::{Viewer, console_form, console_page, portal_form, portal_page, redirect};
use crate::domain::kb::{ArticleMove, KbOutcome};
use crate::domain::ticket::Role;
use crate::services::Error;
use crate::services::auth::Principal;
use crate::services::kb::events::{self, Feedback, NewEvent};
use crate::services::kb::suggest::{self, SuggestInput};
use crate::services::kb::{self, ArticleFilter, draft};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(console_suggest)
        .service(portal_suggest)
        .service(console_list)
        .service(console_article)
        .service(console_move)
        .service(console_edit)
        .service(draft_from_ticket)
        .service(use_on_ticket)
        .service(portal_list)
        .service(portal_article)
        .service(portal_feedback);
}

#[derive(Deserialize)]
struct SuggestQuery {
    title: Option<String>,
    description: Option<String>,
    customer_id: Option<i64>,
    ticket_id: Option<i64>,
}

impl SuggestQuery {
    fn input(self) -> SuggestInput {
        SuggestInput {
            title: self.title.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            customer_id: self.customer_id,
            ticket_id: self.ticket_id,
        }
    }
}

async fn suggest_json(state: &AppState, p: &Principal, q: SuggestQuery) -> HttpResponse {
    match suggest::suggest(state, p, q.input(), state.clock.now()).await {
        Ok(s) => HttpResponse::Ok().json(s),
        Err(Error::Invalid { message, .. }) => {
            HttpResponse::UnprocessableEntity().json(serde_json::json!({"error": message}))
        }
        Err(e) => {
            tracing::error!(error = %crate::services::chain(&e), "suggestions failed");
            HttpResponse::InternalServerError().json(serde_json::json!({"error": "suggestions failed"}))
        }
    }
}

/// Similar resolved tickets and articles as the agent types (the new-ticket form).
#[get("/console/suggest")]
async fn console_suggest(state: web::Data<AppState>, req: HttpRequest, q: web::Query<SuggestQuery>) -> HttpResponse {
    match super::staff(&state, &req, Role::Agent).await {
        Ok(s) => suggest_json(&state, &s.principal, q.into_inner()).await,
        Err(r) => r,
    }
}

/// Published customer articles as a customer types a new request.
#[get("/portal/suggest")]
async fn portal_suggest(state: web::Data<AppState>, req: HttpRequest, q: web::Query<SuggestQuery>) -> HttpResponse {
    match portal_page(&state, &req).await {
        Ok((s, _)) => {
            suggest_json(&state, &s.principal, SuggestQuery { customer_id: None, ticket_id: None, ..q.into_inner() })
                .await
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
}

async fn list_page(state: &AppState, p: &Principal, v: Viewer, q: Option<String>, back: &str) -> HttpResponse {
    let filter = ArticleFilter { q: q.clone(), ..Default::default() };
    match kb::list(state, p, filter).await {
        Ok(articles) => {
            v.page("kb_list.html", StatusCode::OK, context! { articles => articles, q => q.unwrap_or_default() })
        }
        Err(e) => v.failed(e, back),
    }
}

#[get("/console/kb")]
async fn console_list(state: web::Data<AppState>, req: HttpRequest, q: web::Query<ListQuery>) -> HttpResponse {
    match console_page(&state, &req, Role::Agent).await {
        Ok((s, v)) => list_page(&state, &s.principal, v, q.into_inner().q, "/console").await,
        Err(r) => r,
    }
}

#[get("/portal/help")]
async fn portal_list(state: web::Data<AppState>, req: HttpRequest, q: web::Query<ListQuery>) -> HttpResponse {
    match portal_page(&state, &req).await {
        Ok((s, v)) => list_page(&state, &s.principal, v, q.into_inner().q, "/portal").await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ArticleQuery {
    from: Option<String>,
    answered: Option<String>,
}

async fn article_page(
    state: &AppState,
    p: &Principal,
    v: Viewer,
    id: i64,
    q: ArticleQuery,
    back: &str,
) -> HttpResponse {
    let a = match kb::get(state, p, id).await {
        Ok(a) => a,
        Err(e) => return v.failed(e, back),
    };
    if q.from.as_deref() == Some("suggestion") {
        let opened =
            NewEvent { outcome: KbOutcome::Opened, article_id: Some(id), suggested_ticket_id: None, ticket_id: None };
        if let Err(e) = events::record(state, p, opened, state.clock.now()).await {
            tracing::warn!(error = %crate::services::chain(&e), "an opened suggestion was not recorded");
        }
    }
    let published = a.state == crate::domain::kb::ArticleState::Published;
    v.page(
        "kb_article.html",
        StatusCode::OK,
        context! { a => a, published => published, answered => q.answered.is_some() },
    )
}

#[get("/console/kb/{id:\\d+}")]
async fn console_article(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    q: web::Query<ArticleQuery>,
) -> HttpResponse {
    match console_page(&state, &req, Role::Agent).await {
        Ok((s, v)) => article_page(&state, &s.principal, v, *id, q.into_inner(), "/console/kb").await,
        Err(r) => r,
    }
}

#[get("/portal/help/{id:\\d+}")]
async fn portal_article(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    q: web::Query<ArticleQuery>,
) -> HttpResponse {
    match portal_page(&state, &req).await {
        Ok((s, v)) => article_page(&state, &s.principal, v, *id, q.into_inner(), "/portal/help").await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct MoveForm {
    #[serde(default)]
    csrf_token: String,
    action: String,
    version: Option<i32>,
}

#[post("/console/kb/{id:\\d+}/move")]
async fn console_move(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<MoveForm>,
) -> HttpResponse {
    let back = format!("/console/kb/{id}");
    let (s, v) = match console_form(&state, &req, Role::Agent, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(mv) = form.action.parse::<ArticleMove>() else {
        return v.failed(Error::invalid("action", "submit, publish, retire or reopen"), &back);
    };
    match kb::move_to(&state, &s.principal, *id, mv, form.version, state.clock.now()).await {
        Ok(_) => redirect(&back),
        Err(e) => v.failed(e, &back),
    }
}

#[derive(Deserialize)]
struct EditForm {
    #[serde(default)]
    csrf_token: String,
    version: i32,
    title: String,
    #[serde(default)]
    symptom: String,
    #[serde(default)]
    cause: String,
    #[serde(default)]
    resolution: String,
    #[serde(default)]
    body: String,
    /// Comma-separated.
    #[serde(default)]
    tags: String,
    visibility: String,
    #[serde(default)]
    note: String,
}

/// A draft or an article in review edited in the console: a new version.
#[post("/console/kb/{id:\\d+}/edit")]
async fn console_edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<EditForm>,
) -> HttpResponse {
    let back = format!("/console/kb/{id}");
    let (s, v) = match console_form(&state, &req, Role::Agent, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form.into_inner();
    let Ok(visibility) = f.visibility.parse() else {
        return v.failed(Error::invalid("visibility", "internal or customer"), &back);
    };
    let patch = kb::ArticlePatch {
        version: Some(f.version),
        title: Some(f.title),
        symptom: Some(f.symptom),
        cause: Some(f.cause),
        resolution: Some(f.resolution),
        body: Some(f.body),
        tags: Some(f.tags.split([',', '，']).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()),
        visibility: Some(visibility),
        note: Some(f.note).filter(|n| !n.trim().is_empty()),
        ..Default::default()
    };
    match kb::update(&state, &s.principal, *id, patch, state.clock.now()).await {
        Ok(_) => redirect(&back),
        Err(e) => v.failed(e, &back),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// One click on a resolved ticket: a draft article, personal data replaced.
#[post("/console/tickets/{r}/kb-draft")]
async fn draft_from_ticket(
    state: web::Data<AppState>,
    req: HttpRequest,
    r: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let back = format!("/console/tickets/{r}");
    let (s, v) = match console_form(&state, &req, Role::Agent, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match draft::from_ticket(&state, &s.principal, &r, state.clock.now()).await {
        Ok(a) => redirect(&format!("/console/kb/{}", a.id)),
        Err(e) => v.failed(e, &back),
    }
}

#[derive(Deserialize)]
struct UseForm {
    #[serde(default)]
    csrf_token: String,
    ticket_id: i64,
    article_id: Option<i64>,
    suggested_ticket_id: Option<i64>,
}

/// An agent links a suggestion to the ticket they work on.
#[post("/console/tickets/{r}/kb-use")]
async fn use_on_ticket(
    state: web::Data<AppState>,
    req: HttpRequest,
    r: web::Path<String>,
    form: web::Form<UseForm>,
) -> HttpResponse {
    let back = format!("/console/tickets/{r}");
    let (s, v) = match console_form(&state, &req, Role::Agent, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let used = NewEvent {
        outcome: KbOutcome::Used,
        article_id: form.article_id,
        suggested_ticket_id: form.suggested_ticket_id,
        ticket_id: Some(form.ticket_id),
    };
    match events::record(&state, &s.principal, used, state.clock.now()).await {
        Ok(()) => redirect(&format!("{back}?used=1")),
        Err(e) => v.failed(e, &back),
    }
}

#[derive(Deserialize)]
struct FeedbackForm {
    #[serde(default)]
    csrf_token: String,
    helpful: String,
}

#[post("/portal/help/{id:\\d+}/feedback")]
async fn portal_feedback(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<FeedbackForm>,
) -> HttpResponse {
    let back = format!("/portal/help/{id}");
    let (s, v) = match portal_form(&state, &req, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = Feedback { helpful: form.helpful == "yes" };
    match events::feedback(&state, &s.principal, *id, f, state.clock.now()).await {
        Ok(()) => redirect(&format!("{back}?answered=1")),
        Err(e) => v.failed(e, &back),
    }
}
