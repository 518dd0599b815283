//! End to end on this machine: the real function binaries under `cargo lambda watch`, the
//! stack's resources on moto (created from the definitions the template is checked against),
//! the EventBridge → SQS hop delivered to the workers as the event source mapping would, and
//! the scheduler invoked with the sample scheduled event from `events/`. Each test builds its
//! own stack, so they run side by side; moto is shared per test binary.
//!
//! Checked at the end of each flow: the documents in DynamoDB, the PDFs in S3 (read back as
//! text), the mail in SES (read back from moto, attachments included), and exactly one
//! document, one number and one mail per booking event, also when a hop fails on the way.

use std::collections::BTreeSet;
use std::time::Duration;

use faktura_aws::stack::{INBOX_FUNCTION, ISSUE_ROUTE, MAIL_ROUTE, ROUTES, WorkRoute};
use faktura_aws::{DynamoStore, S3FileStore};
use faktura_domain::document::Document;
use faktura_domain::model::DocumentKind;
use faktura_domain::ports::{DocumentFilter, FileStore, Repository};
use faktura_domain::values::Id;
use faktura_tests::lambda::{Emulator, repo_root};
use faktura_tests::local::{DEMO, DEMO_KEY, DEMO_SECRET, sample_with};
use faktura_tests::moto::MotoServer;
use faktura_tests::pdf;
use faktura_tests::stack::TestStack;
use mail_parser::MimeHeaders;
use serde_json::{Value, json};

const SENDER: &str = faktura_tests::stack::DEMO_SENDER;
const WEBHOOK: &str = "faktura-webhook";
const API: &str = "faktura-api";
const SCHEDULER: &str = "faktura-scheduler";

fn moto() -> &'static MotoServer {
    MotoServer::shared()
}

async fn stack_with_tenants(sender: &str, verified: bool) -> TestStack {
    TestStack::with_demo_tenants(moto(), sender, verified).await
}

/// Starts the six functions with the stack's environment (plus `overrides`).
fn start_functions(emulator: &Emulator, stack: &TestStack, overrides: &[(&str, &str)]) {
    let env = env_with(stack, overrides);
    emulator.start_function(WEBHOOK, "faktura-webhook", &env);
    emulator.start_function(API, "faktura-api", &env);
    emulator.start_function(SCHEDULER, "faktura-scheduler", &env);
    for route in ROUTES {
        emulator.start_function(route.worker, route.worker, &env);
    }
    emulator.start_function(INBOX_FUNCTION, INBOX_FUNCTION, &env);
}

fn env_with(stack: &TestStack, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = stack.function_env();
    for (key, value) in overrides {
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value.to_string()));
    }
    env
}

fn workers() -> Vec<(&'static WorkRoute, &'static str)> {
    vec![
        (&ISSUE_ROUTE, ISSUE_ROUTE.worker),
        (&MAIL_ROUTE, MAIL_ROUTE.worker),
    ]
}

async fn post_booking(emulator: &Emulator, webhook_id: &str, body: &str) -> (u16, Value) {
    emulator
        .post_booking(WEBHOOK, DEMO, DEMO_SECRET, webhook_id, body)
        .await
}

fn demo() -> Id {
    DEMO.parse().expect("id")
}

/// The demo tenant's documents (of `kind`, or all), oldest first.
async fn documents(stack: &TestStack, kind: Option<DocumentKind>) -> Vec<Document> {
    let store = DynamoStore::new(&stack.sdk, &stack.table);
    store
        .documents(
            &demo(),
            &DocumentFilter {
                kind,
                ..DocumentFilter::default()
            },
            None,
            200,
        )
        .await
        .expect("list documents")
        .documents
}

fn file_store(stack: &TestStack) -> S3FileStore {
    S3FileStore::new(&stack.sdk, {
        let mut s = faktura_aws::S3Settings::new(&stack.bucket);
        s.force_path_style = true;
        s
    })
}

/// Raw messages moto's SES accepted from our sender to `recipient`.
async fn mails_to(recipient: &str) -> Vec<String> {
    let data = moto().data().await;
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            m["destinations"].as_array().is_some_and(|d| {
                d.iter()
                    .any(|d| d.as_str().is_some_and(|d| d.contains(recipient)))
            })
        })
        .filter_map(|m| m["raw_data"].as_str().map(str::to_string))
        .collect()
}

/// The attachments of a raw mail: (file name, bytes).
fn attachments(raw: &str) -> Vec<(String, Vec<u8>)> {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME");
    parsed
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_string(),
                a.contents().to_vec(),
            )
        })
        .collect()
}

fn scheduled_event() -> Value {
    let text = std::fs::read_to_string(repo_root().join("events/lambda/scheduled.json"))
        .expect("events/lambda/scheduled.json");
    serde_json::from_str(&text).expect("sample scheduled event is JSON")
}

/// Runs the scheduler and the workers until `done` holds (each round: one scheduled run, then
/// the queues drained); panics after `rounds`.
async fn schedule_until<F, Fut>(emulator: &Emulator, stack: &TestStack, rounds: usize, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..rounds {
        if done().await {
            return;
        }
        let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
        assert_eq!(report["publish_failures"], 0, "{report}");
        emulator
            .drain(stack, &workers(), Duration::from_secs(120))
            .await;
    }
    assert!(done().await, "not done after {rounds} scheduler rounds");
}

/// One invoice per booking id, numbers 1..n without gaps, each mailed exactly once (the
/// recipient addresses are unique per booking in these tests).
async fn assert_exactly_once(stack: &TestStack, bookings: &[(&str, &str)]) {
    let all = documents(stack, Some(DocumentKind::Invoice)).await;
    assert_eq!(
        all.len(),
        bookings.len(),
        "one invoice per booking: {:?}",
        all.iter()
            .map(|d| d.content.booking_id.clone())
            .collect::<Vec<_>>()
    );
    let numbers: BTreeSet<String> = all
        .iter()
        .map(|d| d.content.number.as_str().to_string())
        .collect();
    assert_eq!(numbers.len(), bookings.len(), "distinct numbers");
    let mut counters: Vec<u64> = all
        .iter()
        .map(|d| {
            d.content
                .number
                .as_str()
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("numbered")
        })
        .collect();
    counters.sort_unstable();
    assert_eq!(
        counters,
        (1..=bookings.len() as u64).collect::<Vec<_>>(),
        "gapless"
    );
    for (booking, email) in bookings {
        let doc = all
            .iter()
            .find(|d| d.content.booking_id.as_ref().map(Id::as_str) == Some(*booking))
            .unwrap_or_else(|| panic!("invoice for {booking}"));
        assert!(doc.delivery.is_sent(), "{booking} was sent");
        assert_eq!(
            mails_to(email).await.len(),
            1,
            "exactly one mail for {booking}"
        );
    }
}

