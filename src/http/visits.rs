//! On-site service over the API: `/api/v1/tickets/{id}/visits`, `/api/v1/visits/{id}` and its
//! actions, the work order, field engineers, their availability, blocks and calendar feeds. A
//! visit's step is a change to its ticket: 409 with the visit's possible actions when its state
//! does not allow it, 403 when the caller may not take it.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::body::{Body, OptionalBody};
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use super::tickets::staff_or_contact;
use crate::domain::ticket::Role;
use crate::domain::visit::{NewVisit, Part, VisitOutcome, VisitStep, WindowChooser};
use crate::services::visits::{
    self, Availability, BlockView, BookingRequest, EngineerView, FieldSettings, NewBlock, SignLinkSent, VisitView,
};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    pub site_address: String,
    /// Who meets the engineer at the site.
    pub site_contact: String,
    pub site_phone: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub engineer_id: i64,
    /// RFC 3339 with any offset.
    pub window_start: DateTime<FixedOffset>,
    pub window_end: DateTime<FixedOffset>,
    /// The earliest start Opsline offered the customer; the window's own start when absent.
    pub offered_start: Option<DateTime<FixedOffset>>,
    /// customer | dispatcher (default): a later window the customer chose pauses the clocks.
    #[schema(value_type = Option<String>, pattern = "^(customer|dispatcher)$")]
    pub chosen_by: Option<WindowChooser>,
    /// Travel each way, blocked in the engineer's time (default 30).
    #[schema(minimum = 0, maximum = 720)]
    pub travel_minutes: Option<i64>,
    /// Book although the engineer is not free then (lead or higher; recorded).
    #[serde(default)]
    pub override_clash: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The device's clock when the button was pressed (an event kept offline and sent later).
    pub device_time: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    pub work_summary: String,
    #[serde(default)]
    pub parts: Vec<Part>,
    /// fixed (default) | partial
    #[schema(value_type = Option<String>, pattern = "^(fixed|partial)$")]
    pub outcome: Option<VisitOutcome>,
    pub device_time: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The signer's name, as written under the signature.
    pub signer: String,
    /// The drawn signature: a PNG, base64 or a `data:image/png;base64,` URL.
    pub signature_png: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelVisitRequest {
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// RFC 3339.
    pub from: DateTime<FixedOffset>,
    /// RFC 3339; at most 31 days after `from`.
    pub to: DateTime<FixedOffset>,
    pub region: Option<String>,
    pub skill: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/tickets/{id}/visits", tag = "visits",
    params(("id" = String, Path, description = "Ticket id or number")),
    request_body = ProposeRequest,
    responses((status = 201, description = "Proposed; the arrival clock starts", body = VisitView), errors::Engineer,
        errors::JsonBody, (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "The ticket is finished", body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/tickets/{id}/visits")]
pub async fn propose(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: Body<ProposeRequest>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let b = body.into_inner()?;
    let n =
        NewVisit { site_address: b.site_address, site_contact: b.site_contact, site_phone: b.site_phone, note: b.note };
    let v = visits::propose(&state, p, &id, n, state.clock.now()).await?;
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(
    get, path = "/api/v1/tickets/{id}/visits", tag = "visits",
    params(("id" = String, Path, description = "Ticket id or number")),
    responses((status = 200, description = "The ticket's visits, oldest first", body = Vec<VisitView>), errors::Caller,
        (status = 404, description = "No such ticket", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/visits")]
pub async fn for_ticket(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    Ok(HttpResponse::Ok().json(visits::for_ticket(&state, p, &id).await?))
}

#[utoipa::path(
    get, path = "/api/v1/visits/{id}", tag = "visits",
    params(("id" = i64, Path, description = "Visit id")),
    responses((status = 200, description = "The visit", body = VisitView), errors::Caller,
        (status = 404, description = "No such visit", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/visits/{id}")]
pub async fn get_one(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    Ok(HttpResponse::Ok().json(visits::get(&state, p, *id).await?))
}

macro_rules! visit_action {
    ($fn:ident, $route:literal, $api:literal, $doc:literal, $body:ty, $extract:ident, |$b:ident| $make:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            post, path = $api, tag = "visits",
            params(("id" = i64, Path, description = "Visit id")),
            request_body = $body,
            responses((status = 200, description = "The visit after the step", body = VisitView), errors::JsonBody,
                (status = 401, description = "No valid token", body = ErrorBody),
                (status = 403, description = "The caller may not take this step", body = ErrorBody),
                (status = 404, description = "No such visit", body = ErrorBody),
                (status = 409, description = "Not possible in the visit's state, or the engineer is booked then", body = ErrorBody)),
            security(("bearer" = []))
        )]
        #[post($route)]
        pub async fn $fn(
            state: web::Data<AppState>,
            auth: Auth,
            id: web::Path<i64>,
            body: $extract<$body>,
        ) -> Result<HttpResponse, ApiError> {
            let p = staff_or_contact(&auth)?;
            let $b = body.into_inner()?;
            let step: VisitStep = $make;
            Ok(HttpResponse::Ok().json(visits::step(&state, p, *id, step, state.clock.now()).await?))
        }
    };
}

fn booking(b: BookRequest) -> crate::domain::visit::Booking {
    BookingRequest {
        engineer_id: b.engineer_id,
        window_start: b.window_start,
        window_end: b.window_end,
        offered_start: b.offered_start,
        chosen_by: b.chosen_by.unwrap_or(WindowChooser::Dispatcher),
        travel_minutes: b.travel_minutes.unwrap_or(30),
        override_clash: b.override_clash,
    }
    .booking()
}

fn checked(b: Option<CheckInRequest>) -> crate::domain::visit::CheckIn {
    visits::check_in(b.unwrap_or_default().device_time)
}

visit_action!(
    book,
    "/visits/{id}/book",
    "/api/v1/visits/{id}/book",
    "Book a proposed visit: an engineer and the agreed window (dispatcher: engineer role or higher).",
    BookRequest,
    Body,
    |b| VisitStep::Book(booking(b))
);
visit_action!(
    rebook,
    "/visits/{id}/rebook",
    "/api/v1/visits/{id}/rebook",
    "Give a visit that found no access a new window; the no-access pause ends when it starts.",
    BookRequest,
    Body,
    |b| VisitStep::Rebook(booking(b))
);
visit_action!(
    depart,
    "/visits/{id}/depart",
    "/api/v1/visits/{id}/depart",
    "\"On my way\" (the visit's engineer); rules with `on = \"en_route\"` tell the customer.",
    CheckInRequest,
    OptionalBody,
    |b| VisitStep::Depart(checked(b))
);
visit_action!(
    arrive,
    "/visits/{id}/arrive",
    "/api/v1/visits/{id}/arrive",
    "Check in at the site (the visit's engineer): meets the arrival timer.",
    CheckInRequest,
    OptionalBody,
    |b| VisitStep::Arrive(checked(b))
);
visit_action!(
    no_access,
    "/visits/{id}/no-access",
    "/api/v1/visits/{id}/no-access",
    "No access at the site (the visit's engineer): the arrival and resolution clocks pause until the re-booked window starts.",
    CheckInRequest,
    OptionalBody,
    |b| VisitStep::NoAccess(checked(b))
);
visit_action!(
    complete,
    "/visits/{id}/complete",
    "/api/v1/visits/{id}/complete",
    "Check out with the work done and the parts used (the visit's engineer).",
    CompleteRequest,
    Body,
    |b| VisitStep::Complete {
        check: visits::check_in(b.device_time),
        summary: b.work_summary,
        parts: b.parts,
        outcome: match b.outcome {
            Some(VisitOutcome::NoAccess) => {
                return Err(ApiError::from(crate::services::Error::invalid(
                    "outcome",
                    "a visit without access is reported with no-access",
                )));
            }
            o => o.unwrap_or(VisitOutcome::Fixed),
        },
    }
);
visit_action!(
    sign,
    "/visits/{id}/sign",
    "/api/v1/visits/{id}/sign",
    "The customer signs the work order: their contact, or on the engineer's screen.",
    SignRequest,
    Body,
    |b| VisitStep::Sign { signer: b.signer, image_png: visits::signature_png(&b.signature_png)? }
);
visit_action!(
    cancel,
    "/visits/{id}/cancel",
    "/api/v1/visits/{id}/cancel",
    "Cancel a visit not yet on site (engineer role or higher).",
    CancelVisitRequest,
    Body,
    |b| VisitStep::Cancel { reason: b.reason }
);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignLinkRequest {
    /// The customer's contact who signs: the link goes to their address.
    pub contact_id: i64,
}

#[utoipa::path(
    post, path = "/api/v1/visits/{id}/sign-link", tag = "visits",
    params(("id" = i64, Path, description = "Visit id")),
    request_body = SignLinkRequest,
    responses((status = 202, description = "The one-time link is on its way", body = SignLinkSent),
        (status = 400, description = "Malformed request", body = ErrorBody), errors::Engineer,
        (status = 404, description = "No such visit", body = ErrorBody),
        (status = 409, description = "The visit is not completed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Not a contact of the ticket's customer", body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/visits/{id}/sign-link")]
pub async fn sign_link(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<SignLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let b = body.into_inner()?;
    Ok(HttpResponse::Accepted().json(visits::send_sign_link(&state, p, *id, b.contact_id, state.clock.now()).await?))
}

#[utoipa::path(
    get, path = "/api/v1/visits/{id}/work-order", tag = "visits",
    params(("id" = i64, Path, description = "Visit id")),
    responses((status = 200, description = "The work order, printable HTML", content_type = "text/html"), errors::Caller,
        (status = 404, description = "No such visit", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/visits/{id}/work-order")]
pub async fn work_order(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let (v, signature) = visits::work_order(&state, p, *id).await?;
    Ok(crate::web::work_order_page(&req, &v, signature.as_deref()))
}

#[utoipa::path(
    get, path = "/api/v1/engineers", tag = "visits",
    responses((status = 200, description = "Active field engineers", body = Vec<EngineerView>), errors::Staff),
    security(("bearer" = []))
)]
#[get("/engineers")]
pub async fn engineers(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(visits::engineers(&state, &auth.0).await?))
}

#[utoipa::path(
    put, path = "/api/v1/engineers/{id}", tag = "visits",
    params(("id" = i64, Path, description = "User id")),
    request_body = FieldSettings,
    responses((status = 200, description = "The user is a field engineer with these settings", body = EngineerView),
        errors::Lead, errors::JsonBody, (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = []))
)]
#[put("/engineers/{id}")]
pub async fn set_field(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<FieldSettings>,
) -> Result<HttpResponse, ApiError> {
    auth.0.require(Role::Lead)?;
    let f = body.into_inner()?;
    Ok(HttpResponse::Ok().json(visits::set_field(&state, &auth.0, *id, f, state.clock.now()).await?))
}

#[utoipa::path(
    post, path = "/api/v1/engineers/{id}/blocks", tag = "visits",
    params(("id" = i64, Path, description = "Engineer's user id")),
    request_body = NewBlock,
    responses((status = 201, description = "Leave or training added", body = BlockView), errors::JsonBody,
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The engineer themself or a lead", body = ErrorBody),
        (status = 404, description = "No such field engineer", body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/engineers/{id}/blocks")]
pub async fn add_block(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<NewBlock>,
) -> Result<HttpResponse, ApiError> {
    auth.0.require(Role::Engineer)?;
    let b = body.into_inner()?;
    Ok(HttpResponse::Created().json(visits::add_block(&state, &auth.0, *id, b, state.clock.now()).await?))
}

#[utoipa::path(
    get, path = "/api/v1/engineers/availability", tag = "visits",
    params(AvailabilityQuery),
    responses((status = 200, description = "Free windows per engineer", body = Vec<Availability>),
        (status = 400, description = "Malformed query", body = ErrorBody), errors::Staff,
        (status = 422, description = "Invalid span", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/engineers/availability")]
pub async fn availability(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = (q.from.timestamp(), q.to.timestamp());
    let v = visits::availability(&state, &auth.0, from, to, q.region.as_deref(), q.skill.as_deref()).await?;
    Ok(HttpResponse::Ok().json(v))
}

#[utoipa::path(
    get, path = "/api/v1/engineers/{id}/{token}/calendar.ics", tag = "visits",
    params(("id" = i64, Path, description = "Engineer's user id"), ("token" = String, Path, description = "The feed's secret, from GET /api/v1/engineers")),
    responses(
        (status = 200, description = "The engineer's visits, RFC 5545", content_type = "text/calendar"),
        (status = 404, description = "No such feed", body = ErrorBody),
    )
)]
#[get("/engineers/{id}/{token}/calendar.ics")]
pub async fn calendar(state: web::Data<AppState>, path: web::Path<(i64, String)>) -> Result<HttpResponse, ApiError> {
    let (id, token) = path.into_inner();
    let ics = visits::calendar_ics(&state, id, &token).await?;
    Ok(HttpResponse::Ok().insert_header((header::CONTENT_TYPE, "text/calendar; charset=utf-8")).body(ics))
}
