//! The console's operations pages: checks and their states; inspections (a button that starts
//! one, its progress, then its report; past inspections); notifications (dead letters with
//! their attempts, and retry).

use crate::domain::check::Health;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{console_form, console_page, redirect, staff};
use crate::domain::ticket::Role;
use crate::services::checks::{self, CheckQuery, inspections};
use crate::services::notifications::{self, NotificationQuery};
use crate::services::tickets;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(checks_page)
        .service(inspections_page)
        .service(start)
        .service(inspection_page)
        .service(inspection_progress)
        .service(notifications_page)
        .service(retry);
}

#[derive(Serialize)]
struct CheckRow {
    name: String,
    kind: String,
    health: String,
    flapping: bool,
    last_run: String,
    detail: String,
    ticket: Option<String>,
    tags: Vec<String>,
}

#[get("/console/checks")]
async fn checks_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (s, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list = match checks::list(&state, CheckQuery::default()).await {
        Ok(l) => l,
        Err(e) => return v.failed(e, "/console"),
    };
    let rows: Vec<CheckRow> = list
        .into_iter()
        .map(|c| {
            let detail = c.last_result.as_ref().map_or_else(String::new, |r| {
                [r.failed_condition.clone(), r.observed.clone(), r.error.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · ")
            });
            CheckRow {
                kind: serde_json::to_value(c.spec.kind)
                    .ok()
                    .and_then(|k| k.as_str().map(str::to_string))
                    .unwrap_or_default(),
                last_run: c.last_run_at.map(|t| v.time(t)).unwrap_or_default(),
                ticket: c.ticket_id.map(tickets::number_for),
                tags: c.spec.tags.clone(),
                name: c.name,
                health: c.health.to_string(),
                flapping: c.flapping,
                detail,
            }
        })
        .collect();
    let can_inspect = s.principal.require(Role::Engineer).is_ok();
    v.page("checks.html", StatusCode::OK, context! { checks => rows, can_inspect => can_inspect })
}

#[derive(Serialize)]
struct InspectionRow {
    id: i64,
    status: String,
    started: String,
    finished: String,
    total: i32,
    done: i32,
    by: String,
}

#[get("/console/inspections")]
async fn inspections_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (s, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list = match inspections::list(&state, Some(50)).await {
        Ok(l) => l,
        Err(e) => return v.failed(e, "/console"),
    };
    let rows: Vec<InspectionRow> = list
        .into_iter()
        .map(|i| InspectionRow {
            id: i.id,
            status: i.status.to_string(),
            started: v.time(i.started_at),
            finished: i.finished_at.map(|t| v.time(t)).unwrap_or_default(),
            total: i.total,
            done: i.done,
            by: i.requested_by.unwrap_or_default(),
        })
        .collect();
    let can_inspect = s.principal.require(Role::Engineer).is_ok();
    v.page("inspections.html", StatusCode::OK, context! { inspections => rows, can_inspect => can_inspect })
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// "Run inspection": starts one (or joins the one running) and shows its progress.
#[post("/console/inspections")]
async fn start(state: web::Data<AppState>, req: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    let (s, v) = match console_form(&state, &req, Role::Engineer, &form.csrf_token, "/console/inspections").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match inspections::start(&state, s.principal.name(), Default::default(), state.clock.now()).await {
        Ok((i, _)) => redirect(&format!("/console/inspections/{}", i.id)),
        Err(e) => v.failed(e, "/console/inspections"),
    }
}

#[get("/console/inspections/{id}")]
async fn inspection_page(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let (_, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let i = match inspections::get(&state, *id).await {
        Ok(i) => i,
        Err(e) => return v.failed(e, "/console/inspections"),
    };
    let started = v.time(i.started_at);
    let finished = i.finished_at.map(|t| v.time(t)).unwrap_or_default();
    let (up, down) = (
        i.results.iter().filter(|r| r.status == Health::Up).count(),
        i.results.iter().filter(|r| r.status == Health::Down).count(),
    );
    v.page("inspection.html",
        StatusCode::OK,
        context! { i => minijinja::Value::from_serialize(&i), started => started, finished => finished, up => up, down => down },
    )
}

/// Progress for the page's script while the inspection runs.
#[get("/console/inspections/{id}/progress")]
async fn inspection_progress(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    if let Err(r) = staff(&state, &req, Role::Agent).await {
        return r;
    }
    match inspections::get(&state, *id).await {
        Ok(i) => HttpResponse::Ok().json(serde_json::json!({"status": i.status, "done": i.done, "total": i.total})),
        Err(_) => HttpResponse::NotFound().json(serde_json::json!({"error": "not found"})),
    }
}

#[derive(Deserialize)]
struct NotificationFilter {
    status: Option<String>,
}

#[derive(Serialize)]
struct AttemptRow {
    at: String,
    outcome: String,
    http_status: Option<i32>,
    ms: i64,
    error: String,
}

#[derive(Serialize)]
struct NotificationRow {
    id: i64,
    ticket: Option<String>,
    channel: String,
    target: String,
    event: String,
    status: String,
    reason: String,
    created: String,
    attempts: Vec<AttemptRow>,
}

#[get("/console/notifications")]
async fn notifications_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    f: web::Query<NotificationFilter>,
) -> HttpResponse {
    let (s, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let status = f.status.clone().filter(|x| ["pending", "delivered", "dead", "folded"].contains(&x.as_str()));
    let shown = status.clone().unwrap_or_else(|| "dead".into());
    let q = NotificationQuery { status: Some(shown.clone()), limit: Some(100), ..Default::default() };
    let list = match notifications::list(&state, q).await {
        Ok(l) => l,
        Err(e) => return v.failed(e, "/console"),
    };
    let rows: Vec<NotificationRow> = list
        .into_iter()
        .map(|n| NotificationRow {
            id: n.id,
            ticket: n.ticket_id.map(tickets::number_for),
            channel: n.channel,
            target: n.target,
            event: n.event_type,
            status: n.status,
            reason: [n.dead_reason, n.last_error].into_iter().flatten().collect::<Vec<_>>().join(" · "),
            created: v.time(n.created_at),
            attempts: n
                .attempt_log
                .into_iter()
                .map(|a| AttemptRow {
                    at: v.time(a.attempted_at),
                    outcome: a.outcome,
                    http_status: a.http_status,
                    ms: a.duration_ms,
                    error: a.error.unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let can_retry = s.principal.require(Role::Lead).is_ok();
    v.page(
        "notifications.html",
        StatusCode::OK,
        context! { notifications => rows, shown => shown, can_retry => can_retry },
    )
}

#[post("/console/notifications/{id}/retry")]
async fn retry(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let (_, v) = match console_form(&state, &req, Role::Lead, &form.csrf_token, "/console/notifications").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match notifications::retry(&state, *id, state.clock.now()).await {
        Ok(_) => redirect("/console/notifications?status=pending"),
        Err(e) => v.failed(e, "/console/notifications"),
    }
}
