//! A local AWS for the AWS adapter tests: moto's server (`.venv/bin/moto_server`, installed by
//! `scripts/install-test-tools`) on a free port, serving DynamoDB, S3, SESv2, EventBridge and
//! SQS from one process.
//!
//! One server per test binary is enough ([`MotoServer::shared`]); tests keep apart by fresh
//! table, bucket, bus and tenant names. SDK clients are cheap: build them per test (a client
//! keeps connections on the runtime that made them, and every `#[tokio::test]` has its own).
//!
//! Why not plain `moto_server`: it serves requests on many threads, and moto's DynamoDB is not
//! thread-safe — `TransactWriteItems` deep-copies the table for its rollback while other
//! requests write to it ("dictionary changed size during iteration", a 500 the SDK retries),
//! and a rollback restores that copy, undoing other requests' writes. 200 concurrent issuers
//! hit this at once. So we run moto's own WSGI app (exactly what `moto_server` runs) behind
//! one lock: connections stay concurrent (HTTP/1.1 keep-alive), requests are handled one at
//! a time, as DynamoDB's atomicity needs. Do not long-poll SQS against it (that holds the lock).
//! Its `TransactWriteItems` is also made cheaper (see [`SERVER`]).
//!
//! The server is started through a small `sh` supervisor whose stdin is a pipe from this
//! process: when the test binary exits, however it exits, the pipe closes and the supervisor
//! stops moto, so no server outlives its tests (a `static` is never dropped).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};

pub const REGION: &str = "eu-central-1";

/// moto's server (as `moto_server` runs it), handling one request at a time, with a cheaper
/// `TransactWriteItems`: moto deep-copies every table a transaction touches for its rollback,
/// which makes 200 contending issuers take O(n^2) table copies (minutes). With requests
/// serialized, checking all conditions first and applying only when all pass is atomic
/// without a copy; the cancellation reasons are reported as moto (and DynamoDB) report them.
/// Anything unusual (validation errors...) goes to moto's own implementation.
/// Arguments: host, port.
const SERVER: &str = r#"
import copy, os, sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app,
)
import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import TransactionCanceledException

class _NoCopy:
    @staticmethod
    def deepcopy(value, memo=None):
        return value

_original = dynamodb_models.DynamoDBBackend.transact_write_items

def transact_write_items(self, transact_items):
    if len(transact_items) > 100:
        return _original(self, transact_items)
    errors = []
    try:
        for entry in transact_items:
            if len(entry) != 1:
                return _original(self, transact_items)
            op_type, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            condition = op.get("ConditionExpression")
            if condition is not None:
                current = self.get_item(op["TableName"], key)
                check = dynamodb_models.get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not check.expr(current):
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", None))
                    continue
            errors.append((None, None, None))
    except Exception:
        return _original(self, transact_items)
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    dynamodb_models.copy = _NoCopy
    try:
        return _original(self, transact_items)
    finally:
        dynamodb_models.copy = copy

dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items

host, port, calls_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()

import io, json, re
from urllib.parse import parse_qs
calls = open(calls_path, "a", buffering=1)
credential = re.compile(r"Credential=([^/,\s]+)/")

def record(environ):
    """One line per AWS call: who made it (the access key) and what it touches, so the tests
    can hold each function's calls against its IAM policy."""
    query = environ.get("QUERY_STRING", "")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    m = credential.search(auth)
    key = m.group(1) if m else (parse_qs(query).get("X-Amz-Credential", [""])[0].split("/")[0])
    entry = {
        "key": key,
        "method": environ.get("REQUEST_METHOD", ""),
        "path": environ.get("PATH_INFO", ""),
        "query": query,
        "target": environ.get("HTTP_X_AMZ_TARGET", ""),
    }
    if entry["target"].startswith("DynamoDB_"):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        entry["table"] = doc.get("TableName", "")
        entry["index"] = doc.get("IndexName", "")
        ops = []
        for item in doc.get("TransactItems", []):
            for op, spec in item.items():
                ops.append([op, spec.get("TableName", "")])
        entry["ops"] = ops
    calls.write(json.dumps(entry) + "\n")

