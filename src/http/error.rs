//! The error contract (README: API): every 4xx and 5xx answers
//! `{"error": {"code", "message", "field"?}}`, extractor failures included. One match maps each
//! service error to its status; a 500 carries no internal text (the cause is logged instead).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::services::Error;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation_failed`, `ticket_not_found`, `invalid_transition`, …
    pub code: String,
    /// What went wrong and how to fix the request.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `invalid_transition`: the ticket's status and what is possible from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
}

/// An HTTP-level error: a status and the JSON body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Box<ErrorDetail>,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: Box::new(ErrorDetail {
                code: code.into(),
                message: message.into(),
                field: None,
                status: None,
                allowed_actions: None,
            }),
            retry_after: None,
        }
    }

    /// 429 `rate_limited`, with `Retry-After`.
    pub fn rate_limited(what: &str, retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many {what}; try again in {retry_after} s"),
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(field.into());
        self
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message).with_field(field)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.detail.code, self.detail.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status).json(ErrorBody {
            error: ErrorDetail {
                code: self.detail.code.clone(),
                message: self.detail.message.clone(),
                field: self.detail.field.clone(),
                status: self.detail.status.clone(),
                allowed_actions: self.detail.allowed_actions.clone(),
            },
        });
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<crate::domain::actor::Forbidden> for ApiError {
    fn from(e: crate::domain::actor::Forbidden) -> Self {
        Error::from(e).into()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m),
            Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            Error::NotFound { code, message } => ApiError::new(StatusCode::NOT_FOUND, code, message),
            Error::Invalid { code: "payload_too_large", field, message } => {
                let mut a = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message);
                a.detail.field = field;
                a
            }
            Error::Invalid { code, field, message } => {
                let mut a = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
                a.detail.field = field;
                a
            }
            Error::InvalidTransition { message, status, allowed_actions } => {
                let mut a = ApiError::new(StatusCode::CONFLICT, "invalid_transition", message);
                a.detail.status = Some(status);
                a.detail.allowed_actions = Some(allowed_actions);
                a
            }
            Error::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            Error::TooMany { what, retry_after_secs } => ApiError::rate_limited(what, retry_after_secs),
            e @ Error::VersionMismatch { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "version_mismatch", e.to_string()).with_field("If-Match")
            }
            Error::Db(e) => {
                tracing::error!(error.cause_chain = ?e, error.message = %e, "database error");
                internal()
            }
            Error::Internal(m) => {
                tracing::error!(error.message = %m, "internal error");
                internal()
            }
        }
    }
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "something went wrong on our side; it has been logged",
    )
}

/// Body errors from `web::Json`: syntax → 400, shape (types, unknown fields, enum values) → 422,
/// size → 413, content type → 415.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
        }
        J::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        J::Deserialize(e) if e.is_data() => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", e.to_string())
        }
        J::Deserialize(e) => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")),
        J::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
        }
        _ => ApiError::bad_request("invalid_body", "the request body could not be read"),
    };
    api.into()
}

pub fn query_error(err: actix_web::error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("bad query string: {err}")).into()
}

pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::not_found().into()
}

pub fn payload_error(err: actix_web::error::PayloadError, _req: &HttpRequest) -> actix_web::Error {
    match err {
        actix_web::error::PayloadError::Overflow => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large").into()
        }
        _ => ApiError::bad_request("invalid_body", "the request body could not be read").into(),
    }
}
