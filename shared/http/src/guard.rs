//! The outermost layer of every route (defence in depth): whatever happens inside a request, the
//! caller gets an answer in the error format and the log has a line with the request id.
//!
//! - a panic in a handler becomes a JSON `500` (the connection is never just dropped);
//! - a request that runs longer than the state's `request_timeout` becomes a JSON `503 timeout`;
//! - an error answer the framework made itself (an extractor's rejection, a fallback) is
//!   rewritten into the error format with the same status;
//! - every answer carries `x-request-id`: the caller's (when it is a sane token), the Lambda
//!   request id (set by the function as a [`RequestId`] extension), or a fresh one.
//!
//! Panics are caught by unwinding, so release builds must keep `panic = "unwind"` (the
//! workspace profile says so; cargo-lambda would otherwise choose abort).

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use faktura_domain::error::{AppError, ErrorKind};
use futures_util::FutureExt;
use tracing::Instrument;

use crate::AppState;
use crate::error::{Formatted, error_for_status, error_response};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of one request, as logged and answered in `x-request-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A caller's id is kept only when it is a short token of safe characters (it goes into logs
    /// and a header).
    fn from_header(value: &HeaderValue) -> Option<RequestId> {
        let text = value.to_str().ok()?;
        let ok = !text.is_empty()
            && text.len() <= 128
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        ok.then(|| RequestId(text.to_string()))
    }

    fn generate() -> RequestId {
        RequestId(uuid::Uuid::new_v4().simple().to_string())
    }
}

/// How long a request may take before it is answered `503 timeout` (API Gateway's HTTP API
/// gives up after 30 s; answer before it does).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(29);

pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .cloned()
        .or_else(|| {
            request
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(RequestId::from_header)
        })
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(request_id.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %request_id.0);
    let run = AssertUnwindSafe(next.run(request).instrument(span)).catch_unwind();
    let mut response = match tokio::time::timeout(state.request_timeout, run).await {
        Ok(Ok(response)) => in_error_format(response),
        Ok(Err(_panic)) => {
            // The panic's message can quote customer text: it stays out of the log (the panic
            // hook of the process logs where it happened).
            tracing::error!(request_id = %request_id.0, %method, path = %loggable(&path), "handler panicked; answered 500");
            error_response(&AppError::new(
                ErrorKind::Internal,
                "internal",
                "the server failed",
            ))
        }
        Err(_elapsed) => {
            tracing::error!(request_id = %request_id.0, %method, path = %loggable(&path), timeout_ms = state.request_timeout.as_millis() as u64, "request timed out; answered 503");
            error_response(&AppError::new(
                ErrorKind::Unavailable,
                "timeout",
                "the request took too long; retry later",
            ))
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Error answers that do not carry our body yet get it, with their status kept.
fn in_error_format(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Formatted>().is_some()
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut formatted = error_response(&error_for_status(status));
    *formatted.status_mut() = status;
    if let Some(allow) = allow {
        formatted.headers_mut().insert(header::ALLOW, allow);
    }
    formatted
}

/// Paths name tenants and invoices, never people, but may hold anything a client typed: keep
/// the log line short and printable.
fn loggable(path: &str) -> String {
    path.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Logs panics as one JSON-able line with their location only (the message may quote
/// customer text), then lets the default machinery unwind.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic");
    }));
}
