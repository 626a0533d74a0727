//! The `Auth` extractor: `Authorization: Bearer <token>` resolved to a [`Principal`] on every
//! request (no cache, so a revoked token stops working on every instance at once; on PostgreSQL
//! the read runs on connections of its own, `services::auth::TokenReader`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};

use super::error::ApiError;
use crate::domain::ticket::Role;
use crate::services::auth::{Principal, authenticate};
use crate::state::AppState;

pub struct Auth(pub Principal);

impl Auth {
    /// Staff with at least `role`; contacts and lower roles get 403.
    pub fn require(&self, role: Role) -> Result<&Principal, ApiError> {
        self.0.require(role).map_err(ApiError::from)?;
        Ok(&self.0)
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header =
            req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let req = req.clone();
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "no state"))?;
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "send an API token: Authorization: Bearer opl_…",
                    )
                })?;
            let now = state.clock.now();
            Ok(Auth(guarded(&state, &req, authenticate(&state, token, now).await)?))
        })
    }
}

/// A failed authentication counts against the address's budget; once it is spent the answer is
/// 429 rather than 401, so that tokens cannot be guessed at speed.
pub fn guarded<T>(state: &AppState, req: &HttpRequest, r: Result<T, crate::services::Error>) -> Result<T, ApiError> {
    match r {
        Err(e @ crate::services::Error::Unauthorized(_)) => {
            crate::http::client::limit(state, crate::limits::Limit::FailedAuth, req)?;
            Err(e.into())
        }
        other => other.map_err(ApiError::from),
    }
}

/// `If-Match: 3`, `"3"` or `W/"3"` → 3.
pub fn if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(v) = req.headers().get(actix_web::http::header::IF_MATCH) else { return Ok(None) };
    let s = v.to_str().unwrap_or_default().trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<i32>().map(Some).map_err(|_| {
        ApiError::bad_request("invalid_header", "If-Match takes the ticket's version, e.g. If-Match: \"3\"")
            .with_field("If-Match")
    })
}
