//! Schedules (recurring invoices, instalment plans) on the wire: the `schedule` of a booking's
//! `billing` and of `POST /v1/schedules`, the schedule as the API shows it, its preview, and
//! the simulated clock of local mode.

use faktura_domain::error::AppError;
use faktura_domain::money::shorten;
use faktura_domain::schedule::{
    End, Interval, MAX_OCCURRENCES, MissedPeriods, Mode, Schedule, ScheduleSpec,
};
use faktura_domain::service::schedules::Occurrence;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::booking::{WireCustomer, WireItem, date, whole_number};

/// When and how long a schedule bills.
/// Unknown fields are refused: a misspelt `count` must not make an open-ended schedule.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "interval": "month", "count": 10 }))]
pub struct WireSchedule {
    /// `week`, `month`, `quarter` or `year`.
    #[schema(schema_with = super::values::interval)]
    pub interval: String,
    /// `instalments` (the items' total split into `count` invoices whose cents add up exactly)
    /// or `recurring` (the items every period). Default: `instalments` with a `count`, else
    /// `recurring`.
    #[serde(default)]
    #[schema(schema_with = super::values::schedule_mode_or_null)]
    pub mode: Option<String>,
    /// How many occurrences (instalments: required).
    #[serde(default, deserialize_with = "optional_whole")]
    #[schema(minimum = 1, maximum = 2080)]
    pub count: Option<u32>,
    /// The last date an occurrence may fall on (recurring; without `count` and `until` it
    /// bills until stopped).
    #[serde(default)]
    #[schema(format = Date)]
    pub until: Option<String>,
    /// The first occurrence's date (default: today in the tenant's time zone; a booking's:
    /// the day it was booked). Later ones fall on the same day of the period, clamped to the
    /// month's end.
    #[serde(default)]
    #[schema(format = Date)]
    pub anchor: Option<String>,
    /// After an outage: `catch_up` (default: every missed period is billed, in order) or
    /// `skip` (only the latest due one).
    #[serde(default)]
    #[schema(schema_with = super::values::missed_or_null)]
    pub missed: Option<String>,
    /// Days to pay each invoice (default: the tenant's).
    #[serde(default, deserialize_with = "optional_whole")]
    #[schema(minimum = 0, maximum = 365)]
    pub payment_terms_days: Option<u16>,
}

fn optional_whole<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    #[derive(Deserialize)]
    struct Whole<T: TryFrom<u64>>(#[serde(deserialize_with = "whole_number")] T);
    Option::<Whole<T>>::deserialize(d).map(|o| o.map(|w| w.0))
}

/// The domain's spec of a wire schedule; fields are named `{p}interval` and so on.
pub fn schedule_spec(w: WireSchedule, p: &str) -> Result<ScheduleSpec, AppError> {
    let f = |name: &str| format!("{p}{name}");
    let interval = Interval::parse(&w.interval).ok_or_else(|| {
        AppError::invalid(
            f("interval"),
            format!(
                "'{}' must be week, month, quarter or year",
                shorten(&w.interval)
            ),
        )
    })?;
    let until = w
        .until
        .as_deref()
        .map(|d| date(&f("until"), d))
        .transpose()?;
    let anchor = w
        .anchor
        .as_deref()
        .map(|d| date(&f("anchor"), d))
        .transpose()?;
    let mode = match w.mode.as_deref() {
        None if w.count.is_some() && until.is_none() => Mode::Instalments,
        None => Mode::Recurring,
        Some("instalments") => Mode::Instalments,
        Some("recurring") => Mode::Recurring,
        Some(other) => {
            return Err(AppError::invalid(
                f("mode"),
                format!("'{}' must be instalments or recurring", shorten(other)),
            ));
        }
    };
    let end = match (w.count, until) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                f("until"),
                "give count or until, not both",
            ));
        }
        (Some(count), None) => {
            if count == 0 || count > MAX_OCCURRENCES {
                return Err(AppError::invalid(
                    f("count"),
                    format!("count must be between 1 and {MAX_OCCURRENCES}"),
                ));
            }
            End::After { count }
        }
        (None, Some(date)) => End::On { date },
        (None, None) => End::Never,
    };
    if mode == Mode::Instalments && !matches!(end, End::After { .. }) {
        return Err(AppError::invalid(
            f("count"),
            "an instalment plan needs a count (how many instalments)",
        ));
    }
    let missed = match w.missed.as_deref() {
        None | Some("catch_up") => MissedPeriods::CatchUp,
        Some("skip") => MissedPeriods::Skip,
        Some(other) => {
            return Err(AppError::invalid(
                f("missed"),
                format!("'{}' must be catch_up or skip", shorten(other)),
            ));
        }
    };
    if w.payment_terms_days.is_some_and(|d| d > 365) {
        return Err(AppError::invalid(
            f("payment_terms_days"),
            "at most 365 days",
        ));
    }
    Ok(ScheduleSpec {
        mode,
        interval,
        anchor,
        end,
        missed,
        payment_terms_days: w.payment_terms_days,
    })
}

/// `POST /v1/schedules`: a customer, the items, and when to bill them.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "currency": "EUR",
    "customer": {
        "id": "c-1001", "name": "Erika Mustermann", "email": "erika@example.org",
        "address": { "line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE" }
    },
    "items": [{ "description": "Yoga teacher training 2027", "quantity": "1", "unit_price": "2400.00" }],
    "schedule": { "interval": "month", "count": 10 }
}))]
pub struct ScheduleRequest {
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// `net` or `gross` (default: the tenant's).
    #[serde(default)]
    #[schema(schema_with = super::values::price_basis_or_null)]
    pub prices: Option<String>,
    pub customer: WireCustomer,
    pub items: Vec<WireItem>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    pub schedule: WireSchedule,
}

