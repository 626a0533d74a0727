//! Integration keys, the alert and event intake endpoints, and the audit log.

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Auth, guarded};
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::domain::ticket::Role;
use crate::limits::Limit;
use crate::services::audit::{self, AuditView};
use crate::services::auth::{Principal, authenticate};
use crate::services::intake::{
    self, Credential, IntegrationView, Kind, NewIntegration, Outcome, alertmanager, email, events,
};
use crate::services::tickets::Page;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    pub items: Vec<IntegrationView>,
    pub next: Option<String>,
}

/// Create (or replace) the customer's integration of a kind; the key is in the answer, once.
#[utoipa::path(post, path = "/api/v1/customers/{id}/integrations", tag = "integrations",
    params(("id" = i64, Path, description = "Customer id")), request_body = NewIntegration,
    responses((status = 201, description = "Created, with `key`", body = IntegrationView), errors::Admin,
        errors::JsonBody, (status = 404, description = "No such customer", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/customers/{id}/integrations")]
pub async fn create_integration(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<NewIntegration>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    Ok(HttpResponse::Created().json(intake::create(&state, p, *id, body.into_inner()?, state.clock.now()).await?))
}

/// The customer's integrations (without their keys).
#[utoipa::path(get, path = "/api/v1/customers/{id}/integrations", tag = "integrations",
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, description = "Integrations", body = IntegrationList), errors::Admin,
        (status = 404, description = "No such customer", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/customers/{id}/integrations")]
pub async fn list_integrations(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(IntegrationList { items: intake::list(&state, *id).await?, next: None }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IntakeQuery {
    /// With a lead or admin token instead of an integration key: the customer the alerts are for.
    pub customer_id: Option<i64>,
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let t = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A staff token's principal, for intake with `?customer_id=`.
async fn staff(state: &AppState, req: &HttpRequest, token: &str) -> Result<Principal, ApiError> {
    guarded(state, req, authenticate(state, token, state.clock.now()).await)
}

/// Alertmanager's webhook (payload version 4). Configure the receiver with
/// `http_config.authorization.credentials` = the customer's `alertmanager` key.
#[utoipa::path(post, path = "/api/v1/integrations/alertmanager", tag = "integrations", params(IntakeQuery),
    request_body = alertmanager::Payload,
    responses((status = 200, description = "What each alert did", body = alertmanager::Processed), errors::JsonBody,
        (status = 401, description = "No valid key or token", body = ErrorBody),
        (status = 403, description = "Token below lead", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/integrations/alertmanager")]
pub async fn alertmanager_intake(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<IntakeQuery>,
    body: Body<alertmanager::Payload>,
) -> Result<HttpResponse, ApiError> {
    crate::http::client::limit(&state, Limit::Intake, &req)?;
    let token = bearer_or_401(&req)?;
    let mut principal = None;
    let cred = credential(&state, &req, &q, &token, &mut principal).await?;
    let intake = guarded(&state, &req, intake::resolve(&state, Kind::Alertmanager, cred).await)?;
    let body = body.into_inner()?;
    Ok(HttpResponse::Ok().json(alertmanager::process(&state, &intake, &body, state.clock.now()).await?))
}

/// The credential of an intake request: an integration key, or a staff token with
/// `?customer_id=`.
async fn credential<'a>(
    state: &AppState,
    req: &HttpRequest,
    q: &IntakeQuery,
    token: &'a str,
    principal: &'a mut Option<Principal>,
) -> Result<Credential<'a>, ApiError> {
    if token.starts_with(intake::KEY_PREFIX) {
        return Ok(Credential::Key(token));
    }
    let customer_id = q.customer_id.ok_or_else(|| {
        ApiError::bad_request("missing_customer", "with a staff token, name the customer: ?customer_id=")
            .with_field("customer_id")
    })?;
    let p = principal.insert(staff(state, req, token).await?);
    Ok(Credential::Staff { principal: p, customer_id })
}

fn bearer_or_401(req: &HttpRequest) -> Result<String, ApiError> {
    bearer(req).ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send the integration key: Authorization: Bearer oik_…")
    })
}

/// A raw RFC 5322 message, as an MTA pipe delivers it, with the customer's `email` key: a reply
/// to a ticket's mail becomes a public comment by the sending contact, other mail from a known
/// contact opens a ticket (source `email`); unknown senders are refused. Body limit:
/// `attachments.max_bytes` + 64 KiB.
#[utoipa::path(post, path = "/api/v1/integrations/email", tag = "integrations", params(IntakeQuery),
    request_body(content = String, content_type = "text/plain", description = "The raw RFC 5322 message, as an MTA pipe delivers it (any content type: message/rfc822 is usual)"),
    responses((status = 200, description = "A comment on the ticket the message answers, or the same message again", body = email::Received),
        (status = 201, description = "A new ticket", body = email::Received),
        (status = 400, description = "Bad query or missing customer", body = ErrorBody),
        (status = 401, description = "No valid key or token", body = ErrorBody),
        (status = 403, description = "Token below lead", body = ErrorBody),
        (status = 409, description = "The ticket changed meanwhile", body = ErrorBody),
        (status = 413, description = "Message too large", body = ErrorBody),
        (status = 422, description = "Not a message, or an unknown sender", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn email_intake(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<IntakeQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    crate::http::client::limit(&state, Limit::Intake, &req)?;
    let token = bearer_or_401(&req)?;
    let mut principal = None;
    let cred = credential(&state, &req, &q, &token, &mut principal).await?;
    let intake = guarded(&state, &req, intake::resolve(&state, Kind::Email, cred).await)?;
    let received = email::process(&state, &intake, &body, state.clock.now()).await?;
    Ok(if received.result == crate::services::intake::email::MailResult::Opened {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(received))
}

/// The answer of the events intake, in the Events API's shape.
#[derive(Serialize, ToSchema)]
pub struct EventAccepted {
    /// `success`
    pub status: String,
    pub message: String,
    pub dedup_key: String,
}

/// An invalid event, in the Events API's shape (the one exception to the error shape).
#[derive(Serialize, ToSchema)]
pub struct EventRejected {
    /// `invalid event`
    pub status: String,
    pub message: String,
    pub errors: Vec<String>,
}

fn rejected(status: StatusCode, message: &str, errors: Vec<String>) -> HttpResponse {
    HttpResponse::build(status).json(EventRejected { status: "invalid event".into(), message: message.into(), errors })
}

/// Events in the shape of PagerDuty's Events API v2: `routing_key` (an `events` integration key),
/// `event_action` (`trigger|acknowledge|resolve`), `dedup_key`, `payload {summary, source,
/// severity, …}`. A lead or admin token with `?customer_id=` may send instead of a key.
#[utoipa::path(post, path = "/api/v1/integrations/events", tag = "integrations", params(IntakeQuery),
    request_body(content = Object, description = "An Events API v2 event"),
    responses((status = 202, description = "Processed", body = EventAccepted),
        (status = 400, description = "Invalid event or unknown routing key", body = EventRejected),
        (status = 401, description = "Invalid staff token", body = ErrorBody),
        (status = 403, description = "Token below lead", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many requests from this address", body = ErrorBody)))]
#[post("/integrations/events")]
pub async fn events_intake(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    crate::http::client::limit(&state, Limit::Intake, &req)?;
    // The query is read here rather than by an extractor, so that a bad one is also answered in
    // the Events API's shape.
    let Ok(q) = web::Query::<IntakeQuery>::from_query(req.query_string()) else {
        return Ok(rejected(
            StatusCode::BAD_REQUEST,
            "Event object is invalid",
            vec!["the query takes only customer_id, a number".into()],
        ));
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(rejected(StatusCode::BAD_REQUEST, "Event object is invalid", vec!["the body is not JSON".into()]));
    };
    let token = bearer(&req).filter(|t| !t.starts_with(intake::KEY_PREFIX));
    let event = match events::parse(&value, token.is_none()) {
        Ok(e) => e,
        Err(errors) => return Ok(rejected(StatusCode::BAD_REQUEST, "Event object is invalid", errors)),
    };
    let principal;
    let cred = match (&token, &event.routing_key) {
        (Some(t), _) => {
            principal = staff(&state, &req, t).await?;
            let Some(customer_id) = q.customer_id else {
                return Ok(rejected(
                    StatusCode::BAD_REQUEST,
                    "Event object is invalid",
                    vec!["with a staff token, name the customer: ?customer_id=".into()],
                ));
            };
            Credential::Staff { principal: &principal, customer_id }
        }
        (None, Some(key)) => Credential::Key(key),
        (None, None) => {
            return Ok(rejected(
                StatusCode::BAD_REQUEST,
                "Event object is invalid",
                vec!["'routing_key' is missing or blank".into()],
            ));
        }
    };
    let intake = match intake::resolve(&state, Kind::Events, cred).await {
        Ok(i) => i,
        Err(crate::services::Error::Unauthorized(_)) => {
            crate::http::client::limit(&state, Limit::FailedAuth, &req)?;
            return Ok(rejected(
                StatusCode::BAD_REQUEST,
                "Invalid routing key",
                vec!["'routing_key' is not an events integration key".into()],
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = events::process(&state, &intake, &event, state.clock.now()).await?;
    let message = match outcome {
        Outcome::Unchanged(None) => "Event processed; no alert with this dedup_key",
        _ => "Event processed",
    };
    Ok(HttpResponse::Accepted().json(EventAccepted {
        status: "success".into(),
        message: message.into(),
        dedup_key: event.dedup_key,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u64>,
}

/// Administrative actions, newest first: users, tokens, customers, contacts, integrations,
/// configuration versions.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", params(AuditQuery),
    responses((status = 200, description = "A page of audit entries", body = Page<AuditView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Admin,
        (status = 422, description = "Bad cursor or limit", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/audit")]
pub async fn audit_log(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(audit::list(&state.db, q.after.as_deref(), q.limit).await?))
}
