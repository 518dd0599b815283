//! Bank statements at scale, measured: `cargo bench -p faktura-tests --bench bank` (size:
//! `FAKTURA_BENCH_STATEMENT=10000`, the default).
//!
//! N open invoices on a SQLite file (the local adapter, WAL), then one CAMT.053 statement of
//! N credits written as a bank writes it: 40 % pay by the RF creditor reference, 30 % name the
//! invoice number in the text, 20 % match by amount and payer name, 10 % are unknown (review).
//! Measured: parsing the file, the import (each transaction read, matched against the indexed
//! open invoices and committed with its payments: one transaction per bank transaction), the
//! same file imported again (every transaction recorded before), and the peak resident memory.
//!
//! Under `cargo test --benches` it imports 20 as a smoke test.

use std::time::Instant;

use chrono::Utc;
use faktura_bank::sample::{Entry, camt053};
use faktura_domain::audit::Cause;
use faktura_domain::bank::TransactionStateKind;
use faktura_domain::model::DocumentKind;
use faktura_domain::payment_codes::CreditorReference;
use faktura_domain::ports::{Change, DocumentWrite};
use faktura_domain::service::banking::Banking;
use faktura_tests::bench::{micros_each, peak_rss_mib, smoke, sqlite_stores};
use faktura_tests::contract;

async fn run(n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let tenant = contract::sample_tenant(&contract::id("bench"));
    let stores = sqlite_stores(dir.path(), &tenant);
    // N issued invoices, 100 per commit; quantities 1..=7 so amounts differ.
    let now = Utc::now();
    let mut docs = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut change = Change::for_tenant(&tenant.id);
        for &i in chunk {
            let booking = contract::booking_with(
                &format!("bk_{i}"),
                &format!("cus_{i}"),
                &(1 + i % 7).to_string(),
            );
            let doc = contract::issued_document(
                &tenant,
                &booking,
                DocumentKind::Invoice,
                now,
                i as u64 + 1,
            );
            change.documents.push(DocumentWrite::new(doc.clone()));
            docs.push(doc);
        }
        stores.repository.commit(change).await.expect("invoices");
    }
    let entries: Vec<Entry> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let amount = d.content.totals.amount_due.to_string();
            let number = d.content.number.as_str();
            let name = format!("Kundin {i}");
            match i % 10 {
                0..=3 => {
                    let mut e = Entry::credit(&format!("B{i}"), &amount, &name, "");
                    e.creditor_reference = CreditorReference::for_number(&d.content.number)
                        .map(|r| r.as_str().to_string());
                    e
                }
                4..=6 => Entry::credit(
                    &format!("B{i}"),
                    &amount,
                    &name,
                    &format!("Rechnung {number} danke"),
                ),
                7 | 8 => Entry::credit(&format!("B{i}"), &amount, &d.content.buyer.name, "Yoga"),
                _ => Entry::credit(&format!("B{i}"), "1.23", "Unbekannt", "Spende"),
            }
        })
        .collect();
    let file = camt053("BENCH", &entries);
    let started = Instant::now();
    let statements = faktura_bank::parse(&file).expect("parse");
    let parsed = started.elapsed();
    let banking = Banking::new(stores.clone());
    let cause = Cause::Inbox {
        key: "inbox/bench/statement.xml".into(),
    };
    let started = Instant::now();
    let summary = banking
        .import(&tenant.id, &statements, &cause)
        .await
        .expect("import");
    let imported = started.elapsed();
    let count = |k| {
        summary
            .transactions
            .iter()
            .filter(|t| t.state.kind() == k)
            .count()
    };
    let matched = count(TransactionStateKind::Matched);
    let unmatched = count(TransactionStateKind::Unmatched);
    assert_eq!(summary.transactions.len(), n);
    assert!(matched >= n * 7 / 10, "{matched} of {n} matched");
    let started = Instant::now();
    let again = banking
        .import(&tenant.id, &statements, &cause)
        .await
        .expect("again");
    let reimported = started.elapsed();
    assert_eq!(again.duplicates, n);
    println!(
        "statement of {n} credits ({:.1} MB CAMT.053): parse {:.1} ms ({:.1} µs/entry); import {:.2} s ({:.0} µs/transaction, {:.0}/s; {matched} matched, {unmatched} for review); again (all recorded before) {:.2} s ({:.0} µs/transaction); peak RSS {:.0} MiB",
        file.len() as f64 / 1e6,
        parsed.as_secs_f64() * 1e3,
        micros_each(parsed, n),
        imported.as_secs_f64(),
        micros_each(imported, n),
        n as f64 / imported.as_secs_f64(),
        reimported.as_secs_f64(),
        micros_each(reimported, n),
        peak_rss_mib(),
    );
}

fn main() {
    let n = if smoke() {
        20
    } else {
        std::env::var("FAKTURA_BENCH_STATEMENT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(n));
}