/// Every call each function made against this stack is allowed by its IAM policy.
fn check_iam(stack: &TestStack) {
    let unused = faktura_tests::iam::assert_calls_allowed(
        &moto().calls(),
        stack,
        &[
            WEBHOOK,
            API,
            SCHEDULER,
            ISSUE_ROUTE.worker,
            MAIL_ROUTE.worker,
            INBOX_FUNCTION,
        ],
    );
    for (function, permissions) in unused {
        if !permissions.is_empty() {
            eprintln!("{function}: allowed but not used in this test: {permissions:?}");
        }
    }
}

/// Every function's log lines are JSON and hold none of the sample's personal data (name,
/// street, the buyer addresses in `emails`, the seller's address).
fn assert_logs_hold_no_personal_data(emulator: &Emulator, emails: &[&str]) {
    for function in [
        WEBHOOK,
        API,
        SCHEDULER,
        ISSUE_ROUTE.worker,
        MAIL_ROUTE.worker,
    ] {
        let logs = emulator.logs(function);
        for line in logs.lines().filter(|l| l.starts_with('{')) {
            serde_json::from_str::<Value>(line).expect("JSON log line");
        }
        let mut personal = vec![
            "Erika",
            "Mustermann",
            "Hauptstr",
            "@yoga-sonnenschein",
            "@unverified",
        ];
        personal.extend(emails);
        for p in personal {
            assert!(
                !logs.contains(p),
                "{function} logged personal data ({p}):\n{logs}"
            );
        }
    }
}

