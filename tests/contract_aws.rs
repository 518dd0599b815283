//! The storage contracts against the AWS adapters (DynamoDB, S3), on a local moto server, plus
//! what only the AWS adapters do: tenants in the table, S3 object metadata and presigned
//! links, SES raw mail, EventBridge events routed to SQS.
//!
//! Needs `.venv/bin/moto_server` (`scripts/install-test-tools`). One server per test binary;
//! every test makes its own table / bucket / bus, so tests run in parallel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use faktura_aws::{
    DynamoStore, EventBridgePublisher, S3DocumentStore, S3Settings, SesMailSender, TABLE,
};
use faktura_domain::StoreError;
use faktura_domain::events::{DomainEvent, EVENT_SOURCE, EventType};
use faktura_domain::mail::{Attachment, invoice_mail};
use faktura_domain::ports::{
    BookingStore, CustomerStore, DocumentStore, EventPublisher, InvoiceStore, MailSender,
    TenantDirectory, TenantRecord,
};
use faktura_tests::contract::{self, at};
use faktura_tests::moto::{MotoServer, REGION, unique_name};
use mail_parser::MimeHeaders;

fn moto() -> &'static MotoServer {
    MotoServer::shared()
}

/// A store on a fresh table of its own.
async fn store() -> DynamoStore {
    let config = moto().sdk_config();
    let table = unique_name("faktura");
    faktura_aws::setup::create_table(&aws_sdk_dynamodb::Client::new(&config), &table, &TABLE)
        .await
        .expect("create table");
    DynamoStore::new(&config, table)
}

/// A document store on a fresh bucket of its own.
async fn documents() -> S3DocumentStore {
    let bucket = unique_name("faktura");
    faktura_aws::setup::create_bucket(&moto().s3_client(), &bucket, REGION)
        .await
        .expect("create bucket");
    S3DocumentStore::new(
        &moto().sdk_config(),
        S3Settings {
            force_path_style: true,
            ..S3Settings::new(bucket)
        },
    )
}

// ---- the contracts -----------------------------------------------------------------------

#[tokio::test]
async fn record_booking_is_insert_if_absent() {
    contract::record_booking_is_insert_if_absent(&store().await).await;
}

#[tokio::test]
async fn booking_lookup() {
    contract::booking_lookup(&store().await).await;
}

#[tokio::test]
async fn mark_booking_invoiced() {
    contract::mark_booking_invoiced(&store().await).await;
}

#[tokio::test]
async fn bookings_awaiting_invoice() {
    contract::bookings_awaiting_invoice(&store().await).await;
}

#[tokio::test]
async fn customer_upsert_and_get() {
    contract::customer_upsert_and_get(&store().await).await;
}

#[tokio::test]
async fn counter_starts_at_zero() {
    contract::counter_starts_at_zero(&store().await).await;
}

#[tokio::test]
async fn insert_issued_outcomes() {
    contract::insert_issued_outcomes(&store().await).await;
}

#[tokio::test]
async fn counters_are_independent() {
    contract::counters_are_independent(&store().await).await;
}

#[tokio::test]
async fn invoice_not_found() {
    contract::invoice_not_found(&store().await).await;
}

#[tokio::test]
async fn list_invoices_order_and_filters() {
    contract::list_invoices_order_and_filters(&store().await).await;
}

#[tokio::test]
async fn list_invoices_pagination() {
    contract::list_invoices_pagination(&store().await).await;
}

#[tokio::test]
async fn claim_delivery_lease() {
    contract::claim_delivery_lease(&store().await).await;
}

#[tokio::test]
async fn invoices_awaiting_delivery() {
    contract::invoices_awaiting_delivery(&store().await).await;
}

#[tokio::test]
async fn documents_roundtrip() {
    contract::documents_roundtrip(&documents().await).await;
}

#[tokio::test]
async fn document_bad_keys_rejected() {
    contract::document_bad_keys_rejected(&documents().await).await;
}

/// All store contracts at once on one shared table (fresh tenants keep them apart), as
/// production shares one table between all tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_contracts_share_one_table() {
    let started = Instant::now();
    let store = store().await;
    let (b, c, i): (&dyn BookingStore, &dyn CustomerStore, &dyn InvoiceStore) =
        (&store, &store, &store);
    contract::all_store_contracts_at_once(b, c, i).await;
    eprintln!(
        "all store contracts on one moto table: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_is_gapless_under_concurrency() {
    let store = store().await;
    let report = contract::numbering_is_gapless_under_concurrency(Arc::new(store), 200).await;
    eprintln!(
        "gapless numbering on moto: {} concurrent tasks, {} insert_issued attempts, {:?}",
        report.tasks, report.attempts, report.elapsed
    );
}

