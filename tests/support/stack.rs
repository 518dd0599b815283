//! The deployed stack's resources on moto, created by `faktura-admin dev-stack`'s code from the
//! definitions the SAM template is checked against (`faktura_aws::schema::TABLE`,
//! `faktura_aws::stack::ROUTES`): the table, the documents bucket, the event bus, and per route
//! a queue with its dead-letter queue and the rule feeding it; plus the sender identity.
//! `tests/local/template.rs` checks the template against the same values.

use aws_config::SdkConfig;
use faktura_admin::dev_stack::{self, RouteQueues};
use faktura_aws::stack::WorkRoute;

use crate::moto::{MotoServer, unique_name};

/// One stack on moto (unique names, so tests run side by side).
#[derive(Debug, Clone)]
pub struct TestStack {
    pub sdk: SdkConfig,
    pub endpoint: String,
    pub table: String,
    pub bucket: String,
    pub bus: String,
    pub queues: Vec<RouteQueues>,
    /// The inbox queue's URL and ARN.
    pub inbox: (String, String),
}

/// The demo seller's address in `demo-tenants.toml`.
pub const DEMO_SENDER: &str = "rechnung@yoga-sonnenschein.example";

/// Seconds a received message stays invisible: short, so tests see retries quickly (the
/// template uses six times the worker timeout).
pub const TEST_VISIBILITY_SECONDS: i32 = 1;

impl TestStack {
    /// Creates every resource with `faktura-admin dev-stack`'s code; `sender` becomes a
    /// verified SES identity unless `None`.
    pub async fn create(moto: &MotoServer, sender: Option<&str>) -> TestStack {
        let sdk = moto.sdk_config();
        let created = dev_stack::create(
            &sdk,
            &unique_name("faktura"),
            TEST_VISIBILITY_SECONDS as u32,
        )
        .await
        .expect("create the stack on moto");
        if let Some(sender) = sender {
            verify_sender(&sdk, sender).await;
        }
        TestStack {
            sdk,
            endpoint: moto.endpoint().to_string(),
            table: created.table,
            bucket: created.bucket,
            bus: created.bus,
            queues: created.queues,
            inbox: (created.inbox_url, created.inbox_arn),
        }
    }

    /// A stack with the demo tenants (`functions/faktura/demo-tenants.toml`) stored by the
    /// `faktura-admin` CLI, as an operator would. The demo seller sends from `sender` (SES
    /// identities are account-wide in moto: a test that needs an unverified sender uses its
    /// own address).
    pub async fn with_demo_tenants(moto: &MotoServer, sender: &str, verified: bool) -> TestStack {
        TestStack::with_edited_demo_tenants(moto, sender, verified, str::to_string).await
    }

    /// [`TestStack::with_demo_tenants`] with the tenants file changed by `edit` first (other
    /// settings).
    pub async fn with_edited_demo_tenants(
        moto: &MotoServer,
        sender: &str,
        verified: bool,
        edit: impl Fn(&str) -> String,
    ) -> TestStack {
        let stack = TestStack::create(moto, verified.then_some(sender)).await;
        let root = crate::lambda::repo_root();
        let tenants = std::fs::read_to_string(root.join("functions/faktura/demo-tenants.toml"))
            .expect("demo tenants")
            .replace(DEMO_SENDER, sender);
        let tenants = edit(&tenants);
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
        self.queues
            .iter()
            .find(|q| q.route.name == route.name)
            .expect("every route has queues")
    }
}

pub async fn verify_sender(sdk: &SdkConfig, sender: &str) {
    faktura_aws::setup::create_email_identity(&aws_sdk_sesv2::Client::new(sdk), sender)
        .await
        .expect("create email identity");
}
