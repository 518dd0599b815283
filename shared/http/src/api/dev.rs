//! `POST /v1/dev/clock`: local mode's simulated clock (`faktura serve --simulated-clock`).
//! The route exists only when the runner gives a [`DevClock`]; never on AWS.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Months, TimeDelta, Utc};
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::money::shorten;

use super::documents::body_json;
use super::{authenticate, json_response};
use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::booking::instant;
use crate::dto::schedules::{ClockDto, ClockRequest};
use crate::error::ApiError;
use crate::extract::{read_body, require_json};
use crate::guard::RequestId;

/// What moving the clock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockMoved {
    pub now: DateTime<Utc>,
    pub jobs_run: usize,
    pub stops: usize,
}

/// Where to move the clock, from the time it shows when its turn comes.
pub type Target = Box<dyn FnOnce(DateTime<Utc>) -> Result<DateTime<Utc>, AppError> + Send>;

/// A clock the runner moves on request, running the work due on the way.
#[async_trait]
pub trait DevClock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Moves to `to`, stopping at each due instant on the way to run what is due then;
    /// returns once everything due up to `to` has run.
    async fn move_to(&self, to: DateTime<Utc>) -> Result<ClockMoved, AppError> {
        self.move_with(Box::new(move |_| Ok(to))).await
    }
    /// Moves to where `target` says from the time when this move's turn comes (moves run one
    /// at a time, so two "advance one month" requests move two months).
    async fn move_with(&self, target: Target) -> Result<ClockMoved, AppError>;
}

/// The latest instant the simulated clock goes to (dates stay four-digit years).
pub const LATEST: &str = "2999-12-31T23:59:59Z";

/// Refuses a target before `now` or after [`LATEST`].
pub fn check_target(now: DateTime<Utc>, to: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    let latest: DateTime<Utc> = LATEST.parse().unwrap_or(DateTime::<Utc>::MAX_UTC);
    if to < now {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "clock_backwards",
            format!(
                "the clock is at {}; it only moves forward",
                now.to_rfc3339()
            ),
        )
        .with_field("to"));
    }
    if to > latest {
        return Err(AppError::invalid(
            "to",
            format!("the simulated clock goes up to {LATEST}"),
        ));
    }
    Ok(to)
}

pub type SharedDevClock = Arc<dyn DevClock>;

/// `now` + an ISO 8601 duration (`P1D`, `PT6H`, `P1M`: months and years by the calendar).
pub fn advance(now: DateTime<Utc>, text: &str) -> Result<DateTime<Utc>, AppError> {
    let refuse = || {
        AppError::invalid(
            "advance",
            format!(
                "'{}' is not an ISO 8601 duration such as P1D, PT6H or P1M",
                shorten(text)
            ),
        )
    };
    // The parser ignores what follows a duration; only its own characters are allowed.
    if !text.starts_with('P')
        || text.len() < 3
        || !text
            .chars()
            .all(|c| c.is_ascii_digit() || "PYMWDTHS".contains(c))
    {
        return Err(refuse());
    }
    let parsed = iso8601::duration(text).map_err(|_| refuse())?;
    let target = match parsed {
        iso8601::Duration::Weeks(w) => now.checked_add_signed(TimeDelta::weeks(i64::from(w))),
        iso8601::Duration::YMDHMS {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond,
        } => year
            .checked_mul(12)
            .and_then(|m| m.checked_add(month))
            .and_then(|m| now.checked_add_months(Months::new(m)))
            .and_then(|t| {
                t.checked_add_signed(
                    TimeDelta::days(i64::from(day))
                        + TimeDelta::hours(i64::from(hour))
                        + TimeDelta::minutes(i64::from(minute))
                        + TimeDelta::seconds(i64::from(second))
                        + TimeDelta::milliseconds(i64::from(millisecond)),
                )
            }),
    };
    let target = target.ok_or_else(refuse)?;
    if target.timestamp() > 253_402_300_799 {
        return Err(AppError::invalid("advance", "that is past the year 9999"));
    }
    Ok(target)
}

/// Move the simulated clock forward (local mode with `--simulated-clock` only). The answer
/// comes once every job due up to the new time has run, each at its own time.
#[utoipa::path(post, path = "/v1/dev/clock", operation_id = "move_clock", tag = "dev", request_body = ClockRequest,
    responses((status = 200, body = ClockDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn move_clock(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&headers, body).await?;
    require_json(&headers)?;
    authenticate(&state, &headers, Some(&request_id)).await?;
    let clock = state
        .dev_clock
        .clone()
        .ok_or_else(|| AppError::not_found("route_not_found", "no such route"))?;
    let req = body_json::<ClockRequest>(&bytes)?;
    let target: Target = match (req.advance, req.to) {
        (Some(a), None) => {
            // Checked now, applied to the time the move starts from.
            advance(clock.now(), &a)?;
            Box::new(move |now| check_target(now, advance(now, &a)?))
        }
        (None, Some(t)) => {
            let to = instant("to", &t)?;
            check_target(clock.now(), to)?;
            Box::new(move |now| check_target(now, to))
        }
        _ => {
            return Err(AppError::invalid(
                "advance",
                "give advance (a duration) or to (an instant)",
            )
            .into());
        }
    };
    // In a task of its own: a request that outlives the API's time limit is answered 503, but
    // the clock's run is not cut off half way (asking again waits for it and goes on).
    let moved = tokio::spawn(async move { clock.move_with(target).await })
        .await
        .map_err(|e| AppError::new(ErrorKind::Internal, "clock_stopped", e.to_string()))??;
    Ok(json_response(
        StatusCode::OK,
        &ClockDto {
            now: moved.now.to_rfc3339(),
            jobs_run: moved.jobs_run,
            stops: moved.stops,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_move_by_the_calendar() {
        let t: DateTime<Utc> = "2027-01-31T07:00:00Z".parse().unwrap();
        assert_eq!(
            advance(t, "P1D").unwrap().to_rfc3339(),
            "2027-02-01T07:00:00+00:00"
        );
        assert_eq!(
            advance(t, "P1M").unwrap().to_rfc3339(),
            "2027-02-28T07:00:00+00:00"
        );
        assert_eq!(
            advance(t, "PT6H").unwrap().to_rfc3339(),
            "2027-01-31T13:00:00+00:00"
        );
        assert_eq!(
            advance(t, "P2W").unwrap().to_rfc3339(),
            "2027-02-14T07:00:00+00:00"
        );
        assert_eq!(
            advance(t, "P1Y").unwrap().to_rfc3339(),
            "2028-01-31T07:00:00+00:00"
        );
        for bad in ["", "P", "1D", "P1Dx", "PxD", "P-1D", "P99999999Y"] {
            assert!(advance(t, bad).is_err(), "{bad}");
        }
    }
}
