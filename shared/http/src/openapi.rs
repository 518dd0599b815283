//! The OpenAPI 3.1 document, generated from the DTOs and the handlers' annotations. Served at
//! `GET /v1/openapi.json` and committed as `docs/openapi.json` (a test fails on drift).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{api, dto, webhook};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Faktura", description = "Automated invoicing: documents with their life, payments and balances, and the booking webhook.", version = "2"),
    paths(
        webhook::booking_webhook,
        api::documents::list, api::documents::credit_notes, api::documents::get,
        api::documents::events, api::documents::pdf, api::documents::xml, api::documents::contract,
        api::documents::create, api::documents::change, api::documents::issue, api::documents::cancel,
        api::documents::credit_note, api::documents::payment, api::documents::refund, api::documents::send,
        api::customers::list, api::customers::get, api::customers::put,
        api::jobs::list, api::jobs::get, api::jobs::booking,
    ),
    components(schemas(
        dto::ErrorBody, dto::ErrorDetail,
        dto::booking::WireEvent, dto::booking::WireBooking, dto::booking::WirePaid, dto::booking::WireCancelled,
        dto::booking::WireCancelledItem, dto::booking::WireCustomer, dto::booking::WireAddress, dto::booking::WireItem,
        dto::booking::WirePeriod,
    )),
    modifiers(&Security),
    tags((name = "webhook"), (name = "documents"), (name = "customers"), (name = "jobs"), (name = "bookings")),
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON (what `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
