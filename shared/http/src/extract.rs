//! Reading requests: path and query parameters whose rejections are in the error format, and
//! bodies read within a bound.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::{HeaderMap, header, request::Parts};
use faktura_domain::error::{AppError, ErrorKind};
use http_body_util::BodyExt;

use crate::error::ApiError;

/// Bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A refused body is still read (and thrown away) up to this much, so the sender, which is
/// usually still writing, gets to read the 413 instead of a reset connection.
const DRAIN_BYTES: usize = 32 * 1024 * 1024;
/// ...and for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// One path parameter as text. Not UTF-8 after percent-decoding (`%FF`) is a 400 in our format.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(ApiError(
                AppError::new(
                    ErrorKind::BadRequest,
                    "invalid_path",
                    format!("the path cannot be read: {}", rejection.body_text()),
                )
                .with_field("path"),
            )),
        }
    }
}

/// Two path parameters as text (`/v1/customers/{id}/items/{item}`).
pub struct PathParams2(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParams2 {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((a, b))) => Ok(PathParams2(a, b)),
            Err(rejection) => Err(ApiError(
                AppError::new(
                    ErrorKind::BadRequest,
                    "invalid_path",
                    format!("the path cannot be read: {}", rejection.body_text()),
                )
                .with_field("path"),
            )),
        }
    }
}

/// The query string as name → value (the last value of a repeated name wins).
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(map)) => Ok(Params(map)),
            Err(rejection) => Err(ApiError(
                AppError::new(
                    ErrorKind::BadRequest,
                    "invalid_query",
                    format!("the query string cannot be read: {}", rejection.body_text()),
                )
                .with_field("query"),
            )),
        }
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

pub fn too_large() -> AppError {
    too_large_for(MAX_BODY_BYTES)
}

fn too_large_for(max: usize) -> AppError {
    AppError::new(
        ErrorKind::PayloadTooLarge,
        "payload_too_large",
        format!("the body exceeds {max} bytes"),
    )
}

/// A body, when sent, must be JSON: `Content-Type: application/json` (or `…+json`). A missing
/// content type is accepted (some platforms leave it out); anything else is a 415.
pub fn require_json(headers: &HeaderMap) -> Result<(), AppError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorKind::UnsupportedMediaType,
            "unsupported_media_type",
            "the body must be JSON (Content-Type: application/json)",
        )
        .with_field("content-type"))
    }
}

/// Reads at most [`MAX_BODY_BYTES`]. A larger body (by its Content-Length or as it arrives)
/// is a 413, answered after the rest was drained within a bound.
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, AppError> {
    read_body_within(headers, body, MAX_BODY_BYTES).await
}

/// Reads at most `max` bytes (at most what is drained), as [`read_body`] does.
pub async fn read_body_within(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, AppError> {
    let max = max.min(DRAIN_BYTES);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_BYTES as u64) {
        // Too much to drain: answer at once (the sender may see the connection close).
        return Err(too_large_for(max));
    }
    let mut too_big = declared.is_some_and(|n| n > max as u64);
    let mut body = body;
    let mut kept: Vec<u8> = Vec::new();
    let mut seen: usize = 0;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_elapsed) if too_big => break,
            Err(_elapsed) => {
                return Err(AppError::new(
                    ErrorKind::BadRequest,
                    "body_timeout",
                    "the body did not arrive in time",
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) if too_big => break,
            Ok(Some(Err(e))) => {
                return Err(AppError::new(
                    ErrorKind::BadRequest,
                    "body_unreadable",
                    format!("the body could not be read: {e}"),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if !too_big && seen > max {
            too_big = true;
            kept = Vec::new();
        }
        if too_big {
            if seen > DRAIN_BYTES {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if too_big {
        Err(too_large_for(max))
    } else {
        Ok(Bytes::from(kept))
    }
}
