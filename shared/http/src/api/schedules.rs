//! `/v1/schedules`: recurring invoices and instalment plans — create, list, read, pause,
//! resume, stop, change the items from the next period on, preview the next occurrences.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use faktura_domain::error::AppError;
use faktura_domain::money::shorten;
use faktura_domain::ports::ScheduleFilter;
use faktura_domain::schedule::ScheduleState;
use faktura_domain::service::commands::Command;
use faktura_domain::service::schedules::{ScheduleAction, ScheduleUpdate};
use faktura_domain::values::Id;

use super::documents::{WriteRoute, api_content, body_json, write};
use super::{authenticate, bad_query, json_response, limit, path_id};
use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::booking::items;
use crate::dto::schedules::{
    OccurrenceDto, PreviewDto, ScheduleDto, ScheduleListDto, ScheduleRequest,
    ScheduleUpdateRequest, schedule_spec,
};
use crate::error::ApiError;
use crate::extract::{Params, PathParam};
use crate::guard::RequestId;

/// At most this many occurrences in one preview.
const MAX_PREVIEW: usize = 120;

fn schedule_id(raw: &str) -> Result<Id, AppError> {
    path_id(raw, "schedule_not_found")
}

fn create_command(req: ScheduleRequest) -> Result<Command, AppError> {
    let spec = schedule_spec(req.schedule, "schedule.")?;
    let content = api_content(
        req.currency,
        req.prices,
        req.customer,
        req.items,
        req.reference,
        req.note,
    )?;
    Ok(Command::CreateSchedule { content, spec })
}

fn update_command(id: Id, req: ScheduleUpdateRequest) -> Result<Command, AppError> {
    let action = match req.action.as_deref() {
        None => None,
        Some("pause") => Some(ScheduleAction::Pause),
        Some("resume") => Some(ScheduleAction::Resume),
        Some("stop") => Some(ScheduleAction::Stop),
        Some(other) => {
            return Err(AppError::invalid(
                "action",
                format!("'{}' must be pause, resume or stop", shorten(other)),
            ));
        }
    };
    let items = req.items.map(|i| items(i, "")).transpose()?;
    if action.is_none() && items.is_none() {
        return Err(AppError::invalid(
            "action",
            "give an action (pause, resume, stop) or new items",
        ));
    }
    Ok(Command::UpdateSchedule {
        id,
        update: ScheduleUpdate { action, items },
    })
}

/// Create a recurring invoice or an instalment plan. Its first occurrence is billed when it
/// is due (today's at once).
#[utoipa::path(post, path = "/v1/schedules", operation_id = "create_schedule", tag = "schedules", request_body = ScheduleRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ScheduleDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let route = WriteRoute {
        method: "POST",
        path: "/v1/schedules",
        ok: StatusCode::CREATED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        body_json::<ScheduleRequest>(bytes).and_then(create_command)
    })
    .await
}

/// Pause, resume or stop a schedule, or bill other items from the next occurrence on.
#[utoipa::path(patch, path = "/v1/schedules/{id}", operation_id = "update_schedule", tag = "schedules", request_body = ScheduleUpdateRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ScheduleDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/schedules/{id}");
    let route = WriteRoute {
        method: "PATCH",
        path: &path,
        ok: StatusCode::OK,
        json: true,
    };
    let id = schedule_id(&id);
    write(&state, &request_id, &headers, body, route, move |bytes| {
        let id = id?;
        body_json::<ScheduleUpdateRequest>(bytes).and_then(|r| update_command(id, r))
    })
    .await
}

/// The tenant's schedules, oldest first.
#[utoipa::path(get, path = "/v1/schedules", operation_id = "list_schedules", tag = "schedules",
    params(("state" = Option<String>, Query, description = "active, paused, stopped, completed"),
           ("customer" = Option<String>, Query, description = "a customer id (ext:… or email:…)"),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ScheduleListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let filter = ScheduleFilter {
        state: params
            .get("state")
            .map(|s| {
                ScheduleState::parse(s).ok_or_else(|| {
                    bad_query(
                        "state",
                        format!(
                            "'{}' is not one of active, paused, stopped, completed",
                            shorten(s)
                        ),
                    )
                })
            })
            .transpose()?,
        customer_key: params.get("customer").map(str::to_string),
    };
    let page = state
        .queries
        .schedules(&c.tenant, &filter, params.get("cursor"), limit(&params)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &ScheduleListDto {
            schedules: page.schedules.iter().map(ScheduleDto::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

#[utoipa::path(get, path = "/v1/schedules/{id}", operation_id = "get_schedule", tag = "schedules", params(("id" = String, Path)),
    responses((status = 200, body = ScheduleDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let schedule = state
        .queries
        .schedule(&c.tenant, &schedule_id(&id)?)
        .await?;
    Ok(json_response(StatusCode::OK, &ScheduleDto::from(&schedule)))
}

/// The next occurrences (default 12) with their dates and amounts, as they would be billed
/// now.
#[utoipa::path(get, path = "/v1/schedules/{id}/preview", operation_id = "preview_schedule", tag = "schedules",
    params(("id" = String, Path), ("count" = Option<u32>, Query, description = "1 to 120, default 12")),
    responses((status = 200, body = PreviewDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let count = match params.get("count") {
        None => 12,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PREVIEW).contains(n))
            .ok_or_else(|| {
                bad_query(
                    "count",
                    format!("count is a number from 1 to {MAX_PREVIEW}"),
                )
            })?,
    };
    let id = schedule_id(&id)?;
    let occurrences = state.queries.preview(&c.tenant, &id, count).await?;
    Ok(json_response(
        StatusCode::OK,
        &PreviewDto {
            schedule_id: id.to_string(),
            occurrences: occurrences.iter().map(OccurrenceDto::from).collect(),
        },
    ))
}
