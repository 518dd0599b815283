//! The wire formats: JSON shapes of requests and answers, with their OpenAPI schemas. The
//! domain never sees these; handlers convert them to typed commands and back.

pub mod booking;
pub mod customers;
pub mod documents;
pub mod jobs;

use serde::Serialize;
use utoipa::ToSchema;

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `invalid_value`, `booking_conflict`.
    pub code: String,
    pub message: String,
    /// The field to blame, as a JSON path (`data.items[0].unit_price`) or a header name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A postal address.
#[derive(Serialize, ToSchema)]
pub struct AddressDto {
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

impl From<&faktura_domain::model::PostalAddress> for AddressDto {
    fn from(a: &faktura_domain::model::PostalAddress) -> Self {
        AddressDto {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country.as_str().to_string(),
        }
    }
}
