//! End to end on this machine: the real function binaries under `cargo lambda watch`, the
//! stack's resources on moto (created from the definitions the template is checked against),
//! the EventBridge → SQS hop delivered to the workers as the event source mapping would, and
//! the scheduler invoked with the sample scheduled event from `events/`. Each test builds its
//! own stack, so they run side by side; moto is shared per test binary.
//!
//! Checked at the end of each flow: the invoice in DynamoDB, the PDF in S3 (read back as
//! text), the mail in SES (read back from moto, attachment included), and exactly one invoice,
//! one number and one mail per booking, also when a hop fails on the way.

use std::collections::BTreeSet;
use std::time::Duration;

use faktura_aws::stack::{ISSUE_ROUTE, MAIL_ROUTE, ROUTES, WorkRoute};
use faktura_aws::{DynamoStore, S3DocumentStore};
use faktura_domain::model::InvoiceStatus;
use faktura_domain::ports::{DocumentStore, InvoiceFilter, InvoiceStore};
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

/// Starts the five functions with the stack's environment (plus `overrides`).
fn start_functions(emulator: &Emulator, stack: &TestStack, overrides: &[(&str, &str)]) {
    let env = env_with(stack, overrides);
    emulator.start_function(WEBHOOK, "faktura-webhook", &env);
    emulator.start_function(API, "faktura-api", &env);
    emulator.start_function(SCHEDULER, "faktura-scheduler", &env);
    for route in ROUTES {
        emulator.start_function(route.worker, route.worker, &env);
    }
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

async fn invoices(stack: &TestStack) -> Vec<faktura_domain::model::Invoice> {
    stored_invoices(stack)
        .await
        .into_iter()
        .map(|s| s.invoice)
        .collect()
}

async fn stored_invoices(stack: &TestStack) -> Vec<faktura_domain::ports::StoredInvoice> {
    let store = DynamoStore::new(&stack.sdk, &stack.table);
    let page = store
        .list_invoices(
            &DEMO.parse::<Id>().expect("id"),
            &InvoiceFilter::default(),
            None,
            200,
        )
        .await
        .expect("list invoices");
    page.invoices
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

/// Pumps `route` until a batch arrives; returns (delivered, failed) of that batch.
async fn pump_some(emulator: &Emulator, stack: &TestStack, route: &WorkRoute) -> (usize, usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (delivered, failed) = emulator.pump(stack, route, route.worker).await;
        if delivered > 0 {
            return (delivered, failed);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing arrived on {}",
            route.name
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn scheduled_event() -> Value {
    let text = std::fs::read_to_string(repo_root().join("events/lambda/scheduled-sweep.json"))
        .expect("events/lambda/scheduled-sweep.json");
    serde_json::from_str(&text).expect("sample scheduled event is JSON")
}

/// One invoice per booking id, numbers 1..n without gaps, each mailed exactly once (the
/// recipient addresses are unique per booking in these tests).
async fn assert_exactly_once(stack: &TestStack, bookings: &[(&str, &str)]) {
    let stored = stored_invoices(stack).await;
    let all: Vec<_> = stored.iter().map(|s| &s.invoice).collect();
    assert_eq!(
        all.len(),
        bookings.len(),
        "one invoice per booking: {:?}",
        all.iter()
            .map(|i| i.booking_id.as_str())
            .collect::<Vec<_>>()
    );
    let numbers: BTreeSet<String> = all.iter().map(|i| i.number.as_str().to_string()).collect();
    assert_eq!(numbers.len(), bookings.len(), "distinct numbers");
    let mut counters: Vec<u64> = all
        .iter()
        .map(|i| {
            i.number
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
        let inv = stored
            .iter()
            .find(|s| s.invoice.booking_id.as_str() == *booking)
            .unwrap_or_else(|| panic!("invoice for {booking}"));
        assert_eq!(inv.status, InvoiceStatus::Sent, "{booking} was sent");
        assert_eq!(
            mails_to(email).await.len(),
            1,
            "exactly one mail for {booking}"
        );
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
    let inv = invoices(&stack).await.remove(0);
    assert_eq!(inv.id.as_str(), invoice_id);
    let documents = S3DocumentStore::new(&stack.sdk, {
        let mut s = faktura_aws::S3Settings::new(&stack.bucket);
        s.force_path_style = true;
        s
    });
    let pdf = documents
        .document(&faktura_domain::service::pdf_key(&inv))
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

    // The read API function answers with the tenant's key.
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

    assert_logs_hold_no_personal_data(&emulator, &[&email]);
    assert!(
        emulator.logs(ISSUE_ROUTE.worker).contains(&invoice_id),
        "logs carry the invoice id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_event_is_recovered_by_the_scheduled_sweep() {
    let stack = stack_with_tenants(SENDER, true).await;
    let emulator = Emulator::start();
    // The webhook and the issue worker publish to a bus that does not exist: the booking is
    // recorded and the invoice issued, but both events are lost (the EventBridge publish
    // failures of the fault list). Only the scheduler reaches the real bus.
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
        invoices(&stack).await.is_empty(),
        "no event, no invoice yet"
    );

    // Sweep 1 re-publishes the booking; the worker issues the invoice but cannot announce it,
    // so it reports the message failed (it is retried, then dead-lettered).
    let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
    assert_eq!(report["republished_bookings"], 1, "{report}");
    let failures = emulator
        .drain(&stack, &workers(), Duration::from_secs(120))
        .await;
    assert!(failures > 0, "a failed publish is reported, not swallowed");
    let stored = stored_invoices(&stack).await;
    assert_eq!(stored.len(), 1, "retries issued nothing twice");
    assert_eq!(stored[0].status, InvoiceStatus::Issued);
    // Sweep 2 re-publishes the unsent invoice; the mail goes out once.
    let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
    assert_eq!(report["republished_invoices"], 1, "{report}");
    assert_eq!(
        emulator
            .drain(&stack, &workers(), Duration::from_secs(120))
            .await,
        0
    );
    assert_exactly_once(&stack, &[(&booking_id, &email)]).await;
    assert_logs_hold_no_personal_data(&emulator, &[&email]);

    // Nothing stuck any more: the next sweep re-publishes nothing.
    let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
    assert_eq!(
        report,
        json!({"republished_bookings": 0, "republished_invoices": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_mail_failures_are_retried_to_exactly_one_invoice_and_mail() {
    // The sender is not verified yet (SES refuses), and the issue worker's bucket is wrong at
    // first (S3 refuses): both hops fail, report the message, and succeed on redelivery.
    let sender = format!(
        "{}@unverified.example",
        faktura_tests::moto::unique_name("billing")
    );
    let stack = stack_with_tenants(&sender, false).await;
    let emulator = Emulator::start();
    let env = stack.function_env();
    emulator.start_function(WEBHOOK, "faktura-webhook", &env);
    emulator.start_function(
        ISSUE_ROUTE.worker,
        ISSUE_ROUTE.worker,
        &env_with(
            &stack,
            &[(faktura_lambda::config::BUCKET_VAR, "no-such-bucket")],
        ),
    );
    emulator.start_function(MAIL_ROUTE.worker, MAIL_ROUTE.worker, &env);
    let sent: Vec<_> = (1..=2).map(|n| booking(n, "fault")).collect();
    for (n, (_, _, body)) in sent.iter().enumerate() {
        let (status, answer) = post_booking(&emulator, &format!("msg_fault_{n}"), body).await;
        assert_eq!(status, 202, "{answer}");
    }
    let (delivered, failed) = pump_some(&emulator, &stack, &ISSUE_ROUTE).await;
    assert!(
        failed == delivered,
        "S3 failure reported: {delivered}/{failed}"
    );
    let logs = emulator.logs(ISSUE_ROUTE.worker);
    assert!(logs.contains("failed; will be retried"), "{logs}");

    // The S3 outage ends; the worker is replaced (a new sandbox with the right bucket).
    emulator.kill(ISSUE_ROUTE.worker);
    emulator.start_function(ISSUE_ROUTE.worker, ISSUE_ROUTE.worker, &env);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let issue_only = [(&ISSUE_ROUTE, ISSUE_ROUTE.worker)];
    assert_eq!(
        emulator
            .drain(&stack, &issue_only, Duration::from_secs(120))
            .await,
        0
    );
    assert_eq!(invoices(&stack).await.len(), 2, "both issued once");

    // SES refuses the unverified sender: reported, retried, then sent once it is verified.
    let (delivered, failed) = pump_some(&emulator, &stack, &MAIL_ROUTE).await;
    assert!(
        failed == delivered,
        "SES failure reported: {delivered}/{failed}"
    );
    assert!(mails_to("fault").await.is_empty(), "nothing was sent");
    faktura_tests::stack::verify_sender(&stack.sdk, &sender).await;
    // The failed send released its lease: the redelivered message sends at once.
    assert_eq!(
        emulator
            .drain(&stack, &workers(), Duration::from_secs(120))
            .await,
        0
    );
    let bookings: Vec<(&str, &str)> = sent
        .iter()
        .map(|(b, e, _)| (b.as_str(), e.as_str()))
        .collect();
    assert_exactly_once(&stack, &bookings).await;
    let emails: Vec<&str> = bookings.iter().map(|(_, e)| *e).collect();
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
    assert_eq!(invoices(&stack).await.len(), 4);
    // Which sandbox took which invocation is the emulator's choice; on a loaded machine one
    // may take both in turn (a sequential redelivery), which must end the same way.
    let busy = emulator
        .logs_per_process(ISSUE_ROUTE.worker)
        .iter()
        .filter(|log| log.contains("\"received\""))
        .count();
    eprintln!("racing: {busy} of 2 issue-worker sandboxes worked on the batches");
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
    // The sweep finds nothing left behind.
    let report = emulator.invoke(SCHEDULER, &scheduled_event()).await;
    assert_eq!(
        report,
        json!({"republished_bookings": 0, "republished_invoices": 0})
    );
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
    assert_logs_hold_no_personal_data(&emulator, &emails);
}
