//! A table written by release 1 (`tests/fixtures/v1/dynamodb-items.json`) under today's code:
//! everything reads (tenants, invoices as documents, booking records, customers), the work
//! release 1 left pending becomes jobs that are done once, and `migrate_release1` rewrites the
//! rest as documents with their ledger charges — twice is once.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use faktura_aws::DynamoStore;
use faktura_domain::document::Lifecycle;
use faktura_domain::ports::{
    DocumentFilter, FileStore, Repository, Stores, SystemClock, TenantDirectory,
};
use faktura_domain::values::Id;
use faktura_tests::upgrade::{fixtures, mails, run_until_idle, runner};
use serde_json::Value;

use super::{files, moto, store};

/// DynamoDB JSON (`{"S": "..."}`, `{"M": {...}}`, ...) as an SDK attribute value.
fn attribute(v: &Value) -> AttributeValue {
    let (tag, inner) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .unwrap_or_else(|| panic!("not DynamoDB JSON: {v}"));
    match tag.as_str() {
        "S" => AttributeValue::S(inner.as_str().unwrap().to_string()),
        "N" => AttributeValue::N(inner.as_str().unwrap().to_string()),
        "BOOL" => AttributeValue::Bool(inner.as_bool().unwrap()),
        "NULL" => AttributeValue::Null(true),
        "L" => AttributeValue::L(inner.as_array().unwrap().iter().map(attribute).collect()),
        "M" => AttributeValue::M(
            inner
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect(),
        ),
        "SS" => AttributeValue::Ss(
            inner
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        ),
        other => panic!("attribute type {other} is not in the fixture"),
    }
}

async fn release1_table() -> DynamoStore {
    let table = store().await;
    let client = aws_sdk_dynamodb::Client::new(&moto().sdk_config());
    let items: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("dynamodb-items.json")).unwrap(),
    )
    .unwrap();
    for item in items {
        let item: HashMap<String, AttributeValue> = item
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), attribute(v)))
            .collect();
        client
            .put_item()
            .table_name(table.table())
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }
    table
}

