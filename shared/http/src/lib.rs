//! The HTTP surface of Faktura: the signed booking webhook and the read API.
//!
//! The same routes serve the local runner (`faktura serve`, [`router`]) and, through
//! `lambda_http`, the webhook and API Lambda functions ([`webhook_router`], [`api_router`]).
//! Every error answer, including the framework's own, is `{"error": {"code", "message",
//! "field"?}}` ([`error`], enforced by [`guard`]).

mod api;
pub mod error;
pub mod extract;
pub mod guard;
pub mod resources;
pub mod signature;
pub mod tenants;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use faktura_domain::error::AppError;
use faktura_domain::ports::{Clock, EInvoiceEncoder, Stores, TenantDirectory};
use faktura_domain::service::{BookingIntake, InvoiceQueries};

pub use crate::error::{error_response, status_of};
pub use crate::extract::MAX_BODY_BYTES;
pub use crate::guard::{RequestId, install_panic_hook};

/// What the handlers need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub tenants: Arc<dyn TenantDirectory>,
    pub intake: BookingIntake,
    pub queries: InvoiceQueries,
    pub clock: Arc<dyn Clock>,
    /// A request still running after this is answered `503 timeout`.
    pub request_timeout: Duration,
}

impl AppState {
    /// The handlers' state over one set of stores (what every entry point builds).
    pub fn from_stores(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> AppState {
        AppState {
            tenants: stores.tenants.clone(),
            clock: stores.clock.clone(),
            intake: BookingIntake::new(stores.clone(), einvoice.clone()),
            queries: InvoiceQueries::new(stores, einvoice),
            request_timeout: guard::DEFAULT_REQUEST_TIMEOUT,
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

/// The read API (and `/health`): the API Lambda's surface.
pub fn api_router(state: AppState) -> Router {
    routes(state, Surface::Api)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Surface {
    Webhook,
    Api,
    Everything,
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
        router = router
            .route("/v1/invoices", get(api::list_invoices))
            .route("/v1/invoices/{id}", get(api::get_invoice))
            .route("/v1/invoices/{id}/pdf", get(api::get_invoice_pdf))
            .route("/v1/invoices/{id}/xml", get(api::get_invoice_xml));
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
