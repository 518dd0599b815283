//! Applies booking events and renders documents: `job.apply_booking_events` and
//! `job.render_document` arrive from EventBridge through an SQS queue. Every job is claimed
//! with a lease and its effects are idempotent, so a redelivered message or two racing
//! workers still give one document with one number. The only function that links typst.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use faktura_domain::service::bookings::BookingProcessor;
use faktura_domain::service::dunning::Dunner;
use faktura_domain::service::jobs::{Handlers, JobRunner};
use faktura_domain::service::rendering::DocumentRenderer;
use faktura_domain::service::schedules::ScheduleBiller;
use faktura_einvoice::EInvoiceXml;
use faktura_lambda::queue::start_no_later_than;
use faktura_lambda::{StackConfig, handle_batch, run_work};
use faktura_render::{Renderer, TypstRenderer};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let stores = faktura_lambda::stores(&sdk, &config);
    // Fonts and templates load once per execution environment, not per message.
    let renderer = Arc::new(TypstRenderer(Renderer::new()?));
    let einvoice = Arc::new(EInvoiceXml);
    let runner = JobRunner::new(
        stores.clone(),
        Handlers {
            bookings: Some(BookingProcessor::new(stores.clone(), einvoice.clone())),
            schedules: Some(ScheduleBiller::new(stores.clone(), einvoice.clone())),
            dunner: Some(Dunner::new(stores.clone())),
            collector: Some(faktura_domain::service::collective::Collector::new(
                stores.clone(),
                einvoice.clone(),
            )),
            renderer: Some(DocumentRenderer::new(stores, renderer, einvoice)),
            mailer: None,
        },
    )
    .with_retry_base(config.retry_base());
    let runner = &runner;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let start_by = start_no_later_than(&event.context, Duration::from_secs(20));
        let response: SqsBatchResponse =
            handle_batch(event.payload, start_by, |work| run_work(runner, work)).await;
        Ok::<_, Error>(response)
    }))
    .await
}