/// `PATCH /v1/schedules/{id}`: pause, resume or stop it, or bill other items from the next
/// occurrence on (recurring schedules).
#[derive(Deserialize, ToSchema, Default)]
#[schema(example = json!({ "action": "pause" }))]
pub struct ScheduleUpdateRequest {
    /// `pause`, `resume` or `stop`.
    #[serde(default)]
    #[schema(schema_with = super::values::schedule_action_or_null)]
    pub action: Option<String>,
    #[serde(default)]
    pub items: Option<Vec<WireItem>>,
}

#[derive(Serialize, ToSchema)]
pub struct BilledDto {
    /// 0-based.
    pub occurrence: u32,
    pub document_id: String,
    #[schema(format = DateTime)]
    pub billed_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleDto {
    pub id: String,
    /// `active`, `paused`, `stopped`, `completed`.
    #[schema(schema_with = super::values::schedule_state)]
    pub state: String,
    /// `instalments` or `recurring`.
    #[schema(schema_with = super::values::schedule_mode)]
    pub mode: String,
    #[schema(schema_with = super::values::interval)]
    pub interval: String,
    #[schema(format = Date)]
    pub anchor: String,
    /// Occurrences in all (`null`: until a date or until stopped).
    pub count: Option<u32>,
    #[schema(format = Date)]
    pub until: Option<String>,
    #[schema(schema_with = super::values::missed)]
    pub missed: String,
    pub payment_terms_days: Option<u16>,
    pub customer_id: String,
    pub currency: String,
    pub booking_id: Option<String>,
    /// The next occurrence to bill (0-based) and its date (`null` when it bills no more).
    pub next_occurrence: Option<u32>,
    #[schema(format = Date)]
    pub next_date: Option<String>,
    pub billed: Vec<BilledDto>,
    pub skipped: Vec<u32>,
    pub version: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Schedule> for ScheduleDto {
    fn from(s: &Schedule) -> Self {
        let billing = !s.state.is_final() && s.occurs(s.next);
        ScheduleDto {
            id: s.id.to_string(),
            state: s.state.as_str().into(),
            mode: match s.plan {
                faktura_domain::schedule::Plan::Instalments { .. } => "instalments",
                faktura_domain::schedule::Plan::Recurring { .. } => "recurring",
            }
            .into(),
            interval: s.interval.as_str().into(),
            anchor: s.anchor.to_string(),
            count: s.count(),
            until: match s.end {
                End::On { date } => Some(date.to_string()),
                _ => None,
            },
            missed: match s.missed {
                MissedPeriods::CatchUp => "catch_up",
                MissedPeriods::Skip => "skip",
            }
            .into(),
            payment_terms_days: s.payment_terms_days,
            customer_id: s.customer.key(),
            currency: s.currency.as_str().into(),
            booking_id: s.booking_id.as_ref().map(|b| b.to_string()),
            next_occurrence: billing.then_some(s.next),
            next_date: billing
                .then(|| s.date(s.next).map(|d| d.to_string()))
                .flatten(),
            billed: s
                .billed
                .iter()
                .map(|b| BilledDto {
                    occurrence: b.occurrence,
                    document_id: b.document_id.to_string(),
                    billed_at: b.billed_at.to_rfc3339(),
                })
                .collect(),
            skipped: s.skipped.clone(),
            version: s.version,
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleListDto {
    pub schedules: Vec<ScheduleDto>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OccurrenceDto {
    pub occurrence: u32,
    #[schema(format = Date)]
    pub date: String,
    /// When it is billed: the start of its day in the tenant's time zone.
    #[schema(format = DateTime)]
    pub due_at: String,
    #[schema(format = Date)]
    pub service_start: String,
    #[schema(format = Date)]
    pub service_end: String,
    pub net: String,
    pub vat: String,
    /// What the invoice asks for.
    pub gross: String,
    pub lines: Vec<String>,
}

impl From<&Occurrence> for OccurrenceDto {
    fn from(o: &Occurrence) -> Self {
        OccurrenceDto {
            occurrence: o.occurrence,
            date: o.date.to_string(),
            due_at: o.due_at.to_rfc3339(),
            service_start: o.period.start.to_string(),
            service_end: o.period.end.to_string(),
            net: o.net.to_string(),
            vat: o.vat.to_string(),
            gross: o.gross.to_string(),
            lines: o.lines.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PreviewDto {
    pub schedule_id: String,
    pub occurrences: Vec<OccurrenceDto>,
}

/// `POST /v1/dev/clock` (local mode with `--simulated-clock` only): move time forward.
#[derive(Deserialize, ToSchema, Default)]
#[schema(example = json!({ "advance": "P1D" }))]
pub struct ClockRequest {
    /// An ISO 8601 duration (`P1D`, `PT6H`, `P1M`, `P1Y2M3DT4H`).
    #[serde(default)]
    pub advance: Option<String>,
    /// An RFC 3339 instant (not before the clock's time).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ClockDto {
    #[schema(format = DateTime)]
    pub now: String,
    /// Jobs that ran on the way (each at its own due time).
    pub jobs_run: usize,
    /// The instants the clock stopped at to run what was due.
    pub stops: usize,
}
