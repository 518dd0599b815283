//! The HTTP surface of Faktura: the signed booking webhook and the API (reads and writes).
//!
//! The same routes serve the local runner (`faktura serve`, [`router`]) and, through
//! `lambda_http`, the webhook and API Lambda functions ([`webhook_router`], [`api_router`]).
//! Every error answer, including the framework's own, is `{"error": {"code", "message",
//! "field"?}}` ([`error`], enforced by [`guard`]).

pub mod api;
pub mod dto;
pub mod error;
pub mod extract;
pub mod guard;
pub mod openapi;
pub mod signature;
pub mod tenants;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use faktura_domain::error::AppError;
use faktura_domain::ports::{Clock, EInvoiceEncoder, Stores, TenantDirectory};
use faktura_domain::service::commands::Commands;
use faktura_domain::service::intake::BookingIntake;
use faktura_domain::service::queries::Queries;

pub use crate::dto::booking::parse_booking_event;
pub use crate::error::{error_response, status_of};
pub use crate::extract::MAX_BODY_BYTES;
pub use crate::guard::{RequestId, install_panic_hook};

/// What the handlers need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub tenants: Arc<dyn TenantDirectory>,
    pub intake: BookingIntake,
    pub commands: Commands,
    pub queries: Queries,
    pub banking: faktura_domain::service::banking::Banking,
    pub clock: Arc<dyn Clock>,
    /// What webhook timestamps are checked against: the platform signs with the real time,
    /// also when local mode runs on a simulated clock.
    pub webhook_clock: Arc<dyn Clock>,
    /// A request still running after this is answered `503 timeout`.
    pub request_timeout: Duration,
    /// Local mode's simulated clock (`POST /v1/dev/clock`); `None`: the route does not exist.
    pub dev_clock: Option<api::dev::SharedDevClock>,
}

impl AppState {
    /// The handlers' state over one set of stores (what every entry point builds).
    pub fn from_stores(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> AppState {
        AppState {
            tenants: stores.tenants.clone(),
            clock: stores.clock.clone(),
            webhook_clock: stores.clock.clone(),
            intake: BookingIntake::new(stores.clone(), einvoice.clone()),
            commands: Commands::new(stores.clone(), einvoice.clone()),
            banking: faktura_domain::service::banking::Banking::new(stores.clone()),
            queries: Queries::new(stores, einvoice),
            request_timeout: guard::DEFAULT_REQUEST_TIMEOUT,
            dev_clock: None,
        }
    }
}

/// Every route: what the local runner serves.
pub fn router(state: AppState) -> Router {
    routes(state, Surface::Everything)
}

/// The webhook route (and `/health`): the webhook Lambda's surface.
pub fn webhook_router(state: AppState) -> Router {
    routes(state, Surface::Webhook)
}

/// The API (and `/health`): the API Lambda's surface.
pub fn api_router(state: AppState) -> Router {
    routes(state, Surface::Api)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Surface {
    Webhook,
    Api,
    Everything,
}

async fn openapi_document() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::openapi_json(),
    )
        .into_response()
}

fn routes(state: AppState, surface: Surface) -> Router {
    let mut router = Router::new().route("/health", get(|| async { "ok" }));
    if surface != Surface::Api {
        router = router.route(
            "/v1/webhooks/{tenant_id}/bookings",
            post(webhook::booking_webhook),
        );
    }
    if surface != Surface::Webhook {
        use api::{bank, collective, customers, documents, jobs, schedules};
        router = router
            .route("/v1/openapi.json", get(openapi_document))
            .route("/v1/invoices", get(documents::list).post(documents::create))
            .route(
                "/v1/invoices/{id}",
                get(documents::get).patch(documents::change),
            )
            .route("/v1/invoices/{id}/pdf", get(documents::pdf))
            .route("/v1/invoices/{id}/xml", get(documents::xml))
            .route("/v1/invoices/{id}/contract", get(documents::contract))
            .route("/v1/invoices/{id}/events", get(documents::events))
            .route("/v1/invoices/{id}/issue", post(documents::issue))
            .route("/v1/invoices/{id}/cancel", post(documents::cancel))
            .route(
                "/v1/invoices/{id}/credit-notes",
                post(documents::credit_note),
            )
            .route("/v1/invoices/{id}/payments", post(documents::payment))
            .route("/v1/bank-statements", post(bank::import))
            .route("/v1/bank-transactions", get(bank::list))
            .route("/v1/bank-transactions/{id}", get(bank::get))
            .route("/v1/bank-transactions/{id}/assign", post(bank::assign))
            .route("/v1/invoices/{id}/refunds", post(documents::refund))
            .route("/v1/invoices/{id}/send", post(documents::send))
            .route("/v1/invoices/{id}/dunning", post(documents::dunning))
            .route("/v1/credit-notes", get(documents::credit_notes))
            .route("/v1/customers", get(customers::list))
            .route(
                "/v1/customers/{id}",
                get(customers::get).put(customers::put),
            )
            .route("/v1/customers/{id}/dunning", post(customers::dunning))
            .route(
                "/v1/customers/{id}/items",
                get(collective::list_items).post(collective::add_items),
            )
            .route(
                "/v1/customers/{id}/items/{item}",
                axum::routing::patch(collective::change_item),
            )
            .route(
                "/v1/collective-invoices",
                get(collective::list).post(collective::create),
            )
            .route(
                "/v1/collective-invoices/{id}",
                axum::routing::patch(collective::change),
            )
            .route("/v1/bookings/{id}", get(jobs::booking))
            .route("/v1/jobs", get(jobs::list))
            .route("/v1/jobs/{id}", get(jobs::get))
            .route(
                "/v1/schedules",
                get(schedules::list).post(schedules::create),
            )
            .route(
                "/v1/schedules/{id}",
                get(schedules::get).patch(schedules::update),
            )
            .route("/v1/schedules/{id}/preview", get(schedules::preview));
        if state.dev_clock.is_some() {
            router = router.route("/v1/dev/clock", post(api::dev::move_clock));
        }
    }
    router
        .fallback(|| async {
            error_response(&AppError::not_found("route_not_found", "no such route"))
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}
