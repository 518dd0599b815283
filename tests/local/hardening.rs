//! What outside testing found, each kind with the test that would have caught it: answers in
//! the error format for the framework's own rejections, a 413 the sender can read, a panic or
//! a hung request that still ends in a JSON answer with a request id, and a local runner that
//! owns its data dir and resumes a crashed run at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request};
use faktura_domain::StoreError;
use faktura_domain::ports::{TenantDirectory, TenantRecord};
use faktura_domain::values::Id;
use faktura_einvoice::EInvoiceXml;
use faktura_local::app::{LocalApp, LocalConfig};
use faktura_tests::local::{
    DEMO, DEMO_KEY, DEMO_SECRET, SAMPLE, TestApp, load_tenants, sample_with,
};
use serde_json::Value;
use tower::ServiceExt;

fn assert_format(status: u16, expected: u16, json: &Value, code: &str) {
    assert_eq!(status, expected, "{json}");
    assert_eq!(json["error"]["code"], code, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{json}"
    );
}

async fn raw_get(
    t: &TestApp,
    path: &str,
    method: reqwest::Method,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let res = t
        .client
        .request(method, format!("{}{path}", t.base))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let json = res.json().await.unwrap_or(Value::Null);
    (status, json, headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frameworks_own_rejections_are_in_the_error_format() {
    let t = TestApp::start().await;
    // Path parameters that are not UTF-8 once decoded: once a plain-text 400 from the extractor.
    for path in [
        "/v1/invoices/%FF",
        "/v1/invoices/%C3%28/pdf",
        "/v1/invoices/%E2%82/xml",
    ] {
        let (status, json, headers) = raw_get(&t, path, reqwest::Method::GET).await;
        assert_format(status, 400, &json, "invalid_path");
        assert_eq!(json["error"]["field"], "path");
        assert!(headers.contains_key("x-request-id"));
    }
    let a = t.post_raw("%FF", &[], SAMPLE.as_bytes().to_vec()).await;
    assert_format(a.status, 400, &a.json, "invalid_path");
    // Methods a route does not take, and routes that do not exist.
    let (status, json, headers) = raw_get(&t, "/v1/invoices", reqwest::Method::DELETE).await;
    assert_format(status, 405, &json, "method_not_allowed");
    assert!(headers.contains_key("allow"), "{headers:?}");
    let (status, json, _) = raw_get(&t, "/v1/nothing", reqwest::Method::GET).await;
    assert_format(status, 404, &json, "route_not_found");
    let (status, json, _) = raw_get(&t, "/v1/webhooks/demo/bookings", reqwest::Method::GET).await;
    assert_format(status, 405, &json, "method_not_allowed");
    // Bad query parameters name the parameter.
    let (status, json, _) = raw_get(&t, "/v1/invoices?limit=%FF", reqwest::Method::GET).await;
    assert_format(status, 400, &json, "invalid_query");
    // A body that is not JSON by its content type.
    let res = t
        .client
        .post(format!("{}/v1/webhooks/{DEMO}/bookings", t.base))
        .header("content-type", "text/plain")
        .body(SAMPLE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let json: Value = res.json().await.unwrap();
    assert_format(415, 415, &json, "unsupported_media_type");
    // A caller's request id comes back; a hostile one is replaced.
    let res = t
        .client
        .get(format!("{}/v1/invoices", t.base))
        .bearer_auth(DEMO_KEY)
        .header("x-request-id", "req-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-1234");
    let res = t
        .client
        .get(format!("{}/v1/invoices", t.base))
        .header("x-request-id", "a b;c=\"d\"")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "a b;c=\"d\"");
}

/// Writes a request with a body of `len` bytes in pieces, then reads the whole answer, the
/// way a client that sends first and reads afterwards does.
fn send_large_body(addr: SocketAddr, len: usize, chunked: bool) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = if chunked {
        format!(
            "POST /v1/webhooks/{DEMO}/bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
    } else {
        format!(
            "POST /v1/webhooks/{DEMO}/bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    stream.write_all(head.as_bytes())?;
    let piece = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = piece.len().min(len - sent);
        if chunked {
            stream.write_all(format!("{n:x}\r\n").as_bytes())?;
            stream.write_all(&piece[..n])?;
            stream.write_all(b"\r\n")?;
        } else {
            stream.write_all(&piece[..n])?;
        }
        sent += n;
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n")?;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_a_413_the_sender_can_read() {
    let t = TestApp::start().await;
    let addr: SocketAddr = t.base.trim_start_matches("http://").parse().unwrap();
    for (len, chunked) in [
        (3 * 1024 * 1024, false),
        (5 * 1024 * 1024, true),
        (1024 * 1024 + 1, false),
    ] {
        let answer = tokio::task::spawn_blocking(move || send_large_body(addr, len, chunked))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{len} bytes (chunked {chunked}): the sender saw {e}"));
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("\"payload_too_large\""), "{answer}");
    }
    // reqwest, a typical client, reads it too.
    let res = t
        .client
        .post(format!("{}/v1/webhooks/{DEMO}/bookings", t.base))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .expect("the 413 is read, not a reset");
    assert_eq!(res.status().as_u16(), 413);
}

/// A tenant directory that misbehaves the way a bug or a hung dependency would.
struct Faulty {
    mode: &'static str,
}

#[async_trait]
impl TenantDirectory for Faulty {
    async fn tenant(&self, _id: &Id) -> Result<Option<TenantRecord>, StoreError> {
        match self.mode {
            "panic" => panic!("a bug deep inside a request: customer text Erika Mustermann"),
            _ => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(None)
            }
        }
    }
    async fn tenant_for_api_key(&self, _key: &str) -> Result<Option<Id>, StoreError> {
        self.tenant(&"x".parse().unwrap()).await.map(|_| None)
    }
}

fn faulty_router(mode: &'static str) -> axum::Router {
    let db = Arc::new(faktura_embedded::SqliteStore::in_memory().unwrap());
    let (bus, _rx) = faktura_embedded::InProcessBus::new();
    let stores = faktura_domain::ports::Stores {
        tenants: Arc::new(Faulty { mode }),
        repository: db.clone(),
        jobs: db,
        files: Arc::new(faktura_embedded::FsFileStore::new(std::env::temp_dir())),
        events: Arc::new(bus),
        clock: Arc::new(faktura_domain::ports::SystemClock),
    };
    let mut state = faktura_http::AppState::from_stores(stores, Arc::new(EInvoiceXml));
    state.request_timeout = Duration::from_millis(300);
    faktura_http::router(state)
}

async fn answer(
    router: axum::Router,
    request: Request<Body>,
) -> (u16, Value, axum::http::HeaderMap) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}

/// Log lines written while a test runs, captured for inspection.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panic_or_a_hung_request_still_ends_in_a_json_answer_and_a_log_line() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let request = || {
            Request::builder()
                .method(Method::GET)
                .uri("/v1/invoices")
                .header("authorization", "Bearer k")
                .header("x-request-id", "req-panic-1")
                .body(Body::empty())
                .unwrap()
        };
        let (status, json, headers) = answer(faulty_router("panic"), request()).await;
        assert_format(status, 500, &json, "internal");
        assert_eq!(headers["x-request-id"], "req-panic-1");
        assert!(!json.to_string().contains("Erika"), "{json}");

        let started = Instant::now();
        let (status, json, headers) = answer(faulty_router("hang"), request()).await;
        assert_format(status, 503, &json, "timeout");
        assert!(headers.contains_key("retry-after"));
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("panicked") && l.contains("req-panic-1")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains("timed out")), "{text}");
    // The panic message quoted customer text; the log does not repeat it.
    assert!(!text.contains("Erika"), "{text}");
}