fn booking(n: usize, tag: &str) -> (String, String, String) {
    let booking_id = format!("bk_{tag}_{n}");
    let email = format!("{tag}{n}@example.org");
    let body = sample_with(&booking_id, &[("erika@example.org", &email)]);
    (booking_id, email, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_booking_becomes_a_stored_pdf_and_one_mail() {
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    start_functions(&emulator, &stack, &[]);
    let (booking_id, email, body) = booking(1, "happy");

    let (status, answer) = post_booking(&emulator, "msg_happy_1", &body).await;
    assert_eq!(status, 202, "webhook answer: {answer}");
    let invoice_id = answer["invoice_id"]
        .as_str()
        .expect("invoice id")
        .to_string();
    // A platform retry with the same webhook id: the same answer, nothing new.
    let (status, again) = post_booking(&emulator, "msg_happy_1", &body).await;
    assert_eq!(status, 202);
    assert_eq!(again["invoice_id"], answer["invoice_id"]);

    let failures = emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    assert_eq!(
        failures,
        0,
        "issue worker log:\n{}",
        emulator.logs(ISSUE_ROUTE.worker)
    );
    assert_exactly_once(&stack, &[(&booking_id, &email)]).await;

    // DynamoDB holds the invoice; S3 the PDF, which reads back with the invoice's number.
    let inv = documents(&stack, None).await.remove(0).content;
    assert_eq!(inv.id.as_str(), invoice_id);
    let pdf = file_store(&stack)
        .file(&faktura_domain::service::pdf_key(&inv))
        .await
        .expect("GetObject")
        .expect("the PDF is in S3");
    let text = pdf::text(&pdf);
    assert!(
        text.contains(inv.number.as_str()),
        "PDF names the number: {text}"
    );
    assert!(text.contains("Erika Mustermann"), "PDF names the buyer");

    // SES got one mail for the buyer, the PDF attached byte for byte.
    let raw = mails_to(&email).await.remove(0);
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME");
    let attached = parsed
        .attachments()
        .find(|a| a.attachment_name().is_some_and(|n| n.ends_with(".pdf")))
        .expect("a PDF attachment");
    assert_eq!(attached.contents(), pdf.as_slice());

    // The API function answers with the tenant's key.
    let listed: Value = emulator
        .http
        .get(emulator.url(API, "/v1/invoices"))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET /v1/invoices")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        listed["invoices"][0]["number"],
        inv.number.as_str(),
        "{listed}"
    );
    let fetched = emulator
        .http
        .get(emulator.url(API, &format!("/v1/invoices/{invoice_id}/pdf")))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET pdf");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(
        fetched.bytes().await.expect("pdf bytes").as_ref(),
        pdf.as_slice()
    );
    // The webhook function serves no read routes; the API function no webhook.
    let wrong = emulator
        .http
        .get(emulator.url(WEBHOOK, "/v1/invoices"))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status().as_u16(), 404);

    // The sample API Gateway event from events/ works with `cargo lambda invoke`.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/lambda/apigw-list-invoices.json"))
            .expect("sample request"),
    )
    .expect("JSON");
    let answer = emulator.invoke(API, &sample).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");

    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &[&email]);
    assert!(
        emulator.logs(ISSUE_ROUTE.worker).contains(&invoice_id),
        "logs carry the invoice id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_whose_events_were_lost_are_handed_out_by_the_scheduler() {
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    // The webhook and the issue worker publish to a bus that does not exist: the booking and
    // its job are recorded, the invoice issued with its render job, but every announcement is
    // lost (the EventBridge publish failures of the fault list). Only the scheduler reaches
    // the real bus.
    let lost_bus = env_with(
        &stack,
        &[(faktura_lambda::config::EVENT_BUS_VAR, "no-such-bus")],
    );
    emulator.start_function(WEBHOOK, "faktura-webhook", &lost_bus);
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &lost_bus);
    let env = stack.function_env();
    emulator.start_function(SCHEDULER, "faktura-scheduler", &env);
    emulator.start_function(MAIL_ROUTE.worker, MAIL_ROUTE.worker, &env);
    let (booking_id, email, body) = booking(1, "lost");
    let (status, answer) = post_booking(&emulator, "msg_lost_1", &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        emulator
            .drain(&stack, &workers(), Duration::from_secs(30))
            .await,
        0
    );
    assert!(
        documents(&stack, None).await.is_empty(),
        "no event, no invoice yet"
    );

    // Each scheduled run hands out what is due: the booking's job, then the render job the
    // worker could not announce, then the delivery.
    schedule_until(&emulator, &stack, 6, || async {
        documents(&stack, None)
            .await
            .first()
            .is_some_and(|d| d.delivery.is_sent())
    })
    .await;
    assert_exactly_once(&stack, &[(&booking_id, &email)]).await;
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &[&email]);

    // Nothing is due any more: the next run hands out nothing.
    let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
    assert_eq!(
        report,
        json!({"dispatched": 0, "publish_failures": 0, "release1_work_adopted": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_mail_failures_are_retried_to_exactly_one_invoice_and_mail() {
    // The sender is not verified yet (SES refuses), and the issue worker's bucket is wrong at
    // first (S3 refuses): both jobs fail, are due again after their backoff (1 s here), show
    // their error in the API, and succeed when the scheduler hands them out again.
    let sender = format!(
        "{}@unverified.example",
        faktura_tests::moto::unique_name("billing")
    );
    let stack = stack_with_tenants(&sender, false).await;
    let emulator = Emulator::start();
    let retry = (faktura_lambda::config::RETRY_BASE_VAR, "1");
    let env = env_with(&stack, &[retry]);
    emulator.start_function(WEBHOOK, "faktura-webhook", &env);
    emulator.start_function(API, "faktura-api", &env);
    emulator.start_function(SCHEDULER, "faktura-scheduler", &env);
    emulator.start_function(
        ISSUE_ROUTE.worker,
        ISSUE_ROUTE.worker,
        &env_with(
            &stack,
            &[
                retry,
                (faktura_lambda::config::BUCKET_VAR, "no-such-bucket"),
            ],
        ),
    );
    emulator.start_function(MAIL_ROUTE.worker, MAIL_ROUTE.worker, &env);
    let sent: Vec<_> = (1..=2).map(|n| booking(n, "fault")).collect();
    for (n, (_, _, body)) in sent.iter().enumerate() {
        let (status, answer) = post_booking(&emulator, &format!("msg_fault_{n}"), body).await;
        assert_eq!(status, 202, "{answer}");
    }
    emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    assert_eq!(documents(&stack, None).await.len(), 2, "both issued once");
    let jobs = |state: &'static str| {
        let emulator = &emulator;
        async move {
            let answer: Value = emulator
                .http
                .get(emulator.url(API, &format!("/v1/jobs?state={state}")))
                .bearer_auth(DEMO_KEY)
                .send()
                .await
                .expect("GET /v1/jobs")
                .json()
                .await
                .expect("JSON");
            answer["jobs"].as_array().cloned().unwrap_or_default()
        }
    };
    // Pending: the two render jobs, and each invoice's dunning job waiting for its day.
    let waiting: Vec<Value> = jobs("pending")
        .await
        .into_iter()
        .filter(|j| j["kind"] == "render_document")
        .collect();
    assert_eq!(
        waiting.len(),
        2,
        "two render jobs wait for a retry: {waiting:?}"
    );
    for job in &waiting {
        assert_eq!(job["kind"], "render_document", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
        assert!(job["last_error"].is_string(), "the error is shown: {job}");
    }

    // The S3 outage ends; the worker is replaced (a new sandbox with the right bucket).
    emulator.kill(ISSUE_ROUTE.worker);
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &env);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Rendered now; SES refuses the unverified sender: the deliveries wait for a retry.
    schedule_until(&emulator, &stack, 5, || async {
        documents(&stack, None).await.iter().all(|d| d.rendered)
    })
    .await;
    let deliveries = || async {
        jobs("pending")
            .await
            .into_iter()
            .filter(|j| j["kind"] == "deliver_document" && j["attempts"].as_u64() >= Some(1))
            .count()
    };
    let mut waited = 0;
    while deliveries().await < 2 {
        waited += 1;
        assert!(waited < 10, "the deliveries did not fail as expected");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = emulator.invoke(SCHEDULER, &scheduled_event()).await;
        emulator
            .drain(&stack, &workers(), Duration::from_secs(60))
            .await;
    }
    assert!(mails_to("fault").await.is_empty(), "nothing was sent");
    faktura_tests::stack::verify_sender(&stack.sdk, &sender).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    schedule_until(&emulator, &stack, 8, || async {
        documents(&stack, None)
            .await
            .iter()
            .all(|d| d.delivery.is_sent())
    })
    .await;
    let bookings: Vec<(&str, &str)> = sent
        .iter()
        .map(|(b, e, _)| (b.as_str(), e.as_str()))
        .collect();
    assert_exactly_once(&stack, &bookings).await;
    assert!(jobs("failed").await.is_empty());
    let emails: Vec<&str> = bookings.iter().map(|(_, e)| *e).collect();
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &emails);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_and_killed_workers_still_give_one_invoice_per_booking() {
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    let env = stack.function_env();
    emulator.start_function(WEBHOOK, "faktura-webhook", &env);
    emulator.start_function(SCHEDULER, "faktura-scheduler", &env);
    emulator.start_function(MAIL_ROUTE.worker, MAIL_ROUTE.worker, &env);
    // Two sandboxes of the issue worker, both polling for invocations.
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &env);
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &env);
    let sent: Vec<_> = (1..=4).map(|n| booking(n, "race")).collect();
    for (n, (_, _, body)) in sent.iter().enumerate() {
        let (status, answer) = post_booking(&emulator, &format!("msg_race_{n}"), body).await;
        assert_eq!(status, 202, "{answer}");
    }
    // Every message goes to both sandboxes at once (a redelivery racing the first delivery):
    // counters conflict in DynamoDB, one transaction wins, the other retries or finds the
    // invoice.
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = stack.queue(&ISSUE_ROUTE);
    let mut seen = 0;
    while seen < sent.len() {
        let batch = sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage");
        let messages = batch.messages().to_vec();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        seen += messages.len();
        let event = faktura_tests::lambda::sqs_event(&queue.arn, &messages);
        let (a, b) = tokio::join!(
            emulator.invoke(ISSUE_ROUTE.worker, &event),
            emulator.invoke(ISSUE_ROUTE.worker, &event)
        );
        for answer in [a, b] {
            assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
        }
        for m in &messages {
            sqs.delete_message()
                .queue_url(&queue.url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
    assert_eq!(documents(&stack, None).await.len(), 4);
    // Which sandbox took which invocation is the emulator's choice; on a loaded machine one
    // may take both in turn (a sequential redelivery), which must end the same way.
    let busy = emulator
        .logs_per_process(ISSUE_ROUTE.worker)
        .iter()
        .filter(|log| log.contains("\"received\""))
        .count();
    eprintln!("racing: {busy} of 2 issue-worker sandboxes worked on the batches");
    // The renders and deliveries those jobs queued.
    emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    emulator.kill(ISSUE_ROUTE.worker);

    // A worker killed mid-message: the message is not deleted, comes back after the
    // visibility timeout and is finished by a fresh sandbox.
    let (booking_id, email, body) = booking(5, "race");
    let (status, _) = post_booking(&emulator, "msg_race_kill", &body).await;
    assert_eq!(status, 202);
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &env);
    let received_before = emulator
        .logs(ISSUE_ROUTE.worker)
        .matches("\"received\"")
        .count();
    let pump = emulator.pump(&stack, &ISSUE_ROUTE, ISSUE_ROUTE.worker);
    let kill = async {
        // Kill the sandbox as soon as it has started on the message.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while emulator
            .logs(ISSUE_ROUTE.worker)
            .matches("\"received\"")
            .count()
            == received_before
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the worker never got the message"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        emulator.kill(ISSUE_ROUTE.worker);
    };
    // The emulator holds the invocation of a dead sandbox; the message stays in the queue.
    let interrupted =
        tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(pump, kill) }).await;
    match interrupted {
        Err(_) => {
            let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(&stack.queue(&ISSUE_ROUTE).url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .expect("GetQueueAttributes");
            let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
                attributes
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            };
            use aws_sdk_sqs::types::QueueAttributeName::{
                ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
            };
            assert_eq!(
                count(ApproximateNumberOfMessages) + count(ApproximateNumberOfMessagesNotVisible),
                1,
                "the killed worker's message is still queued"
            );
        }
        // On a loaded machine the worker can finish before the kill lands: nothing to recover.
        Ok(((delivered, failed), ())) => {
            eprintln!("kill: the worker finished first ({delivered} delivered, {failed} failed)")
        }
    }
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &env);
    assert_eq!(
        emulator
            .drain(&stack, &workers(), Duration::from_secs(120))
            .await,
        0
    );
    // Renders and deliveries the racing batches queued, and anything the killed sandbox left:
    // the scheduler hands out what is due until everything is sent.
    schedule_until(&emulator, &stack, 6, || async {
        let docs = documents(&stack, None).await;
        docs.len() == 5 && docs.iter().all(|d| d.delivery.is_sent())
    })
    .await;
    let mut expected: Vec<(String, String)> = sent
        .iter()
        .map(|(b, e, _)| (b.clone(), e.clone()))
        .collect();
    expected.push((booking_id, email));
    let expected: Vec<(&str, &str)> = expected
        .iter()
        .map(|(b, e)| (b.as_str(), e.as_str()))
        .collect();
    assert_exactly_once(&stack, &expected).await;
    let emails: Vec<&str> = expected.iter().map(|(_, e)| *e).collect();
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &emails);
}

