//! Issues invoices: `booking.received` events arrive from EventBridge through an SQS queue.
//! Numbering, rendering and storing are idempotent in the domain, so a redelivered message or
//! two racing workers still give one invoice with one number.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use faktura_domain::events::EventType;
use faktura_domain::service::InvoiceIssuer;
use faktura_einvoice::EInvoiceXml;
use faktura_lambda::queue::start_no_later_than;
use faktura_lambda::{StackConfig, handle_batch};
use faktura_render::{Renderer, TypstRenderer};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let stores = faktura_lambda::stores(&sdk, &config);
    // Fonts and templates load once per execution environment, not per message.
    let renderer = TypstRenderer(Renderer::new()?);
    let issuer = InvoiceIssuer::new(stores, Arc::new(renderer), Arc::new(EInvoiceXml));
    let issuer = &issuer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let start_by = start_no_later_than(&event.context, Duration::from_secs(20));
        let response: SqsBatchResponse = handle_batch(event.payload, start_by, |e| async move {
            if e.event_type != EventType::BookingReceived {
                tracing::warn!("not a booking.received event; acknowledged");
                return Ok(());
            }
            let issued = issuer
                .issue_for_booking(&e.tenant_id, &e.booking_id)
                .await?;
            tracing::info!(invoice_number = issued.invoice.number.as_str(), "issued");
            Ok(())
        })
        .await;
        Ok::<_, Error>(response)
    }))
    .await
}
