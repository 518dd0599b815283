//! Upgrading a local data dir written by release 1 (`tests/fixtures/v1/`): the database is
//! migrated (schema 1 → 2) on start, every invoice is still there as an issued document with
//! its number, delivery, files and ledger charge, the work release 1 left unfinished (a mail
//! not sent, a booking not invoiced) is done once, and nothing done already is done again.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use faktura_domain::document::Lifecycle;
use faktura_domain::jobs::JobState;
use faktura_domain::model::DocumentKind;
use faktura_domain::ports::DocumentFilter;
use faktura_domain::values::Id;
use faktura_local::app::{LocalApp, LocalConfig};
use faktura_tests::local::{DEMO_KEY, load_tenants};
use faktura_tests::upgrade::{fixtures, mails};
use serde_json::Value;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A release-1 data dir, as `faktura serve` left it.
fn release1_data_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("data");
    std::fs::create_dir_all(dir.join("outbox")).unwrap();
    std::fs::copy(
        fixtures().join("faktura.sqlite3"),
        dir.join("faktura.sqlite3"),
    )
    .unwrap();
    copy_dir(&fixtures().join("documents"), &dir.join("documents"));
    std::fs::write(
        dir.join(faktura_local::app::DATA_DIR_MARKER),
        b"faktura local data\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release1_data_dir_upgrades_without_losing_anything() {
    let root = tempfile::tempdir().unwrap();
    let dir = release1_data_dir(root.path());
    let demo: Id = "demo".parse().unwrap();
    let pdf_before = |number: &str| {
        let found = walk(&fixtures().join("documents"))
            .into_iter()
            .find(|p| p.ends_with(format!("{number}.pdf")))
            .unwrap_or_else(|| panic!("fixture PDF {number}"));
        std::fs::read(found).unwrap()
    };

    let started = Instant::now();
    let mut app = LocalApp::start(LocalConfig::new(dir.clone(), load_tenants()))
        .await
        .expect("a release-1 data dir starts");
    assert_eq!(
        app.db.schema_version().unwrap(),
        faktura_embedded::SQLITE_SCHEMA_VERSION
    );
    let addr = app
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{addr}");

    // The work release 1 left: the mail of RE-2026-00002 and booking bk_v1_pending, whose
    // invoice gets the id release 1 promised the platform and the next number.
    let pending = app
        .stores
        .repository
        .booking(&demo, &"bk_v1_pending".parse().unwrap())
        .await
        .unwrap()
        .expect("the pending booking reads");
    let promised = pending.events[0]
        .document_id
        .clone()
        .expect("release 1 chose the invoice id at intake");
    let deadline = Duration::from_secs(60);
    loop {
        let jobs = app
            .stores
            .jobs
            .jobs(&demo, None, None, 100)
            .await
            .unwrap()
            .jobs;
        // Open and due: an invoice's dunning job waits for its due date (weeks ahead).
        let now = chrono::Utc::now();
        let open = jobs
            .iter()
            .filter(|j| j.state.is_open() && j.due_at <= now)
            .count();
        let failed = jobs.iter().filter(|j| j.state == JobState::Failed).count();
        assert_eq!(failed, 0, "{jobs:?}");
        // Every document sent too: a mail is in the outbox a moment before its job is done
        // and its document marked sent (a loaded CI machine once read in between).
        let all_sent = app
            .stores
            .repository
            .documents(&demo, &DocumentFilter::default(), None, 100)
            .await
            .unwrap()
            .documents
            .iter()
            .all(|d| d.delivery.is_sent());
        if open == 0 && all_sent && mails(&dir.join("outbox")).len() >= 2 {
            break;
        }
        assert!(started.elapsed() < deadline, "unfinished work: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "release-1 data dir upgraded and its work done in {:?}",
        started.elapsed()
    );

    let docs = app
        .stores
        .repository
        .documents(&demo, &DocumentFilter::default(), None, 100)
        .await
        .unwrap()
        .documents;
    let numbers: Vec<&str> = docs.iter().map(|d| d.content.number.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "RE-2026-00001",
            "RE-2026-00002",
            "RE-2026-00003",
            "RE-2026-00004"
        ],
        "the three release-1 invoices, then the pending booking's"
    );
    assert_eq!(docs[3].id(), &promised);
    for d in &docs {
        assert_eq!(d.kind(), DocumentKind::Invoice);
        assert_eq!(d.lifecycle, Lifecycle::Issued);
        assert!(d.delivery.is_sent(), "{} is sent", d.content.number);
        assert!(d.rendered);
        assert_eq!(
            d.settlement.charged,
            d.content.totals.tax_inclusive + d.content.totals.rounding
        );
        let ledger = app
            .stores
            .repository
            .ledger(&demo, &d.content.buyer.customer_key)
            .await
            .unwrap();
        assert!(
            ledger.iter().any(|e| &e.document_id == d.id()),
            "{} has its charge",
            d.content.number
        );
        assert!(
            !app.stores
                .repository
                .audit(&demo, d.id())
                .await
                .unwrap()
                .is_empty(),
            "{} has an audit trail",
            d.content.number
        );
    }
    // Mails: the one release 1 owed (00002) and the new invoice; none for 00001 or 00003.
    let outbox = mails(&dir.join("outbox"));
    assert_eq!(
        outbox,
        {
            let mut v = vec![
                format!("{}.eml", docs[1].id()),
                format!("{}.eml", docs[3].id()),
            ];
            v.sort();
            v
        },
        "exactly the mails not sent before"
    );
    // The originals release 1 stored are kept byte for byte (never rendered again).
    for number in ["RE-2026-00001", "RE-2026-00002", "RE-2026-00003"] {
        let path = walk(&dir.join("documents"))
            .into_iter()
            .find(|p| p.ends_with(format!("{number}.pdf")))
            .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), pdf_before(number), "{number}");
    }
    // The API shows them as before (the same paths and fields release-1 clients read).
    let client = reqwest::Client::new();
    let list: Value = client
        .get(format!("{base}/v1/invoices"))
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = list["invoices"].as_array().expect("invoices");
    assert_eq!(listed.len(), 4, "{list}");
    for inv in listed {
        for field in ["id", "number", "status", "totals", "issue_date"] {
            assert!(inv.get(field).is_some(), "{field} in {inv}");
        }
    }
    // The other tenant's invoice is there too.
    let small = app
        .stores
        .repository
        .documents(
            &"kleinunternehmer".parse().unwrap(),
            &DocumentFilter::default(),
            None,
            10,
        )
        .await
        .unwrap()
        .documents;
    assert_eq!(small.len(), 1);
    assert_eq!(small[0].content.number.as_str(), "2026-0001");
    app.shutdown().await;

    // A second start migrates nothing again and finds nothing to do.
    let app = LocalApp::start(LocalConfig::new(dir.clone(), load_tenants()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails(&dir.join("outbox")).len(), 2);
    assert_eq!(
        app.stores
            .repository
            .documents(&demo, &DocumentFilter::default(), None, 100)
            .await
            .unwrap()
            .documents
            .len(),
        4
    );
    app.shutdown().await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
