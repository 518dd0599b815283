//! The deployed stack's resources, created on moto from the definitions the SAM template is
//! checked against (`faktura_aws::schema::TABLE`, `faktura_aws::stack::ROUTES`): the table,
//! the documents bucket, the sender identity, the event bus, and per route a queue with its
//! dead-letter queue and the rule feeding it. `tests/template.rs` checks the template against
//! the same values, so what runs here is what deploys.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use faktura_aws::stack::{MAX_RECEIVES, ROUTES, WorkRoute};

use crate::moto::{MotoServer, unique_name};

/// A route's queues on moto.
#[derive(Debug, Clone)]
pub struct RouteQueues {
    pub route: WorkRoute,
    pub url: String,
    pub arn: String,
    pub dead_letter_url: String,
}

/// One stack on moto (unique names, so tests run side by side).
#[derive(Debug, Clone)]
pub struct TestStack {
    pub sdk: SdkConfig,
    pub endpoint: String,
    pub table: String,
    pub bucket: String,
    pub bus: String,
    pub queues: HashMap<&'static str, RouteQueues>,
}

/// The demo seller's address in `demo-tenants.toml`.
pub const DEMO_SENDER: &str = "rechnung@yoga-sonnenschein.example";

/// Seconds a received message stays invisible: short, so tests see retries quickly (the
/// template uses six times the worker timeout).
pub const TEST_VISIBILITY_SECONDS: i32 = 1;

impl TestStack {
    /// Creates every resource; `sender` becomes a verified SES identity unless `None`.
    pub async fn create(moto: &MotoServer, sender: Option<&str>) -> TestStack {
        let sdk = moto.sdk_config();
        let table = unique_name("faktura");
        let bucket = unique_name("faktura-docs");
        let bus = unique_name("faktura-bus");
        faktura_aws::setup::create_table(
            &aws_sdk_dynamodb::Client::new(&sdk),
            &table,
            &faktura_aws::TABLE,
        )
        .await
        .expect("create table");
        faktura_aws::setup::create_bucket(&moto.s3_client(), &bucket, crate::moto::REGION)
            .await
            .expect("create bucket");
        if let Some(sender) = sender {
            verify_sender(&sdk, sender).await;
        }
        let eventbridge = aws_sdk_eventbridge::Client::new(&sdk);
        faktura_aws::setup::create_event_bus(&eventbridge, &bus)
            .await
            .expect("create bus");
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut queues = HashMap::new();
        for route in ROUTES {
            let (dead_letter_url, dead_letter_arn) =
                create_queue(&sqs, &unique_name("dlq"), HashMap::new()).await;
            let redrive = serde_json::json!({
                "deadLetterTargetArn": dead_letter_arn,
                "maxReceiveCount": MAX_RECEIVES,
            });
            let (url, arn) = create_queue(
                &sqs,
                &unique_name(&route.name.to_ascii_lowercase()),
                HashMap::from([
                    (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                    (
                        QueueAttributeName::VisibilityTimeout,
                        TEST_VISIBILITY_SECONDS.to_string(),
                    ),
                ]),
            )
            .await;
            let rule = format!("{}Rule", route.name);
            eventbridge
                .put_rule()
                .event_bus_name(&bus)
                .name(&rule)
                .event_pattern(route.event_pattern().to_string())
                .send()
                .await
                .expect("PutRule");
            eventbridge
                .put_targets()
                .event_bus_name(&bus)
                .rule(&rule)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id(format!("{}Queue", route.name))
                        .arn(&arn)
                        .build()
                        .expect("target"),
                )
                .send()
                .await
                .expect("PutTargets");
            queues.insert(
                route.name,
                RouteQueues {
                    route,
                    url,
                    arn,
                    dead_letter_url,
                },
            );
        }
        TestStack {
            sdk,
            endpoint: moto.endpoint().to_string(),
            table,
            bucket,
            bus,
            queues,
        }
    }

    /// A stack with the demo tenants (`functions/faktura/demo-tenants.toml`) stored by the
    /// `faktura-admin` CLI, as an operator would. The demo seller sends from `sender` (SES
    /// identities are account-wide in moto: a test that needs an unverified sender uses its
    /// own address).
    pub async fn with_demo_tenants(moto: &MotoServer, sender: &str, verified: bool) -> TestStack {
        let stack = TestStack::create(moto, verified.then_some(sender)).await;
        let root = crate::lambda::repo_root();
        let tenants = std::fs::read_to_string(root.join("functions/faktura/demo-tenants.toml"))
            .expect("demo tenants")
            .replace(DEMO_SENDER, sender);
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), tenants).expect("write tenants");
        let output = std::process::Command::new(crate::lambda::binary("faktura-admin"))
            .args(["tenant", "put", "--table", &stack.table, "--file"])
            .arg(file.path())
            .env_clear()
            .envs(stack.function_env())
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .output()
            .expect("running faktura-admin");
        assert!(
            output.status.success(),
            "faktura-admin tenant put failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("stored tenant demo"), "{stdout}");
        stack
    }

    /// The functions' environment for this stack (what the template sets, pointed at moto).
    pub fn function_env(&self) -> Vec<(String, String)> {
        use faktura_lambda::config::*;
        [
            (TABLE_VAR, self.table.as_str()),
            (BUCKET_VAR, self.bucket.as_str()),
            (EVENT_BUS_VAR, self.bus.as_str()),
            (S3_PATH_STYLE_VAR, "true"),
            // Tests invoke the sweep on purpose: anything not done yet counts as stuck.
            (SWEEP_GRACE_VAR, "0"),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", crate::moto::REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub fn queue(&self, route: &WorkRoute) -> &RouteQueues {
        &self.queues[route.name]
    }
}

pub async fn verify_sender(sdk: &SdkConfig, sender: &str) {
    faktura_aws::setup::create_email_identity(&aws_sdk_sesv2::Client::new(sdk), sender)
        .await
        .expect("create email identity");
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue URL")
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone();
    (url, arn)
}
