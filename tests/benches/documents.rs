//! The documents' life, measured: `cargo bench -p faktura-tests --bench documents`.
//!
//! - criterion: the pure transitions (a payment, a partial credit note planned and applied)
//!   and a settlement summed from 50 ledger entries;
//! - plain loops on a SQLite file (the local adapter, WAL): commands through the use case
//!   (`Commands`: read, plan, one transaction with the audit entry and jobs), payments and
//!   credit notes per second; and job throughput: bookings recorded by the intake, then their
//!   `apply_booking_events` jobs claimed, run (each issues a numbered invoice with its charge,
//!   audit entry and render job) and completed by the `JobRunner`, jobs per second; and the
//!   queue alone (claim + complete).
//!
//! Under `cargo test --benches` everything runs a few iterations as a smoke test.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::Criterion;
use faktura_domain::audit::Cause;
use faktura_domain::booking::{BookingEvent, PaymentFact};
use faktura_domain::document::Document;
use faktura_domain::jobs::{Job, JobKind, LEASE, SHARDS};
use faktura_domain::ledger::settlement_of;
use faktura_domain::model::DocumentKind;
use faktura_domain::ports::{Change, TenantRecord};
use faktura_domain::service::bookings::BookingProcessor;
use faktura_domain::service::commands::{Answered, Command, Commands, Outcome};
use faktura_domain::service::intake::BookingIntake;
use faktura_domain::service::jobs::{Handlers, JobRunner};
use faktura_domain::values::Id;
use faktura_tests::bench::{smoke, sqlite_stores as stores};
use faktura_tests::contract;
use rust_decimal::Decimal;