fn life_event(name: &str, replacements: &[(&str, &str)]) -> String {
    let mut body = std::fs::read_to_string(repo_root().join("events/life/demo").join(name))
        .unwrap_or_else(|_| panic!("events/life/demo/{name}"));
    for (from, to) in replacements {
        assert!(body.contains(from), "{name} has no {from}");
        body = body.replace(from, to);
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_proforma_becomes_the_final_invoice_mailed_with_the_contract() {
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    start_functions(&emulator, &stack, &[]);
    let email = "proforma-e2e@example.org";
    let replace = [("lena.vogel@example.org", email)];

    let created = life_event("01-proforma-course.json", &replace);
    let (status, answer) = post_booking(&emulator, "msg_pro_1", &created).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["document_kind"], "proforma", "{answer}");
    emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    let docs = documents(&stack, None).await;
    assert_eq!(docs.len(), 1, "a proforma and no tax invoice yet");
    let proforma = &docs[0];
    assert_eq!(proforma.kind(), DocumentKind::Proforma);
    assert!(proforma.content.number.as_str().starts_with("PRO-"));
    assert!(proforma.delivery.is_sent());
    let first = mails_to(email).await;
    assert_eq!(first.len(), 1, "the proforma is mailed");
    let files = attachments(&first[0]);
    assert_eq!(
        files.len(),
        1,
        "the proforma PDF only (no e-invoice): {:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let text = pdf::text(&files[0].1);
    assert!(text.contains("Proforma"), "{text}");

    // The payment arrives: the final invoice (prepaid, nothing due) and the contract, one mail.
    let paid = life_event("02-proforma-paid.json", &[]);
    let (status, answer) = post_booking(&emulator, "msg_pro_2", &paid).await;
    assert_eq!(status, 202, "{answer}");
    // A retry of the payment delivery is the same payment.
    let (status, again) = post_booking(&emulator, "msg_pro_2", &paid).await;
    assert_eq!((status, &again), (202, &answer));
    emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    let docs = documents(&stack, None).await;
    assert_eq!(docs.len(), 2);
    let proforma = docs
        .iter()
        .find(|d| d.kind() == DocumentKind::Proforma)
        .expect("proforma");
    let invoice = docs
        .iter()
        .find(|d| d.kind() == DocumentKind::Invoice)
        .expect("invoice");
    assert_eq!(
        proforma.lifecycle,
        faktura_domain::document::Lifecycle::Converted
    );
    assert_eq!(invoice.content.totals.prepaid.to_string(), "1490.00");
    assert_eq!(invoice.content.totals.amount_due.to_string(), "0.00");
    assert_eq!(
        invoice.payment_state(),
        faktura_domain::document::PaymentState::Paid
    );
    assert_eq!(
        invoice.content.preceding.as_ref().map(|p| p.id.clone()),
        Some(proforma.id().clone()),
        "the final invoice names its proforma"
    );
    let mails = mails_to(email).await;
    assert_eq!(
        mails.len(),
        2,
        "the proforma's mail and the final invoice's"
    );
    let files = attachments(&mails[1]);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let invoice_pdf = files
        .iter()
        .find(|(n, _)| n.starts_with(invoice.content.number.as_str()) && n.ends_with(".pdf"))
        .unwrap_or_else(|| panic!("the invoice PDF is attached: {names:?}"));
    let contract = files
        .iter()
        .find(|(n, _)| n != &invoice_pdf.0 && n.ends_with(".pdf"))
        .unwrap_or_else(|| panic!("the contract is attached: {names:?}"));
    let text = pdf::text(&invoice_pdf.1);
    assert!(text.contains(invoice.content.number.as_str()));
    let contract_text = pdf::text(&contract.1);
    assert!(
        contract_text.contains("Lena Vogel") && contract_text.contains("Ausbildung Yogalehrerin"),
        "the contract names the customer and the course: {contract_text}"
    );
    // The contract is stored with the invoice and served by the API function.
    let stored = file_store(&stack)
        .file(&faktura_domain::service::contract_key(&invoice.content))
        .await
        .expect("GetObject")
        .expect("the contract is in S3");
    assert_eq!(stored, contract.1);
    let served = emulator
        .http
        .get(emulator.url(API, &format!("/v1/invoices/{}/contract", invoice.id())))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET contract");
    assert_eq!(served.status().as_u16(), 200);
    assert_eq!(
        served.bytes().await.expect("bytes").as_ref(),
        stored.as_slice()
    );
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &[email, "Lena Vogel", "Kastanienallee"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_through_the_api_function_and_a_cancellation_by_credit_note() {
    // The tenant applies customer credit to the next invoice: the issue worker then looks
    // for the customer's credit (a Query its policy must allow).
    let stack = TestStack::with_edited_demo_tenants(moto(), SENDER, true, |t| {
        t.replacen(
            "[tenant.settings]\n",
            "[tenant.settings]\napply_credit = true\n",
            1,
        )
    })
    .await;
    let emulator = Emulator::start();
    start_functions(&emulator, &stack, &[]);
    let (_, email1, body1) = booking(1, "life");
    let (booking2, email2, body2) = booking(2, "life");
    for (n, body) in [body1, body2].iter().enumerate() {
        let (status, answer) = post_booking(&emulator, &format!("msg_life_{n}"), body).await;
        assert_eq!(status, 202, "{answer}");
    }
    emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    let invoices = documents(&stack, Some(DocumentKind::Invoice)).await;
    assert_eq!(invoices.len(), 2);
    let first = invoices
        .iter()
        .find(|d| d.content.buyer.email.as_str() == email1)
        .expect("first invoice");
    let gross = first.settlement.charged;

    // A partial payment with an Idempotency-Key; its retry is the same answer; the same key
    // with another body is a conflict.
    let pay = |key: &'static str, body: Value| {
        let emulator = &emulator;
        let id = first.id().clone();
        async move {
            let r = emulator
                .http
                .post(emulator.url(API, &format!("/v1/invoices/{id}/payments")))
                .bearer_auth(DEMO_KEY)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .expect("POST payment");
            let status = r.status().as_u16();
            let replayed = r.headers().contains_key("idempotent-replayed");
            (status, replayed, r.json::<Value>().await.expect("JSON"))
        }
    };
    let partial =
        json!({"amount": "50.00", "currency": "EUR", "method": "card", "reference": "ch_1"});
    let (status, replayed, answer) = pay("pay-1", partial.clone()).await;
    assert_eq!((status, replayed), (201, false), "{answer}");
    assert_eq!(answer["payment"]["state"], "partially_paid", "{answer}");
    let open = gross - "50.00".parse().expect("amount");
    assert_eq!(answer["payment"]["open"], open.to_string());
    let (status, replayed, again) = pay("pay-1", partial).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again, answer, "the retry is answered with the first answer");
    let (status, _, conflict) = pay("pay-1", json!({"amount": "1.00", "currency": "EUR"})).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "idempotency_key_reused");
    // The rest: paid.
    let (status, _, answer) = pay(
        "pay-2",
        json!({"amount": open.to_string(), "currency": "EUR", "reference": "ch_2"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["payment"]["state"], "paid", "{answer}");
    assert_eq!(answer["payment"]["open"], "0.00");
    // A payment in another currency is refused and changes nothing.
    let (status, _, refused) = pay("pay-3", json!({"amount": "1.00", "currency": "USD"})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "currency");
    // 20.00 too much: the customer's credit, taken into their next invoice as prepaid.
    let (status, _, answer) = pay(
        "pay-4",
        json!({"amount": "20.00", "currency": "EUR", "reference": "ch_4"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["payment"]["state"], "overpaid", "{answer}");
    let (_, email3, body3) = booking(3, "life");
    let (status, answer) = post_booking(&emulator, "msg_life_3", &body3).await;
    assert_eq!(status, 202, "{answer}");
    emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    let third = documents(&stack, Some(DocumentKind::Invoice))
        .await
        .into_iter()
        .find(|d| d.content.buyer.email.as_str() == email3)
        .expect("third invoice");
    let credit: faktura_domain::money::Amount = "20.00".parse().expect("amount");
    assert_eq!(third.content.totals.prepaid.to_string(), "20.00");
    assert_eq!(third.settlement.credit_applied.to_string(), "20.00");
    assert_eq!(
        third.content.totals.amount_due.to_string(),
        (gross - credit).to_string()
    );
    assert!(third.delivery.is_sent(), "mailed");
    let first_now = documents(&stack, Some(DocumentKind::Invoice))
        .await
        .into_iter()
        .find(|d| d.id() == first.id())
        .expect("first invoice");
    assert_eq!(first_now.settlement.credit_used.to_string(), "20.00");
    assert_eq!(first_now.settlement.open().to_string(), "0.00");

    // The trail names the API key by its id, never the key.
    let events: Value = emulator
        .http
        .get(emulator.url(API, &format!("/v1/invoices/{}/events", first.id())))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET events")
        .json()
        .await
        .expect("JSON");
    let text = events.to_string();
    assert_eq!(text.matches("payment.recorded").count(), 3, "{events}");
    assert!(
        text.contains("credit.used"),
        "the surplus moved to the next invoice: {events}"
    );
    assert!(!text.contains(DEMO_KEY), "the key itself is never stored");
    let customer: Value = emulator
        .http
        .get(emulator.url(
            API,
            &format!("/v1/customers/{}", first.content.buyer.customer_key),
        ))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET customer")
        .json()
        .await
        .expect("JSON");
    assert!(
        customer["ledger"].as_array().is_some_and(|l| l.len() >= 3),
        "{customer}"
    );

    // The second booking is cancelled: a credit note from its own series, mailed.
    let cancel = json!({
        "type": "booking.cancelled",
        "data": {"id": booking2, "cancelled_at": "2026-11-25T08:00:00Z", "reason": "Kurs abgesagt"}
    })
    .to_string();
    let (status, answer) = post_booking(&emulator, "msg_life_cancel", &cancel).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["document_kind"], "credit_note", "{answer}");
    emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    let notes = documents(&stack, Some(DocumentKind::CreditNote)).await;
    assert_eq!(notes.len(), 1);
    let note = &notes[0];
    assert!(
        note.content.number.as_str().starts_with("RK-"),
        "{}",
        note.content.number
    );
    assert!(note.delivery.is_sent());
    let cancelled = documents(&stack, Some(DocumentKind::Invoice))
        .await
        .into_iter()
        .find(|d| d.content.buyer.email.as_str() == email2)
        .expect("second invoice");
    assert_eq!(
        cancelled.lifecycle,
        faktura_domain::document::Lifecycle::Cancelled
    );
    assert_eq!(
        note.content.preceding.as_ref().map(|p| p.id.clone()),
        Some(cancelled.id().clone()),
        "BG-3 names the cancelled invoice"
    );
    let mails = mails_to(&email2).await;
    assert_eq!(mails.len(), 2, "the invoice's mail and the credit note's");
    let files = attachments(&mails[1]);
    let pdf_file = files
        .iter()
        .find(|(n, _)| n.ends_with(".pdf"))
        .expect("the credit note PDF");
    let text = pdf::text(&pdf_file.1);
    assert!(text.contains("Stornorechnung"), "{text}");
    assert!(
        !text.contains("Gutschrift"),
        "never 'Gutschrift' (§14 Abs. 2 UStG)"
    );
    assert!(
        text.contains(cancelled.content.number.as_str()),
        "it names the invoice it cancels"
    );
    let listed: Value = emulator
        .http
        .get(emulator.url(API, "/v1/credit-notes"))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET credit notes")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        listed["credit_notes"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &[&email1, &email2]);
}

/// A course paid in three monthly instalments, booked 40 days ago: the first two are due. The
/// webhook's and the issue worker's announcements are lost, so the scheduler's runs hand out
/// every step — the booking's job, each instalment's bill job, the render and delivery jobs —
/// and the issue worker bills each due instalment once; the third waits for its day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_bills_due_instalments_through_the_issue_worker() {
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    let lost_bus = env_with(
        &stack,
        &[(faktura_lambda::config::EVENT_BUS_VAR, "no-such-bus")],
    );
    emulator.start_function(WEBHOOK, "faktura-webhook", &lost_bus);
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &lost_bus);
    let env = stack.function_env();
    emulator.start_function(SCHEDULER, "faktura-scheduler", &env);
    emulator.start_function(MAIL_ROUTE.worker, MAIL_ROUTE.worker, &env);
    emulator.start_function(API, "faktura-api", &env);
    let booked_at = (chrono::Utc::now() - chrono::TimeDelta::days(40)).to_rfc3339();
    let email = "rates@example.org";
    let body = json!({ "type": "booking.created", "data": {
        "id": "bk_rates", "booked_at": booked_at, "currency": "EUR", "prices": "gross",
        "customer": { "id": "cus_rates", "name": "Erika Mustermann", "email": email,
            "address": { "line1": "Hauptstr. 5", "postal_code": "10115", "city": "Berlin", "country": "DE" } },
        "items": [{ "description": "Yogalehrer-Ausbildung", "quantity": "1", "unit_price": "900.00", "vat_rate": "19" }],
        "billing": { "schedule": { "interval": "month", "count": 3 } } } })
    .to_string();
    let (status, answer) = post_booking(&emulator, "msg_rates_1", &body).await;
    assert_eq!(status, 202, "{answer}");
    schedule_until(&emulator, &stack, 12, || async {
        let docs = documents(&stack, Some(DocumentKind::Invoice)).await;
        docs.len() == 2 && docs.iter().all(|d| d.delivery.is_sent())
    })
    .await;
    let docs = documents(&stack, Some(DocumentKind::Invoice)).await;
    let mut labels: Vec<String> = docs
        .iter()
        .map(|d| d.content.lines[0].description.clone())
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        vec![
            "Rate 1 von 3: Yogalehrer-Ausbildung",
            "Rate 2 von 3: Yogalehrer-Ausbildung"
        ]
    );
    assert!(
        docs.iter()
            .all(|d| d.content.totals.amount_due.to_string() == "300.00")
    );
    assert_eq!(mails_to(email).await.len(), 2, "one mail per instalment");

    // The schedule through the API function: two billed, the third on its day.
    let r = emulator
        .http
        .get(emulator.url(API, "/v1/schedules?customer=ext:cus_rates"))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET schedules");
    assert_eq!(r.status().as_u16(), 200);
    let list: Value = r.json().await.expect("JSON");
    let schedule = &list["schedules"][0];
    assert_eq!(
        schedule["billed"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    assert_eq!(schedule["state"], "active");
    // Nothing else is due: more runs bill nothing.
    let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
    assert_eq!(report["dispatched"], 0, "{report}");
    assert_eq!(
        documents(&stack, Some(DocumentKind::Invoice)).await.len(),
        2
    );
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &[email]);
}

/// A clock set back in time: the invoices of the dunning test are issued weeks ago by the
/// domain's own commands on the stack's table, so the functions (on real time) find them
/// overdue.
struct PastClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl faktura_domain::ports::Clock for PastClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().expect("clock")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_sends_due_reminders_and_tells_the_owner() {
    use faktura_domain::service::commands::{Answered, Command, Commands, Outcome};
    use faktura_domain::service::dunning::{Dunned, Dunner, level_due, level_job};
    use std::sync::Arc;

    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    start_functions(
        &emulator,
        &stack,
        &[(faktura_lambda::config::RETRY_BASE_VAR, "1")],
    );
    let table = Arc::new(DynamoStore::new(&stack.sdk, &stack.table));
    let now = chrono::Utc::now();
    let clock = Arc::new(PastClock(std::sync::Mutex::new(now)));
    let stores = faktura_domain::ports::Stores {
        tenants: table.clone(),
        repository: table.clone(),
        jobs: table.clone(),
        files: Arc::new(file_store(&stack)),
        events: Arc::new(faktura_tests::contract::DroppedEvents),
        clock: clock.clone(),
    };
    let tenant = faktura_domain::ports::TenantDirectory::tenant(table.as_ref(), &demo())
        .await
        .expect("tenants")
        .expect("the demo tenant")
        .tenant;
    let commands = Commands::new(stores.clone(), Arc::new(faktura_einvoice::EInvoiceXml));
    let cause = faktura_domain::audit::Cause::Migration { from_version: 0 };
    let issue = |booking: &str, customer: &str, days_ago: i64| {
        let (commands, cause, clock) = (commands.clone(), cause.clone(), clock.clone());
        let mut content = faktura_tests::contract::booking_with(booking, customer, "1");
        content.customer.email = format!("{customer}@example.org").parse().unwrap();
        async move {
            *clock.0.lock().unwrap() = now - chrono::TimeDelta::days(days_ago);
            let answered = commands
                .run(
                    &demo(),
                    Command::Create {
                        kind: DocumentKind::Invoice,
                        content,
                        draft: false,
                    },
                    &cause,
                    None,
                )
                .await
                .expect("issued");
            let Answered::Fresh(outcome) = answered else {
                panic!("fresh")
            };
            let Outcome::Document(doc) = *outcome else {
                panic!("a document")
            };
            *doc
        }
    };
    // A: 16 days overdue, its payment reminder is due. B: 66 days overdue, its three letters
    // went out weeks ago (run here on their days), and the last deadline has passed.
    let a = issue("bk_dun_a", "cus_dun_a", 30).await;
    let b = issue("bk_dun_b", "cus_dun_b", 80).await;
    for level in 1..=3u8 {
        let doc = table.document(&demo(), b.id()).await.unwrap().unwrap();
        *clock.0.lock().unwrap() = level_due(&tenant, &doc, level) + chrono::TimeDelta::hours(9);
        let job = level_job(&demo(), b.id(), level, "", now);
        let sent = Dunner::new(stores.clone()).run(&job).await.expect("dunned");
        assert!(matches!(sent, Dunned::Letter { .. }), "{sent:?}");
    }
    let b_exhausted = || async {
        table
            .document(&demo(), b.id())
            .await
            .unwrap()
            .is_some_and(|d| d.dunning.exhausted)
    };
    schedule_until(&emulator, &stack, 15, || async {
        let a_now = table.document(&demo(), a.id()).await.unwrap().unwrap();
        let reminded = match a_now.dunning.reminders.first() {
            Some(r) => table
                .document(&demo(), &r.document_id)
                .await
                .unwrap()
                .is_some_and(|d| d.delivery.is_sent()),
            None => false,
        };
        // Every document's mail is out too (B's three letters go out as a catch-up).
        let all_mailed = documents(&stack, None)
            .await
            .iter()
            .all(|d| !matches!(d.delivery, faktura_domain::document::Delivery::Pending));
        reminded && b_exhausted().await && owner_told().await && all_mailed
    })
    .await;

    // A: the reminder is its own document, mailed with the invoice attached again.
    let a_now = table.document(&demo(), a.id()).await.unwrap().unwrap();
    assert_eq!(a_now.dunning.level, 1);
    let letter = table
        .document(&demo(), &a_now.dunning.reminders[0].document_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(letter.kind(), DocumentKind::Reminder);
    let mails = mails_to("cus_dun_a@example.org").await;
    assert_eq!(mails.len(), 2, "the invoice and its reminder");
    let with_letter: Vec<_> = mails
        .iter()
        .map(|m| attachments(m))
        .filter(|files| files.len() == 2)
        .collect();
    assert_eq!(
        with_letter.len(),
        1,
        "the reminder's mail carries both PDFs"
    );
    let names: Vec<&str> = with_letter[0].iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with("MA-")), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(a.content.number.as_str())),
        "{names:?}"
    );
    let letter_pdf = &with_letter[0]
        .iter()
        .find(|(n, _)| n.starts_with("MA-"))
        .unwrap()
        .1;
    assert!(pdf::flat_text(letter_pdf).contains("Zahlungserinnerung"));
    // B: exhausted, and the owner told once.
    assert!(b_exhausted().await);
    assert!(owner_told().await);
    // Nothing more is due now: more runs send nothing.
    let before = moto().data().await["ses"]["RawMessage"]
        .as_array()
        .map_or(0, Vec::len);
    let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
    emulator
        .drain(&stack, &workers(), Duration::from_secs(60))
        .await;
    assert_eq!(report["publish_failures"], 0, "{report}");
    let after = moto().data().await["ses"]["RawMessage"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(before, after, "no second letter, no second owner mail");
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &["cus_dun_a@example.org"]);
}

