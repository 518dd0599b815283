//! `POST /v1/webhooks/{tenant_id}/bookings`: a booking platform's signed event.

use std::str::FromStr;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::values::Id;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{PathParam, read_body, require_json};
use crate::signature::{self, SignedHeaders, WebhookSecret};

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

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
    let now = state.clock.now().timestamp();
    signature::verify(&secrets, &signed, &body, now)
        .map_err(|e| AppError::new(ErrorKind::Unauthorized, e.code(), e.message()))?;

    let accepted = state.intake.receive(&tenant, &body).await?;
    tracing::info!(tenant_id = %tenant_id, booking_id = %accepted.booking_id, invoice_id = %accepted.invoice_id, webhook_id = signed.id.unwrap_or_default(), "webhook accepted");
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)).into_response())
}
