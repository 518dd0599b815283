//! The HTTP surface of Faktura: the signed booking webhook and the read API.
//!
//! The same routes serve the local runner (`faktura serve`, [`router`]) and, through
//! `lambda_http`, the webhook and API Lambda functions ([`webhook_router`], [`api_router`]).
//! Every error body is `{"error": {"code", "message", "field"}}`.

pub mod resources;
pub mod signature;
pub mod tenants;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::model::InvoiceStatus;
use faktura_domain::ports::{
    Clock, EInvoiceEncoder, InvoiceFilter, Stores, TenantDirectory, XmlSyntax,
};
use faktura_domain::service::{BookingIntake, InvoiceQueries};
use faktura_domain::values::Id;
use serde_json::json;

use crate::signature::{SignedHeaders, WebhookSecret};

/// Webhook bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;

/// What the handlers need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub tenants: Arc<dyn TenantDirectory>,
    pub intake: BookingIntake,
    pub queries: InvoiceQueries,
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// The handlers' state over one set of stores (what every entry point builds).
    pub fn from_stores(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> AppState {
        AppState {
            tenants: stores.tenants.clone(),
            clock: stores.clock.clone(),
            intake: BookingIntake::new(stores.clone(), einvoice.clone()),
            queries: InvoiceQueries::new(stores, einvoice),
        }
    }
}

/// Every route: what the local runner serves.
pub fn router(state: AppState) -> Router {
    routes(state, Surface::Everything)
}

/// The webhook route (and `/health`): the webhook Lambda's surface.
pub fn webhook_router(state: AppState) -> Router {
    routes(state, Surface::Webhook)
}

/// The read API (and `/health`): the API Lambda's surface.
pub fn api_router(state: AppState) -> Router {
    routes(state, Surface::Api)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Surface {
    Webhook,
    Api,
    Everything,
}

fn routes(state: AppState, surface: Surface) -> Router {
    let mut router = Router::new().route("/health", get(|| async { "ok" }));
    if surface != Surface::Api {
        router = router.route("/v1/webhooks/{tenant_id}/bookings", post(booking_webhook));
    }
    if surface != Surface::Webhook {
        router = router
            .route("/v1/invoices", get(list_invoices))
            .route("/v1/invoices/{id}", get(get_invoice))
            .route("/v1/invoices/{id}/pdf", get(get_invoice_pdf))
            .route("/v1/invoices/{id}/xml", get(get_invoice_xml));
    }
    router
        .fallback(|| async {
            error_response(&AppError::not_found("route_not_found", "no such route"))
        })
        .method_not_allowed_fallback(|| async {
            error_response(&AppError::new(
                ErrorKind::BadRequest,
                "method_not_allowed",
                "this route does not take that method",
            ))
            .map_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .with_state(state)
}

trait MapStatus {
    fn map_status(self, status: StatusCode) -> Response;
}

impl MapStatus for Response {
    fn map_status(mut self, status: StatusCode) -> Response {
        *self.status_mut() = status;
        self
    }
}

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn error_response(e: &AppError) -> Response {
    let status = status_of(e.kind);
    let message = if e.kind == ErrorKind::Internal {
        // Details of internal failures go to the log, not to the caller.
        tracing::error!(code = e.code, error = %e.message, "internal error");
        "internal error".to_string()
    } else {
        e.message.clone()
    };
    let body = json!({ "error": { "code": e.code, "message": message, "field": e.field } });
    (status, axum::Json(body)).into_response()
}

struct ApiError(AppError);

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

fn unauthorized(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unauthorized, code, message)
}

fn too_large() -> AppError {
    AppError::new(
        ErrorKind::PayloadTooLarge,
        "payload_too_large",
        format!("the body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

/// Reads at most [`MAX_BODY_BYTES`]; refuses early on a larger Content-Length.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, AppError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn booking_webhook(
    State(state): State<AppState>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body).await?;
    let unknown = || AppError::not_found("tenant_not_found", "no such tenant");
    let tenant_id = Id::from_str(&tenant_id).map_err(|_| unknown())?;
    let tenant = state
        .tenants
        .tenant(&tenant_id)
        .await?
        .ok_or_else(unknown)?;

    let secrets: Vec<WebhookSecret> = tenant
        .webhook_secrets
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let signed = SignedHeaders {
        id: header_str(&headers, "webhook-id"),
        timestamp: header_str(&headers, "webhook-timestamp"),
        signature: header_str(&headers, "webhook-signature"),
    };
    let now = state.clock.now().timestamp();
    signature::verify(&secrets, &signed, &body, now)
        .map_err(|e| unauthorized(e.code(), e.message()))?;

    let accepted = state.intake.receive(&tenant, &body).await?;
    tracing::info!(tenant_id = %tenant_id, booking_id = %accepted.booking_id, invoice_id = %accepted.invoice_id, webhook_id = signed.id.unwrap_or_default(), "webhook accepted");
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)).into_response())
}

