//! The customer portal: a contact sees their organisation's tickets only, with status and the SLA
//! clocks in plain words; comments and attaches; confirms a resolution or reopens with a reason;
//! opens a new ticket. Another customer's ticket is "not found", exactly as a missing one.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::clocks::{Clock, clocks};
use super::console::status_key;
use super::ticket_page::{post_comment, timeline};
use super::{Viewer, portal_form, portal_page, redirect};
use crate::domain::ticket::{Change, Source};
use crate::services::auth::Principal;
use crate::services::tickets::{self, ChangeRequest, ListQuery, NewTicket, Sort};
use crate::services::{Error, Result};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(new_form).service(create).service(show).service(comment).service(act);
}

#[derive(Serialize)]
struct Row {
    number: String,
    title: String,
    level: String,
    status: String,
    open: bool,
    clocks: Vec<Clock>,
}

#[get("/portal")]
async fn list(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (s, v) = match portal_page(&state, &req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = state.clock.now();
    let q = ListQuery { sort: Sort::Urgency, limit: 200, ..Default::default() };
    let page = match tickets::list(&state, &s.principal, q, now).await {
        Ok(p) => p,
        Err(e) => return v.failed(e, "/portal"),
    };
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|t| Row {
            number: t.number.clone(),
            title: t.title.clone(),
            level: t.level.to_string(),
            status: v.t(status_key(t.status)).into(),
            open: !t.status.is_final(),
            clocks: clocks(&v, &t.sla, t.waiting_reason.as_deref(), now).into_iter().filter(|c| c.present).collect(),
        })
        .collect();
    v.page("portal.html", StatusCode::OK, context! { tickets => rows })
}

async fn load(state: &AppState, p: &Principal, r: &str, v: &Viewer) -> Result<minijinja::Value> {
    let now = state.clock.now();
    let t = tickets::get(state, p, r, now).await?;
    let base = format!("/portal/tickets/{}", t.number);
    let entries = timeline(
        v,
        tickets::list_events(state, p, r)
            .await?
            .into_iter()
            .filter(|e| e.source == tickets::EventLog::Ticket)
            .collect(),
        tickets::list_comments(state, p, r).await?,
        tickets::list_attachments(state, p, r).await?,
        &base,
    );
    let clocks: Vec<Clock> =
        clocks(v, &t.sla, t.waiting_reason.as_deref(), now).into_iter().filter(|c| c.present).collect();
    let rating = super::rating::portal_section(state, p, t.id).await?;
    Ok(context! {
        rating => rating,
        tk => minijinja::Value::from_serialize(&t), status_text => v.t(status_key(t.status)), clocks => clocks,
        timeline => entries, reported => v.time(t.reported_at), base => base, allowed => t.allowed_actions,
        can_comment => !t.status.is_final(),
    })
}

#[get("/portal/tickets/{r}")]
async fn show(state: web::Data<AppState>, req: HttpRequest, r: web::Path<String>) -> HttpResponse {
    let (s, v) = match portal_page(&state, &req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match load(&state, &s.principal, &r, &v).await {
        Ok(ctx) => v.page("portal_ticket.html", StatusCode::OK, ctx),
        Err(e) => v.failed(e, "/portal"),
    }
}

#[post("/portal/tickets/{r}/comment")]
async fn comment(state: web::Data<AppState>, req: HttpRequest, r: web::Path<String>, body: Multipart) -> HttpResponse {
    match portal_page(&state, &req).await {
        Ok(page) => post_comment(&state, &req, body, page, &r, &format!("/portal/tickets/{r}")).await,
        Err(refused) => refused,
    }
}

#[derive(Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf_token: String,
    action: String,
    reason: Option<String>,
}

/// Confirm the resolution, or reopen with a reason.
#[post("/portal/tickets/{r}/act")]
async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    r: web::Path<String>,
    form: web::Form<ActForm>,
) -> HttpResponse {
    let back = format!("/portal/tickets/{r}");
    let (s, v) = match portal_form(&state, &req, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let change = match form.action.as_str() {
        "confirm" => Change::Confirm,
        "reopen" => Change::Reopen { reason: form.reason.clone().unwrap_or_default() },
        _ => return v.failed(Error::invalid("action", "confirm or reopen"), &back),
    };
    match tickets::change(&state, &s.principal, ChangeRequest::new(r.as_str(), change), state.clock.now()).await {
        Ok(_) => redirect(&back),
        Err(e) => v.failed(e, &back),
    }
}

#[get("/portal/new")]
async fn new_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (_, v) = match portal_page(&state, &req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    v.page("portal_new.html", StatusCode::OK, context! { title => "", description => "", error => None::<String> })
}

#[derive(Deserialize)]
struct NewForm {
    #[serde(default)]
    csrf_token: String,
    title: String,
    description: String,
}

#[post("/portal/new")]
async fn create(state: web::Data<AppState>, req: HttpRequest, form: web::Form<NewForm>) -> HttpResponse {
    let (s, v) = match portal_form(&state, &req, &form.csrf_token, "/portal/new").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let input = NewTicket {
        customer_id: None,
        title: form.title.clone(),
        description: form.description.clone(),
        level: None,
        contact_id: None,
        source: Some(Source::Portal),
        reported_at: None,
    };
    match tickets::open(&state, &s.principal, input, None, state.clock.now()).await {
        Ok(opened) => redirect(&format!("/portal/tickets/{}", opened.ticket.number)),
        Err(Error::Invalid { message, .. }) => v.page(
            "portal_new.html",
            StatusCode::UNPROCESSABLE_ENTITY,
            context! { title => form.title, description => form.description, error => message },
        ),
        Err(e) => v.failed(e, "/portal/new"),
    }
}
