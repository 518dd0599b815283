//! Imports bank statements put into the documents bucket's inbox (`inbox/{tenant}/{file}`):
//! S3 notifies the inbox queue, this worker reads the file, records each transaction once,
//! pays the invoices it names and writes a report to `inbox-reports/` (see
//! `faktura_lambda::inbox`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use faktura_domain::service::banking::Banking;
use faktura_lambda::StackConfig;
use faktura_lambda::inbox::Inbox;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let stores = faktura_lambda::stores(&sdk, &config);
    let inbox = Inbox {
        files: stores.files.clone(),
        banking: Banking::new(stores),
        bucket: config.bucket.clone(),
    };
    let inbox = &inbox;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response: SqsBatchResponse = inbox.handle(event.payload).await;
        Ok::<_, Error>(response)
    }))
    .await
}
