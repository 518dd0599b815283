//! A local Faktura started in-process on a temporary data dir, served on a free loopback
//! port, and a client that talks to it like a booking platform and an API user would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faktura_domain::values::Id;
use faktura_http::signature::{WebhookSecret, sign};
use faktura_local::app::{LocalApp, LocalConfig};
use faktura_local::tenants::{self, LocalTenant};
use serde_json::Value;

pub const DEMO: &str = tenants::DEMO_TENANT;
pub const DEMO_SECRET: &str = tenants::DEMO_SECRET;
pub const DEMO_KEY: &str = tenants::DEMO_API_KEY;
pub const SMALL: &str = "kleinunternehmer";
pub const SMALL_SECRET: &str = "whsec_a2xlaW51bnRlcm5laG1lci1kZW1vLXNlY3JldC0wMDE=";
pub const SMALL_KEY: &str = "kleinunternehmer-api-key";

/// The documented sample booking (B2C, gross prices).
pub const SAMPLE: &str = include_str!("../../events/webhooks/demo/01-b2c-gross.json");

pub struct TestApp {
    pub app: LocalApp,
    pub base: String,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: u16,
    pub json: Value,
}

pub fn load_tenants() -> Vec<LocalTenant> {
    tenants::demo()
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(load_tenants()).await
    }

    /// [`TestApp::start`] with other tenants (e.g. the demo tenants with other settings).
    pub async fn start_with(tenants: Vec<LocalTenant>) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = LocalConfig::new(dir.path().join("data"), tenants);
        // Tests drive the scheduler themselves.
        config.schedule_every = Duration::from_secs(3600);
        let mut app = LocalApp::start(config).await.expect("local app starts");
        let addr = app
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("serves");
        TestApp {
            app,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// A local Faktura on a simulated clock started at `at` (`faktura serve
    /// --simulated-clock`): time moves only by [`TestApp::advance`].
    pub async fn start_simulated(at: &str) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        TestApp::simulated_on(dir, load_tenants(), at).await
    }

    /// [`TestApp::start_simulated`] with other tenants.
    pub async fn start_simulated_with(at: &str, tenants: Vec<LocalTenant>) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        TestApp::simulated_on(dir, tenants, at).await
    }

    /// Stops this app (an outage) and starts a new one on the same data at `at`.
    pub async fn restart_simulated(self, at: &str) -> TestApp {
        let TestApp { app, _dir: dir, .. } = self;
        app.shutdown().await;
        TestApp::simulated_on(dir, load_tenants(), at).await
    }

    async fn simulated_on(dir: tempfile::TempDir, tenants: Vec<LocalTenant>, at: &str) -> TestApp {
        let mut config = LocalConfig::new(dir.path().join("data"), tenants);
        config.schedule_every = Duration::from_secs(3600);
        config.simulated_clock = Some(
            chrono::DateTime::parse_from_rfc3339(at)
                .expect("an RFC 3339 instant")
                .with_timezone(&chrono::Utc),
        );
        let mut app = LocalApp::start(config).await.expect("local app starts");
        let addr = app
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("serves");
        TestApp {
            app,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// `POST /v1/dev/clock` with `body` (`{"advance": …}` or `{"to": …}`); panics unless 200.
    pub async fn move_clock(&self, body: Value) -> Value {
        let (a, _) = self
            .api(
                reqwest::Method::POST,
                "/v1/dev/clock",
                Some(DEMO_KEY),
                None,
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(a.status, 200, "moving the clock: {}", a.json);
        a.json
    }

    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Posts `body` with explicit Standard Webhooks headers (any may be left out).
    pub async fn post_raw(
        &self,
        tenant: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self
            .client
            .post(format!("{}/v1/webhooks/{tenant}/bookings", self.base))
            .header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let res = req.body(body).send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, json }
    }

    /// Signs like a platform: fresh webhook id, current time.
    pub async fn post_signed(&self, tenant: &str, secret: &str, body: &str) -> Answer {
        let id = format!("msg_{}", uuid_like());
        self.post_delivery(tenant, secret, &id, chrono::Utc::now().timestamp(), body)
            .await
    }

    /// One delivery with a given id and timestamp (send it twice to simulate a retry).
    pub async fn post_delivery(
        &self,
        tenant: &str,
        secret: &str,
        id: &str,
        timestamp: i64,
        body: &str,
    ) -> Answer {
        let secret: WebhookSecret = secret.parse().expect("secret");
        let sig = sign(&secret, id, timestamp, body.as_bytes());
        self.post_raw(
            tenant,
            &[
                ("webhook-id", id.to_string()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", sig),
            ],
            body.as_bytes().to_vec(),
        )
        .await
    }

    pub async fn get(
        &self,
        path: &str,
        key: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.bytes().await.expect("body").to_vec())
    }

    pub async fn get_json(&self, path: &str, key: Option<&str>) -> Answer {
        let (status, _, body) = self.get(path, key).await;
        Answer {
            status,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    /// One API request as a client would send it: `key` as bearer token, an optional
    /// `Idempotency-Key`, and a JSON body (sent as `application/json`). Returns the answer and
    /// its headers.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&str>,
    ) -> (Answer, reqwest::header::HeaderMap) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (Answer { status, json }, headers)
    }

    /// Waits until the invoice's email went out; panics after `timeout`.
    pub async fn wait_sent(&self, tenant: &str, invoice_id: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        let tenant_id: Id = tenant.parse().expect("tenant id");
        let invoice_id: Id = invoice_id.parse().expect("invoice id");
        loop {
            if let Some(d) = self
                .app
                .stores
                .repository
                .document(&tenant_id, &invoice_id)
                .await
                .expect("store")
                && d.delivery.is_sent()
            {
                break;
            }
            assert!(
                started.elapsed() < timeout,
                "invoice {invoice_id} not sent within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let key = if tenant == SMALL { SMALL_KEY } else { DEMO_KEY };
        let a = self
            .get_json(&format!("/v1/invoices/{invoice_id}"), Some(key))
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
        a.json
    }

    /// An API call with the demo key: status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (a, _) = self
            .api(method, path, Some(DEMO_KEY), None, body.as_deref())
            .await;
        (a.status, a.json)
    }

    /// A GET with the demo key that must answer 200.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The mails in the outbox to `to`, oldest first (by their Date header, then file).
    pub fn mails_to(&self, to: &str) -> Vec<ReadMail> {
        use mail_parser::{MessageParser, MimeHeaders};
        let mut mails: Vec<(String, ReadMail)> = self
            .outbox()
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .filter_map(|p| {
                let raw = std::fs::read(p).ok()?;
                let msg = MessageParser::default().parse(&raw)?;
                let addressed = msg
                    .to()
                    .is_some_and(|a| a.iter().any(|x| x.address() == Some(to)));
                addressed.then(|| {
                    let date = msg.date().map(|d| d.to_rfc3339()).unwrap_or_default();
                    (
                        format!("{date}{}", p.display()),
                        ReadMail {
                            subject: msg.subject().unwrap_or_default().to_string(),
                            attachments: msg
                                .attachments()
                                .filter_map(|a| a.attachment_name().map(str::to_string))
                                .collect(),
                            text: msg.body_text(0).unwrap_or_default().to_string(),
                            html: msg
                                .html_part(0)
                                .and_then(|p| p.text_contents())
                                .unwrap_or_default()
                                .to_string(),
                        },
                    )
                })
            })
            .collect();
        mails.sort_by(|a, b| a.0.cmp(&b.0));
        mails.into_iter().map(|(_, m)| m).collect()
    }

    /// Files in the mail outbox.
    pub fn outbox(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.app.outbox_dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// A mail as read back from the outbox.
#[derive(Debug, Clone)]
pub struct ReadMail {
    pub subject: String,
    pub attachments: Vec<String>,
    pub text: String,
    /// The HTML part as sent (empty when there is none).
    pub html: String,
}

/// A decimal given as a JSON string (panics otherwise: tests only).
pub fn decimal(v: &Value) -> rust_decimal::Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is no decimal string"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The sample with a different booking id (and optionally other replacements).
pub fn sample_with(booking_id: &str, replacements: &[(&str, &str)]) -> String {
    let mut body = SAMPLE.replace("\"bk_1001\"", &format!("\"{booking_id}\""));
    for (from, to) in replacements {
        assert!(body.contains(from), "sample has no {from}");
        body = body.replace(from, to);
    }
    body
}

/// Records a webhook body for `tenant` as the webhook does, but its events never reach a
/// worker (the process died right after the commit): the scheduler has to hand its job out.
pub async fn record_with_lost_event(
    stores: &faktura_domain::ports::Stores,
    tenant: &str,
    body: &str,
) -> faktura_domain::service::intake::BookingAccepted {
    let mut quiet = stores.clone();
    quiet.events = std::sync::Arc::new(crate::contract::DroppedEvents);
    let tenant_id: Id = tenant.parse().expect("tenant id");
    let record = quiet
        .tenants
        .tenant(&tenant_id)
        .await
        .expect("tenants")
        .expect("tenant");
    let event = faktura_http::dto::booking::parse_booking_event(body.as_bytes()).expect("body");
    faktura_domain::service::intake::BookingIntake::new(
        quiet,
        std::sync::Arc::new(faktura_einvoice::EInvoiceXml),
    )
    .receive(&record, Some(&format!("msg_lost_{}", uuid_like())), event)
    .await
    .expect("recorded")
}
