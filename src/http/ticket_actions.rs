//! `POST /api/v1/tickets/{id}/…`: the actions of README (Tickets, statuses and actions), comments and attachments. Every
//! action answers 200 with the ticket; a refused transition is 409 with `allowed_actions`; a
//! stale `If-Match` is 412.

use actix_multipart::Multipart;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Auth, if_match};
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use super::multipart::{self, Unreadable, Upload};
use super::responses as errors;
use super::tickets::staff_or_contact;
use crate::domain::level::Level;
use crate::domain::ticket::{Change, NewFile, Visibility};
use crate::services::tickets::{self, AttachmentView, ChangeRequest, CommentView, NewComment, TicketRef, TicketView};
use crate::state::AppState;

/// A change asked for over the API, and whether to copy it to the ticket's children.
struct Asked(Change, bool);

impl From<Change> for Asked {
    fn from(c: Change) -> Self {
        Asked(c, false)
    }
}

async fn act(
    state: &AppState,
    auth: &Auth,
    req: &HttpRequest,
    id: &str,
    asked: impl Into<Asked>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(auth)?;
    let Asked(change, copy_to_children) = asked.into();
    let request = ChangeRequest { ticket: TicketRef::from(id), change, if_match: if_match(req)?, copy_to_children };
    let now = state.clock.now();
    let changed = tickets::change(state, p, request, now).await?;
    Ok(HttpResponse::Ok().json(tickets::get(state, p, &changed.ticket.id.to_string(), now).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondRequest {
    /// Becomes a public comment.
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The fault-handling plan; public.
    pub plan: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub resolution: String,
    /// Resolve every open child of this parent incident with the same text.
    #[serde(default)]
    pub copy_to_children: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelRequest {
    #[schema(value_type = String, example = "I", pattern = "^([Ii]|[Ii][Ii]|[Ii][Ii][Ii]|[Ii][Vv])$")]
    pub level: Level,
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A user id, or null to unassign.
    pub assignee: Option<i64>,
    /// A team name, or null to clear; absent leaves the team as it is.
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The parent incident's id, or null to unlink.
    pub parent_id: Option<i64>,
}

macro_rules! action_responses {
    () => {
        "200 with the ticket; 400 malformed; 401 no token; 403 role; 404 no such ticket; 409 invalid_transition; 412 If-Match mismatch; 422 invalid field"
    };
}

macro_rules! action {
    ($fn:ident, $route:literal, $api:literal, $doc:literal, $body:ty, |$b:ident| $make:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            post, path = $api, tag = "ticket actions",
            description = action_responses!(),
            params(("id" = String, Path, description = "Id or number"), ("If-Match" = Option<String>, Header, description = "The version you saw")),
            request_body = $body,
            responses((status = 200, description = "The ticket after the action", body = TicketView), errors::JsonBody,
                (status = 401, description = "No valid token", body = ErrorBody),
                (status = 403, description = "Role may not do this", body = ErrorBody),
                (status = 404, description = "No such ticket", body = ErrorBody),
                (status = 409, description = "Not possible in the ticket's status", body = ErrorBody),
                (status = 412, description = "The ticket changed since the version in If-Match", body = ErrorBody)),
            security(("bearer" = []))
        )]
        #[post($route)]
        pub async fn $fn(
            state: web::Data<AppState>,
            auth: Auth,
            req: HttpRequest,
            id: web::Path<String>,
            body: Body<$body>,
        ) -> Result<HttpResponse, ApiError> {
            staff_or_contact(&auth)?;
            let $b = body.into_inner()?;
            act(&state, &auth, &req, &id, $make).await
        }
    };
    ($fn:ident, $route:literal, $api:literal, $doc:literal, => $make:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            post, path = $api, tag = "ticket actions",
            description = action_responses!(),
            params(("id" = String, Path, description = "Id or number"), ("If-Match" = Option<String>, Header, description = "The version you saw")),
            responses(
                (status = 200, description = "The ticket after the action", body = TicketView),
                (status = 400, description = "Malformed request", body = ErrorBody),
                (status = 401, description = "No valid token", body = ErrorBody),
                (status = 403, description = "Role may not do this", body = ErrorBody),
                (status = 404, description = "No such ticket", body = ErrorBody),
                (status = 409, description = "Not possible in the ticket's status", body = ErrorBody),
                (status = 412, description = "The ticket changed since the version in If-Match", body = ErrorBody),
            ),
            security(("bearer" = []))
        )]
        #[post($route)]
        pub async fn $fn(state: web::Data<AppState>, auth: Auth, req: HttpRequest, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
            act(&state, &auth, &req, &id, $make).await
        }
    };
}