/// The `NUMBER#` claim in the numbering transaction (see the contract).
#[tokio::test]
async fn duplicate_number_is_refused_and_writes_nothing() {
    contract::duplicate_number_is_refused(&store().await).await;
}

fn tenant_record(tenant_id: &faktura_domain::values::Id) -> TenantRecord {
    TenantRecord {
        tenant: contract::sample_tenant(tenant_id),
        webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
    }
}

#[tokio::test]
async fn tenants_by_id_and_hashed_api_key() {
    use faktura_aws::api_key_hash;

    let store = store().await;
    let acme = contract::fresh_tenant_id();
    let globex = contract::fresh_tenant_id();
    store
        .put_tenant(
            &tenant_record(&acme),
            &[api_key_hash("key-acme-1"), api_key_hash("key-acme-2")],
        )
        .await
        .expect("put_tenant acme");
    store
        .put_tenant(
            &tenant_record(&globex),
            &[api_key_hash("key-globex").to_uppercase()],
        )
        .await
        .expect("put_tenant globex");

    let record = store.tenant(&acme).await.expect("tenant").expect("acme");
    assert_eq!(record.tenant, contract::sample_tenant(&acme));
    assert_eq!(
        record.webhook_secrets,
        vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()]
    );
    assert!(
        store
            .tenant(&contract::fresh_tenant_id())
            .await
            .expect("tenant")
            .is_none()
    );
    for (key, expected) in [
        ("key-acme-1", Some(&acme)),
        ("key-acme-2", Some(&acme)),
        ("key-globex", Some(&globex)),
        ("key-nope", None),
        ("", None),
    ] {
        assert_eq!(
            store
                .tenant_for_api_key(key)
                .await
                .expect("tenant_for_api_key")
                .as_ref(),
            expected,
            "API key {key:?}"
        );
    }

    // A key of another tenant is refused, and nothing of that put is written.
    let mut changed = tenant_record(&globex);
    changed.webhook_secrets = vec!["whsec_changed".into()];
    let result = store
        .put_tenant(&changed, &[api_key_hash("key-acme-1")])
        .await;
    assert!(result.is_err(), "a key of another tenant: {result:?}");
    assert_eq!(
        store
            .tenant(&globex)
            .await
            .expect("tenant")
            .expect("globex")
            .webhook_secrets,
        vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string()],
        "the refused put wrote nothing"
    );
    assert!(
        store
            .put_tenant(&changed, &["not-a-hash".to_string()])
            .await
            .is_err()
    );

    // Rotation: keys left out stop working.
    store
        .put_tenant(&tenant_record(&acme), &[api_key_hash("key-acme-3")])
        .await
        .expect("rotate acme");
    for (key, expected) in [
        ("key-acme-1", None),
        ("key-acme-2", None),
        ("key-acme-3", Some(&acme)),
    ] {
        assert_eq!(
            store
                .tenant_for_api_key(key)
                .await
                .expect("tenant_for_api_key")
                .as_ref(),
            expected,
            "after rotation, API key {key:?}"
        );
    }
    let debug = format!("{:?}", store.tenant(&acme).await.expect("tenant"));
    assert!(!debug.contains("whsec_"), "secrets stay out of Debug");
}

// ---- S3 ----------------------------------------------------------------------------------

#[tokio::test]
async fn s3_objects_carry_type_disposition_and_encryption() {
    let docs = documents().await;
    let key = format!(
        "tenants/{}/invoices/inv_1/RE-2026-00001.pdf",
        contract::fresh_tenant_id()
    );
    let pdf: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(10_000))
        .collect();
    docs.put_document(&key, pdf.clone(), "application/pdf", "RE-2026-00001.pdf")
        .await
        .expect("put_document");

    let head = moto()
        .s3_client()
        .head_object()
        .bucket(docs.bucket())
        .key(&key)
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_type(), Some("application/pdf"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"RE-2026-00001.pdf\"; filename*=UTF-8''RE-2026-00001.pdf")
    );
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert_eq!(head.content_length(), Some(pdf.len() as i64));

    let url = docs
        .presigned_get(&key, Duration::from_secs(300))
        .await
        .expect("presigned_get");
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=300"),
        "a SigV4 query-signed URL: {url}"
    );
    let response = reqwest::get(&url).await.expect("GET presigned URL");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        response.bytes().await.expect("body").to_vec(),
        pdf,
        "the presigned URL downloads the document"
    );
    assert!(
        docs.presigned_get("../x", Duration::from_secs(60))
            .await
            .is_err(),
        "bad keys are refused for links too"
    );
    assert!(
        docs.presigned_get(&key, Duration::from_secs(8 * 24 * 3600))
            .await
            .is_err(),
        "S3 links live at most 7 days"
    );
}

