//! The one error format of every answer: `{"error": {"code", "message", "field"?}}` with the
//! status its kind calls for. Handlers return [`ApiError`]; answers the framework makes itself
//! (an extractor's rejection, a fallback, a timeout, a panic) are brought into the same format
//! by [`crate::guard`], which recognises ours by the [`Formatted`] marker.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faktura_domain::error::{AppError, ErrorKind};
use serde_json::json;

/// Marks a response whose body is already in the error format.
#[derive(Debug, Clone, Copy)]
pub struct Formatted;

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error body for `e` (internal details stay out of it).
pub fn error_body(e: &AppError) -> serde_json::Value {
    let message = if e.kind == ErrorKind::Internal {
        "internal error".to_string()
    } else {
        e.message.clone()
    };
    let mut error = json!({ "code": e.code, "message": message });
    if let Some(field) = &e.field {
        error["field"] = json!(field);
    }
    json!({ "error": error })
}

pub fn error_response(e: &AppError) -> Response {
    let status = status_of(e.kind);
    if e.kind == ErrorKind::Internal {
        // Details of internal failures go to the log, not to the caller.
        tracing::error!(code = e.code, error = %e.message, "internal error");
    }
    let mut response = (status, axum::Json(error_body(e))).into_response();
    response.extensions_mut().insert(Formatted);
    if e.kind == ErrorKind::PayloadTooLarge {
        // The rest of an oversized body is not read: this connection is done.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if e.kind == ErrorKind::Unavailable {
        // Platforms and clients retry a 503; a hint keeps them from hammering.
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// The error an answer of `status` without our body stands for (a framework rejection).
pub fn error_for_status(status: StatusCode) -> AppError {
    let (kind, code, message) = match status.as_u16() {
        400 => (
            ErrorKind::BadRequest,
            "bad_request",
            "the request could not be read",
        ),
        401 => (
            ErrorKind::Unauthorized,
            "unauthorized",
            "credentials are missing or not valid",
        ),
        404 => (ErrorKind::NotFound, "route_not_found", "no such route"),
        405 => (
            ErrorKind::MethodNotAllowed,
            "method_not_allowed",
            "this route does not take that method",
        ),
        408 | 504 => (
            ErrorKind::Unavailable,
            "timeout",
            "the request took too long; retry later",
        ),
        413 => (
            ErrorKind::PayloadTooLarge,
            "payload_too_large",
            "the body is too large",
        ),
        415 => (
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
        ),
        422 => (
            ErrorKind::Unprocessable,
            "unprocessable",
            "the request cannot be processed",
        ),
        s if s >= 500 => (
            ErrorKind::Internal,
            "internal",
            "the server failed; retry later",
        ),
        _ => (
            ErrorKind::BadRequest,
            "bad_request",
            "the request was refused",
        ),
    };
    AppError::new(kind, code, message)
}

/// What handlers return on failure: rendered in the error format.
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<faktura_domain::StoreError> for ApiError {
    fn from(e: faktura_domain::StoreError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}
