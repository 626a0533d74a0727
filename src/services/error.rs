//! What a use case can refuse, and why. The HTTP layer maps each variant to a status and the
//! JSON error shape; nothing here knows about status codes.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// Input that is well-formed but not acceptable; names the field when there is one.
    #[error("{message}")]
    Invalid { code: &'static str, field: Option<String>, message: String },
    #[error("{message}")]
    InvalidTransition { message: String, status: String, allowed_actions: Vec<String> },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A budget is spent (`crate::limits`): 429 with Retry-After.
    #[error("too many {what}: try again in {retry_after_secs} s")]
    TooMany { what: &'static str, retry_after_secs: u64 },
    #[error("the ticket changed since version {expected}; it is now at version {current}")]
    VersionMismatch { expected: i32, current: i32 },
    #[error("database error")]
    Db(#[source] DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn not_found(code: &'static str, what: &str) -> Self {
        Error::NotFound { code, message: format!("{what} not found") }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Invalid { code: "validation_failed", field: Some(field.to_string()), message: message.into() }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { code, message: message.into() }
    }

    /// Something that should not fail did (serialising a value, say): a 500 that is logged.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

/// An error and every cause under it, each once: `database error: pool timed out …`. For logs.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// A write's result, with the refusal of a unique key turned into the caller's conflict.
pub trait OrTaken<T> {
    fn or_taken(self, taken: impl FnOnce() -> Error) -> Result<T>;
}

impl<T> OrTaken<T> for std::result::Result<T, DbErr> {
    fn or_taken(self, taken: impl FnOnce() -> Error) -> Result<T> {
        match self {
            Ok(v) => Ok(v),
            Err(e) if crate::persistence::is_unique_violation(&e) => Err(taken()),
            Err(e) => Err(e.into()),
        }
    }
}

impl From<DbErr> for Error {
    /// PostgreSQL refuses NUL characters in text; whichever input carried one is bad input, not a
    /// server error.
    fn from(e: DbErr) -> Self {
        let text = e.to_string();
        if text.contains("invalid byte sequence") && text.contains("0x00") {
            return Error::Invalid {
                code: "validation_failed",
                field: None,
                message: "text must not contain NUL characters".into(),
            };
        }
        Error::Db(e)
    }
}

impl From<tantivy::TantivyError> for Error {
    fn from(e: tantivy::TantivyError) -> Self {
        Error::Internal(format!("similarity index: {e}"))
    }
}

impl From<crate::limits::Spent> for Error {
    fn from(s: crate::limits::Spent) -> Self {
        Error::TooMany { what: s.what, retry_after_secs: s.retry_after_secs }
    }
}

impl From<crate::domain::actor::Forbidden> for Error {
    fn from(e: crate::domain::actor::Forbidden) -> Self {
        Error::Forbidden(e.0)
    }
}

impl From<crate::domain::calendar::CalendarError> for Error {
    fn from(e: crate::domain::calendar::CalendarError) -> Self {
        Error::Internal(format!("calendar arithmetic failed: {e}"))
    }
}
