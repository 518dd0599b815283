//! Mails documents: `job.deliver_document` arrives from EventBridge through an SQS queue (its
//! reserved concurrency caps the SES send rate). The job's lease keeps a second worker from
//! sending while one is at it, and the document records every send, so a redelivered message
//! sends nothing twice.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use faktura_aws::SesMailSender;
use faktura_domain::service::delivery::DocumentMailer;
use faktura_domain::service::jobs::{Handlers, JobRunner};
use faktura_lambda::queue::start_no_later_than;
use faktura_lambda::{StackConfig, handle_batch, run_work};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let stores = faktura_lambda::stores(&sdk, &config);
    let ses = SesMailSender::new(&sdk, config.configuration_set.clone());
    let runner = JobRunner::new(
        stores.clone(),
        Handlers {
            mailer: Some(DocumentMailer::new(stores, Arc::new(ses))),
            ..Handlers::default()
        },
    )
    .with_retry_base(config.retry_base());
    let runner = &runner;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let start_by = start_no_later_than(&event.context, Duration::from_secs(10));
        let response: SqsBatchResponse =
            handle_batch(event.payload, start_by, |work| run_work(runner, work)).await;
        Ok::<_, Error>(response)
    }))
    .await
}