// ---- the local runner owns its data dir and resumes a crashed run ---------------------------

fn config(dir: &std::path::Path) -> LocalConfig {
    let mut config = LocalConfig::new(dir.to_path_buf(), load_tenants());
    // The periodic scheduler must not be what recovers the work here.
    config.schedule_every = Duration::from_secs(3600);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalApp::start(config(dir.path())).await.unwrap();
    let second = LocalApp::start(config(dir.path())).await;
    let message = second.err().expect("refused");
    assert!(message.contains("another Faktura process"), "{message}");
    first.shutdown().await;
    // Once the first is gone, the dir is free again.
    let third = LocalApp::start(config(dir.path())).await.unwrap();
    third.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_unfinished_work_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let tenant: Id = DEMO.parse().unwrap();
    async fn sent(app: &LocalApp, tenant: &Id, id: &Id) -> bool {
        app.stores
            .repository
            .document(tenant, id)
            .await
            .unwrap()
            .is_some_and(|d| d.delivery.is_sent())
    }
    // A first run issues and mails one invoice.
    let first_invoice: Id = {
        let mut app = LocalApp::start(config(dir.path())).await.unwrap();
        let addr = app
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let answer = faktura_local::client::send_booking(
            &reqwest::Client::new(),
            &format!("http://{addr}"),
            DEMO,
            DEMO_SECRET,
            sample_with("bk_resume_1", &[]).into_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 202, "{}", answer.body);
        let invoice_id: Id = serde_json::from_str::<Value>(&answer.body).unwrap()["invoice_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !sent(&app, &tenant, &invoice_id).await {
            assert!(Instant::now() < deadline, "first run did not send");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Now the state a kill leaves behind: a second booking recorded whose event died
        // with the process, its job claimed by a worker that died too (a lease of five
        // minutes), and a third booking recorded whose event was lost before any worker.
        let second = faktura_tests::local::record_with_lost_event(
            &app.stores,
            DEMO,
            &sample_with("bk_resume_2", &[]),
        )
        .await;
        let jobs = app
            .stores
            .jobs
            .jobs(
                &tenant,
                Some(faktura_domain::jobs::JobState::Pending),
                None,
                10,
            )
            .await
            .unwrap()
            .jobs;
        let job = jobs
            .iter()
            .find(|j| j.subject.as_str() == "bk_resume_2")
            .expect("the second booking's job");
        let now = chrono::Utc::now();
        app.stores
            .jobs
            .claim(&tenant, &job.id, now, now + chrono::TimeDelta::minutes(5))
            .await
            .unwrap()
            .expect("claimed by the worker that dies");
        let third = faktura_tests::local::record_with_lost_event(
            &app.stores,
            DEMO,
            &sample_with("bk_resume_3", &[]),
        )
        .await;
        app.shutdown().await;
        assert!(second.invoice_id.is_some() && third.invoice_id.is_some());
        invoice_id
    };
    let started = Instant::now();
    let app = LocalApp::start(config(dir.path())).await.unwrap();
    let deadline = Duration::from_secs(20);
    let ids = |b: &str| {
        let app = &app;
        let tenant = tenant.clone();
        let b: Id = b.parse().unwrap();
        async move {
            app.stores
                .repository
                .booking(&tenant, &b)
                .await
                .unwrap()
                .and_then(|r| r.documents.invoice)
        }
    };
    loop {
        let mut all = sent(&app, &tenant, &first_invoice).await;
        for b in ["bk_resume_2", "bk_resume_3"] {
            all &= match ids(b).await {
                Some(id) => sent(&app, &tenant, &id).await,
                None => false,
            };
        }
        if all {
            break;
        }
        assert!(
            started.elapsed() < deadline,
            "not resumed within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Well before the periodic scheduler (an hour here) or the lease (5 min) would have.
    eprintln!("resumed in {:?}", started.elapsed());
    let mut numbers = Vec::new();
    for b in ["bk_resume_2", "bk_resume_3"] {
        let id = ids(b).await.unwrap();
        let doc = app
            .stores
            .repository
            .document(&tenant, &id)
            .await
            .unwrap()
            .unwrap();
        numbers.push(doc.content.number.as_str().to_string());
    }
    numbers.sort();
    assert!(
        numbers[0].ends_with("-00002") && numbers[1].ends_with("-00003"),
        "{numbers:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .count(),
        3,
        "one mail per invoice, none twice"
    );
    app.shutdown().await;
}
