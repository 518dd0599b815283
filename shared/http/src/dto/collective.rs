//! Wire formats of billable items and collective invoices.

use faktura_domain::collective::{BillableItem, CollectiveFacet, ItemSource, ItemState};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::booking::{ExactDecimal, WireItem};

/// `POST /v1/customers/{id}/items`: services to bill later on a collective invoice.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "currency": "EUR",
    "reference": "usage-2026-11",
    "items": [{ "description": "Room hire, 3 h", "quantity": "3", "unit": "HUR", "unit_price": "25.00", "service_date": "2026-11-12" }]
}))]
pub struct ItemsRequest {
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// `net` or `gross` (default: the tenant's).
    #[serde(default)]
    #[schema(schema_with = super::values::price_basis_or_null)]
    pub prices: Option<String>,
    /// 1 to 60 items. Without a service date an item counts for today.
    pub items: Vec<WireItem>,
    /// Your reference (usage record, contract period): the items' ids derive from it, so
    /// sending it again records nothing new (1 to 200 characters).
    #[serde(default)]
    pub reference: Option<String>,
}

/// `PATCH /v1/customers/{id}/items/{item}`: a new description, quantity or price of an item
/// that is not on an issued invoice (a draft that holds it is planned again).
#[derive(Deserialize, ToSchema, Default)]
#[schema(example = json!({ "quantity": "4" }))]
pub struct ItemChangeRequest {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub quantity: Option<ExactDecimal>,
    #[serde(default)]
    pub unit_price: Option<ExactDecimal>,
}

/// `POST /v1/collective-invoices`: a collective invoice (a draft without a number) for a
/// customer's open items.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "customer_id": "c-1001", "send_on": "2026-12-05" }))]
pub struct CollectiveRequest {
    /// The customer (ext:…, email:…, an email or a platform id).
    pub customer_id: String,
    /// The items to bill (default: all open ones, oldest first, up to 60 of one currency).
    #[serde(default)]
    pub items: Option<Vec<String>>,
    /// The day it is issued and mailed by itself; none: it waits for you (pending list and
    /// the owner's digest).
    #[serde(default)]
    #[schema(format = Date)]
    pub send_on: Option<String>,
}

/// `PATCH /v1/collective-invoices/{id}`: change a draft's items or send date.
#[derive(Deserialize, ToSchema, Default)]
#[schema(example = json!({ "send_on": null }))]
pub struct CollectiveChangeRequest {
    /// The whole new list of items (items left out are open again).
    #[serde(default)]
    pub items: Option<Vec<String>>,
    /// A day, or `null` to wait for approval; absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(format = Date, nullable)]
    pub send_on: Option<Option<String>>,
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct ItemDto {
    pub id: String,
    pub customer_id: String,
    /// `open`, `claimed` (on a collective invoice: see `document_id`) or `withdrawn`.
    pub state: String,
    pub document_id: Option<String>,
    pub description: String,
    pub quantity: String,
    pub unit: String,
    pub unit_price: String,
    pub vat_rate: Option<String>,
    pub currency: String,
    /// `net` or `gross`; null: the tenant's default.
    pub prices: Option<String>,
    /// The day it counts for (its service start, else the day it was recorded).
    #[schema(format = Date)]
    pub day: String,
    /// `booking` or `api`.
    pub source: String,
    pub booking_id: Option<String>,
    pub reference: Option<String>,
    pub version: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&BillableItem> for ItemDto {
    fn from(i: &BillableItem) -> Self {
        let (source, booking_id) = match &i.source {
            ItemSource::Booking { booking_id, .. } => ("booking", Some(booking_id.to_string())),
            ItemSource::Api => ("api", None),
        };
        ItemDto {
            id: i.id.to_string(),
            customer_id: i.customer_key.clone(),
            state: i.state.as_str().to_string(),
            document_id: match &i.state {
                ItemState::Claimed { document_id } => Some(document_id.to_string()),
                _ => None,
            },
            description: i.item.description.clone(),
            quantity: i.item.quantity.normalize().to_string(),
            unit: i.item.unit.clone(),
            unit_price: i.item.unit_price.to_string(),
            vat_rate: i.item.vat_rate.map(|r| r.to_string()),
            currency: i.currency.to_string(),
            prices: i.prices.map(|p| {
                match p {
                    faktura_domain::model::PriceBasis::Net => "net",
                    faktura_domain::model::PriceBasis::Gross => "gross",
                }
                .to_string()
            }),
            day: i.day.to_string(),
            source: source.to_string(),
            booking_id,
            reference: i.reference.clone(),
            version: i.version,
            created_at: i.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ItemListDto {
    pub items: Vec<ItemDto>,
}

/// A collective invoice's items and send date.
#[derive(Serialize, ToSchema)]
pub struct CollectiveDto {
    pub items: Vec<String>,
    #[schema(format = Date)]
    pub send_on: Option<String>,
    #[schema(format = Date)]
    pub due_on: String,
    /// Waiting for the owner: a draft without a send date that is due.
    pub pending: bool,
    #[schema(format = Date)]
    pub period_start: Option<String>,
    #[schema(format = Date)]
    pub period_end: Option<String>,
}

impl CollectiveDto {
    pub fn new(c: &CollectiveFacet, draft: bool, today: chrono::NaiveDate) -> CollectiveDto {
        CollectiveDto {
            items: c.items.iter().map(ToString::to_string).collect(),
            send_on: c.send_on.map(|d| d.to_string()),
            due_on: c.due_on.to_string(),
            pending: draft && c.is_pending(today),
            period_start: c.period.map(|p| p.start.to_string()),
            period_end: c.period.map(|p| p.end.to_string()),
        }
    }
}