// ---- SES ---------------------------------------------------------------------------------

#[tokio::test]
async fn ses_sends_the_raw_message_with_its_attachment() {
    let config = moto().sdk_config();
    let tenant = contract::sample_tenant(&contract::fresh_tenant_id());
    faktura_aws::setup::create_email_identity(
        &aws_sdk_sesv2::Client::new(&config),
        tenant.seller.email.as_str(),
    )
    .await
    .expect("create identity");
    let booking = contract::sample_booking("bk_mail", "cus_42");
    let invoice = contract::sample_invoice(
        &tenant,
        &booking,
        &contract::fresh_tenant_id(),
        at(2026, 4, 1, 9, 0, 0),
        1,
    );
    // Binary content: every byte value, as a PDF has.
    let pdf: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(5_000))
        .collect();
    let mail = invoice_mail(
        &invoice,
        &[Attachment::new(
            "application/pdf",
            "RE-2026-00001.pdf".into(),
            pdf.clone(),
        )],
        at(2026, 4, 1, 9, 1, 0),
    )
    .expect("invoice mail");

    let sender = SesMailSender::new(&config, None);
    let message_id = sender.send(&mail).await.expect("send");
    assert!(!message_id.is_empty());

    let data = moto().data().await;
    let sent = data["ses"]["RawMessage"]
        .as_array()
        .unwrap_or_else(|| panic!("moto holds sent raw messages: {}", data["ses"]))
        .iter()
        .find(|m| m["id"] == message_id.as_str())
        .unwrap_or_else(|| panic!("message {message_id} is in moto's outbox"))
        .clone();
    assert_eq!(sent["source"], tenant.seller.email.as_str());
    // moto lists the envelope recipients and those of the headers; all are the buyer.
    let destinations: std::collections::BTreeSet<&str> = sent["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .filter_map(|d| d.as_str())
        .map(|d| {
            d.rsplit_once('<')
                .map_or(d, |(_, a)| a.trim_end_matches('>'))
        })
        .collect();
    assert_eq!(
        destinations,
        std::collections::BTreeSet::from(["erika@example.org"]),
        "the recipients are the mail's"
    );
    let raw = sent["raw_data"].as_str().expect("raw_data");
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("MIME");
    let attachment = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some("RE-2026-00001.pdf"))
        .expect("the PDF is attached");
    assert_eq!(
        attachment.contents(),
        pdf.as_slice(),
        "the PDF survived byte for byte"
    );

    // An unverified sender is refused (SES would say MessageRejected): an error, not a panic.
    let mut stranger = mail.clone();
    stranger.from = contract::parsed("nobody@unverified.example");
    assert!(sender.send(&stranger).await.is_err());
}

// ---- EventBridge -------------------------------------------------------------------------

#[tokio::test]
async fn eventbridge_routes_events_to_sqs() {
    let config = moto().sdk_config();
    let eventbridge = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = unique_name("faktura");
    faktura_aws::setup::create_event_bus(&eventbridge, &bus)
        .await
        .expect("create bus");
    let queue_url = sqs
        .create_queue()
        .queue_name(unique_name("events"))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue URL")
        .to_string();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    let queue_arn = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone();
    faktura_aws::setup::route_events(&eventbridge, &bus, "all-faktura-events", &queue_arn)
        .await
        .expect("route events");

    let publisher = EventBridgePublisher::new(&config, &bus);
    let tenant = contract::fresh_tenant_id();
    let event = DomainEvent::new(
        EventType::InvoiceIssued,
        &tenant,
        &contract::id("bk_1"),
        &contract::id("inv_1"),
        Some("RE-2026-00001"),
        at(2026, 4, 1, 9, 0, 0),
    );
    publisher.publish(&event).await.expect("publish");

    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .send()
            .await
            .expect("ReceiveMessage");
        if let Some(message) = received.messages().first() {
            break message.body().expect("body").to_string();
        }
        // Short polls: a long poll would hold the serialized server (see the moto module).
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(Instant::now() < deadline, "no event arrived in the queue");
    };
    let envelope: serde_json::Value = serde_json::from_str(&body).expect("an event envelope");
    assert_eq!(envelope["source"], EVENT_SOURCE);
    assert_eq!(envelope["detail-type"], "invoice.issued");
    assert_eq!(
        envelope["detail"],
        serde_json::to_value(&event).expect("event JSON"),
        "the detail is the event as JSON"
    );
    let detail: DomainEvent =
        serde_json::from_value(envelope["detail"].clone()).expect("the detail parses back");
    assert_eq!(detail, event);

    // A bus that does not exist: the entry fails (or the call does), never silently.
    let nowhere = EventBridgePublisher::new(&config, unique_name("missing"));
    let result = nowhere.publish(&event).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "publishing to a missing bus fails: {result:?}"
    );
}

