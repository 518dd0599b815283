//! The port contracts against the AWS adapters (DynamoDB, S3) on a local moto server, plus
//! what only the AWS adapters do: tenants in the table, S3 object metadata and presigned
//! links, SES raw mail, EventBridge events routed to SQS, the index of owed invoices, and
//! release-1 items read and migrated.
//!
//! Needs `.venv/bin/moto_server` (`scripts/install-test-tools`). One server per test binary;
//! every test makes its own table / bucket / bus, so tests run in parallel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use faktura_aws::{
    DynamoStore, EventBridgePublisher, S3FileStore, S3Settings, SesMailSender, TABLE,
};
use faktura_domain::StoreError;
use faktura_domain::events::{DomainEvent, EVENT_SOURCE, Subject, SubjectKind};
use faktura_domain::mail::{Attachment, document_mail};
use faktura_domain::model::DocumentKind;
use faktura_domain::ports::{
    EventPublisher, FileStore, MailSender, Repository, TenantDirectory, TenantRecord,
};
use faktura_tests::contract::{self, Adapters, at};
use faktura_tests::moto::{MotoServer, REGION, unique_name};
use mail_parser::MimeHeaders;

#[path = "contract_aws/migration.rs"]
mod migration;

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

/// A file store on a fresh bucket of its own.
async fn files() -> S3FileStore {
    let bucket = unique_name("faktura");
    faktura_aws::setup::create_bucket(&moto().s3_client(), &bucket, REGION)
        .await
        .expect("create bucket");
    S3FileStore::new(
        &moto().sdk_config(),
        S3Settings {
            force_path_style: true,
            ..S3Settings::new(bucket)
        },
    )
}

async fn adapters() -> Adapters {
    let table = Arc::new(store().await);
    Adapters {
        repository: table.clone(),
        jobs: table,
        files: Arc::new(files().await),
    }
}

mod contracts {
    use super::adapters;
    faktura_tests::contract_suite!(adapters);
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
    // Globex keeps its books in New York: the zone goes to the table and comes back.
    let mut globex_record = tenant_record(&globex);
    globex_record.tenant.settings.time_zone = "America/New_York".parse().expect("zone");
    store
        .put_tenant(&globex_record, &[api_key_hash("key-globex").to_uppercase()])
        .await
        .expect("put_tenant globex");
    let read = store
        .tenant(&globex)
        .await
        .expect("tenant")
        .expect("globex");
    assert_eq!(read.tenant, globex_record.tenant);
    assert_eq!(read.tenant.settings.time_zone.as_str(), "America/New_York");

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
    let docs = files().await;
    let key = format!(
        "tenants/{}/invoices/inv_1/RE-2026-00001.pdf",
        contract::fresh_tenant_id()
    );
    let pdf: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(10_000))
        .collect();
    docs.put_file(&key, pdf.clone(), "application/pdf", "RE-2026-00001.pdf")
        .await
        .expect("put_file");

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
    let invoice = contract::issued_document(
        &tenant,
        &booking,
        DocumentKind::Invoice,
        at(2026, 4, 1, 9, 0, 0),
        1,
    )
    .content;
    // Binary content: every byte value, as a PDF has.
    let pdf: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(5_000))
        .collect();
    let mail = document_mail(
        &invoice,
        &[Attachment::new(
            "application/pdf",
            "RE-2026-00001.pdf".into(),
            pdf.clone(),
        )],
        at(2026, 4, 1, 9, 1, 0),
        &[],
        false,
        1,
    )
    .expect("document mail");

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
        "document.issued",
        &tenant,
        Subject {
            kind: SubjectKind::Document,
            id: contract::id("inv_1"),
        },
        serde_json::json!({"number": "RE-2026-00001"}),
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
    assert_eq!(envelope["detail-type"], "document.issued");
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

// ---- GSI3: owed invoices by due date ------------------------------------------------------

/// Issued invoices with something open carry GSI3 (`TENANT#{t}#OPEN` / `{due date}#{id}`),
/// earliest due first; paying or cancelling one takes it out (reminders read this index).
#[tokio::test]
async fn owed_invoices_are_indexed_by_due_date() {
    use faktura_aws::schema::GSI3;
    use faktura_domain::ports::{Change, DocumentWrite};

    let store = store().await;
    let tenant = contract::sample_tenant(&contract::fresh_tenant_id());
    let mut issued = Vec::new();
    // Issued on different days, so due dates differ; issue order is not due-date order.
    for (n, day) in [(1u64, 20), (2, 5), (3, 12)] {
        let doc = contract::issued_document(
            &tenant,
            &contract::sample_booking(&format!("bk_due_{n}"), "cus_42"),
            DocumentKind::Invoice,
            at(2026, 3, day, 9, 0, 0),
            n,
        );
        store
            .commit(contract::repository::issue_change(&tenant, &doc, n - 1))
            .await
            .expect("commit");
        let mut stored = doc.clone();
        stored.version = 1;
        issued.push(stored);
    }
    // The third is paid in full.
    let mut paid = issued[2].clone();
    paid.settlement.paid = paid.settlement.charged;
    let mut change = Change::for_tenant(&tenant.id);
    change.documents.push(DocumentWrite::update(paid));
    store.commit(change).await.expect("commit");

    let client = aws_sdk_dynamodb::Client::new(&moto().sdk_config());
    let out = client
        .query()
        .table_name(store.table())
        .index_name(GSI3.name)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", GSI3.partition_key)
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("TENANT#{}#OPEN", tenant.id)),
        )
        .send()
        .await
        .expect("Query GSI3");
    let ids: Vec<String> = out
        .items()
        .iter()
        .map(|item| {
            let sk = item[GSI3.sort_key].as_s().expect("GSI3SK").clone();
            sk.split_once('#').expect("{due}#{id}").1.to_string()
        })
        .collect();
    assert_eq!(
        ids,
        vec![issued[1].id().to_string(), issued[0].id().to_string()],
        "the owed invoices, earliest due first; the paid one left the index"
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
    let stores = faktura_domain::ports::Stores {
        tenants: directory,
        repository: table.clone(),
        jobs: table,
        files: Arc::new(files().await),
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