def serialized(environ, start_response):
    with lock:
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            record(environ)
        return list(app(environ, start_response))
run_simple(host, port, serialized, threaded=True, use_reloader=False,
           request_handler=MotoRequestHandler)
"#;

/// Starts the server, keeps it running until its stdin closes, then stops it.
/// Arguments: python, port, log file, server script, calls file.
const SUPERVISOR: &str = r#"
"$0" -c "$3" 127.0.0.1 "$1" "$4" >"$2" 2>&1 &
pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
"#;

pub struct MotoServer {
    endpoint: String,
    log: PathBuf,
    /// One JSON line per AWS call served (see [`MotoServer::calls`]).
    calls: PathBuf,
    process: Mutex<Option<(Child, ChildStdin)>>,
}

fn venv_bin(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    root.join(".venv").join("bin").join(name)
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free local port");
    listener.local_addr().expect("local address").port()
}

fn read_log(path: &PathBuf) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let start = text.len().saturating_sub(4000);
    text.get(start..).unwrap_or_default().to_string()
}

impl MotoServer {
    /// Starts a server and waits until it answers. Panics, saying how to install moto, when
    /// the binary is missing.
    pub fn start() -> MotoServer {
        let binary = venv_bin("python");
        assert!(
            binary.exists() && venv_bin("moto_server").exists(),
            "{} is missing: run scripts/install-test-tools (it installs moto[server] into .venv/)",
            binary.display()
        );
        let mut last_error = String::new();
        // A free port can be taken between asking and binding: try a few.
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir()
                .join(format!("faktura-moto-{}-{port}.log", std::process::id()));
            let calls = std::env::temp_dir().join(format!(
                "faktura-moto-{}-{port}.calls.jsonl",
                std::process::id()
            ));
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(SUPERVISOR)
                .arg(&binary)
                .arg(port.to_string())
                .arg(&log)
                .arg(SERVER)
                .arg(&calls)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let stdin = child.stdin.take().expect("piped stdin");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return MotoServer {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        log,
                        calls,
                        process: Mutex::new(Some((child, stdin))),
                    };
                }
                let exited = !matches!(child.try_wait(), Ok(None));
                if exited || Instant::now() > deadline {
                    drop(stdin);
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = format!(
                        "moto on port {port} {}; its log:\n{}",
                        if exited {
                            "exited"
                        } else {
                            "did not answer in 60 s"
                        },
                        read_log(&log)
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not start moto: {last_error}");
    }

    /// The server of this test binary, started on first use.
    pub fn shared() -> &'static MotoServer {
        static SERVER: OnceLock<MotoServer> = OnceLock::new();
        SERVER.get_or_init(MotoServer::start)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every AWS call served so far: who made it (`key`: the access key id), `method`, `path`,
    /// `query`, `target` (`X-Amz-Target`), and for DynamoDB `table`, `index` and the `ops` of a
    /// transaction (`[op, table]`).
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The server's output so far (for assertion messages).
    pub fn log_tail(&self) -> String {
        read_log(&self.log)
    }

    /// An SDK configuration for this server, built explicitly (no environment variables, no
    /// profile files): endpoint, region eu-central-1, static test credentials.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .build()
    }

    /// An S3 client with path-style addressing (moto has no per-bucket host names).
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// moto's view of everything it holds (`GET /moto-api/data.json`), e.g. sent mail under
    /// `["ses"]["RawMessage"]`.
    pub async fn data(&self) -> serde_json::Value {
        reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
            .await
            .expect("GET /moto-api/data.json")
            .json()
            .await
            .expect("moto data is JSON")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let process = self
            .process
            .get_mut()
            .map(Option::take)
            .unwrap_or_else(|poisoned| poisoned.into_inner().take());
        if let Some((mut child, stdin)) = process {
            // Closing stdin tells the supervisor to stop moto and exit.
            drop(stdin);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A name no other test uses: lowercase letters, digits and `-` (valid for tables, buckets,
/// buses and queues).
pub fn unique_name(prefix: &str) -> String {
    let id = faktura_domain::values::Id::generate("x");
    format!("{prefix}-{}", id.as_str().trim_start_matches("x_"))
}
