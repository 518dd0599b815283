//! The storage contracts against the embedded adapters (SQLite, files), plus what only the
//! embedded adapters promise (persistence across restarts, the duplicate-number safety net,
//! exact page sizes).

use std::sync::Arc;

use faktura_domain::StoreError;
use faktura_domain::model::InvoiceStatus;
use faktura_domain::ports::{
    BookingStore, CustomerStore, DocumentStore, InvoiceFilter, InvoiceStore,
};
use faktura_embedded::{FsDocumentStore, SqliteStore};
use faktura_tests::contract::{self, at};

fn memory() -> SqliteStore {
    SqliteStore::in_memory().expect("in-memory SQLite store")
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

// ---- the contracts -----------------------------------------------------------------------

#[tokio::test]
async fn record_booking_is_insert_if_absent() {
    contract::record_booking_is_insert_if_absent(&memory()).await;
}

#[tokio::test]
async fn booking_lookup() {
    contract::booking_lookup(&memory()).await;
}

#[tokio::test]
async fn mark_booking_invoiced() {
    contract::mark_booking_invoiced(&memory()).await;
}

#[tokio::test]
async fn bookings_awaiting_invoice() {
    contract::bookings_awaiting_invoice(&memory()).await;
}

#[tokio::test]
async fn customer_upsert_and_get() {
    contract::customer_upsert_and_get(&memory()).await;
}

#[tokio::test]
async fn counter_starts_at_zero() {
    contract::counter_starts_at_zero(&memory()).await;
}

#[tokio::test]
async fn insert_issued_outcomes() {
    contract::insert_issued_outcomes(&memory()).await;
}

#[tokio::test]
async fn counters_are_independent() {
    contract::counters_are_independent(&memory()).await;
}

#[tokio::test]
async fn invoice_not_found() {
    contract::invoice_not_found(&memory()).await;
}

#[tokio::test]
async fn list_invoices_order_and_filters() {
    contract::list_invoices_order_and_filters(&memory()).await;
}

#[tokio::test]
async fn list_invoices_pagination() {
    contract::list_invoices_pagination(&memory()).await;
}

#[tokio::test]
async fn claim_delivery_lease() {
    contract::claim_delivery_lease(&memory()).await;
}

#[tokio::test]
async fn invoices_awaiting_delivery() {
    contract::invoices_awaiting_delivery(&memory()).await;
}

#[tokio::test]
async fn documents_roundtrip() {
    let dir = temp_dir();
    contract::documents_roundtrip(&FsDocumentStore::new(dir.path().to_path_buf())).await;
}

#[tokio::test]
async fn document_bad_keys_rejected() {
    let dir = temp_dir();
    let store = FsDocumentStore::new(dir.path().join("docs"));
    contract::document_bad_keys_rejected(&store).await;
    assert!(
        !dir.path().join("escape.pdf").exists() && !dir.path().join("x.pdf").exists(),
        "nothing was written outside the root"
    );
}

/// All contracts against one shared store, as the AWS suite will run them (fresh tenants
/// keep them apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_contracts_share_one_file_store() {
    let dir = temp_dir();
    let store = SqliteStore::open(&dir.path().join("faktura.db")).expect("open");
    let (b, c, i): (&dyn BookingStore, &dyn CustomerStore, &dyn InvoiceStore) =
        (&store, &store, &store);
    contract::all_store_contracts_at_once(b, c, i).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_is_gapless_under_concurrency() {
    let dir = temp_dir();
    let store = SqliteStore::open(&dir.path().join("faktura.db")).expect("open");
    let report = contract::numbering_is_gapless_under_concurrency(Arc::new(store), 200).await;
    eprintln!(
        "gapless numbering: {} concurrent tasks, {} insert_issued attempts, {:?}",
        report.tasks, report.attempts, report.elapsed
    );
}

// ---- embedded only -----------------------------------------------------------------------

/// Everything written survives closing and reopening the file.
#[tokio::test]
async fn sqlite_file_persists_across_reopen() {
    let dir = temp_dir();
    let path = dir.path().join("nested").join("faktura.db");
    let tenant = contract::sample_tenant(&contract::fresh_tenant_id());
    let booking = contract::sample_booking("bk_persist", "cus_42");
    let record = contract::sample_booking_record(&tenant.id, &booking, at(2026, 4, 1, 8, 0, 0));
    let customer = faktura_domain::invoicing::customer_from_booking(
        &booking,
        &tenant,
        at(2026, 4, 1, 8, 0, 0),
    );
    let invoice;
    {
        let store = SqliteStore::open(&path).expect("open");
        store.record_booking(&record).await.expect("record_booking");
        store
            .mark_booking_invoiced(&tenant.id, &booking.id)
            .await
            .expect("mark_booking_invoiced");
        store
            .upsert_customer(&tenant.id, &customer)
            .await
            .expect("upsert_customer");
        invoice = contract::issue_next(
            &store,
            &tenant,
            "bk_persist",
            "cus_42",
            at(2026, 4, 1, 9, 0, 0),
        )
        .await;
        store
            .mark_sent(
                &tenant.id,
                &invoice.id,
                at(2026, 4, 1, 9, 5, 0),
                "msg-persist",
            )
            .await
            .expect("mark_sent");
    }
    assert!(path.exists(), "the database file exists");

    let store = SqliteStore::open(&path).expect("reopen");
    let read = store
        .booking(&tenant.id, &booking.id)
        .await
        .expect("booking")
        .expect("the booking survives a reopen");
    assert_eq!(read.status, faktura_domain::ports::BookingStatus::Invoiced);
    assert_eq!(read.booking, record.booking);
    assert_eq!(
        store
            .customer(&tenant.id, &customer.key)
            .await
            .expect("customer"),
        Some(customer),
        "the customer survives a reopen"
    );
    let key = contract::counter_key(&tenant, invoice.issue_date);
    assert_eq!(
        store.counter(&key).await.expect("counter"),
        1,
        "the counter survives"
    );
    let stored = store
        .invoice(&tenant.id, &invoice.id)
        .await
        .expect("invoice")
        .expect("the invoice survives a reopen");
    assert_eq!(stored.invoice, invoice);
    assert_eq!(stored.status, InvoiceStatus::Sent);
    assert_eq!(stored.message_id.as_deref(), Some("msg-persist"));
    assert_eq!(stored.sent_at, Some(at(2026, 4, 1, 9, 5, 0)));

    // Numbering continues where it was.
    let next = contract::issue_next(
        &store,
        &tenant,
        "bk_persist_2",
        "cus_42",
        at(2026, 4, 2, 9, 0, 0),
    )
    .await;
    assert_eq!(next.number.as_str(), "RE-2026-00002");
}

/// Two handles on one file (two processes, say) still number gaplessly: the write
/// transactions wait for each other instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_share_the_counter() {
    let dir = temp_dir();
    let path = dir.path().join("faktura.db");
    let a = SqliteStore::open(&path).expect("open a");
    let b = SqliteStore::open(&path).expect("open b");
    let tenant = contract::sample_tenant(&contract::fresh_tenant_id());
    let at0 = at(2026, 4, 1, 9, 0, 0);
    for n in 0..6u32 {
        let store: &dyn InvoiceStore = if n % 2 == 0 { &a } else { &b };
        let inv = contract::issue_next(store, &tenant, &format!("bk_two_{n}"), "cus_42", at0).await;
        assert_eq!(inv.number.as_str(), format!("RE-2026-{:05}", n + 1));
    }
    let key = contract::counter_key(&tenant, at0.date_naive());
    assert_eq!(a.counter(&key).await.expect("counter"), 6);
    assert_eq!(b.counter(&key).await.expect("counter"), 6);
}

