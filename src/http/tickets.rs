//! `/api/v1/tickets`: open, list, get, events and timers.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Auth;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::domain::level::Level;
use crate::domain::ticket::{Role, Status};
use crate::services::auth::Principal;
use crate::services::tickets::{
    self, AssigneeFilter, EventView, ListQuery, NewTicket, Page, Sort, TicketView, TimerView,
};
use crate::state::AppState;

pub(crate) fn staff_or_contact(auth: &Auth) -> Result<&Principal, ApiError> {
    match &auth.0 {
        p @ Principal::Contact { .. } => Ok(p),
        p => {
            p.require(Role::Agent)?;
            Ok(p)
        }
    }
}

/// Open a ticket. Staff may set `level` (manual) and `reported_at`; the answer carries the
/// classification and the three SLA timers.
#[utoipa::path(
    post, path = "/api/v1/tickets", tag = "tickets",
    request_body = NewTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays within 24 h return the same ticket")),
    responses(
        (status = 201, description = "Opened", body = TicketView),
        (status = 400, description = "Malformed JSON or header", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Role may not open tickets", body = ErrorBody),
        (status = 404, description = "Customer not found", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/tickets")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    body: Body<NewTicket>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let key = match req.headers().get("Idempotency-Key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ApiError::bad_request("invalid_header", "Idempotency-Key must be visible ASCII")
                        .with_field("Idempotency-Key")
                })?
                .to_string(),
        ),
        None => None,
    };
    let now = state.clock.now();
    let input = body.into_inner()?;
    input.check_source_for(p)?;
    let opened = tickets::open(&state, p, input, key.as_deref(), now).await?;
    let replayed = opened.replayed;
    let view = opened.view(&state, p, now).await?;
    let mut res = HttpResponse::Created();
    if replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Comma-separated statuses.
    status: Option<String>,
    /// Comma-separated levels (I, II, III, IV).
    level: Option<String>,
    customer_id: Option<i64>,
    /// A user id, `me` or `none`.
    assignee: Option<String>,
    team: Option<String>,
    breached: Option<bool>,
    /// Text in the title or description, or a ticket number.
    q: Option<String>,
    /// `newest` (default), `oldest` or `urgency` (docs/sla.md §8).
    sort: Option<String>,
    after: Option<String>,
    /// 1–200, default 50.
    limit: Option<i64>,
}

fn parse_list(p: ListParams) -> Result<ListQuery, ApiError> {
    let split = |s: &Option<String>| -> Vec<String> {
        s.as_deref().unwrap_or("").split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
    };
    let status = split(&p.status)
        .iter()
        .map(|s| s.parse::<Status>().map_err(|e| ApiError::bad_request("invalid_query", e).with_field("status")))
        .collect::<Result<_, _>>()?;
    let level = split(&p.level)
        .iter()
        .map(|s| {
            s.parse::<Level>().map_err(|e| ApiError::bad_request("invalid_query", e.to_string()).with_field("level"))
        })
        .collect::<Result<_, _>>()?;
    let assignee = match p.assignee.as_deref() {
        None => None,
        Some("me") => Some(AssigneeFilter::Me),
        Some("none") => Some(AssigneeFilter::Nobody),
        Some(s) => Some(AssigneeFilter::User(s.parse().map_err(|_| {
            ApiError::bad_request("invalid_query", "assignee is a user id, `me` or `none`").with_field("assignee")
        })?)),
    };
    let sort = match p.sort.as_deref() {
        None | Some("newest") => Sort::Newest,
        Some("oldest") => Sort::Oldest,
        Some("urgency") => Sort::Urgency,
        Some(_) => {
            return Err(ApiError::bad_request("invalid_query", "sort is newest, oldest or urgency").with_field("sort"));
        }
    };
    let limit = match p.limit {
        None => 50,
        Some(l) if (1..=200).contains(&l) => l as u64,
        Some(_) => return Err(ApiError::bad_request("invalid_query", "limit is 1–200").with_field("limit")),
    };
    Ok(ListQuery {
        status,
        level,
        customer_id: p.customer_id,
        assignee,
        team: p.team,
        breached: p.breached,
        q: p.q,
        sort,
        after: p.after,
        limit,
    })
}

/// List tickets (contacts see their own customer's only).
#[utoipa::path(
    get, path = "/api/v1/tickets", tag = "tickets", params(ListParams),
    responses((status = 200, description = "A page of tickets", body = Page<TicketView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Caller,
        (status = 422, description = "Bad cursor", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets")]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<ListParams>) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let query = parse_list(q.into_inner())?;
    Ok(HttpResponse::Ok().json(tickets::list(&state, p, query, state.clock.now()).await?))
}

/// A ticket by id or number (`INC-000042`).
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "Id or number")),
    responses((status = 200, description = "The ticket", body = TicketView), errors::Caller,
        (status = 404, description = "No such ticket (or another customer's)", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}")]
pub async fn get_one(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    Ok(HttpResponse::Ok().json(tickets::get(&state, p, &id, state.clock.now()).await?))
}

/// The ticket's audit trail.
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}/events", tag = "tickets",
    params(("id" = String, Path, description = "Id or number")),
    responses((status = 200, description = "Events, oldest first", body = Vec<EventView>), errors::Caller,
        (status = 404, description = "No such ticket", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/events")]
pub async fn events(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    Ok(HttpResponse::Ok().json(tickets::list_events(&state, p, &id).await?))
}

/// Every timer of every cycle, with the explanation of its deadline (docs/sla.md §8).
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}/sla", tag = "sla",
    params(("id" = String, Path, description = "Id or number")),
    responses((status = 200, description = "Timers, by kind and cycle", body = Vec<TimerView>), errors::Caller,
        (status = 404, description = "No such ticket", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/sla")]
pub async fn sla(state: web::Data<AppState>, auth: Auth, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let now = state.clock.now();
    let views = tickets::timer_views(&state, p, &id, now).await?;
    Ok(HttpResponse::Ok().json(views))
}
