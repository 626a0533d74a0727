//! Liveness and readiness, for load balancers and orchestrators.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::services::versions::{Readiness, readiness};
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
    match readiness(&state).await {
        Readiness::Ready => Ok(HttpResponse::Ok().json(Health { status: "ready".into() })),
        Readiness::ConfigMismatch => Err(unavailable(
            "config_mismatch",
            "another instance registered a newer configuration; deploy the same configuration to every instance",
        )),
        Readiness::DatabaseUnavailable => Err(unavailable("database_unavailable", "the database does not answer")),
    }
}