fn per_second(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn transitions(c: &mut Criterion) {
    let tenant = contract::sample_tenant(&contract::id("bench"));
    let now = Utc::now();
    let invoice = contract::issued_document(
        &tenant,
        &contract::booking_with("bk_bench", "cus_1", "4"),
        DocumentKind::Invoice,
        now,
        1,
    );
    let entry: Id = "led_bench".parse().expect("id");
    let amount = "50.00".parse().expect("amount");
    c.bench_function("transition: record a payment", |b| {
        b.iter(|| {
            black_box(
                invoice
                    .record_payment(&entry, amount, now)
                    .expect("payment"),
            )
        })
    });
    let quantities = vec![Decimal::ONE];
    c.bench_function("transition: plan and apply a partial credit note", |b| {
        b.iter(|| {
            let note = faktura_domain::invoicing::plan_credit_note(
                &invoice,
                &quantities,
                &entry,
                now.date_naive(),
                now,
                None,
            )
            .expect("credit note");
            black_box(invoice.credit(&note, &quantities, now).expect("credit"))
        })
    });
    let entries: Vec<_> = (0..50)
        .map(|n| {
            contract::repository::ledger_entry(
                &invoice,
                faktura_domain::ledger::EntryKind::Payment,
                "1.00",
                &format!("p{n}"),
                now,
            )
        })
        .collect();
    c.bench_function("settlement of 50 ledger entries", |b| {
        b.iter(|| black_box(settlement_of(&entries)))
    });
}

async fn commands(n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let tenant = contract::sample_tenant(&contract::id("bench"));
    let s = stores(dir.path(), &tenant);
    let commands = Commands::new(s.clone(), Arc::new(faktura_einvoice::EInvoiceXml));
    let cause = Cause::ApiKey {
        key_id: "bench".into(),
        request_id: None,
    };
    let run = |command: Command| {
        let commands = commands.clone();
        let cause = cause.clone();
        let tenant = tenant.id.clone();
        async move {
            match commands
                .run(&tenant, command, &cause, None)
                .await
                .expect("command")
            {
                Answered::Fresh(o) => match *o {
                    Outcome::Document(d) => *d,
                    other => panic!("{other:?}"),
                },
                Answered::Replayed(_) => panic!("replayed"),
            }
        }
    };
    let mut invoices: Vec<Document> = Vec::new();
    let started = Instant::now();
    for i in 0..n {
        invoices.push(
            run(Command::Create {
                kind: DocumentKind::Invoice,
                content: contract::booking_with(&format!("bk_{i}"), "cus_1", "4"),
                draft: false,
            })
            .await,
        );
    }
    let created = started.elapsed();
    let started = Instant::now();
    for (i, inv) in invoices.iter().enumerate() {
        run(Command::Payment {
            id: inv.id().clone(),
            payment: PaymentFact {
                paid_at: Utc::now(),
                amount: "50.00".parse().expect("amount"),
                currency: inv.content.currency,
                method: None,
                reference: Some(format!("ref-{i}")),
            },
        })
        .await;
    }
    let paid = started.elapsed();
    let started = Instant::now();
    for inv in &invoices {
        run(Command::CreditNote {
            id: inv.id().clone(),
            lines: vec![(1, Decimal::ONE)],
            reason: None,
        })
        .await;
    }
    let credited = started.elapsed();
    println!(
        "commands on SQLite (file, WAL), one at a time, {n} each:\n  \
         issue an invoice      {:7.0}/s ({:.2} ms each)\n  \
         record a payment      {:7.0}/s ({:.2} ms each)\n  \
         issue a credit note   {:7.0}/s ({:.2} ms each)",
        per_second(n, created),
        created.as_secs_f64() * 1e3 / n as f64,
        per_second(n, paid),
        paid.as_secs_f64() * 1e3 / n as f64,
        per_second(n, credited),
        credited.as_secs_f64() * 1e3 / n as f64,
    );
}

async fn jobs(n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let tenant = contract::sample_tenant(&contract::id("bench"));
    let s = stores(dir.path(), &tenant);
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let intake = BookingIntake::new(s.clone(), einvoice.clone());
    let record = TenantRecord {
        tenant: tenant.clone(),
        webhook_secrets: Vec::new(),
    };
    for i in 0..n {
        let booking = contract::booking_with(&format!("bk_job_{i}"), &format!("cus_{i}"), "1");
        intake
            .receive(
                &record,
                Some(&format!("msg_{i}")),
                BookingEvent::Created {
                    booking,
                    billing: None,
                    schedule: None,
                },
            )
            .await
            .expect("recorded");
    }
    let runner = JobRunner::new(
        s.clone(),
        Handlers {
            bookings: Some(BookingProcessor::new(s.clone(), einvoice)),
            ..Handlers::default()
        },
    );
    let mut due = Vec::new();
    for shard in 0..SHARDS {
        due.extend(
            s.jobs
                .due_jobs(shard, Utc::now(), 100_000)
                .await
                .expect("due"),
        );
    }
    assert_eq!(due.len(), n);
    let started = Instant::now();
    for d in &due {
        runner.run(&d.tenant_id, &d.id).await.expect("run");
    }
    let applied = started.elapsed();

    // The queue alone: claim and complete.
    let t = tenant.id.clone();
    let mut change = Change::for_tenant(&t);
    let now = Utc::now();
    let queued: Vec<Job> = (0..n)
        .map(|i| {
            Job::new(
                &t,
                JobKind::DeliverDocument,
                &format!("inv_{i}").parse().expect("id"),
                "bench",
                now,
            )
        })
        .collect();
    change.jobs.extend(queued.iter().cloned());
    s.repository.commit(change).await.expect("commit");
    let started = Instant::now();
    for j in &queued {
        let now = Utc::now();
        let claimed = s
            .jobs
            .claim(&t, &j.id, now, now + LEASE)
            .await
            .expect("claim")
            .expect("claimed");
        s.jobs.complete(&claimed).await.expect("complete");
    }
    let queue = started.elapsed();
    println!(
        "jobs on SQLite (file, WAL), one worker, {n} jobs:\n  \
         apply_booking_events (issue, number, charge, audit, render job) {:7.0} jobs/s\n  \
         claim + complete alone                                          {:7.0} jobs/s",
        per_second(n, applied),
        per_second(n, queue),
    );
}

fn main() {
    let n = if smoke() { 5 } else { 1000 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(commands(n));
    runtime.block_on(jobs(n));
    if smoke() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    transitions(&mut c);
    c.final_summary();
}