/// The UNIQUE (tenant, number) safety net (see the contract).
#[tokio::test]
async fn duplicate_number_is_refused_and_writes_nothing() {
    contract::duplicate_number_is_refused(&memory()).await;
}

/// SQLite fills every page: limit 2 over five invoices is 2, 2, 1 with no trailing page.
#[tokio::test]
async fn sqlite_pages_are_full() {
    let store = memory();
    let fx = contract::seed_list_fixture(&store).await;
    let mut sizes = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_invoices(
                &fx.tenant.id,
                &InvoiceFilter::default(),
                cursor.as_deref(),
                2,
            )
            .await
            .expect("list_invoices");
        sizes.push(page.invoices.len());
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    let page = store
        .list_invoices(&fx.tenant.id, &InvoiceFilter::default(), None, 0)
        .await
        .expect("list_invoices");
    assert_eq!(page.invoices.len(), 1, "a limit of 0 is read as 1");
}

/// A garbage document read is refused too, and an unreadable store is reported as such.
#[tokio::test]
async fn document_reads_check_keys() {
    let dir = temp_dir();
    let store = FsDocumentStore::new(dir.path().to_path_buf());
    assert!(store.document("../etc/passwd").await.is_err());
    store
        .put_document("a/b.pdf", b"pdf".to_vec(), "application/pdf", "b.pdf")
        .await
        .expect("put_document");
    assert_eq!(store.document("a/b.pdf/c").await.expect("document"), None);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a"))
        .expect("read_dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("b.pdf")],
        "no temp files left"
    );
}

// ---- tenants, mail, events -----------------------------------------------------------------

fn tenant_record(tenant_id: &str) -> faktura_domain::ports::TenantRecord {
    faktura_domain::ports::TenantRecord {
        tenant: contract::sample_tenant(&contract::id(tenant_id)),
        webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
    }
}

