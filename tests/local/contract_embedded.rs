//! The port contracts against the embedded adapters (SQLite, files), plus what only the
//! embedded adapters promise (persistence across restarts, two handles on one file, exact
//! page sizes, files that stay in their root).

use std::sync::Arc;

use faktura_domain::StoreError;
use faktura_domain::document::Delivery;
use faktura_domain::jobs::{Job, JobKind, JobState};
use faktura_domain::model::DocumentKind;
use faktura_domain::ports::{Change, DocumentFilter, FileStore, JobQueue, Repository};
use faktura_embedded::{FsFileStore, SqliteStore};
use faktura_tests::contract::{self, Adapters, at};

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// A fresh in-memory database and a file store in a temp dir (kept for the process: the
/// tests are short-lived).
async fn adapters() -> Adapters {
    let db = Arc::new(SqliteStore::in_memory().expect("in-memory SQLite store"));
    let dir = temp_dir().keep();
    Adapters {
        repository: db.clone(),
        jobs: db,
        files: Arc::new(FsFileStore::new(dir)),
    }
}

/// The same contracts on a database file (WAL, a connection pool) instead of memory.
async fn file_adapters() -> Adapters {
    let dir = temp_dir().keep();
    let db = Arc::new(SqliteStore::open(&dir.join("faktura.sqlite3")).expect("open"));
    Adapters {
        repository: db.clone(),
        jobs: db,
        files: Arc::new(FsFileStore::new(dir.join("documents"))),
    }
}

mod memory {
    use super::adapters;
    faktura_tests::contract_suite!(adapters);
}

mod file {
    use super::file_adapters;
    faktura_tests::contract_suite!(file_adapters);
}

// ---- embedded only -----------------------------------------------------------------------

/// Everything written survives closing and reopening the file, and numbering continues.
#[tokio::test]
async fn sqlite_file_persists_across_reopen() {
    let dir = temp_dir();
    let path = dir.path().join("nested").join("faktura.db");
    let tenant = contract::sample_tenant(&contract::fresh_tenant_id());
    let booking = contract::sample_booking("bk_persist", "cus_42");
    let now = at(2026, 4, 1, 9, 0, 0);
    let mut doc = contract::issued_document(&tenant, &booking, DocumentKind::Invoice, now, 1);
    doc.delivery = Delivery::Sent {
        at: now,
        message_id: "msg-persist".into(),
        to: vec![doc.content.buyer.email.clone()],
        sends: 1,
    };
    let customer = faktura_domain::invoicing::customer_from_booking(&booking, &tenant, now);
    let mut change = contract::repository::issue_change(&tenant, &doc, 0);
    change.customers.push(customer.clone());
    let job = change.jobs[0].clone();
    {
        let store = SqliteStore::open(&path).expect("open");
        store.commit(change).await.expect("commit");
    }
    assert!(path.exists(), "the database file exists");

    let store = SqliteStore::open(&path).expect("reopen");
    let mut expected = doc.clone();
    expected.version = 1;
    assert_eq!(
        store
            .document(&tenant.id, doc.id())
            .await
            .expect("document"),
        Some(expected)
    );
    assert_eq!(
        store
            .customer(&tenant.id, &customer.key)
            .await
            .expect("customer"),
        Some(customer)
    );
    assert_eq!(
        store
            .ledger(&tenant.id, &doc.content.buyer.customer_key)
            .await
            .expect("ledger")
            .len(),
        1
    );
    assert_eq!(
        store
            .audit(&tenant.id, doc.id())
            .await
            .expect("audit")
            .len(),
        1
    );
    assert_eq!(
        store
            .job(&tenant.id, &job.id)
            .await
            .expect("job")
            .map(|j| j.state),
        Some(JobState::Pending)
    );
    let key = contract::counter_key(&tenant, DocumentKind::Invoice, now.date_naive());
    assert_eq!(
        store.counter(&key).await.expect("counter"),
        1,
        "the counter survives"
    );
    assert_eq!(
        store.schema_version().expect("schema version"),
        faktura_embedded::SQLITE_SCHEMA_VERSION
    );
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
    let now = at(2026, 4, 1, 9, 0, 0);
    let booking = contract::sample_booking("bk_two", "cus_42");
    for n in 0..6u64 {
        let store: &dyn Repository = if n % 2 == 0 { &a } else { &b };
        let doc = contract::issued_document(&tenant, &booking, DocumentKind::Invoice, now, n + 1);
        let current = store
            .counter(&contract::counter_key(
                &tenant,
                DocumentKind::Invoice,
                now.date_naive(),
            ))
            .await
            .expect("counter");
        assert_eq!(current, n, "each handle sees the other's numbers");
        store
            .commit(contract::repository::issue_change(&tenant, &doc, current))
            .await
            .expect("commit");
    }
    let key = contract::counter_key(&tenant, DocumentKind::Invoice, now.date_naive());
    assert_eq!(a.counter(&key).await.expect("counter"), 6);
    assert_eq!(b.counter(&key).await.expect("counter"), 6);
}

