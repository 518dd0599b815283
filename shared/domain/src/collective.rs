//! Collective invoices (Sammelrechnungen): billable items are collected per customer — from
//! bookings with `"billing": "collect"` and from the API (usage, contracts) — and billed
//! together by one invoice, which stays a draft until its send date.
//!
//! Each item is claimed by the document that bills it with a conditional write at the
//! version read, in the same change as the document: two runs (or a run and an API call)
//! racing for one item leave it on exactly one invoice, and an item is never lost (it is
//! open, on a draft, or on an issued invoice).

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::BookingItem;
use crate::error::{AppError, ErrorKind};
use crate::model::{PriceBasis, ServicePeriod};
use crate::money::Currency;
use crate::schedule::Interval;
use crate::values::Id;

/// At most this many items on one collective invoice: the draft, its items and what issuing
/// it writes fit into one DynamoDB transaction (100 writes). More open items make more
/// invoices.
pub const MAX_ITEMS_PER_INVOICE: usize = 60;

/// Where an item stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ItemState {
    /// Waiting to be billed.
    Open,
    /// On a collective invoice (a draft, or issued: the document says which).
    Claimed { document_id: Id },
    /// Called off before it was billed (its booking was cancelled).
    Withdrawn { at: DateTime<Utc> },
}

impl ItemState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemState::Open => "open",
            ItemState::Claimed { .. } => "claimed",
            ItemState::Withdrawn { .. } => "withdrawn",
        }
    }
}

/// Where an item came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemSource {
    /// Item `index` of a booking with `"billing": "collect"`.
    Booking { booking_id: Id, index: usize },
    /// `POST /v1/customers/{id}/items`.
    Api,
}

/// One service to bill later, for one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillableItem {
    /// Derived from its source (a booking and index, or the caller's reference), so the same
    /// item reported twice is one item.
    pub id: Id,
    pub tenant_id: Id,
    pub customer_key: String,
    pub currency: Currency,
    /// `None`: the tenant's default.
    pub prices: Option<PriceBasis>,
    pub item: BookingItem,
    /// The local day the item counts for: its service start, else the day it was recorded.
    pub day: NaiveDate,
    pub source: ItemSource,
    /// The caller's reference (usage record, contract), printed nowhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(flatten)]
    pub state: ItemState,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn refused(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

impl BillableItem {
    pub fn is_open(&self) -> bool {
        self.state == ItemState::Open
    }

    /// The document that bills (or will bill) the item.
    pub fn claimed_by(&self) -> Option<&Id> {
        match &self.state {
            ItemState::Claimed { document_id } => Some(document_id),
            _ => None,
        }
    }

    /// Put on `document` (a draft): refused unless open.
    pub fn claim(&self, document: &Id, now: DateTime<Utc>) -> Result<BillableItem, AppError> {
        match &self.state {
            ItemState::Open => Ok(BillableItem {
                state: ItemState::Claimed {
                    document_id: document.clone(),
                },
                updated_at: now,
                ..self.clone()
            }),
            ItemState::Claimed { document_id } if document_id == document => Ok(self.clone()),
            ItemState::Claimed { document_id } => Err(refused(
                "item_claimed",
                format!("item {} is on invoice {document_id} already", self.id),
            )),
            ItemState::Withdrawn { .. } => Err(refused(
                "item_withdrawn",
                format!("item {} was withdrawn", self.id),
            )),
        }
    }

    /// Taken off the draft that held it: open again.
    pub fn release(&self, now: DateTime<Utc>) -> BillableItem {
        BillableItem {
            state: ItemState::Open,
            updated_at: now,
            ..self.clone()
        }
    }

    pub fn withdraw(&self, now: DateTime<Utc>) -> BillableItem {
        BillableItem {
            state: ItemState::Withdrawn { at: now },
            updated_at: now,
            ..self.clone()
        }
    }

    /// What groups items onto one invoice: one currency and one price basis per document.
    pub fn group(&self, default_prices: PriceBasis) -> (Currency, PriceBasis) {
        (self.currency, self.prices.unwrap_or(default_prices))
    }
}

/// The collective part of a draft (and, once issued, of its invoice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectiveFacet {
    /// The items it bills, in line order.
    pub items: Vec<Id>,
    /// The day it is issued and mailed by itself; `None`: it waits for the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_on: Option<NaiveDate>,
    /// The day it became due for billing (its period's end, or the day it was asked for):
    /// without a send date it is pending from then, and the owner's digest of that day lists
    /// it.
    pub due_on: NaiveDate,
    /// The collection period it bills, when made by the periodic run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<ServicePeriod>,
}