fn count_entity(items: &[Value], entity: &str) -> usize {
    items.iter().filter(|i| i["entity"]["S"] == entity).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release1_table_reads_and_migrates() {
    let table = Arc::new(release1_table().await);
    let files = Arc::new(files().await);
    let demo: Id = "demo".parse().unwrap();
    let fixture: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("dynamodb-items.json")).unwrap(),
    )
    .unwrap();

    // Everything reads as it is.
    let tenant = table
        .tenant(&demo)
        .await
        .unwrap()
        .expect("the demo tenant reads");
    assert_eq!(tenant.tenant.id, demo);
    let docs = table
        .documents(&demo, &DocumentFilter::default(), None, 100)
        .await
        .unwrap()
        .documents;
    assert_eq!(docs.len(), count_entity(&fixture, "invoice"));
    let numbers: Vec<&str> = docs.iter().map(|d| d.content.number.as_str()).collect();
    assert_eq!(numbers, ["RE-2026-00001", "RE-2026-00002"]);
    assert!(docs[0].delivery.is_sent() && !docs[1].delivery.is_sent());
    assert!(
        docs.iter()
            .all(|d| d.lifecycle == Lifecycle::Issued && d.version == 1)
    );
    // Filters see release-1 items before they are migrated (they lack the facet attributes;
    // the filter's own definition decides).
    let filtered = table
        .documents(
            &demo,
            &DocumentFilter {
                kind: Some(faktura_domain::model::DocumentKind::Invoice),
                delivery: Some("sent".into()),
                ..DocumentFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap()
        .documents;
    assert_eq!(filtered.len(), 1, "the sent release-1 invoice");
    let sent = table
        .booking(&demo, &"bk_v1_sent".parse().unwrap())
        .await
        .unwrap()
        .expect("the invoiced booking reads");
    assert!(sent.documents.invoice.is_some());
    let pending = table
        .booking(&demo, &"bk_v1_pending".parse().unwrap())
        .await
        .unwrap()
        .expect("the pending booking reads");
    let promised = pending.events[0]
        .document_id
        .clone()
        .expect("its invoice id");
    assert!(
        table.customer(&demo, "ext:cus_3").await.unwrap().is_some(),
        "the customer reads"
    );

    // The PDFs release 1 stored.
    for d in &docs {
        let key = faktura_domain::service::pdf_key(&d.content);
        files
            .put_file(
                &key,
                b"%PDF-1.7 release 1".to_vec(),
                "application/pdf",
                "x.pdf",
            )
            .await
            .unwrap();
    }

    // The scheduler adopts the pending work (each once); the workers do it.
    assert_eq!(table.adopt_release1_work().await.unwrap(), 2);
    assert_eq!(table.adopt_release1_work().await.unwrap(), 0, "once");
    let stores = Stores {
        tenants: table.clone(),
        repository: table.clone(),
        jobs: table.clone(),
        files: files.clone(),
        events: Arc::new(faktura_tests::contract::DroppedEvents),
        clock: Arc::new(SystemClock),
    };
    let outbox = tempfile::tempdir().unwrap();
    let ran = run_until_idle(&stores, &runner(&stores, outbox.path())).await;
    assert!(ran >= 4, "apply, render ×2, deliver ×2: {ran}");
    let docs = table
        .documents(&demo, &DocumentFilter::default(), None, 100)
        .await
        .unwrap()
        .documents;
    // Until `migrate` ran, release-1 list keys sort by issue instant and number, new ones by
    // creation instant and id: documents issued at the very same instant (this fixture's fixed
    // clock) may list in either order.
    let mut docs = docs;
    docs.sort_by(|a, b| a.content.number.cmp(&b.content.number));
    let numbers: Vec<&str> = docs.iter().map(|d| d.content.number.as_str()).collect();
    assert_eq!(numbers, ["RE-2026-00001", "RE-2026-00002", "RE-2026-00003"]);
    assert_eq!(docs[2].id(), &promised, "the invoice id release 1 promised");
    assert!(docs.iter().all(|d| d.delivery.is_sent()));
    let mut expected = vec![
        format!("{}.eml", docs[1].id()),
        format!("{}.eml", docs[2].id()),
    ];
    expected.sort();
    assert_eq!(
        mails(outbox.path()),
        expected,
        "only the mails not sent before"
    );
    assert_eq!(
        files
            .file(&faktura_domain::service::pdf_key(&docs[1].content))
            .await
            .unwrap()
            .unwrap(),
        b"%PDF-1.7 release 1".to_vec(),
        "the stored original is not rendered again"
    );

    // The rest is migrated by `faktura-admin migrate`; twice is once.
    let report = table.migrate_release1().await.unwrap();
    assert_eq!(
        report.documents, 1,
        "the sent invoice was still a release-1 item"
    );
    let again = table.migrate_release1().await.unwrap();
    assert_eq!((again.documents, again.jobs), (0, 0));
    let after = table
        .documents(&demo, &DocumentFilter::default(), None, 100)
        .await
        .unwrap()
        .documents;
    let numbers: Vec<&str> = after.iter().map(|d| d.content.number.as_str()).collect();
    assert_eq!(
        numbers,
        ["RE-2026-00001", "RE-2026-00002", "RE-2026-00003"],
        "in creation order once migrated"
    );
    for d in &after {
        assert!(d.version >= 2, "{} is a document item", d.content.number);
        let ledger = table
            .ledger(&demo, &d.content.buyer.customer_key)
            .await
            .unwrap();
        let charges = ledger
            .iter()
            .filter(|e| {
                &e.document_id == d.id() && e.kind == faktura_domain::ledger::EntryKind::Charge
            })
            .count();
        assert_eq!(charges, 1, "{} has exactly one charge", d.content.number);
        assert_eq!(
            d.settlement,
            faktura_domain::ledger::settlement_of(
                ledger.iter().filter(|e| &e.document_id == d.id())
            )
        );
    }
    // Filters see migrated documents (they carry the filter attributes now).
    let sent = table
        .documents(
            &demo,
            &DocumentFilter {
                delivery: Some("sent".into()),
                ..DocumentFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap()
        .documents;
    assert_eq!(sent.len(), 3);
}
