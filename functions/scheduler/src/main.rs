//! The scheduler (an EventBridge schedule invokes it every minute): hands every due job to its
//! worker — jobs whose first event was lost, retries whose backoff ran out, jobs whose worker
//! died with the lease — by finding them in the sharded due index, deferring each so it is not
//! handed out twice, and announcing it on the bus. Release 1's pending work becomes jobs here
//! too. Later: recurring invoices and reminders.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use faktura_aws::DynamoStore;
use faktura_domain::service::jobs::Scheduler;
use faktura_lambda::StackConfig;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let scheduler = Scheduler::new(faktura_lambda::stores(&sdk, &config));
    let table = DynamoStore::new(&sdk, &config.table);
    let (scheduler, table, config) = (&scheduler, &table, &config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            tracing::info!(
                event_id = event.payload.id.as_deref().unwrap_or(""),
                detail_type = %event.payload.detail_type,
                "scheduled run"
            );
            let failed = |code: &str, message: String| {
                tracing::error!(code, error = %message, "scheduled run failed");
                Diagnostic {
                    error_type: "SchedulerFailed".into(),
                    error_message: message,
                }
            };
            let adopted = table
                .adopt_release1_work()
                .await
                .map_err(|e| failed("release1_work", e.to_string()))?;
            let report = scheduler
                .dispatch_due(config.due_limit)
                .await
                .map_err(|e| failed(e.code, e.to_string()))?;
            Ok::<Value, Diagnostic>(json!({
                "dispatched": report.dispatched,
                "publish_failures": report.publish_failures,
                "release1_work_adopted": adopted,
            }))
        },
    ))
    .await
}
