//! The console's queue and the new-ticket form built for a phone call: find the caller as you
//! type, see the suggested level and the quoted deadlines before saving, one key saves.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::clocks::{Clock, clocks};
use super::{Viewer, console_page, csrf_ok, redirect, staff};
use crate::domain::level::Level;
use crate::domain::ticket::{NewFile, Source, Visibility};
use crate::domain::ticket::{Role, Status};
use crate::http::multipart;
use crate::services::callers;
use crate::services::customers::{self, NewContact};
use crate::services::sla::{self, PreviewRequest};
use crate::services::tickets::{self, AssigneeFilter, ListQuery, NewTicket, Sort};
use crate::services::{Error, users};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(queue).service(new_form).service(create).service(lookup).service(classify).service(quote);
}

#[derive(Serialize)]
struct Row {
    number: String,
    level: String,
    title: String,
    customer: String,
    status: String,
    assignee: String,
    clocks: Vec<Clock>,
}

#[derive(Deserialize, Default)]
struct QueueFilter {
    level: Option<String>,
    status: Option<String>,
    customer: Option<String>,
    team: Option<String>,
    assignee: Option<String>,
    q: Option<String>,
}

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Open tickets, most urgent first, with live countdowns; filters by level, status, customer,
/// team and assignee.
#[get("/console")]
async fn queue(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (s, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = web::Query::<QueueFilter>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    let open = vec![Status::Open, Status::InProgress, Status::WaitingCustomer];
    let mut q = ListQuery { status: open, sort: Sort::Urgency, limit: 200, ..Default::default() };
    if let Some(st) = some(&f.status).and_then(|x| x.parse::<Status>().ok()) {
        q.status = vec![st];
    }
    q.level = some(&f.level).and_then(|x| x.parse::<Level>().ok()).into_iter().collect();
    q.customer_id = some(&f.customer).and_then(|x| x.parse().ok());
    q.team = some(&f.team).map(str::to_string);
    q.q = some(&f.q).map(str::to_string);
    q.assignee = match some(&f.assignee) {
        Some("me") => Some(AssigneeFilter::Me),
        Some("nobody") => Some(AssigneeFilter::Nobody),
        Some(x) => x.parse().ok().map(AssigneeFilter::User),
        None => None,
    };
    let now = state.clock.now();
    let page = match tickets::list(&state, &s.principal, q, now).await {
        Ok(p) => p,
        Err(e) => return v.failed(e, "/console"),
    };
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|t| Row {
            number: t.number.clone(),
            level: t.level.to_string(),
            title: t.title.clone(),
            customer: t.customer.name.clone(),
            status: v.t(status_key(t.status)).to_string(),
            assignee: t.assignee.as_ref().map(|a| a.display_name.clone()).unwrap_or_default(),
            clocks: clocks(&v, &t.sla, t.waiting_reason.as_deref(), now),
        })
        .collect();
    let customers = customers::list(&state, None).await.unwrap_or_default();
    let users = users::list(&state).await.unwrap_or_default();
    let teams: Vec<&String> = state.config.settings.teams.keys().collect();
    let filter = json!({
        "level": f.level, "status": f.status, "customer": f.customer, "team": f.team, "assignee": f.assignee, "q": f.q,
    });
    let users: Vec<_> =
        users.iter().filter(|u| !u.service && u.active).map(|u| json!({"id": u.id, "name": u.display_name})).collect();
    let customers: Vec<_> = customers.iter().map(|c| json!({"id": c.id, "name": c.name})).collect();
    v.page(
        "console.html",
        StatusCode::OK,
        context! {
            tickets => rows, filter => filter, customers => customers, users => users, teams => teams,
            statuses => Status::ALL.map(Status::as_str),
        },
    )
}

pub(super) fn status_key(s: Status) -> &'static str {
    match s {
        Status::Open => "st_open",
        Status::InProgress => "st_in_progress",
        Status::WaitingCustomer => "st_waiting_customer",
        Status::Resolved => "st_resolved",
        Status::Closed => "st_closed",
        Status::Cancelled => "st_cancelled",
    }
}

/// The new-ticket form; `reported_at` is when it was opened (the call began about then).
#[get("/console/new")]
async fn new_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (_, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    form_page(v, StatusCode::OK, None, &Default::default(), state.clock.now())
}

fn form_page(
    v: Viewer,
    status: StatusCode,
    error: Option<String>,
    fields: &std::collections::HashMap<String, String>,
    opened: DateTime<Utc>,
) -> HttpResponse {
    let reported_at = fields.get("reported_at").cloned().unwrap_or_else(|| opened.to_rfc3339());
    v.page("new_ticket.html",
        status,
        context! {
            error => error, f => Value::from_serialize(fields), reported_at => reported_at, levels => ["I", "II", "III", "IV"],
            form_id => crate::services::web_sessions::random_token(),
        },
    )
}

