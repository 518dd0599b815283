//! The real function binaries under a Lambda runtime emulator: `cargo lambda watch
//! --only-lambda-apis` serves the Lambda runtime API and the invoke API, and each function
//! binary (built by `cargo build --workspace --bins`, which `scripts/test` runs first) is
//! started as Lambda starts it, polling `AWS_LAMBDA_RUNTIME_API` for invocations.
//!
//! [`Emulator::pump`] plays the SQS event source mapping: it receives a batch from a route's
//! queue, invokes the worker with it as an `SqsEvent`, deletes what the worker did not report
//! in `batchItemFailures`, and leaves the rest to come back after the visibility timeout.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stack::TestStack;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Where `cargo build` put the function binaries (beside this test's own target dir).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the functions first with `cargo build --workspace --bins` \
         (scripts/test does)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free local port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A child process that is killed when dropped (also when a test panics).
pub struct Guarded {
    pub child: Child,
    pub log: PathBuf,
}

impl Guarded {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a Lambda sandbox dies on a timeout or crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Keep the logs of a failed test for reading; remove them otherwise.
        if !std::thread::panicking() {
            for (_, f) in self.functions.get_mut().expect("functions").iter_mut() {
                f.kill();
            }
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `cargo lambda watch` on a free loopback port, plus the function processes started on it.
pub struct Emulator {
    pub port: u16,
    pub base: String,
    _watch: Guarded,
    functions: Mutex<Vec<(String, Guarded)>>,
    pub http: reqwest::Client,
    logs: PathBuf,
}

impl Emulator {
    pub fn start() -> Emulator {
        let cargo_lambda = repo_root().join(".venv/bin/cargo-lambda");
        assert!(
            cargo_lambda.exists(),
            "{} is missing: run scripts/install-test-tools",
            cargo_lambda.display()
        );
        let logs = tempfile::Builder::new()
            .prefix("faktura-lambda-")
            .tempdir()
            .expect("log dir")
            .keep();
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = logs.join(format!("watch-{port}.log"));
            let child = Command::new(&cargo_lambda)
                .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
                .args(["-P", &port.to_string()])
                .current_dir(repo_root())
                .env("PATH", path_with_venv())
                .stdin(Stdio::null())
                .stdout(log_file(&log))
                .stderr(log_file(&log))
                .spawn()
                .expect("starting cargo lambda watch");
            let mut watch = Guarded { child, log };
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Emulator {
                        port,
                        base: format!("http://127.0.0.1:{port}"),
                        _watch: watch,
                        functions: Mutex::new(Vec::new()),
                        http: reqwest::Client::builder()
                            .timeout(Duration::from_secs(120))
                            .build()
                            .expect("http client"),
                        logs,
                    };
                }
                if !matches!(watch.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last = watch.log_text();
            watch.kill();
        }
        panic!("cargo lambda watch did not start: {last}");
    }

    /// Starts `binary` as function `name` with `env` (plus the Lambda variables). A function
    /// name can be started again after [`Emulator::kill`].
    pub fn start_function(&self, name: &str, binary_name: &str, env: &[(String, String)]) {
        let log = unique(self.logs.join(name));
        let child = Command::new(binary(binary_name))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt/{name}", self.port),
            )
            // Each function signs as itself (an access key named after its binary), so the
            // calls moto serves can be held against that function's IAM policy
            // (`crate::iam`).
            .env("AWS_ACCESS_KEY_ID", binary_name)
            // No profile files: only what the test sets.
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary_name}: {e}"));
        self.functions
            .lock()
            .expect("functions")
            .push((name.to_string(), Guarded { child, log }));
    }

    /// Kills every process of function `name` (SIGKILL).
    pub fn kill(&self, name: &str) {
        for (n, f) in self.functions.lock().expect("functions").iter_mut() {
            if n == name {
                f.kill();
            }
        }
    }

    /// What each process of function `name` logged so far, in start order.
    pub fn logs_per_process(&self, name: &str) -> Vec<String> {
        self.functions
            .lock()
            .expect("functions")
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.log_text())
            .collect()
    }

    /// Everything function `name` logged so far (all its processes).
    pub fn logs(&self, name: &str) -> String {
        self.logs_per_process(name).join("\n")
    }

    /// Invokes `function` with `payload` through the Lambda invoke API; returns the response
    /// payload (a function error comes back as `{"errorType", "errorMessage"}`).
    pub async fn invoke(&self, function: &str, payload: &Value) -> Value {
        let response = self
            .http
            .post(format!(
                "{}/2015-03-31/functions/{function}/invocations",
                self.base
            ))
            .json(payload)
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoking {function}: {e}"));
        let text = response.text().await.expect("invoke response");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    /// An HTTP request through the function URL emulation (an API Gateway v2 event).
    pub fn url(&self, function: &str, path: &str) -> String {
        format!("{}/lambda-url/{function}{path}", self.base)
    }

    /// Posts a signed booking through `function`'s URL, as a platform would (Standard Webhooks
    /// headers, current time). Returns status and JSON answer.
    pub async fn post_booking(
        &self,
        function: &str,
        tenant: &str,
        secret: &str,
        webhook_id: &str,
        body: &str,
    ) -> (u16, Value) {
        let secret: faktura_http::signature::WebhookSecret =
            secret.parse().expect("webhook secret");
        let timestamp = chrono::Utc::now().timestamp();
        let signature =
            faktura_http::signature::sign(&secret, webhook_id, timestamp, body.as_bytes());
        let response = self
            .http
            .post(self.url(function, &format!("/v1/webhooks/{tenant}/bookings")))
            .header("content-type", "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .expect("webhook request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("webhook answer");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Peak resident memory (VmHWM, MiB) of each live process of function `name`.
    pub fn peak_rss_mib(&self, name: &str) -> Vec<f64> {
        self.functions
            .lock()
            .expect("functions")
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, f)| {
                let status =
                    std::fs::read_to_string(format!("/proc/{}/status", f.child.id())).ok()?;
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|kb| kb.parse::<f64>().ok())
                    .map(|kb| kb / 1024.0)
            })
            .collect()
    }

    /// Plays the SQS event source for one batch of `route`'s queue on `function`. Returns
    /// (messages delivered, messages reported failed).
    pub async fn pump(
        &self,
        stack: &TestStack,
        route: &faktura_aws::stack::WorkRoute,
        function: &str,
    ) -> (usize, usize) {
        let queue = stack.queue(route);
        self.pump_queue(stack, &queue.url, &queue.arn, function)
            .await
    }

    /// Plays the SQS event source for one batch of the queue at `url` on `function`.
    pub async fn pump_queue(
        &self,
        stack: &TestStack,
        url: &str,
        arn: &str,
        function: &str,
    ) -> (usize, usize) {
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(5)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = received.messages();
        if messages.is_empty() {
            return (0, 0);
        }
        let event = sqs_event(arn, messages);
        let answer = self.invoke(function, &event).await;
        let failed: Vec<String> = match answer.get("batchItemFailures") {
            Some(list) => list
                .as_array()
                .expect("batchItemFailures is a list")
                .iter()
                .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_string())
                .collect(),
            // A function error (or crash) fails the whole batch: nothing is deleted.
            None => messages
                .iter()
                .map(|m| m.message_id().unwrap_or_default().to_string())
                .collect(),
        };
        for m in messages {
            if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
        (messages.len(), failed.len())
    }

    /// Pumps every route until all queues stay empty past the visibility timeout, or
    /// `timeout` passes. Returns how many batch items failed on the way.
    pub async fn drain(
        &self,
        stack: &TestStack,
        workers: &[(&faktura_aws::stack::WorkRoute, &str)],
        timeout: Duration,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        let mut failures = 0;
        let mut quiet_since = Instant::now();
        loop {
            let mut busy = false;
            for (route, function) in workers {
                let (delivered, failed) = self.pump(stack, route, function).await;
                failures += failed;
                busy |= delivered > 0;
            }
            if busy {
                quiet_since = Instant::now();
            } else if quiet_since.elapsed()
                > Duration::from_secs(crate::stack::TEST_VISIBILITY_SECONDS as u64 + 1)
            {
                return failures;
            }
            assert!(
                Instant::now() < deadline,
                "queues did not drain in {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An SQS event as the Lambda event source mapping sends it.
pub fn sqs_event(queue_arn: &str, messages: &[aws_sdk_sqs::types::Message]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let receive_count = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .cloned()
                .unwrap_or_else(|| "1".into());
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {
                    "ApproximateReceiveCount": receive_count,
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDAEVENTBRIDGE",
                    "ApproximateFirstReceiveTimestamp": "1700000000000"
                },
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": crate::moto::REGION,
            })
        })
        .collect();
    json!({ "Records": records })
}

fn log_file(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .expect("log file")
}

fn unique(path: PathBuf) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_extension(format!("{n}.log"))
}

fn path_with_venv() -> String {
    let venv = repo_root().join(".venv/bin");
    format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