#[tokio::test]
async fn static_tenants_find_tenants_by_id_and_hashed_key() {
    use faktura_domain::ports::TenantDirectory;
    use faktura_embedded::{StaticTenants, api_key_hash};

    let tenants = StaticTenants::new(vec![
        (
            tenant_record("acme"),
            vec!["key-acme-1".into(), "key-acme-2".into()],
        ),
        (
            tenant_record("globex"),
            vec!["key-globex".into(), "key-shared".into()],
        ),
        (tenant_record("initech"), vec!["key-shared".into()]),
    ]);
    let acme = contract::id("acme");
    assert_eq!(
        tenants
            .tenant(&acme)
            .await
            .expect("tenant")
            .map(|r| r.tenant.id),
        Some(acme.clone())
    );
    assert!(
        tenants
            .tenant(&contract::id("nope"))
            .await
            .expect("tenant")
            .is_none()
    );
    for (key, expected) in [
        ("key-acme-1", Some("acme")),
        ("key-acme-2", Some("acme")),
        ("key-globex", Some("globex")),
        ("key-shared", None),
        ("key-acme-3", None),
        ("", None),
    ] {
        assert_eq!(
            tenants
                .tenant_for_api_key(key)
                .await
                .expect("tenant_for_api_key"),
            expected.map(contract::id),
            "API key {key:?}"
        );
    }
    assert_eq!(
        api_key_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "SHA-256 as lowercase hex"
    );
    let debug = format!("{tenants:?}");
    assert!(
        !debug.contains("key-acme-1") && !debug.contains("whsec_"),
        "neither plain keys nor webhook secrets show in Debug: {debug}"
    );

    let hashed = StaticTenants::from_key_hashes(vec![(
        tenant_record("acme"),
        vec![
            api_key_hash("key-acme-1").to_uppercase(),
            "not-a-hash".into(),
        ],
    )]);
    assert_eq!(
        hashed
            .tenant_for_api_key("key-acme-1")
            .await
            .expect("tenant_for_api_key"),
        Some(acme)
    );
}

#[tokio::test]
async fn outbox_mailer_writes_eml_files_idempotently() {
    use faktura_domain::ports::{MailSender, OutgoingMail};
    use faktura_embedded::OutboxMailer;

    let dir = temp_dir();
    let outbox = OutboxMailer::new(dir.path().join("outbox"));
    let mut mail = OutgoingMail {
        key: "inv_0001".into(),
        from: contract::parsed("rechnung@sonnenschein.example"),
        to: vec![contract::parsed("erika@example.org")],
        raw: b"Subject: first\r\n\r\nbody".to_vec(),
    };
    let id = outbox.send(&mail).await.expect("send");
    assert_eq!(id, "outbox-inv_0001");
    let path = outbox.path_for("inv_0001");
    assert_eq!(path, dir.path().join("outbox").join("inv_0001.eml"));
    assert_eq!(std::fs::read(&path).expect("eml"), mail.raw);

    mail.raw = b"Subject: second\r\n\r\nbody".to_vec();
    assert_eq!(outbox.send(&mail).await.expect("send again"), id);
    assert_eq!(
        std::fs::read(&path).expect("eml"),
        mail.raw,
        "the same key overwrites"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("outbox"))
            .expect("dir")
            .count(),
        1
    );

    for bad in ["", "../x", "a/b", ".hidden"] {
        mail.key = bad.into();
        assert!(
            outbox.send(&mail).await.is_err(),
            "mail key {bad:?} is refused"
        );
    }
}

#[tokio::test]
async fn in_process_bus_delivers_and_counts() {
    use faktura_domain::events::{DomainEvent, EventType};
    use faktura_domain::ports::EventPublisher;
    use faktura_embedded::InProcessBus;

    let (bus, mut rx) = InProcessBus::new();
    let t = contract::id("acme");
    let event = |kind| {
        DomainEvent::new(
            kind,
            &t,
            &contract::id("bk_1"),
            &contract::id("inv_1"),
            None,
            at(2026, 1, 1, 0, 0, 0),
        )
    };
    let clone = bus.clone();
    bus.publish(&event(EventType::BookingReceived))
        .await
        .expect("publish");
    clone
        .publish(&event(EventType::InvoiceIssued))
        .await
        .expect("publish");
    clone
        .publish(&event(EventType::InvoiceIssued))
        .await
        .expect("publish");
    assert_eq!(bus.published(EventType::BookingReceived), 1);
    assert_eq!(
        bus.published(EventType::InvoiceIssued),
        2,
        "clones share the counts"
    );
    assert_eq!(bus.published(EventType::InvoiceSent), 0);
    let first = rx.recv().await.expect("an event");
    assert_eq!(
        first.event_type,
        EventType::BookingReceived,
        "events arrive in order"
    );

    drop(rx);
    let result = bus.publish(&event(EventType::InvoiceSent)).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "publishing without a receiver fails: {result:?}"
    );
    assert_eq!(
        bus.published(EventType::InvoiceSent),
        0,
        "a failed publish is not counted"
    );
}