/// Opens the ticket (adding the contact first when the agent typed a new one), then attaches
/// the files; answers with the ticket's page.
#[post("/console/new")]
async fn create(state: web::Data<AppState>, req: HttpRequest, body: Multipart) -> HttpResponse {
    let (s, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = state.clock.now();
    let posted = match multipart::read(&req, body, state.config.settings.attachments.max_bytes as usize).await {
        Ok(p) => p,
        Err(e) => return v.unreadable(e, "/console/new"),
    };
    if !csrf_ok(&s, posted.get("csrf_token")) {
        return v.expired_form("/console/new");
    }
    let invalid = |v: Viewer, e: String| form_page(v, StatusCode::UNPROCESSABLE_ENTITY, Some(e), &posted.fields, now);
    let Some(customer_id) = posted.get("customer_id").parse::<i64>().ok() else {
        let e = v.t("pick_customer").to_string();
        return invalid(v, e);
    };
    let level = match posted.get("level") {
        "" => None,
        l => match l.parse::<Level>() {
            Ok(l) => Some(l),
            Err(e) => return invalid(v, e.to_string()),
        },
    };
    let reported_at = DateTime::parse_from_rfc3339(posted.get("reported_at"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t < now);
    let mut contact_id = posted.get("contact_id").parse::<i64>().ok();
    let new_name = posted.get("new_contact_name").trim();
    if contact_id.is_none() && !new_name.is_empty() {
        let phone = Some(posted.get("new_contact_phone").trim()).filter(|p| !p.is_empty()).map(str::to_string);
        let input = NewContact {
            name: new_name.to_string(),
            email: posted.get("new_contact_email").to_string(),
            phone,
            language: None,
        };
        match customers::create_contact(&state, &s.principal, customer_id, input, now).await {
            Ok(c) => contact_id = Some(c.id),
            Err(Error::Invalid { message, .. } | Error::Conflict { message, .. }) => return invalid(v, message),
            Err(e) => return v.failed(e, "/console/new"),
        }
    }
    let input = NewTicket {
        customer_id: Some(customer_id),
        title: posted.get("title").to_string(),
        description: posted.get("description").to_string(),
        level,
        contact_id,
        source: Some(Source::Hotline),
        reported_at,
    };
    // The form's own token makes a double submit open one ticket.
    let key = format!("console-{}", posted.get("form_id"));
    let key = (posted.get("form_id").len() >= 16).then_some(key);
    let (number, replayed) = match tickets::open(&state, &s.principal, input, key.as_deref(), now).await {
        Ok(opened) => (opened.ticket.number, opened.replayed),
        Err(Error::Invalid { message, .. }) => return invalid(v, message),
        Err(e) => return v.failed(e, "/console/new"),
    };
    // A replayed submit already attached its files.
    for f in posted.files.into_iter().filter(|_| !replayed) {
        let a = NewFile {
            filename: f.filename,
            content_type: f.content_type,
            visibility: Visibility::Public,
            data: f.data,
        };
        if let Err(e) = tickets::add_attachment(&state, &s.principal, &number, a, now).await {
            return v.failed(e, &format!("/console/tickets/{number}"));
        }
    }
    redirect(&format!("/console/tickets/{number}"))
}

#[derive(Deserialize)]
struct LookupQuery {
    q: Option<String>,
    customer_id: Option<i64>,
}

/// Customers and contacts matching what the agent typed (name, e-mail, phone digits), or the
/// contacts of one customer.
#[get("/console/lookup")]
async fn lookup(state: web::Data<AppState>, req: HttpRequest, q: web::Query<LookupQuery>) -> HttpResponse {
    if let Err(r) = staff(&state, &req, Role::Agent).await {
        return r;
    }
    let found = match q.customer_id {
        Some(id) => callers::contacts_of(&state, id).await,
        None => callers::matching(&state, q.q.as_deref().unwrap_or("")).await,
    };
    match found {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => {
            tracing::error!(error = %crate::services::chain(&e), "lookup failed");
            HttpResponse::InternalServerError().json(json!({"error": "lookup failed"}))
        }
    }
}

#[derive(Deserialize)]
struct ClassifyQuery {
    title: Option<String>,
    description: Option<String>,
}

/// The suggested level and the phrases that matched, as the agent types.
#[get("/console/classify")]
async fn classify(state: web::Data<AppState>, req: HttpRequest, q: web::Query<ClassifyQuery>) -> HttpResponse {
    if let Err(r) = staff(&state, &req, Role::Agent).await {
        return r;
    }
    let c = state
        .config
        .runtime
        .classifier
        .classify(q.title.as_deref().unwrap_or(""), q.description.as_deref().unwrap_or(""));
    HttpResponse::Ok().json(json!({"level": c.level.to_string(), "rule": c.rule, "matched": c.matched}))
}

#[derive(Deserialize)]
struct QuoteQuery {
    customer_id: i64,
    level: String,
    opened_at: Option<String>,
}

/// The deadlines the ticket would get, in the viewer's zone, before it is saved.
#[get("/console/quote")]
async fn quote(state: web::Data<AppState>, req: HttpRequest, q: web::Query<QuoteQuery>) -> HttpResponse {
    let (_, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(level) = q.level.parse::<Level>() else {
        return HttpResponse::UnprocessableEntity().json(json!({"error": "level"}));
    };
    let opened_at = q.opened_at.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    let req = PreviewRequest { customer_id: Some(q.customer_id), calendar: None, sla_policy: None, level, opened_at };
    match sla::preview(&state, req, state.clock.now()).await {
        Ok(p) => HttpResponse::Ok().json(json!({
            "level": p.level, "calendar": p.calendar, "zone": v.zone_name,
            "response": v.time(p.response.due_at), "plan": v.time(p.plan.due_at), "resolution": v.time(p.resolution.due_at),
        })),
        Err(e) => HttpResponse::UnprocessableEntity().json(json!({"error": e.to_string()})),
    }
}
