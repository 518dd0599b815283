//! Customers with their balance and ledger.

use faktura_domain::ledger::LedgerEntry;
use faktura_domain::model::Customer;
use faktura_domain::service::queries::CustomerAccount;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AddressDto;
use super::booking::WireAddress;
use super::documents::cause_json;

#[derive(Serialize, ToSchema)]
pub struct CustomerDto {
    /// `ext:<platform id>` or `email:<address>`: the customer's id in this API.
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub company: Option<String>,
    pub email: String,
    #[schema(schema_with = super::values::language)]
    pub language: String,
    pub vat_id: Option<String>,
    pub address: AddressDto,
    #[schema(schema_with = super::values::einvoice_or_null)]
    pub einvoice: Option<String>,
    pub leitweg_id: Option<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Customer> for CustomerDto {
    fn from(c: &Customer) -> Self {
        CustomerDto {
            id: c.key.clone(),
            number: c.number().map(str::to_string),
            name: c.name.clone(),
            company: c.company.clone(),
            email: c.email.as_str().to_string(),
            language: c.language.as_str().to_string(),
            vat_id: c.vat_id.as_ref().map(|v| v.as_str().to_string()),
            address: (&c.address).into(),
            einvoice: c.einvoice.map(|e| e.as_str().to_string()),
            leitweg_id: c.leitweg_id.clone(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LedgerEntryDto {
    pub id: String,
    /// `charge`, `payment`, `refund`, `credit`, `credit_applied`, `credit_used`.
    #[schema(schema_with = super::values::ledger_kind)]
    pub kind: String,
    pub document_id: String,
    /// The magnitude.
    pub amount: String,
    /// What it adds to the balance (negative lowers what the customer owes).
    pub signed_amount: String,
    pub currency: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub related_document: Option<String>,
    pub reference: Option<String>,
    pub method: Option<String>,
    #[schema(value_type = Object)]
    pub cause: serde_json::Value,
}

impl From<&LedgerEntry> for LedgerEntryDto {
    fn from(e: &LedgerEntry) -> Self {
        LedgerEntryDto {
            id: e.id.as_str().to_string(),
            kind: e.kind.as_str().to_string(),
            document_id: e.document_id.as_str().to_string(),
            amount: e.amount.to_string(),
            signed_amount: e.signed().to_string(),
            currency: e.currency.as_str().to_string(),
            at: e.at.to_rfc3339(),
            related_document: e.related_document.as_ref().map(|d| d.as_str().to_string()),
            reference: e.payment.as_ref().and_then(|p| p.reference.clone()),
            method: e.payment.as_ref().and_then(|p| p.method.clone()),
            cause: cause_json(&e.cause),
        }
    }
}

/// A customer with their balance (positive: they owe; negative: credit owed to them) and the
/// ledger it is the sum of.
#[derive(Serialize, ToSchema)]
pub struct CustomerAccountDto {
    #[serde(flatten)]
    pub customer: CustomerDto,
    pub balance: String,
    /// Whether the customer's dunning is paused (`POST /v1/customers/{id}/dunning`).
    pub dunning_paused: bool,
    pub ledger: Vec<LedgerEntryDto>,
}

impl From<&CustomerAccount> for CustomerAccountDto {
    fn from(a: &CustomerAccount) -> Self {
        CustomerAccountDto {
            customer: (&a.customer).into(),
            balance: a.balance.to_string(),
            dunning_paused: a.dunning_paused,
            ledger: a.ledger.iter().map(LedgerEntryDto::from).collect(),
        }
    }
}

/// A customer's dunning hold (`POST /v1/customers/{id}/dunning`).
#[derive(Serialize, ToSchema)]
pub struct DunningHoldDto {
    pub customer: String,
    /// While paused, none of the customer's invoices is chased; from the day it is lifted
    /// their reminders go on.
    pub dunning_paused: bool,
    #[schema(format = DateTime)]
    pub at: String,
}

impl From<&faktura_domain::dunning::DunningHold> for DunningHoldDto {
    fn from(h: &faktura_domain::dunning::DunningHold) -> Self {
        DunningHoldDto {
            customer: h.customer_key.clone(),
            dunning_paused: h.paused,
            at: h.at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CustomerListDto {
    pub customers: Vec<CustomerDto>,
    pub next_cursor: Option<String>,
}

/// `PUT /v1/customers/{id}`: the customer as it is now. Documents issued already keep the
/// data they were issued with; only future documents use the new data.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "name": "Erika Mustermann", "email": "erika@example.org", "language": "de",
    "address": { "line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE" }
}))]
pub struct CustomerRequest {
    pub name: String,
    #[serde(default)]
    pub company: Option<String>,
    pub email: String,
    #[serde(default)]
    #[schema(pattern = "^([dD][eE]|[eE][nN])([-_][A-Za-z0-9]+)*$")]
    pub language: Option<String>,
    #[serde(default)]
    pub vat_id: Option<String>,
    pub address: WireAddress,
    #[serde(default)]
    #[schema(schema_with = super::values::einvoice_or_null)]
    pub einvoice: Option<String>,
    #[serde(default)]
    pub leitweg_id: Option<String>,
}
