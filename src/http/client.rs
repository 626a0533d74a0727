//! Who a request comes from, as far as rate limits care: the client's address.

use actix_web::HttpRequest;

use super::error::ApiError;
use crate::limits::Limit;
use crate::state::AppState;

/// The key a request's budgets are kept under: its client address.
pub fn address_key(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| format!("ip:{}", a.ip()))
}

/// Takes one from `which`'s budget of the request's client; 429 when it is spent.
pub fn limit(state: &AppState, which: Limit, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(key) = address_key(req) else { return Ok(()) };
    state.limits.take(which, &key).map_err(|s| ApiError::rate_limited(s.what, s.retry_after_secs))
}
