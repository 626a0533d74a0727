//! `Body<T>`: a JSON request body that must be an object. serde lets a struct also be read from
//! an array of its fields in order (`[null, null]`), which no client means; this extractor reads
//! the JSON first (with the same limits and error shape as `web::Json`), refuses anything but an
//! object, then builds `T` from it.
//!
//! Extraction itself never fails: a bad body is kept and becomes the handler's error when the
//! handler takes the body (`into_inner()?`), after it has checked who is asking. actix-web runs
//! a handler's extractors together and answers the first error, so a body error raised during
//! extraction could answer before authentication has (422 to someone who should get 401 or 403).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct Body<T>(Result<T, ApiError>);

/// A body that may be left out entirely (no `Content-Type`, nothing sent); when one is sent it
/// must be a valid object, as for [`Body`] — a malformed body is an error, never "no body".
pub struct OptionalBody<T>(Result<Option<T>, ApiError>);

impl<T> OptionalBody<T> {
    /// The body, if one was sent; its error if it was bad.
    pub fn into_inner(self) -> Result<Option<T>, ApiError> {
        self.0
    }
}

/// The API error an extractor's error stands for.
fn api_error(e: actix_web::Error) -> ApiError {
    e.as_error::<ApiError>().cloned().unwrap_or_else(|| ApiError::bad_request("invalid_json", e.to_string()))
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers();
        let length = headers.get(actix_web::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
        let absent = !headers.contains_key(actix_web::http::header::CONTENT_TYPE)
            && !headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
            && length.is_none_or(|l| l.trim() == "0");
        if absent {
            return Box::pin(async { Ok(OptionalBody(Ok(None))) });
        }
        let body = Body::<T>::from_request(req, payload);
        Box::pin(async move { Ok(OptionalBody(body.await?.0.map(Some))) })
    }
}

impl<T> Body<T> {
    /// The body, or why it was refused. Take it after checking who is asking.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move { Ok(Body(read(json.await))) })
    }
}

/// The body as a `T`, or the API's error for it.
fn read<T: DeserializeOwned>(json: Result<web::Json<serde_json::Value>, actix_web::Error>) -> Result<T, ApiError> {
    let value = json.map_err(api_error)?.into_inner();
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the body must be a JSON object",
        ));
    }
    if let Some(path) = nul_at(&value, "") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "text must not contain NUL characters",
        )
        .with_field(path.trim_start_matches('.')));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", e.into_inner().to_string());
        // `.` is the document itself (a missing field is named in the message).
        if path == "." { err } else { err.with_field(&path) }
    })
}

/// Where in the document a string (or a key) holds a NUL character, which no text field takes.
fn nul_at(v: &serde_json::Value, at: &str) -> Option<String> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some(at.to_string()),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| nul_at(x, &format!("{at}[{i}]"))),
        serde_json::Value::Object(map) => map
            .iter()
            .find_map(|(k, x)| if k.contains('\0') { Some(at.to_string()) } else { nul_at(x, &format!("{at}.{k}")) }),
        _ => None,
    }
}
