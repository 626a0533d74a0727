//! HTTP: actix handlers, request types, the `Auth` extractor and the error contract. Handlers
//! call services and hold no SQL.

pub mod admin;
pub mod auth;
pub mod body;
pub mod checks;
pub mod client;
pub mod error;
pub mod escalations;
pub mod health;
pub mod intake;
pub mod kb;
pub mod metrics;
pub mod multipart;
mod openapi;
pub mod ratings;
pub mod reports;
mod responses;
pub mod sla;
pub mod ticket_actions;
pub mod tickets;
pub mod visits;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use openapi::ApiDoc;

use self::error::{ApiError, json_error, path_error, payload_error, query_error};

/// The whole route table; `/metrics` too unless it has a listener of its own.
pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize, email_limit: usize, serve_metrics: bool) {
    if serve_metrics {
        cfg.service(metrics::metrics);
    }
    cfg.app_data(web::JsonConfig::default().limit(max_body_bytes).error_handler(json_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::PayloadConfig::default().limit(max_body_bytes))
        .service(health::live)
        .service(health::ready)
        .service(escalations::ack_page)
        .service(escalations::ack_confirm)
        .service(web::resource("/api/v1/openapi.json").route(web::get().to(openapi_json)))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/docs/openapi.json", ApiDoc::openapi()))
        .service(web::redirect("/api/docs", "/api/docs/"))
        .service(
            web::scope("/api/v1")
                .service(tickets::create)
                .service(tickets::list)
                .service(tickets::get_one)
                .service(tickets::events)
                .service(tickets::sla)
                .service(ticket_actions::respond)
                .service(ticket_actions::plan)
                .service(ticket_actions::wait_customer)
                .service(ticket_actions::resume)
                .service(ticket_actions::resolve)
                .service(ticket_actions::confirm)
                .service(ticket_actions::close)
                .service(ticket_actions::reopen)
                .service(ticket_actions::cancel)
                .service(ticket_actions::level)
                .service(ticket_actions::assign)
                .service(ticket_actions::link)
                .service(ticket_actions::add_comment)
                .service(ticket_actions::list_comments)
                .service(ticket_actions::upload)
                .service(ticket_actions::list_attachments)
                .service(ticket_actions::download)
                .service(admin::list_customers)
                .service(admin::create_customer)
                .service(admin::get_customer)
                .service(admin::patch_customer)
                .service(admin::list_contacts)
                .service(admin::create_contact)
                .service(admin::list_users)
                .service(admin::create_user)
                .service(admin::get_user)
                .service(admin::patch_user)
                .service(admin::delete_user)
                .service(admin::list_tokens)
                .service(admin::create_token)
                .service(admin::patch_token)
                .service(admin::delete_token)
                .service(sla::classify)
                .service(sla::calendars)
                .service(sla::preview)
                .service(sla::what_if)
                .service(sla::report)
                .service(reports::create)
                .service(reports::list)
                .service(reports::get_one)
                .service(reports::answer)
                .service(kb::list)
                .service(kb::create)
                .service(kb::from_ticket)
                .service(kb::get_one)
                .service(kb::update)
                .service(kb::versions)
                .service(kb::feedback)
                .service(kb::move_to)
                .service(kb::event)
                .service(kb::suggest_now)
                .service(ratings::list)
                .service(ratings::get_one)
                .service(ratings::rate)
                .service(ratings::callback)
                .service(escalations::ack)
                .service(escalations::list)
                .service(escalations::retry)
                .service(checks::list)
                .service(checks::create)
                .service(checks::get_one)
                .service(checks::update)
                .service(checks::remove)
                .service(checks::run)
                .service(checks::results)
                .service(checks::heartbeat)
                .service(checks::start_inspection)
                .service(checks::list_inspections)
                .service(checks::get_inspection)
                .service(checks::list_hosts)
                .service(intake::create_integration)
                .service(intake::list_integrations)
                .service(intake::alertmanager_intake)
                .service(intake::events_intake)
                .service(intake::audit_log)
                .service(visits::propose)
                .service(visits::for_ticket)
                .service(visits::work_order)
                .service(visits::get_one)
                .service(visits::book)
                .service(visits::rebook)
                .service(visits::depart)
                .service(visits::arrive)
                .service(visits::no_access)
                .service(visits::complete)
                .service(visits::sign)
                .service(visits::sign_link)
                .service(visits::cancel)
                .service(visits::availability)
                .service(visits::engineers)
                .service(visits::set_field)
                .service(visits::add_block)
                .service(visits::calendar)
                .service(
                    // Whole messages with their attachments: the attachment limit, not the JSON one.
                    web::resource("/integrations/email")
                        .app_data(web::PayloadConfig::default().limit(email_limit))
                        .route(web::post().to(intake::email_intake)),
                ),
        )
        .default_service(web::to(not_found));
    let _ = payload_error;
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// Headers every answer carries, and the stricter ones for HTML (the acknowledgement page, the
/// API docs): no sniffing, no framing, no referrer, scripts and everything else from Opsline only.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let html = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    Ok(res)
}

/// Cross-origin access for the configured origins only; none configured, none allowed (the
/// middleware is then not installed at all, so same-origin pages are unaffected).
pub fn cors(origins: &[String]) -> actix_web::middleware::Condition<actix_cors::Cors> {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MATCH])
        .allowed_header("idempotency-key")
        .max_age(3600);
    for o in origins {
        c = c.allowed_origin(o);
    }
    actix_web::middleware::Condition::new(!origins.is_empty(), c)
}

/// Turns any error response that is not already JSON (actix's own 404/405/413 and the like)
/// into the JSON error shape.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    // Pages answer their own errors in HTML; everything else gets the JSON error shape.
    let own = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.starts_with(b"application/json") || v.starts_with(b"text/html")
    });
    if !(status.is_client_error() || status.is_server_error()) || own {
        return Ok(res.map_into_boxed_body());
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed here"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported content type"),
        s if s.is_server_error() => ("internal_error", "something went wrong on our side; it has been logged"),
        _ => ("bad_request", "the request could not be understood"),
    };
    let (req, old) = res.into_parts();
    let mut new = actix_web::ResponseError::error_response(&ApiError::new(status, code, message));
    if let Some(allow) = old.headers().get(header::ALLOW) {
        new.headers_mut().insert(header::ALLOW, allow.clone());
    }
    new.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(ServiceResponse::new(req, new))
}