/// SQLite fills every page: limit 2 over five documents is 2, 2, 1 with no trailing page; a
/// limit of 0 reads as 1.
#[tokio::test]
async fn sqlite_pages_are_full() {
    let store = SqliteStore::in_memory().expect("store");
    let tenant = contract::sample_tenant(&contract::fresh_tenant_id());
    let now = at(2026, 4, 1, 9, 0, 0);
    for n in 1..=5u64 {
        let doc = contract::issued_document(
            &tenant,
            &contract::sample_booking("bk_page", "cus_1"),
            DocumentKind::Invoice,
            now,
            n,
        );
        store
            .commit(contract::repository::issue_change(&tenant, &doc, n - 1))
            .await
            .expect("commit");
    }
    let mut sizes = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .documents(&tenant.id, &DocumentFilter::default(), cursor.as_deref(), 2)
            .await
            .expect("documents");
        sizes.push(page.documents.len());
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    let page = store
        .documents(&tenant.id, &DocumentFilter::default(), None, 0)
        .await
        .expect("documents");
    assert_eq!(page.documents.len(), 1, "a limit of 0 is read as 1");
}

/// A job's lease a stopped run held is freed at start (the data dir lock says nobody else
/// runs), so its work resumes at once.
#[tokio::test]
async fn leases_of_a_stopped_run_are_freed() {
    let store = SqliteStore::in_memory().expect("store");
    let t = contract::fresh_tenant_id();
    let now = chrono::Utc::now();
    let job = Job::new(
        &t,
        JobKind::DeliverDocument,
        &contract::id("inv_1"),
        "first",
        now,
    );
    let mut change = Change::for_tenant(&t);
    change.jobs.push(job.clone());
    store.commit(change).await.expect("commit");
    store
        .claim(&t, &job.id, now, now + chrono::TimeDelta::minutes(5))
        .await
        .expect("claim")
        .expect("claimed");
    assert_eq!(store.release_all_job_leases().expect("release"), 1);
    let freed = store.job(&t, &job.id).await.expect("job").expect("job");
    assert_eq!(freed.state, JobState::Pending);
    assert!(freed.due_at <= chrono::Utc::now());
}

/// Files stay in their root: the bad keys write nothing anywhere, reads check keys too, and
/// no temp files are left behind.
#[tokio::test]
async fn file_store_stays_in_its_root() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    let store = FsFileStore::new(root.clone());
    let a = Adapters {
        repository: Arc::new(SqliteStore::in_memory().expect("store")),
        jobs: Arc::new(SqliteStore::in_memory().expect("store")),
        files: Arc::new(store.clone()),
    };
    contract::files::bad_file_keys_rejected(&a).await;
    assert!(
        !dir.path().join("escape.pdf").exists() && !dir.path().join("x.pdf").exists(),
        "nothing was written outside the root"
    );
    assert!(store.file("../etc/passwd").await.is_err());
    store
        .put_file("a/b.pdf", b"pdf".to_vec(), "application/pdf", "b.pdf")
        .await
        .expect("put_file");
    assert_eq!(store.file("a/b.pdf/c").await.expect("file"), None);
    let leftovers: Vec<_> = std::fs::read_dir(root.join("a"))
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
    use faktura_domain::events::{DomainEvent, Subject, SubjectKind};
    use faktura_domain::ports::EventPublisher;
    use faktura_embedded::InProcessBus;

    let (bus, mut rx) = InProcessBus::new();
    let t = contract::id("acme");
    let event = |kind: &str| {
        DomainEvent::new(
            kind,
            &t,
            Subject {
                kind: SubjectKind::Document,
                id: contract::id("inv_1"),
            },
            serde_json::json!({}),
            at(2026, 1, 1, 0, 0, 0),
        )
    };
    let clone = bus.clone();
    bus.publish(&event("job.apply_booking_events"))
        .await
        .expect("publish");
    clone
        .publish(&event("document.issued"))
        .await
        .expect("publish");
    clone
        .publish(&event("document.issued"))
        .await
        .expect("publish");
    assert_eq!(bus.published("job.apply_booking_events"), 1);
    assert_eq!(
        bus.published("document.issued"),
        2,
        "clones share the counts"
    );
    assert_eq!(bus.published("document.sent"), 0);
    let first = rx.recv().await.expect("an event");
    assert_eq!(
        first.event_type, "job.apply_booking_events",
        "events arrive in order"
    );

    drop(rx);
    let result = bus.publish(&event("document.sent")).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "publishing without a receiver fails: {result:?}"
    );
    assert_eq!(
        bus.published("document.sent"),
        0,
        "a failed publish is not counted"
    );
}
