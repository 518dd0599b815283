//! The API on Lambda (`/v1/invoices`, `/v1/credit-notes`, `/v1/customers`, `/v1/bookings`,
//! `/v1/jobs`, `/v1/openapi.json`; reads and writes) behind the HTTP API, with the tenant's API
//! key as bearer token. The same handlers as `faktura serve`.

use std::sync::Arc;

use faktura_einvoice::EInvoiceXml;
use faktura_http::AppState;
use faktura_lambda::StackConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let stores = faktura_lambda::stores(&sdk, &config);
    let state = AppState::from_stores(stores, Arc::new(EInvoiceXml));
    faktura_lambda::serve_http(faktura_http::api_router(state)).await
}
