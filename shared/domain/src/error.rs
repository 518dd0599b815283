//! Errors the outside world sees: a kind (mapped to an HTTP status by the HTTP layer),
//! a stable machine-readable code, a message and, where one is to blame, the field.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: malformed JSON or a schema violation.
    BadRequest,
    /// 401: missing or bad credentials or signature.
    Unauthorized,
    /// 404: no such resource (or not this tenant's).
    NotFound,
    /// 405: the route exists but does not take this method.
    MethodNotAllowed,
    /// 409: conflicts with what is stored (same booking id, other content).
    Conflict,
    /// 413: body too large.
    PayloadTooLarge,
    /// 415: the body is not in a format the route reads.
    UnsupportedMediaType,
    /// 422: well-formed but not acceptable.
    Unprocessable,
    /// 503: a dependency failed; the caller may retry.
    Unavailable,
    /// 500: a bug or broken invariant; never caused by input.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl AppError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            kind,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> AppError {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::Unprocessable, "invalid_value", message).with_field(field)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorKind::NotFound, code, message)
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AppError {}

/// Failures of adapters behind the ports. Conditional-write outcomes that the domain acts on
/// are results, not errors; this is for "the store is down" and broken data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The service answered and refused: nothing was done, a retry may do it (mail: the
    /// message was certainly not accepted). Unlike `Unavailable`, where the outcome is unknown.
    #[error("refused: {0}")]
    Refused(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::Unavailable(msg) => {
                AppError::new(ErrorKind::Unavailable, "storage_unavailable", msg)
            }
            StoreError::Corrupt(msg) => AppError::new(ErrorKind::Internal, "storage_corrupt", msg),
            StoreError::Refused(msg) => AppError::new(ErrorKind::Unavailable, "refused", msg),
        }
    }
}