impl CollectiveFacet {
    /// Waiting for the owner: no send date, due for billing by `today`.
    pub fn is_pending(&self, today: NaiveDate) -> bool {
        self.send_on.is_none() && self.due_on <= today
    }
}

/// How a tenant's collected items are billed (`[tenant.settings.collective]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectiveSettings {
    /// Collected items are combined per period (`week`, `month`, `quarter`, `year`; local
    /// calendar periods); `none`: only on demand (`POST /v1/collective-invoices`).
    #[serde(default = "default_period", with = "period_text")]
    pub period: Option<Interval>,
    /// The invoice of a period is sent this many days after the period's end; unset: it
    /// waits as a draft for the owner (pending list and digest mail).
    #[serde(default)]
    pub send_after_days: Option<u16>,
}

fn default_period() -> Option<Interval> {
    Some(Interval::Month)
}

impl Default for CollectiveSettings {
    fn default() -> Self {
        CollectiveSettings {
            period: default_period(),
            send_after_days: None,
        }
    }
}

mod period_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::schedule::Interval;

    pub fn serialize<S: Serializer>(p: &Option<Interval>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.map_or("none", Interval::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Interval>, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "none" => Ok(None),
            other => Interval::parse(other).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "collective period '{other}' must be week, month, quarter, year or none"
                ))
            }),
        }
    }
}

/// The local calendar period of `interval` that contains `day` (weeks from Monday).
pub fn period_of(interval: Interval, day: NaiveDate) -> ServicePeriod {
    let first_of_month = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let (start, months) = match interval {
        Interval::Week => {
            let start = day
                .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                .unwrap_or(day);
            let end = start.checked_add_days(Days::new(6)).unwrap_or(start);
            return ServicePeriod { start, end };
        }
        Interval::Month => (first_of_month(day), 1),
        Interval::Quarter => {
            let m = (day.month0() / 3) * 3 + 1;
            (
                day.with_day(1).and_then(|d| d.with_month(m)).unwrap_or(day),
                3,
            )
        }
        Interval::Year => (day.with_ordinal(1).unwrap_or(day), 12),
    };
    let end = start
        .checked_add_months(Months::new(months))
        .and_then(|d| d.pred_opt())
        .unwrap_or(start);
    ServicePeriod { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_are_local_calendar_periods() {
        let p = |i, day| {
            let p = period_of(i, d(day));
            (p.start.to_string(), p.end.to_string())
        };
        assert_eq!(
            p(Interval::Month, "2028-02-15"),
            ("2028-02-01".into(), "2028-02-29".into())
        );
        assert_eq!(
            p(Interval::Week, "2026-12-03"),
            ("2026-11-30".into(), "2026-12-06".into())
        );
        assert_eq!(
            p(Interval::Quarter, "2026-11-30"),
            ("2026-10-01".into(), "2026-12-31".into())
        );
        assert_eq!(
            p(Interval::Year, "2026-06-30"),
            ("2026-01-01".into(), "2026-12-31".into())
        );
    }

    #[test]
    fn settings_read_none_and_refuse_unknown_periods() {
        let s: CollectiveSettings =
            serde_json::from_value(serde_json::json!({ "period": "none" })).unwrap();
        assert_eq!(s.period, None);
        let s: CollectiveSettings = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(s.period, Some(Interval::Month));
        assert!(
            serde_json::from_value::<CollectiveSettings>(serde_json::json!({ "period": "day" }))
                .is_err()
        );
    }
}
