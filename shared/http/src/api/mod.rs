//! The API: documents, customers, bookings and jobs, with the tenant's API key. Writes take an
//! `Idempotency-Key` (same key and request: the first answer again; same key, other request:
//! `409`; kept 48 h).

pub mod bank;
pub mod collective;
pub mod customers;
pub mod dev;
pub mod documents;
pub mod jobs;
pub mod schedules;

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faktura_domain::audit::Cause;
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::money::shorten;
use faktura_domain::ports::{api_key_id, sha256_hex};
use faktura_domain::service::commands::{Answered, Idem, Outcome};
use faktura_domain::values::Id;
use serde::Serialize;

use crate::AppState;
use crate::dto::customers::CustomerDto;
use crate::dto::documents::DocumentDto;
use crate::dto::jobs::JobDto;
use crate::error::error_body;
use crate::extract::Params;
use crate::guard::RequestId;

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

fn unauthorized(message: &str) -> AppError {
    AppError::new(ErrorKind::Unauthorized, "unauthorized", message)
}

/// Who calls: the tenant, and the key's id for the audit trail (never the key).
pub struct Caller {
    pub tenant: Id,
    pub cause: Cause,
    /// The tenant's zone: "today" (overdue, idempotency expiry) is its local date.
    pub time_zone: faktura_domain::values::TimeZone,
}

impl Caller {
    /// The caller's tenant's local date now.
    pub fn today(&self, state: &AppState) -> chrono::NaiveDate {
        self.time_zone.date_of(state.clock.now())
    }
}

/// The tenant whose API key is presented as `Authorization: Bearer <key>`.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    request_id: Option<&RequestId>,
) -> Result<Caller, AppError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("an API key is required (Authorization: Bearer <key>)"))?;
    let key = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized("use Authorization: Bearer <key>"))?;
    let tenant = state
        .tenants
        .tenant_for_api_key(key)
        .await?
        .ok_or_else(|| unauthorized("the API key is not valid"))?;
    let time_zone = state
        .tenants
        .tenant(&tenant)
        .await?
        .map(|r| r.tenant.settings.time_zone)
        .unwrap_or_default();
    Ok(Caller {
        tenant,
        time_zone,
        cause: Cause::ApiKey {
            key_id: api_key_id(key),
            request_id: request_id.map(|r| r.0.clone()),
        },
    })
}

pub fn bad_query(field: &str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::BadRequest, "invalid_query", message).with_field(field)
}

/// An optional query parameter that is one of a fixed set (`state=failed`): parsed by
/// `parse`, else a `400` naming the parameter and listing `choices`.
pub fn query_choice<T>(
    params: &Params,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    choices: &str,
) -> Result<Option<T>, AppError> {
    params
        .get(name)
        .map(|v| {
            parse(v)
                .ok_or_else(|| bad_query(name, format!("'{}' is not one of {choices}", shorten(v))))
        })
        .transpose()
}

/// `limit`: 1 to [`MAX_PAGE`], default [`DEFAULT_PAGE`].
pub fn limit(params: &Params) -> Result<usize, AppError> {
    match params.get("limit") {
        None => Ok(DEFAULT_PAGE),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad_query("limit", format!("limit is a number from 1 to {MAX_PAGE}"))),
    }
}

/// A path id that cannot name anything is "not found", like an unknown one.
pub fn path_id(raw: &str, code: &'static str) -> Result<Id, AppError> {
    raw.parse()
        .map_err(|_| AppError::not_found(code, format!("no such resource '{}'", shorten(raw))))
}

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}

/// How a command's outcome is answered (and stored under its idempotency key).
pub fn render_outcome(
    ok_status: StatusCode,
    today: chrono::NaiveDate,
    r: &Result<Outcome, AppError>,
) -> (u16, String) {
    match r {
        Ok(Outcome::Document(d)) => (
            ok_status.as_u16(),
            serde_json::to_string(&DocumentDto::new(d, today)).unwrap_or_default(),
        ),
        Ok(Outcome::Job(j)) => (
            StatusCode::ACCEPTED.as_u16(),
            serde_json::to_string(&JobDto::from(j)).unwrap_or_default(),
        ),
        Ok(Outcome::Customer(c)) => (
            ok_status.as_u16(),
            serde_json::to_string(&CustomerDto::from(c)).unwrap_or_default(),
        ),
        Ok(Outcome::Hold(h)) => (
            ok_status.as_u16(),
            serde_json::to_string(&crate::dto::customers::DunningHoldDto::from(h))
                .unwrap_or_default(),
        ),
        Ok(Outcome::Schedule(s)) => (
            ok_status.as_u16(),
            serde_json::to_string(&crate::dto::schedules::ScheduleDto::from(s.as_ref()))
                .unwrap_or_default(),
        ),
        Ok(Outcome::Items(items)) => (
            ok_status.as_u16(),
            serde_json::to_string(&crate::dto::collective::ItemListDto {
                items: items
                    .iter()
                    .map(crate::dto::collective::ItemDto::from)
                    .collect(),
            })
            .unwrap_or_default(),
        ),
        Err(e) => (crate::status_of(e.kind).as_u16(), error_body(e).to_string()),
    }
}

/// The `Idempotency-Key` of a write, with what identifies its request.
pub fn idempotency(
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
    ok_status: StatusCode,
    today: chrono::NaiveDate,
) -> Result<Option<Idem>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            AppError::new(
                ErrorKind::BadRequest,
                "invalid_idempotency_key",
                "an Idempotency-Key is 1 to 255 visible ASCII characters",
            )
            .with_field("Idempotency-Key")
        })?;
    let mut request = format!("{method} {path}\n").into_bytes();
    request.extend_from_slice(body);
    Ok(Some(Idem {
        key: key.to_string(),
        request_hash: sha256_hex(&request),
        respond: Arc::new(move |r| render_outcome(ok_status, today, r)),
    }))
}

/// Answers a command: the fresh outcome, or the stored answer of its key (marked).
pub fn answer(answered: Answered, ok_status: StatusCode, today: chrono::NaiveDate) -> Response {
    match answered {
        Answered::Fresh(outcome) => {
            let (status, body) = render_outcome(ok_status, today, &Ok(*outcome));
            raw_json(status, body, false)
        }
        Answered::Replayed(record) => raw_json(record.status, record.body, true),
    }
}

fn raw_json(status: u16, body: String, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        if !status.is_success() {
            // A stored refusal is in the error format already.
            response.extensions_mut().insert(crate::error::Formatted);
        }
    }
    response
}

/// `inline` with the file name; file names are document numbers (a safe alphabet), and a name
/// a header cannot carry falls back to plain `inline`.
pub fn inline(file_name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("inline; filename=\"{file_name}\""))
        .unwrap_or(HeaderValue::from_static("inline"))
}
