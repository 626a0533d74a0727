//! Health checks, heartbeats, inspections and the hosts inventory. Agents read; engineers run checks and inspections;
//! leads create, change and delete checks. Config-defined checks are read-only (409
//! `config_managed`). Heartbeats authenticate by the token in the path.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;

use super::auth::Auth;
use super::body::{Body, OptionalBody};
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::checks::spec::CheckSpec;
use crate::domain::ticket::Role;
use crate::services::Error;
use crate::services::checks::hosts::{self, HostQuery, HostView};
use crate::services::checks::inspections::{self, InspectionView, NewInspection};
use crate::services::checks::{self, CheckQuery, CheckView, CreatedCheck, ResultView, report, runner};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/checks", tag = "checks", params(CheckQuery),
    responses((status = 200, description = "Checks with their health and last result", body = Vec<CheckView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Staff,
        (status = 422, description = "Bad filter", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/checks")]
pub async fn list(state: web::Data<AppState>, auth: Auth, q: web::Query<CheckQuery>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(checks::list(&state, q.into_inner()).await?))
}

/// Add a check. A heartbeat check's token is in the answer, once.
#[utoipa::path(post, path = "/api/v1/checks", tag = "checks", request_body = CheckSpec,
    responses((status = 201, description = "Created", body = CreatedCheck),
        (status = 400, description = "Malformed JSON", body = ErrorBody), errors::Lead,
        (status = 409, description = "Name taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field, e.g. a condition (`conditions[1]`)", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/checks")]
pub async fn create(state: web::Data<AppState>, auth: Auth, body: Body<CheckSpec>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Lead)?;
    Ok(HttpResponse::Created().json(checks::create(&state, body.into_inner()?, state.clock.now()).await?))
}

#[utoipa::path(get, path = "/api/v1/checks/{id}", tag = "checks", params(("id" = i64, Path, description = "Check id")),
    responses((status = 200, description = "The check", body = CheckView), errors::Staff,
        (status = 404, description = "No such check", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/checks/{id}")]
pub async fn get_one(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(checks::get(&state, *id).await?))
}

/// Change some keys of a check (`null` removes an optional key); name and kind stay.
#[utoipa::path(patch, path = "/api/v1/checks/{id}", tag = "checks", params(("id" = i64, Path, description = "Check id")),
    request_body = Object,
    responses((status = 200, description = "Updated", body = CheckView), errors::Lead, errors::JsonBody,
        (status = 404, description = "No such check", body = ErrorBody),
        (status = 409, description = "Defined in configuration, or changed meanwhile", body = ErrorBody)),
    security(("bearer" = [])))]
#[patch("/checks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Lead)?;
    Ok(HttpResponse::Ok().json(checks::update(&state, *id, body.into_inner()?, state.clock.now()).await?))
}

#[utoipa::path(delete, path = "/api/v1/checks/{id}", tag = "checks", params(("id" = i64, Path, description = "Check id")),
    responses((status = 204, description = "Deleted; its results and tickets stay"), errors::Lead,
        (status = 404, description = "No such check", body = ErrorBody),
        (status = 409, description = "Defined in configuration", body = ErrorBody)),
    security(("bearer" = [])))]
#[delete("/checks/{id}")]
pub async fn remove(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Lead)?;
    checks::delete(&state, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Run a check now; the result counts like any other (health, tickets).
#[utoipa::path(post, path = "/api/v1/checks/{id}/run", tag = "checks", params(("id" = i64, Path, description = "Check id")),
    responses((status = 200, description = "The result", body = ResultView), errors::Engineer,
        (status = 404, description = "No such check", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/checks/{id}/run")]
pub async fn run(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Engineer)?;
    Ok(HttpResponse::Ok().json(runner::run_now(&state, *id, state.clock.now()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// How many, newest first.
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/checks/{id}/results", tag = "checks", params(("id" = i64, Path, description = "Check id"), LimitQuery),
    responses((status = 200, description = "Results, newest first", body = Vec<ResultView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Staff,
        (status = 404, description = "No such check", body = ErrorBody),
        (status = 422, description = "Bad limit", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/checks/{id}/results")]
pub async fn results(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(checks::results(&state, *id, q.limit).await?))
}

/// A heartbeat from an external job; silence longer than the check's interval is a failure.
#[utoipa::path(post, path = "/api/v1/heartbeats/{token}", tag = "checks", params(("token" = String, Path, description = "The token shown when the check was created")),
    responses((status = 200, description = "Recorded"), (status = 404, description = "No such heartbeat", body = ErrorBody)))]
#[post("/heartbeats/{token}")]
pub async fn heartbeat(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = checks::heartbeat(&state, &token, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"check_id": id, "status": "recorded"})))
}

/// Start an inspection of the selected checks (all when nothing is selected); while one runs,
/// the running one is returned.
#[utoipa::path(post, path = "/api/v1/inspections", tag = "checks", request_body = Option<NewInspection>,
    responses((status = 202, description = "Running: poll it for progress", body = InspectionView),
        (status = 400, description = "Malformed JSON", body = ErrorBody), errors::Engineer,
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Nothing matches the selection", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/inspections")]
pub async fn start_inspection(
    state: web::Data<AppState>,
    auth: Auth,
    body: OptionalBody<NewInspection>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Engineer)?;
    let req = body.into_inner()?.unwrap_or_default();
    let (view, _) = inspections::start(&state, p.name(), req, state.clock.now()).await?;
    Ok(HttpResponse::Accepted().json(view))
}

#[utoipa::path(get, path = "/api/v1/inspections", tag = "checks", params(LimitQuery),
    responses((status = 200, description = "Inspections, newest first", body = Vec<InspectionView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Staff,
        (status = 422, description = "Bad limit", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/inspections")]
pub async fn list_inspections(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(inspections::list(&state, q.limit).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    /// json (default) | markdown | html
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/inspections/{id}", tag = "checks", params(("id" = i64, Path, description = "Inspection id"), FormatQuery),
    responses((status = 200, description = "The inspection: JSON, or a Markdown or HTML report", body = InspectionView),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Staff,
        (status = 404, description = "No such inspection", body = ErrorBody),
        (status = 422, description = "Unknown format", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/inspections/{id}")]
pub async fn get_inspection(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    q: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    let v = inspections::get(&state, *id).await?;
    Ok(match q.format.as_deref() {
        None | Some("json") => HttpResponse::Ok().json(v),
        Some("markdown") => HttpResponse::Ok().content_type("text/markdown; charset=utf-8").body(report::markdown(&v)),
        Some("html") => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"))
            .body(report::html(&v)),
        Some(_) => return Err(Error::invalid("format", "json, markdown or html").into()),
    })
}

/// The inventory: each exporter check's host as last seen (OS, kernel, CPUs, memory, mounts, the
/// exporter), with the last environment detection that judged it.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "checks", params(HostQuery),
    responses((status = 200, description = "Hosts, by check name", body = Vec<HostView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Staff),
    security(("bearer" = [])))]
#[get("/hosts")]
pub async fn list_hosts(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<HostQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(hosts::list(&state, q.into_inner()).await?))
}