/// Whether the demo owner (the seller's address) got the mail about exhausted dunning.
async fn owner_told() -> bool {
    mails_to(SENDER).await.iter().any(|raw| {
        mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .and_then(|m| m.subject().map(|s| s.contains("Mahnstufen ausgeschöpft")))
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collected_items_become_collective_invoices_through_the_functions() {
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    start_functions(&emulator, &stack, &[]);
    // Booked 40 days ago with "billing": "collect": its month is over, so the issue worker
    // collects it into a draft at once; without a send date the owner gets the digest.
    let booked_at = (chrono::Utc::now() - chrono::TimeDelta::days(40)).to_rfc3339();
    let email = "collect@example.org";
    let body = json!({ "type": "booking.created", "data": {
        "id": "bk_collect", "booked_at": booked_at, "currency": "EUR", "prices": "gross",
        "billing": "collect",
        "customer": { "id": "cus_collect", "name": "Erika Mustermann", "email": email,
            "address": { "line1": "Hauptstr. 5", "postal_code": "10115", "city": "Berlin", "country": "DE" } },
        "items": [
            { "description": "Einzelstunde", "quantity": "1", "unit_price": "25.00", "vat_rate": "19" },
            { "description": "Einzelstunde", "quantity": "1", "unit_price": "25.00", "vat_rate": "19" }
        ] } })
    .to_string();
    let (status, answer) = post_booking(&emulator, "msg_collect_1", &body).await;
    assert_eq!(status, 202, "{answer}");
    let digest = || async {
        mails_to(SENDER).await.iter().any(|raw| {
            mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .and_then(|m| m.subject().map(|s| s.contains("Sammelrechnung")))
                .unwrap_or(false)
        })
    };
    schedule_until(&emulator, &stack, 12, || async {
        !documents(&stack, Some(DocumentKind::Invoice))
            .await
            .is_empty()
            && digest().await
    })
    .await;
    let api = |method: reqwest::Method, path: String, body: Option<Value>| {
        let emulator = &emulator;
        async move {
            let mut r = emulator
                .http
                .request(method, emulator.url(API, &path))
                .bearer_auth(DEMO_KEY);
            if let Some(b) = body {
                r = r.json(&b);
            }
            let r = r.send().await.expect("API call");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("JSON"))
        }
    };
    let (status, pending) = api(
        reqwest::Method::GET,
        "/v1/collective-invoices?pending=true".into(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{pending}");
    let drafts = pending["invoices"].as_array().expect("list").clone();
    assert_eq!(drafts.len(), 1, "{pending}");
    let draft_id = drafts[0]["id"].as_str().unwrap().to_string();
    assert_eq!(drafts[0]["lines"].as_array().unwrap().len(), 2);
    // Approved through the API function: numbered, rendered and mailed.
    let (status, issued) = api(
        reqwest::Method::POST,
        format!("/v1/invoices/{draft_id}/issue"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    // Usage items and an on-demand collective invoice sent today by the issue worker.
    let (status, items) = api(
        reqwest::Method::POST,
        "/v1/customers/ext:cus_collect/items".into(),
        Some(json!({ "currency": "EUR", "reference": "room",
            "items": [{ "description": "Raummiete", "quantity": "2", "unit": "HUR", "unit_price": "10.00" }] })),
    )
    .await;
    assert_eq!(status, 201, "{items}");
    let today = faktura_domain::values::TimeZone::BERLIN.date_of(chrono::Utc::now());
    let (status, second) = api(
        reqwest::Method::POST,
        "/v1/collective-invoices".into(),
        Some(json!({ "customer_id": "ext:cus_collect", "send_on": today.to_string() })),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let second_id = second["id"].as_str().unwrap().to_string();
    schedule_until(&emulator, &stack, 12, || async {
        let docs = documents(&stack, Some(DocumentKind::Invoice)).await;
        docs.len() == 2 && docs.iter().all(|d| d.delivery.is_sent())
    })
    .await;
    let docs = documents(&stack, Some(DocumentKind::Invoice)).await;
    let second_doc = docs
        .iter()
        .find(|d| d.id().as_str() == second_id)
        .expect("the second");
    assert!(second_doc.content.number.is_assigned());
    assert_eq!(second_doc.content.totals.amount_due.to_string(), "20.00");
    assert_eq!(
        mails_to(email).await.len(),
        2,
        "one mail per collective invoice"
    );
    check_iam(&stack);
    assert_logs_hold_no_personal_data(&emulator, &[email]);
}

/// Puts `statement` into the bucket's inbox as `name` and plays the inbox queue to the inbox
/// worker until its report is written; returns the report.
async fn import_through_the_inbox(
    emulator: &Emulator,
    stack: &TestStack,
    name: &str,
    statement: Vec<u8>,
) -> Value {
    let files = file_store(stack);
    files
        .put_file(
            &format!("inbox/demo/{name}"),
            statement,
            "application/xml",
            name,
        )
        .await
        .expect("put the statement into the inbox");
    let report_key = format!("inbox-reports/demo/{name}.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (url, arn) = &stack.inbox;
        emulator.pump_queue(stack, url, arn, INBOX_FUNCTION).await;
        if let Some(report) = files.file(&report_key).await.expect("read the report") {
            return serde_json::from_slice(&report).expect("the report is JSON");
        }
        assert!(std::time::Instant::now() < deadline, "no report for {name}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_put_into_the_inbox_pays_invoices_through_the_functions() {
    use faktura_tests::bank::{Entry, camt053};
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    start_functions(&emulator, &stack, &[]);
    let mut bookings = Vec::new();
    for n in 0..2 {
        let (id, email, body) = booking(n, "inbox");
        let (status, answer) = post_booking(&emulator, &format!("msg_inbox_{n}"), &body).await;
        assert_eq!(status, 202, "{answer}");
        bookings.push((id, email));
    }
    schedule_until(&emulator, &stack, 12, || async {
        let docs = documents(&stack, Some(DocumentKind::Invoice)).await;
        docs.len() == 2 && docs.iter().all(|d| d.delivery.is_sent())
    })
    .await;
    let docs = documents(&stack, Some(DocumentKind::Invoice)).await;
    let (first, second) = (&docs[0], &docs[1]);
    let reference =
        faktura_domain::payment_codes::CreditorReference::for_number(&first.content.number)
            .expect("an RF reference");
    let mut paid = Entry::credit(
        "E2E-1",
        &first.content.totals.amount_due.to_string(),
        "Erika Mustermann",
        "",
    );
    paid.creditor_reference = Some(reference.as_str().to_string());
    let statement = camt053(
        "E2E",
        &[paid, Entry::credit("E2E-2", "10.00", "Jemand", "Danke")],
    );
    let report =
        import_through_the_inbox(&emulator, &stack, "2026-12.xml", statement.clone()).await;
    assert_eq!(
        (report["matched"].as_u64(), report["unmatched"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let repo = DynamoStore::new(&stack.sdk, &stack.table);
    let stored = repo.document(&demo(), first.id()).await.unwrap().unwrap();
    assert_eq!(
        stored.settlement.state(),
        faktura_domain::document::PaymentState::Paid
    );
    // The same file again (another name): recorded before, nothing paid twice.
    let again = import_through_the_inbox(&emulator, &stack, "copy.xml", statement).await;
    assert_eq!(
        (again["imported"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2)),
        "{again}"
    );
    let stored = repo.document(&demo(), first.id()).await.unwrap().unwrap();
    assert_eq!(stored.settlement.paid, first.content.totals.amount_due);
    // A file that is no statement gets a report saying so.
    let bad = import_through_the_inbox(&emulator, &stack, "notes.txt", b"hello".to_vec()).await;
    assert_eq!(bad["error"]["code"], "invalid_statement", "{bad}");
    // The review list and the assignment through the API function.
    let review: Value = emulator
        .http
        .get(emulator.url(API, "/v1/bank-transactions?state=unmatched"))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let unmatched = review["transactions"].as_array().expect("a list");
    assert_eq!(unmatched.len(), 1, "{review}");
    let tx = unmatched[0]["id"].as_str().unwrap();
    let assigned = emulator
        .http
        .post(emulator.url(API, &format!("/v1/bank-transactions/{tx}/assign")))
        .bearer_auth(DEMO_KEY)
        .json(&json!({ "invoice_id": second.id().as_str() }))
        .send()
        .await
        .expect("POST");
    assert_eq!(assigned.status().as_u16(), 200);
    let stored = repo.document(&demo(), second.id()).await.unwrap().unwrap();
    assert_eq!(stored.settlement.paid.to_string(), "10.00");
    check_iam(&stack);
    let emails: Vec<&str> = bookings.iter().map(|(_, e)| e.as_str()).collect();
    assert_logs_hold_no_personal_data(&emulator, &emails);
}
