//! The scheduled sweep (an EventBridge schedule invokes it every few minutes): re-publishes
//! bookings recorded but not invoiced and invoices issued but not sent, older than
//! `FAKTURA_SWEEP_GRACE_SECONDS`, so a lost event never strands a booking. Re-publishing is
//! safe because every step is idempotent. Later: recurring invoices and reminders.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use faktura_domain::service::Sweeper;
use faktura_lambda::StackConfig;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    faktura_lambda::init_logging();
    let config = StackConfig::from_env()?;
    let sdk = faktura_lambda::aws_config().await;
    let sweeper = Sweeper::new(faktura_lambda::stores(&sdk, &config));
    let (sweeper, config) = (&sweeper, &config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            tracing::info!(
                event_id = event.payload.id.as_deref().unwrap_or(""),
                detail_type = %event.payload.detail_type,
                "sweep"
            );
            let report = sweeper
                .sweep(config.sweep_grace, config.sweep_limit)
                .await
                .map_err(|e| {
                    tracing::error!(code = e.code, error = %e.message, "sweep failed");
                    Diagnostic {
                        error_type: "SweepFailed".into(),
                        error_message: e.to_string(),
                    }
                })?;
            Ok::<Value, Diagnostic>(json!({
                "republished_bookings": report.bookings,
                "republished_invoices": report.invoices,
            }))
        },
    ))
    .await
}
