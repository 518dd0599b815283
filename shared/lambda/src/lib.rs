//! Shared by the Lambda functions in `functions/`: each `main` calls [`init_logging`], loads
//! [`StackConfig::from_env`] and [`aws_config`] once, builds what it needs with [`stores`] and
//! hands events to the domain. Nothing here renders PDFs (the issue worker adds typst itself).

pub mod config;
pub mod inbox;
pub mod queue;

pub use config::StackConfig;
pub use queue::{DomainEventEnvelope, Work, handle_batch};

use std::sync::Arc;

use faktura_aws::{DynamoStore, EventBridgePublisher, S3FileStore};
use faktura_domain::ports::{Clock, Stores, SystemClock};

/// JSON lines on stdout (CloudWatch keeps them as structured logs). Level from `RUST_LOG`,
/// `info` by default. Our spans and events carry ids (tenant, booking, invoice, event), never
/// names, emails or addresses.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .init();
    // A panic is logged as a JSON line with its location (never its message, which can quote
    // customer text); HTTP functions answer it with a JSON 500 (faktura_http::guard).
    faktura_http::install_panic_hook();
}

/// The SDK configuration from the environment (role credentials, region; `AWS_ENDPOINT_URL`
/// points it at a local AWS such as moto).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The domain's stores on the AWS adapters.
pub fn stores(sdk: &aws_config::SdkConfig, config: &StackConfig) -> Stores {
    let table = Arc::new(DynamoStore::new(sdk, &config.table));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Stores {
        tenants: table.clone(),
        repository: table.clone(),
        jobs: table,
        files: Arc::new(S3FileStore::new(sdk, config.s3_settings())),
        events: Arc::new(EventBridgePublisher::new(sdk, &config.event_bus)),
        clock,
    }
}

/// Hands one queue message to the job runner: a `job.<kind>` is claimed and run; a release-1
/// event becomes today's job first. Errors only when the job store failed (the message is
/// then reported and comes back).
pub async fn run_work(
    runner: &faktura_domain::service::jobs::JobRunner,
    work: Work,
) -> Result<(), faktura_domain::AppError> {
    let outcome = match work {
        Work::Event(event) => runner.handle_event(&event).await?,
        Work::Release1(w) => runner.run_release1(&w).await?,
    };
    tracing::info!(outcome = ?outcome, "handled");
    Ok(())
}

/// Serves an HTTP router as the Lambda's handler. The Lambda request id becomes the request's
/// [`faktura_http::RequestId`], so log lines and the `x-request-id` answer match CloudWatch.
pub async fn serve_http(router: axum::Router) -> Result<(), lambda_http::Error> {
    let router = router.layer(axum::middleware::map_request(
        |mut request: axum::extract::Request| async move {
            let id = lambda_http::RequestExt::lambda_context_ref(&request)
                .map(|context| context.request_id.clone());
            if let Some(id) = id {
                request.extensions_mut().insert(faktura_http::RequestId(id));
            }
            request
        },
    ));
    lambda_http::run(router).await
}
