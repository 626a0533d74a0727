//! Customers' service reports: a lead generates one for a period that has ended; staff and the
//! customer's own contacts read it as JSON, HTML or the CSV of its missed deadlines.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use super::auth::Auth;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::domain::actor::Actor;
use crate::domain::ticket::Role;
use crate::persistence::entities::contact;
use crate::services::Error;
use crate::services::reports::{self, NewDecision, NewReport, ReportView};
use crate::state::AppState;
use sea_orm::EntityTrait;

/// Staff, or a contact of `customer_id`; anyone else is told nothing exists.
fn may_read(auth: &Auth, customer_id: i64) -> Result<(), ApiError> {
    match &auth.0 {
        Actor::Contact { customer_id: own, .. } if *own == customer_id => Ok(()),
        Actor::Contact { .. } => Err(Error::not_found("not_found", "report").into()),
        _ => auth.require(Role::Agent).map(|_| ()),
    }
}

/// Generate and store the customer's report for a period that has ended, from frozen outcomes.
#[utoipa::path(post, path = "/api/v1/customers/{id}/reports", tag = "reports", request_body = NewReport,
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 201, description = "The report", body = ReportView), errors::Lead, errors::JsonBody,
        (status = 404, description = "No such customer", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/customers/{id}/reports")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<NewReport>,
) -> Result<HttpResponse, ApiError> {
    let by = auth.require(Role::Lead)?;
    let view = reports::generate(&state, by, *id, body.into_inner()?, state.clock.now()).await?;
    Ok(HttpResponse::Created().json(view))
}

/// The customer's latest 200 reports, newest period first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/reports", tag = "reports",
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, description = "Reports", body = Vec<ReportView>), errors::Caller,
        (status = 404, description = "No such customer", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/customers/{id}/reports")]
pub async fn list(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    may_read(&auth, *id)?;
    Ok(HttpResponse::Ok().json(reports::list(&state, *id).await?))
}

/// The customer's answer, by their contact: acknowledged, or disputed with a reason (which opens
/// a level IV ticket for the account lead). Once per report, on the hash the contact saw.
#[utoipa::path(post, path = "/api/v1/reports/{id}/ack", tag = "reports", request_body = NewDecision,
    params(("id" = i64, Path, description = "Report id")),
    responses((status = 200, description = "The report with its answer", body = ReportView), errors::JsonBody,
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a contact: only the customer answers", body = ErrorBody),
        (status = 404, description = "No such report of the contact's customer", body = ErrorBody),
        (status = 409, description = "Answered already", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/reports/{id:\\d+}/ack")]
pub async fn answer(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<NewDecision>,
) -> Result<HttpResponse, ApiError> {
    let Actor::Contact { contact_id, .. } = &auth.0 else {
        return Err(Error::forbidden("only the customer's contact answers a report").into());
    };
    let who = contact::Entity::find_by_id(*contact_id)
        .one(&state.db)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::not_found("not_found", "report"))?;
    Ok(HttpResponse::Ok().json(reports::decide(&state, *id, &who, body.into_inner()?, state.clock.now()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportFormat {
    /// json (default) | html | pdf (a build with the `pdf` feature) | csv (the missed deadlines)
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports",
    params(("id" = i64, Path, description = "Report id"), ReportFormat),
    responses((status = 200, description = "The report: JSON, an HTML document, a PDF, or CSV", body = ReportView),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Caller,
        (status = 404, description = "No such report", body = ErrorBody),
        (status = 422, description = "Unknown format", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/reports/{id:\\d+}")]
pub async fn get_one(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    q: web::Query<ReportFormat>,
) -> Result<HttpResponse, ApiError> {
    let v = reports::get(&state, *id).await?;
    may_read(&auth, v.customer_id)?;
    Ok(match q.format.as_deref() {
        None | Some("json") => HttpResponse::Ok().json(v),
        Some("html") => {
            let base = &state.config.settings.escalation.public_url;
            let html = crate::web::report::html(&v.content, &v.sha256, base, None).map_err(Error::internal)?;
            HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
        }
        Some("csv") => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(("Content-Disposition", format!("attachment; filename=\"{}\"", v.file_name("csv"))))
            .body(crate::web::report::csv(&v.content)),
        Some("pdf") => match state.documents.pdf(&v.content, &v.sha256) {
            Some(pdf) => HttpResponse::Ok()
                .content_type("application/pdf")
                .insert_header(("Content-Disposition", format!("inline; filename=\"{}\"", v.file_name("pdf"))))
                .body(pdf.map_err(Error::internal)?),
            None => {
                let why = "this build makes no PDF (build with --features pdf); use html, which prints";
                return Err(Error::invalid("format", why).into());
            }
        },
        Some(_) => return Err(Error::invalid("format", "json, html, pdf or csv").into()),
    })
}