action!(
    respond,
    "/tickets/{id}/respond",
    "/api/v1/tickets/{id}/respond",
    "Respond to the customer (open → in_progress); meets the response timer.",
    RespondRequest,
    |b| Change::Respond { message: b.message }
);
action!(
    plan,
    "/tickets/{id}/plan",
    "/api/v1/tickets/{id}/plan",
    "Submit the fault-handling plan; meets the response and plan timers.",
    PlanRequest,
    |b| Change::Plan { plan: b.plan }
);
action!(
    wait_customer,
    "/tickets/{id}/wait-customer",
    "/api/v1/tickets/{id}/wait-customer",
    "Wait for the customer; pauses running timers (docs/sla.md §4).",
    ReasonRequest,
    |b| Change::WaitCustomer { reason: b.reason }
);
action!(resume, "/tickets/{id}/resume", "/api/v1/tickets/{id}/resume", "Stop waiting for the customer; paused timers resume.", => Change::Resume);
action!(
    resolve,
    "/tickets/{id}/resolve",
    "/api/v1/tickets/{id}/resolve",
    "Resolve; a staff resolve meets every unmet timer.",
    ResolveRequest,
    |b| Asked(Change::Resolve { resolution: b.resolution }, b.copy_to_children)
);
action!(confirm, "/tickets/{id}/confirm", "/api/v1/tickets/{id}/confirm", "The customer confirms the resolution (resolved → closed).", => Change::Confirm);
action!(close, "/tickets/{id}/close", "/api/v1/tickets/{id}/close", "Close a resolved ticket.", => Change::Close);
action!(
    reopen,
    "/tickets/{id}/reopen",
    "/api/v1/tickets/{id}/reopen",
    "Reopen; starts a new resolution cycle (docs/sla.md §6).",
    ReasonRequest,
    |b| Change::Reopen { reason: b.reason }
);
action!(
    cancel,
    "/tickets/{id}/cancel",
    "/api/v1/tickets/{id}/cancel",
    "Cancel; unmet timers end `cancelled`.",
    ReasonRequest,
    |b| Change::Cancel { reason: b.reason }
);
action!(
    level,
    "/tickets/{id}/level",
    "/api/v1/tickets/{id}/level",
    "Change the level with a reason; re-targets unmet timers (docs/sla.md §5).",
    LevelRequest,
    |b| Change::Level { level: b.level, reason: b.reason }
);
action!(
    assign,
    "/tickets/{id}/assign",
    "/api/v1/tickets/{id}/assign",
    "Assign to a user and/or team.",
    AssignRequest,
    |b| Change::Assign { assignee: b.assignee, team: b.team }
);
action!(
    link,
    "/tickets/{id}/link",
    "/api/v1/tickets/{id}/link",
    "Link to a parent incident, or unlink with null.",
    LinkRequest,
    |b| Change::Link { parent_id: b.parent_id }
);

