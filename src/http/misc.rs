//! Health, classification and calendars.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Auth;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use crate::domain::ticket::Role;
use crate::services::tickets::{ClassificationView, MAX_TEXT};
use crate::services::timers::{secs, utc};
use crate::services::versions::config_is_newest;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Alive", body = Health)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

/// Readiness: the database answers and this instance runs the newest configuration.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready", body = Health),
        (status = 503, description = "`database_unavailable` or `config_mismatch`", body = ErrorBody)))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let unavailable = |code: &str, m: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, m);
    if state.db.execute_unprepared("SELECT 1").await.is_err() {
        return Err(unavailable("database_unavailable", "the database does not answer"));
    }
    match config_is_newest(&state.db, &state.versions.config_hash).await {
        Ok(true) => Ok(HttpResponse::Ok().json(Health { status: "ready".into() })),
        Ok(false) => Err(unavailable(
            "config_mismatch",
            "another instance registered a newer configuration; deploy the same configuration to every instance",
        )),
        Err(_) => Err(unavailable("database_unavailable", "the database does not answer")),
    }
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
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "Not staff", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody), (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/classify")]
pub async fn classify(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<ClassifyRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
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
    responses((status = 200, description = "Calendars", body = Vec<CalendarView>),
        (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "Not staff", body = ErrorBody)),
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
