//! `/v1/jobs` (what is queued and what failed) and `/v1/bookings/{id}` (how a booking's
//! events were applied).

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use faktura_domain::jobs::JobState;

use super::{authenticate, json_response, limit, path_id, query_choice};
use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::jobs::{BookingDto, JobDto, JobListDto};
use crate::error::ApiError;
use crate::extract::{Params, PathParam};
use crate::guard::RequestId;

/// The tenant's jobs, newest first (`state=failed` lists what needs a person).
#[utoipa::path(get, path = "/v1/jobs", operation_id = "list_jobs", tag = "jobs",
    params(("state" = Option<String>, Query, description = "pending, running, done, failed"),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = JobListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let job_state = query_choice(
        &params,
        "state",
        JobState::parse,
        "pending, running, done, failed",
    )?;
    let page = state
        .queries
        .jobs(&c.tenant, job_state, params.get("cursor"), limit(&params)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &JobListDto {
            jobs: page.jobs.iter().map(JobDto::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

#[utoipa::path(get, path = "/v1/jobs/{id}", operation_id = "get_job", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = JobDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let job = state
        .queries
        .job(&c.tenant, &path_id(&id, "job_not_found")?)
        .await?;
    Ok(json_response(StatusCode::OK, &JobDto::from(&job)))
}

/// A booking: its events (and whether each is applied, held or rejected) and its documents.
#[utoipa::path(get, path = "/v1/bookings/{id}", operation_id = "get_booking", tag = "bookings", params(("id" = String, Path)),
    responses((status = 200, body = BookingDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn booking(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let record = state
        .queries
        .booking(&c.tenant, &path_id(&id, "booking_not_found")?)
        .await?;
    Ok(json_response(StatusCode::OK, &BookingDto::from(&record)))
}