/// Add a comment. A staff public comment meets the response; a customer's resumes a ticket
/// waiting for them.
#[utoipa::path(
    post, path = "/api/v1/tickets/{id}/comments", tag = "ticket actions",
    params(("id" = String, Path, description = "Id or number"), ("If-Match" = Option<String>, Header, description = "The version you saw")),
    request_body = NewComment,
    responses((status = 201, description = "Added", body = CommentView), errors::Caller, errors::JsonBody,
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "Ticket closed or cancelled", body = ErrorBody),
        (status = 412, description = "Version mismatch", body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/tickets/{id}/comments")]
pub async fn add_comment(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    id: web::Path<String>,
    body: Body<NewComment>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let version = if_match(&req)?;
    let c = tickets::add_comment(&state, p, &id, body.into_inner()?, version, state.clock.now()).await?;
    Ok(HttpResponse::Created().json(c))
}

/// Comments on the ticket (customers see public ones).
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}/comments", tag = "tickets",
    params(("id" = String, Path, description = "Id or number")),
    responses((status = 200, description = "Comments, oldest first", body = Vec<CommentView>), errors::Caller,
        (status = 404, description = "No such ticket", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/comments")]
pub async fn list_comments(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    Ok(HttpResponse::Ok().json(tickets::list_comments(&state, p, &id).await?))
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// public (default) or internal
    visibility: Option<String>,
}

/// Attach a file (multipart form: `file`, optional `visibility`). Stored with its SHA-256.
#[utoipa::path(
    post, path = "/api/v1/tickets/{id}/attachments", tag = "ticket actions",
    params(("id" = String, Path, description = "Id or number")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "Stored", body = AttachmentView),
        (status = 400, description = "Not a multipart form with a file", body = ErrorBody), errors::Caller,
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 409, description = "Ticket closed or cancelled", body = ErrorBody),
        (status = 413, description = "File larger than attachments.max_bytes, request larger than that + 64 KiB, or more than 32 parts", body = ErrorBody),
        (status = 415, description = "Not multipart", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = []))
)]
#[post("/tickets/{id}/attachments")]
pub async fn upload(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    req: HttpRequest,
    form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let max = state.config.settings.attachments.max_bytes as usize;
    let mut posted = multipart::read(&req, form, max).await.map_err(unreadable)?;
    if let Some(other) = posted.fields.keys().find(|k| k.as_str() != "visibility") {
        return Err(ApiError::unprocessable(
            other,
            format!("unknown form field `{other}`: send `file` and optionally `visibility`"),
        ));
    }
    if let Some(other) = posted.files.iter().find(|f| f.field != "file") {
        return Err(ApiError::unprocessable(
            &other.field,
            format!("unknown file field `{}`: send it as `file`", other.field),
        ));
    }
    let visibility = match posted.fields.get("visibility") {
        None => Visibility::Public,
        Some(v) => {
            Visibility::parse(v.trim()).ok_or_else(|| ApiError::unprocessable("visibility", "public or internal"))?
        }
    };
    if posted.files.len() > 1 {
        return Err(ApiError::unprocessable("file", "one file per request"));
    }
    let Upload { filename, content_type, data, .. } =
        posted.files.pop().ok_or_else(|| ApiError::unprocessable("file", "a `file` field is required"))?;
    let a = tickets::add_attachment(
        &state,
        p,
        &id,
        NewFile { filename, content_type, visibility, data },
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(a))
}

/// Attachments of the ticket (customers see public ones).
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}/attachments", tag = "tickets",
    params(("id" = String, Path, description = "Id or number")),
    responses((status = 200, description = "Attachments", body = Vec<AttachmentView>), errors::Caller,
        (status = 404, description = "No such ticket", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/attachments")]
pub async fn list_attachments(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    Ok(HttpResponse::Ok().json(tickets::list_attachments(&state, p, &id).await?))
}

/// Download an attachment; always `Content-Disposition: attachment`.
#[utoipa::path(
    get, path = "/api/v1/tickets/{id}/attachments/{attachment_id}", tag = "tickets",
    params(("id" = String, Path, description = "Id or number"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        errors::Caller, (status = 404, description = "No such ticket or attachment", body = ErrorBody)),
    security(("bearer" = []))
)]
#[get("/tickets/{id}/attachments/{attachment_id}")]
pub async fn download(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let p = staff_or_contact(&auth)?;
    let (id, aid) = path.into_inner();
    let a = tickets::attachment_content(&state, p, &id, aid).await?;
    Ok(HttpResponse::Ok()
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(a.filename)],
        })
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .content_type(a.content_type)
        .body(a.data))
}

/// The API's answer to a form that could not be read.
fn unreadable(e: Unreadable) -> ApiError {
    use actix_web::http::StatusCode;
    match e {
        Unreadable::TooLarge(limit) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("more than {limit} bytes"))
        }
        Unreadable::TooManyParts => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("more than {} parts in one form", multipart::FIELDS_MAX),
        ),
        Unreadable::NotMultipart => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send multipart/form-data")
        }
        Unreadable::Malformed => ApiError::bad_request("invalid_multipart", "the body is not a valid multipart form"),
    }
}