// ---- GSI3: invoices by status and due date -----------------------------------------------

#[tokio::test]
async fn invoices_are_indexed_by_status_and_due_date() {
    use faktura_aws::dynamo::status_partition;
    use faktura_aws::schema::GSI3;
    use faktura_domain::model::InvoiceStatus;

    let store = store().await;
    let tenant = contract::sample_tenant(&contract::fresh_tenant_id());
    let mut issued = Vec::new();
    // Issued on different days, so due dates differ; issue order is not due-date order.
    for (n, day) in [(1, 20), (2, 5), (3, 12)] {
        let inv = contract::issue_next(
            &store,
            &tenant,
            &format!("bk_due_{n}"),
            "cus_42",
            at(2026, 3, day, 9, 0, 0),
        )
        .await;
        issued.push(inv);
    }
    store
        .mark_sent(
            &tenant.id,
            &issued[2].id,
            at(2026, 3, 13, 9, 0, 0),
            "msg-due-3",
        )
        .await
        .expect("mark_sent");

    let client = aws_sdk_dynamodb::Client::new(&moto().sdk_config());
    let ids_in = |status: InvoiceStatus| {
        let client = client.clone();
        let table = store.table().to_string();
        let partition = status_partition(&tenant.id, status);
        async move {
            let out = client
                .query()
                .table_name(table)
                .index_name(GSI3.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI3.partition_key)
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(partition),
                )
                .send()
                .await
                .expect("Query GSI3");
            out.items()
                .iter()
                .map(|item| {
                    let sk = item[GSI3.sort_key].as_s().expect("GSI3SK").clone();
                    sk.split_once('#').expect("{due}#{id}").1.to_string()
                })
                .collect::<Vec<String>>()
        }
    };
    // Open invoices, earliest due first; the sent one moved to the `sent` partition.
    assert_eq!(
        ids_in(InvoiceStatus::Issued).await,
        vec![issued[1].id.to_string(), issued[0].id.to_string()]
    );
    assert_eq!(
        ids_in(InvoiceStatus::Sent).await,
        vec![issued[2].id.to_string()]
    );
}

// ---- the webhook fuzzed on the DynamoDB adapter ---------------------------------------------

/// The same generated requests as `tests/local/webhook_fuzz.rs` (fewer: moto serves one
/// request at a time), with the bookings in DynamoDB: rejected requests write nothing there
/// and accepted ones are stored value for value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_holds_its_contract_for_generated_requests_on_dynamodb() {
    let table = Arc::new(store().await);
    let tenants = faktura_tests::local::load_tenants();
    let demo = tenants[0].record.clone();
    let directory = Arc::new(faktura_embedded::StaticTenants::new(
        tenants
            .into_iter()
            .map(|t| (t.record, t.api_keys))
            .collect(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let stores = faktura_domain::ports::Stores {
        tenants: directory,
        bookings: table.clone(),
        customers: table.clone(),
        invoices: table,
        documents: Arc::new(faktura_embedded::FsDocumentStore::new(
            dir.path().to_path_buf(),
        )),
        events: Arc::new(faktura_tests::fuzz::RecordingPublisher::default()),
        clock: Arc::new(faktura_domain::ports::SystemClock),
    };
    let t = faktura_tests::fuzz::target(
        stores,
        demo,
        faktura_tests::local::DEMO_KEY,
        Arc::new(faktura_einvoice::EInvoiceXml),
    );
    let started = Instant::now();
    let cases = faktura_tests::fuzz::cases(250);
    let report =
        faktura_tests::fuzz::fuzz_webhook(&t, faktura_tests::fuzz::seed(0x0D1A_2026), cases, false)
            .await;
    eprintln!(
        "webhook fuzz (DynamoDB on moto): {} cases in {:.1?}, {} accepted, statuses {:?}",
        report.cases,
        started.elapsed(),
        report.accepted,
        report.by_status
    );
    assert!(report.accepted > 0, "{report:?}");
}
