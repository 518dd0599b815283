//! Sends invoice emails: `invoice.issued` events arrive from EventBridge through an SQS queue
//! (its reserved concurrency caps the SES send rate). The mailer claims a lease on the invoice
//! before sending and marks it sent after, so a redelivered message sends nothing twice.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use faktura_aws::SesMailSender;
use faktura_domain::events::EventType;
use faktura_domain::service::InvoiceMailer;
use faktura_lambda::queue::start_no_later_than;
use faktura_lambda::{StackConfig, handle_batch};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let stores = faktura_lambda::stores(&sdk, &config);
    let ses = SesMailSender::new(&sdk, config.configuration_set.clone());
    let mailer = InvoiceMailer::new(stores, Arc::new(ses));
    let mailer = &mailer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let start_by = start_no_later_than(&event.context, Duration::from_secs(10));
        let response: SqsBatchResponse = handle_batch(event.payload, start_by, |e| async move {
            if e.event_type != EventType::InvoiceIssued {
                tracing::warn!("not an invoice.issued event; acknowledged");
                return Ok(());
            }
            mailer.deliver(&e.tenant_id, &e.invoice_id).await
        })
        .await;
        Ok::<_, Error>(response)
    }))
    .await
}
