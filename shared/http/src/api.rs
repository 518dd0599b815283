//! The read API: invoices, their PDFs and XML, with the tenant's API key.

use std::str::FromStr;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::model::InvoiceStatus;
use faktura_domain::money::shorten;
use faktura_domain::ports::{InvoiceFilter, XmlSyntax};
use faktura_domain::values::Id;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Params, PathParam};
use crate::resources;

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 200;

fn unauthorized(message: &str) -> AppError {
    AppError::new(ErrorKind::Unauthorized, "unauthorized", message)
}

/// The tenant whose API key is presented as `Authorization: Bearer <key>`.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Id, AppError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("an API key is required (Authorization: Bearer <key>)"))?;
    let key = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized("use Authorization: Bearer <key>"))?;
    state
        .tenants
        .tenant_for_api_key(key)
        .await?
        .ok_or_else(|| unauthorized("the API key is not valid"))
}

fn invoice_id(raw: &str) -> Result<Id, AppError> {
    Id::from_str(raw).map_err(|_| AppError::not_found("invoice_not_found", "no such invoice"))
}

/// `inline` with the file name; file names are document numbers (a safe alphabet), and a name
/// a header cannot carry falls back to plain `inline`.
fn inline(file_name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("inline; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("inline"))
}

pub async fn get_invoice(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let stored = state.queries.invoice(&tenant_id, &invoice_id(&id)?).await?;
    Ok(axum::Json(resources::invoice_json(&stored)).into_response())
}

pub async fn get_invoice_pdf(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let (file_name, bytes) = state.queries.pdf(&tenant_id, &invoice_id(&id)?).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, inline(&file_name)),
        ],
        bytes,
    )
        .into_response())
}

/// The e-invoice XML: `?syntax=cii` (default; the stored legal original for ZUGFeRD and
/// XRechnung invoices) or `?syntax=ubl`.
pub async fn get_invoice_xml(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let syntax = match params.get("syntax") {
        None | Some("cii") => XmlSyntax::Cii,
        Some("ubl") => XmlSyntax::Ubl,
        Some(other) => {
            return Err(bad_query(
                "syntax",
                format!("'{}' is not one of cii, ubl", shorten(other)),
            )
            .into());
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
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            ),
            (header::CONTENT_DISPOSITION, inline(&file_name)),
        ],
        bytes,
    )
        .into_response())
}

fn bad_query(field: &str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::BadRequest, "invalid_query", message).with_field(field)
}

fn query_date(params: &Params, name: &str) -> Result<Option<NaiveDate>, AppError> {
    params
        .get(name)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                bad_query(name, format!("'{}' is not a date (YYYY-MM-DD)", shorten(v)))
            })
        })
        .transpose()
}

pub async fn list_invoices(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let tenant_id = authenticate(&state, &headers).await?;
    let status = params
        .get("status")
        .map(|s| {
            InvoiceStatus::parse(s).ok_or_else(|| {
                bad_query(
                    "status",
                    format!("'{}' is not one of issued, sent", shorten(s)),
                )
            })
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
        .list(&tenant_id, &filter, params.get("cursor"), limit)
        .await?;
    let invoices: Vec<_> = page.invoices.iter().map(resources::invoice_json).collect();
    Ok(
        axum::Json(json!({ "invoices": invoices, "next_cursor": page.next_cursor }))
            .into_response(),
    )
}
