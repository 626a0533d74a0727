//! The SLA's side of the API: preview, what-if, reports, calendars and the classification of a
//! fault into a level.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::domain::ticket::{MAX_TEXT, Role};
use crate::services::reports::{self, SlaReport};
use crate::services::sla::{self, Preview, PreviewRequest};
use crate::services::tickets::ClassificationView;
use crate::services::timers::{secs, utc};
use crate::services::what_if::{WhatIf, WhatIfRequest};
use crate::state::AppState;

/// The deadlines a ticket would get, with explanations (docs/sla.md §10).
#[utoipa::path(post, path = "/api/v1/sla/preview", tag = "sla", request_body = PreviewRequest,
    responses((status = 200, description = "Deadlines of the three timers", body = Preview),
        (status = 400, description = "Malformed JSON", body = ErrorBody), errors::Staff,
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or missing field (named)", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/sla/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<PreviewRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(sla::preview(&state, body.into_inner()?, state.clock.now()).await?))
}

/// How a changed calendar and/or SLA policy would move every unmet deadline. Changes nothing.
#[utoipa::path(post, path = "/api/v1/sla/what-if", tag = "sla", request_body = WhatIfRequest,
    responses((status = 200, description = "Counts and the 20 most affected timers", body = WhatIf),
        (status = 400, description = "Malformed JSON", body = ErrorBody), errors::Lead,
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid calendar or policy", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/sla/what-if")]
pub async fn what_if(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<WhatIfRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Lead)?;
    Ok(HttpResponse::Ok().json(crate::services::what_if::what_if(&state, body.into_inner()?, state.clock.now()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    customer_id: Option<i64>,
    /// Timers started at or after (RFC 3339).
    #[param(value_type = Option<String>)]
    from: Option<DateTime<FixedOffset>>,
    /// Timers started before (RFC 3339).
    #[param(value_type = Option<String>)]
    to: Option<DateTime<FixedOffset>>,
}

/// Per level and timer: in time, late, breached, auto-resolved, cancelled and compliance.
#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "sla", params(ReportParams),
    responses((status = 200, description = "The report", body = SlaReport),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Lead,
        (status = 422, description = "`from` after `to`", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/reports/sla")]
pub async fn report(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportParams>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Lead)?;
    let (from, to) = (q.from.map(|t| t.with_timezone(&Utc)), q.to.map(|t| t.with_timezone(&Utc)));
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::unprocessable("from", "`from` must not be after `to`"));
    }
    Ok(HttpResponse::Ok().json(reports::sla_report(&state, q.customer_id, from, to, state.clock.now()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// Suggest a level for a fault description.
#[utoipa::path(post, path = "/api/v1/classify", tag = "tickets", request_body = ClassifyRequest,
    responses((status = 200, description = "The suggested level and the phrases that matched", body = ClassificationView),
        errors::Staff, errors::JsonBody),
    security(("bearer" = [])))]
#[post("/classify")]
pub async fn classify(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<ClassifyRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    let body = body.into_inner()?;
    if body.title.chars().count() > 200 {
        return Err(ApiError::unprocessable("title", "at most 200 characters"));
    }
    if body.description.chars().count() > MAX_TEXT {
        return Err(ApiError::unprocessable("description", format!("at most {MAX_TEXT} characters")));
    }
    let c = state.config.runtime.classifier.classify(&body.title, &body.description);
    Ok(HttpResponse::Ok().json(ClassificationView::from(c)))
}

#[derive(Serialize, ToSchema)]
pub struct IntervalView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct CalendarView {
    pub name: String,
    pub version: i64,
    pub timezone: String,
    /// Every instant is working time.
    pub always: bool,
    /// The last date the calendar knows holidays for.
    pub holidays_known_until: Option<String>,
    /// The next working intervals from now (empty for 24×7 calendars).
    pub next_working_intervals: Vec<IntervalView>,
}

/// Calendars with their next working intervals.
#[utoipa::path(get, path = "/api/v1/calendars", tag = "sla",
    responses((status = 200, description = "Calendars", body = Vec<CalendarView>), errors::Staff),
    security(("bearer" = [])))]
#[get("/calendars")]
pub async fn calendars(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    let now = secs(state.clock.now());
    let mut out = Vec::new();
    for name in state.config.runtime.calendars.keys() {
        let (version, cal) = state.versions.current_calendar(name)?;
        let next = cal.next_intervals(now, 5).map_err(crate::services::Error::from)?;
        out.push(CalendarView {
            name: name.clone(),
            version,
            timezone: cal.timezone().to_string(),
            always: cal.is_always(),
            holidays_known_until: cal.holidays_known_until().map(|d| d.to_string()),
            next_working_intervals: next.into_iter().map(|(a, b)| IntervalView { from: utc(a), to: utc(b) }).collect(),
        });
    }
    Ok(HttpResponse::Ok().json(out))
}
