//! The webhook and the API fuzzed from outside on the embedded adapters (SQLite): see
//! `faktura_tests::fuzz` for what every answer must satisfy. CI runs a bounded, seeded number
//! of cases; `FAKTURA_FUZZ_CASES=100000 cargo test -p faktura-tests --test local webhook_fuzz
//! -- --nocapture` runs a long one (`FAKTURA_FUZZ_SEED` picks other cases).

use std::sync::Arc;

use faktura_domain::ports::{Stores, SystemClock};
use faktura_einvoice::EInvoiceXml;
use faktura_embedded::{FsFileStore, InProcessBus, SqliteStore, StaticTenants};
use faktura_tests::fuzz::{self, Target};
use faktura_tests::local::{DEMO_KEY, load_tenants};

fn embedded_target(dir: &std::path::Path) -> Target {
    let db = Arc::new(SqliteStore::in_memory().expect("sqlite"));
    let tenants = load_tenants();
    let demo = tenants[0].record.clone();
    let directory = Arc::new(StaticTenants::new(
        tenants
            .into_iter()
            .map(|t| (t.record, t.api_keys))
            .collect(),
    ));
    let (bus, _events) = InProcessBus::new();
    let stores = Stores {
        tenants: directory,
        repository: db.clone(),
        jobs: db,
        files: Arc::new(FsFileStore::new(dir.to_path_buf())),
        events: Arc::new(bus),
        clock: Arc::new(SystemClock),
    };
    fuzz::target(stores, demo, DEMO_KEY, Arc::new(EInvoiceXml))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_holds_its_contract_for_generated_requests() {
    let dir = tempfile::tempdir().unwrap();
    let t = embedded_target(dir.path());
    let started = std::time::Instant::now();
    let report = fuzz::fuzz_webhook(&t, fuzz::seed(0x0FAC_702A), fuzz::cases(1500), true).await;
    eprintln!(
        "webhook fuzz (SQLite): {} cases in {:.1?}, {} accepted, statuses {:?}, codes {:?}",
        report.cases,
        started.elapsed(),
        report.accepted,
        report.by_status,
        report.codes
    );
    // The generator must reach both sides of validation, or it tests nothing.
    assert!(report.accepted >= report.cases / 50, "{report:?}");
    assert!(report.codes.len() >= 8, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_holds_its_contract_for_generated_requests() {
    let dir = tempfile::tempdir().unwrap();
    let t = embedded_target(dir.path());
    let report = fuzz::fuzz_api(&t, fuzz::seed(0xA91), fuzz::cases(1500)).await;
    eprintln!(
        "API fuzz (SQLite): {} cases, statuses {:?}, codes {:?}",
        report.cases, report.by_status, report.codes
    );
    assert!(report.by_status.keys().any(|s| *s == 200), "{report:?}");
    assert!(report.codes.contains("invalid_path"), "{report:?}");
    assert!(report.codes.contains("method_not_allowed"), "{report:?}");
}
