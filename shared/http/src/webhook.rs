//! `POST /v1/webhooks/{tenant_id}/bookings`: a booking platform's signed event.

use std::str::FromStr;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::values::Id;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::booking::parse_booking_event;
use crate::error::ApiError;
use crate::extract::{PathParam, read_body, require_json};
use crate::signature::{self, SignedHeaders, WebhookSecret};

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The answer to an accepted event (and to every retry of it).
#[derive(Serialize, ToSchema)]
pub struct AcceptedDto {
    pub booking_id: String,
    /// `booking.created`, `booking.paid`, `booking.cancelled` or `booking.updated`.
    pub event: String,
    /// `accepted`; `held` (it came before its booking.created and is applied right after
    /// it); `unchanged` (an update with the booking's content).
    pub status: String,
    /// The document the event makes (invoice, proforma, final invoice, credit note).
    pub document_id: Option<String>,
    pub document_kind: Option<String>,
    /// The invoice of a booking billed at once (as release 1 answered).
    pub invoice_id: Option<String>,
}

/// A booking platform's event, signed per Standard Webhooks.
#[utoipa::path(post, path = "/v1/webhooks/{tenant_id}/bookings", tag = "webhook",
    request_body = crate::dto::booking::WireEvent,
    params(("tenant_id" = String, Path), ("webhook-id" = String, Header), ("webhook-timestamp" = String, Header),
           ("webhook-signature" = String, Header)),
    responses((status = 202, body = AcceptedDto), (status = "default", body = ErrorBody)))]
pub async fn booking_webhook(
    State(state): State<AppState>,
    PathParam(tenant_id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body).await?;
    require_json(&headers)?;
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
    let now = state.webhook_clock.now().timestamp();
    signature::verify(&secrets, &signed, &body, now)
        .map_err(|e| AppError::new(ErrorKind::Unauthorized, e.code(), e.message()))?;

    let event = parse_booking_event(&body)?;
    let accepted = state.intake.receive(&tenant, signed.id, event).await?;
    tracing::info!(tenant_id = %tenant_id, booking_id = %accepted.booking_id, event = accepted.event, status = accepted.status, webhook_id = signed.id.unwrap_or_default(), "webhook accepted");
    let dto = AcceptedDto {
        booking_id: accepted.booking_id.as_str().to_string(),
        event: accepted.event.to_string(),
        status: accepted.status.to_string(),
        document_id: accepted.document_id.map(|d| d.as_str().to_string()),
        document_kind: accepted.document_kind.map(str::to_string),
        invoice_id: accepted.invoice_id.map(|d| d.as_str().to_string()),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(dto)).into_response())
}
