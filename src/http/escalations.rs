//! Escalations and notifications: acknowledging a chain (API, or the e-mailed link's confirmation
//! page), the delivery log and dead letters, and a ticket's escalation timeline.

use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::domain::actor::Actor;
use crate::domain::ticket::Role;
use crate::services::escalation::ack::acknowledge;
use crate::services::notifications::{self, NotificationQuery, NotificationView};
use crate::signing::SignedFor;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct EscalationView {
    pub id: i64,
    pub ticket_id: i64,
    pub timer: String,
    pub cycle: i32,
    pub acked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub acked_by: Option<String>,
}

/// Acknowledge an escalation chain: its repeats and later tiers stop; webhook endpoints that
/// received it get `escalation.acknowledged`.
#[utoipa::path(post, path = "/api/v1/escalations/{id}/ack", tag = "escalations", params(("id" = i64, Path, description = "Escalation id")),
    responses((status = 200, description = "Acknowledged (again, harmlessly, if it already was)", body = EscalationView),
        errors::Engineer, (status = 404, description = "No such escalation", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/escalations/{id}/ack")]
pub async fn ack(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Engineer)?;
    let e = acknowledge(&state, *id, p, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(EscalationView {
        id: e.id,
        ticket_id: e.ticket_id,
        timer: e.timer.to_string(),
        cycle: e.cycle,
        acked_at: e.acked_at,
        acked_by: e.acked_by,
    }))
}

/// Deliveries, newest first, with every attempt.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "escalations", params(NotificationQuery),
    responses((status = 200, description = "Deliveries", body = Vec<NotificationView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Staff,
        (status = 422, description = "Bad filter", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/notifications")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<NotificationQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(notifications::list(&state, q.into_inner()).await?))
}

/// Put a dead letter back in the queue.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/retry", tag = "escalations", params(("id" = i64, Path, description = "Notification id")),
    responses((status = 200, description = "Queued again", body = NotificationView), errors::Lead,
        (status = 404, description = "No such notification", body = ErrorBody),
        (status = 409, description = "Not a dead letter", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/notifications/{id}/retry")]
pub async fn retry(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Lead)?;
    Ok(HttpResponse::Ok().json(notifications::retry(&state, *id, state.clock.now()).await?))
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"))
        .body(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>\
             <style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}button{{font-size:1.1rem;padding:.6rem 1.2rem}}</style></head>\
             <body>{body}</body></html>"
        ))
}

fn link_chain(state: &AppState, token: &str) -> Option<i64> {
    state.signer.verify_until(SignedFor::Acknowledge, token, state.clock.now().timestamp())?.parse().ok()
}

/// The page an e-mailed acknowledge link opens. GET never acknowledges: mail scanners follow links.
#[get("/ack/{token}")]
pub async fn ack_page(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match link_chain(&state, &token) {
        Some(id) => page(
            "Acknowledge / 确认",
            &format!(
                "<h1>确认升级 / Acknowledge escalation #{id}</h1><p>确认后，此升级不再重复提醒。<br>Acknowledging stops this escalation's repeats.</p>\
                 <form method=\"post\"><button type=\"submit\">确认 / Acknowledge</button></form>"
            ),
        ),
        None => page(
            "Link expired",
            "<h1>链接无效或已过期 / This link is invalid or has expired</h1><p>请在控制台中确认。 / Acknowledge in the console instead.</p>",
        ),
    }
}

#[post("/ack/{token}")]
pub async fn ack_confirm(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let Some(id) = link_chain(&state, &token) else {
        return Ok(page("Link expired", "<h1>链接无效或已过期 / This link is invalid or has expired</h1>"));
    };
    if crate::services::escalation::ack::is_acknowledged(&state, id).await? {
        return Ok(page(
            "Already acknowledged",
            "<h1>已确认 / Already acknowledged</h1><p>此链接只能使用一次。 / This link works once.</p>",
        ));
    }
    acknowledge(&state, id, &Actor::system("e-mail link"), state.clock.now()).await?;
    Ok(page("Acknowledged", "<h1>已确认 / Acknowledged</h1><p>重复提醒已停止。 / The repeats have stopped.</p>"))
}