/// The tenant whose API key is presented as `Authorization: Bearer <key>`.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Id, AppError> {
    let value = header_str(headers, header::AUTHORIZATION.as_str()).ok_or_else(|| {
        unauthorized(
            "unauthorized",
            "an API key is required (Authorization: Bearer <key>)",
        )
    })?;
    let key = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized("unauthorized", "use Authorization: Bearer <key>"))?;
    state
        .tenants
        .tenant_for_api_key(key)
        .await?
        .ok_or_else(|| unauthorized("unauthorized", "the API key is not valid"))
}

fn invoice_id(raw: &str) -> Result<Id, AppError> {
    Id::from_str(raw).map_err(|_| AppError::not_found("invoice_not_found", "no such invoice"))
}

async fn get_invoice(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let stored = state.queries.invoice(&tenant_id, &invoice_id(&id)?).await?;
    Ok(axum::Json(resources::invoice_json(&stored)).into_response())
}

async fn get_invoice_pdf(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let (file_name, bytes) = state.queries.pdf(&tenant_id, &invoice_id(&id)?).await?;
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("inline"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// The e-invoice XML: `?syntax=cii` (default; the stored legal original for ZUGFeRD and
/// XRechnung invoices) or `?syntax=ubl`.
async fn get_invoice_xml(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let syntax = match params.get("syntax").map(String::as_str) {
        None | Some("cii") => XmlSyntax::Cii,
        Some("ubl") => XmlSyntax::Ubl,
        Some(other) => {
            return Err(bad_query("syntax", format!("'{other}' is not one of cii, ubl")).into());
        }
    };
    let (file_name, bytes) = state
        .queries
        .xml(&tenant_id, &invoice_id(&id)?, syntax)
        .await?;
    let file_name = match syntax {
        XmlSyntax::Cii => file_name,
        XmlSyntax::Ubl => file_name.replace(".xml", ".ubl.xml"),
    };
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("inline"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

fn bad_query(field: &str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::BadRequest, "invalid_query", message).with_field(field)
}

fn query_date(params: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, AppError> {
    params
        .get(name)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| bad_query(name, format!("'{v}' is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

async fn list_invoices(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let status = params
        .get("status")
        .map(|s| {
            InvoiceStatus::parse(s)
                .ok_or_else(|| bad_query("status", format!("'{s}' is not one of issued, sent")))
        })
        .transpose()?;
    let customer_key = params.get("customer").map(|c| {
        if c.contains('@') {
            format!("email:{}", c.to_lowercase())
        } else {
            format!("ext:{c}")
        }
    });
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad_query("limit", format!("limit is a number from 1 to {MAX_PAGE}")))?,
    };
    let filter = InvoiceFilter {
        customer_key,
        status,
        from: query_date(&params, "from")?,
        to: query_date(&params, "to")?,
    };
    let page = state
        .queries
        .list(
            &tenant_id,
            &filter,
            params.get("cursor").map(String::as_str),
            limit,
        )
        .await?;
    let invoices: Vec<_> = page.invoices.iter().map(resources::invoice_json).collect();
    Ok(
        axum::Json(json!({ "invoices": invoices, "next_cursor": page.next_cursor }))
            .into_response(),
    )
}
