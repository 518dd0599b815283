//! The booking webhook on Lambda: `POST /v1/webhooks/{tenant_id}/bookings` behind the HTTP
//! API. The same handler as `faktura serve`; the adapters are DynamoDB, S3 and EventBridge.

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
    faktura_lambda::serve_http(faktura_http::webhook_router(state)).await
}
