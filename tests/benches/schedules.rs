//! Scheduled billing at scale, measured: `cargo bench -p faktura-tests --bench schedules`
//! (sizes: `FAKTURA_BENCH_SCHEDULES=1000,10000,100000`; default 1000 and 10000).
//!
//! N monthly schedules whose occurrence is due now, on a SQLite file (the local adapter, WAL):
//! the scheduler's run over the 8 due-index shards (each due `bill_schedule` job deferred by a
//! conditional write and announced), then the jobs run by two workers (two cores): each claims
//! its job, reads schedule, tenant, customer and counter, and commits one change — the invoice
//! with its number, charge, audit entry and render job, the (schedule, occurrence) claim, the
//! schedule at its version and the next occurrence's job. Rendering and mail are not part of
//! it (the pipeline bench measures them). Reports time per item and the peak resident memory.
//!
//! Then their dunning, 30 days later (the clock moved on, nobody paid): the scheduler hands
//! out the N due `dun_invoice` jobs and two workers run them — each reads tenant, invoice,
//! the customer's hold and the reminder counter, and commits one change: the reminder with its
//! number, audit entry and render job, the invoice's dunning facet at its version, and the
//! next level's job.
//!
//! Then collection at a month's end, on a database of its own: N customers with 3 collected
//! items each become N collective drafts (`collect_items`, two workers).
//!
//! Under `cargo test --benches` it bills, reminds and collects 20 as a smoke test.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use faktura_domain::ports::{Change, Stores};
use faktura_domain::schedule::{End, Interval, MissedPeriods, Mode, ScheduleSpec};
use faktura_domain::service::jobs::{Handlers, JobRunner, RunOutcome, Scheduler};
use faktura_domain::service::schedules::{ScheduleBiller, create_into, plan_schedule};
use faktura_tests::bench::{micros_each, peak_rss_mib, smoke, sqlite_stores};
use faktura_tests::contract;

async fn run(n: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let tenant = contract::sample_tenant(&contract::id("bench"));
    let stores = sqlite_stores(dir.path(), &tenant);
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let now = Utc::now();
    let spec = ScheduleSpec {
        mode: Mode::Recurring,
        interval: Interval::Month,
        anchor: Some(tenant.today(now)),
        end: End::Never,
        missed: MissedPeriods::CatchUp,
        payment_terms_days: None,
    };
    let started = Instant::now();
    // Created in batches of 25 per transaction (a schedule and its job are 2 writes).
    let mut change = Change::for_tenant(&tenant.id);
    for i in 0..n {
        let booking = contract::booking_with(&format!("bk_{i}"), &format!("cus_{i}"), "1");
        let schedule =
            plan_schedule(&tenant, &booking, &spec, None, einvoice.as_ref(), now).expect("plan");
        create_into(&mut change, &tenant, &schedule, now);
        if change.schedules.len() == 25 || i + 1 == n {
            let full = std::mem::replace(&mut change, Change::for_tenant(&tenant.id));
            stores.repository.commit(full).await.expect("commit");
        }
    }
    let created = started.elapsed();

    let started = Instant::now();
    let report = Scheduler::new(stores.clone())
        .dispatch_due(n)
        .await
        .expect("dispatch");
    let dispatched = started.elapsed();
    assert_eq!(report.dispatched, n, "every due occurrence handed out");

    let mut due = Vec::new();
    for shard in 0..faktura_domain::jobs::SHARDS {
        due.extend(
            stores
                .jobs
                .due_jobs(shard, now + chrono::TimeDelta::minutes(3), n)
                .await
                .expect("due"),
        );
    }
    due.retain(|d| d.kind == faktura_domain::jobs::JobKind::BillSchedule);
    assert_eq!(due.len(), n);
    let runner = JobRunner::new(
        stores.clone(),
        Handlers {
            schedules: Some(ScheduleBiller::new(stores.clone(), einvoice.clone())),
            ..Handlers::default()
        },
    );
    let started = Instant::now();
    let halves: Vec<Vec<_>> = due.chunks(n.div_ceil(2)).map(<[_]>::to_vec).collect();
    let mut workers = tokio::task::JoinSet::new();
    for half in halves {
        let runner = runner.clone();
        workers.spawn(async move {
            let mut billed = 0;
            for d in half {
                if runner.run(&d.tenant_id, &d.id).await.expect("run") == RunOutcome::Done {
                    billed += 1;
                }
            }
            billed
        });
    }
    let mut billed = 0;
    while let Some(b) = workers.join_next().await {
        billed += b.expect("worker");
    }
    let elapsed = started.elapsed();
    assert_eq!(billed, n);
    let first = stores
        .repository
        .schedules(&tenant.id, &Default::default(), None, 1)
        .await
        .expect("list");
    assert_eq!(first.schedules[0].billed.len(), 1, "each billed once");

    println!(
        "{n:>7} due schedules on SQLite (file, WAL): create {:6.1} µs each; \
         scheduler run {:6.1} µs each ({:.2} s); bill (2 workers) {:6.1} µs each ({:.2} s, {:.0}/s); \
         peak RSS {:.0} MiB",
        micros_each(created, n),
        micros_each(dispatched, n),
        dispatched.as_secs_f64(),
        micros_each(elapsed, n),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        peak_rss_mib(),
    );

    // 30 days on: every invoice is overdue by 16 days, its payment reminder due.
    let later: Arc<dyn faktura_domain::ports::Clock> =
        Arc::new(FixedClock(now + chrono::TimeDelta::days(30)));
    let late = Stores {
        clock: later.clone(),
        ..stores.clone()
    };
    let started = Instant::now();
    let report = Scheduler::new(late.clone())
        .dispatch_due(2 * n)
        .await
        .expect("dispatch");
    let dun_dispatched = started.elapsed();
    let mut dun = Vec::new();
    for shard in 0..faktura_domain::jobs::SHARDS {
        dun.extend(
            late.jobs
                .due_jobs(shard, later.now() + chrono::TimeDelta::minutes(3), 3 * n)
                .await
                .expect("due"),
        );
    }
    dun.retain(|d| d.kind == faktura_domain::jobs::JobKind::DunInvoice);
    assert_eq!(dun.len(), n, "one dunning job per invoice");
    assert!(report.dispatched >= n);
    let dunner = JobRunner::new(
        late.clone(),
        Handlers {
            dunner: Some(faktura_domain::service::dunning::Dunner::new(late.clone())),
            ..Handlers::default()
        },
    );
    let started = Instant::now();
    let halves: Vec<Vec<_>> = dun.chunks(n.div_ceil(2)).map(<[_]>::to_vec).collect();
    let mut workers = tokio::task::JoinSet::new();
    for half in halves {
        let runner = dunner.clone();
        workers.spawn(async move {
            for d in half {
                assert_eq!(
                    runner.run(&d.tenant_id, &d.id).await.expect("run"),
                    RunOutcome::Done
                );
            }
        });
    }
    while let Some(w) = workers.join_next().await {
        w.expect("worker");
    }
    let dunned = started.elapsed();
    let reminders = late
        .repository
        .documents(
            &tenant.id,
            &faktura_domain::ports::DocumentFilter {
                kind: Some(faktura_domain::model::DocumentKind::Reminder),
                ..Default::default()
            },
            None,
            n + 1,
        )
        .await
        .expect("list");
    assert_eq!(reminders.documents.len(), n, "one reminder per invoice");
    println!(
        "{n:>7} overdue invoices, 30 days on: scheduler run {:6.1} µs each ({:.2} s, with the \
         render jobs due); remind (2 workers) {:6.1} µs each ({:.2} s, {:.0}/s); peak RSS {:.0} MiB",
        micros_each(dun_dispatched, n),
        dun_dispatched.as_secs_f64(),
        micros_each(dunned, n),
        dunned.as_secs_f64(),
        n as f64 / dunned.as_secs_f64(),
        peak_rss_mib(),
    );
}

/// Collection at a month's end: N customers with 3 collected items each from last month; the
/// scheduler hands out the N `collect_items` jobs and two workers run them — each reads the
/// tenant, the customer's open items and the customer, and commits one change: the draft
/// (planned from the items), the 3 items' claims at their versions, the audit entry and the
/// day's digest job (shared, read before).
async fn collect(n: usize) {
    use faktura_domain::collective::{ItemSource, period_of};
    use faktura_domain::service::collective::{Collector, collect_job, new_item};
    let dir = tempfile::tempdir().expect("dir");
    let tenant = contract::sample_tenant(&contract::id("bench"));
    let stores = sqlite_stores(dir.path(), &tenant);
    let now = Utc::now();
    let today = tenant.today(now);
    let last_month = today
        .checked_sub_months(chrono::Months::new(1))
        .expect("a month ago");
    let period = period_of(faktura_domain::schedule::Interval::Month, last_month);
    let started = Instant::now();
    let mut change = Change::for_tenant(&tenant.id);
    for i in 0..n {
        let booking = contract::booking_with(&format!("bk_{i}"), &format!("cus_{i}"), "1");
        let key = booking.customer.key();
        change
            .customers
            .push(faktura_domain::invoicing::customer_from_booking(
                &booking, &tenant, now,
            ));
        for k in 0..3 {
            let mut item = booking.items[0].clone();
            item.service = Some(faktura_domain::model::ServicePeriod::day(period.start));
            change
                .items
                .push(faktura_domain::ports::ItemWrite::new(new_item(
                    &tenant,
                    faktura_domain::service::collective::item_id(&tenant.id, &format!("{i}:{k}")),
                    &key,
                    &booking,
                    &item,
                    ItemSource::Api,
                    None,
                    now,
                )));
        }
        change.jobs.push(collect_job(&tenant, &key, period, now));
        if change.jobs.len() == 20 || i + 1 == n {
            let full = std::mem::replace(&mut change, Change::for_tenant(&tenant.id));
            stores.repository.commit(full).await.expect("commit");
        }
    }
    let recorded = started.elapsed();
    let started = Instant::now();
    let report = Scheduler::new(stores.clone())
        .dispatch_due(n)
        .await
        .expect("dispatch");
    let dispatched = started.elapsed();
    assert_eq!(report.dispatched, n, "every collect job handed out");
    let mut due = Vec::new();
    for shard in 0..faktura_domain::jobs::SHARDS {
        due.extend(
            stores
                .jobs
                .due_jobs(shard, Utc::now() + chrono::TimeDelta::minutes(3), 2 * n)
                .await
                .expect("due"),
        );
    }
    let all = due.len();
    due.retain(|d| d.kind == faktura_domain::jobs::JobKind::CollectItems);
    assert_eq!(due.len(), n, "due collect jobs ({all} due jobs in all)");
    let runner = JobRunner::new(
        stores.clone(),
        Handlers {
            collector: Some(Collector::new(
                stores.clone(),
                Arc::new(faktura_einvoice::EInvoiceXml),
            )),
            ..Handlers::default()
        },
    );
    let started = Instant::now();
    let halves: Vec<Vec<_>> = due.chunks(n.div_ceil(2)).map(<[_]>::to_vec).collect();
    let mut workers = tokio::task::JoinSet::new();
    for half in halves {
        let runner = runner.clone();
        workers.spawn(async move {
            for d in half {
                assert_eq!(
                    runner.run(&d.tenant_id, &d.id).await.expect("run"),
                    RunOutcome::Done
                );
            }
        });
    }
    while let Some(w) = workers.join_next().await {
        w.expect("worker");
    }
    let elapsed = started.elapsed();
    let drafts = stores
        .repository
        .documents(
            &tenant.id,
            &faktura_domain::ports::DocumentFilter {
                collective: true,
                ..Default::default()
            },
            None,
            n + 1,
        )
        .await
        .expect("list");
    assert_eq!(
        drafts.documents.len(),
        n,
        "one collective draft per customer"
    );
    println!(
        "{n:>7} customers with 3 collected items each: record {:6.1} µs per customer; scheduler \
         run {:6.1} µs each; collect (2 workers) {:6.1} µs per draft ({:.2} s, {:.0}/s); peak RSS \
         {:.0} MiB",
        micros_each(recorded, n),
        micros_each(dispatched, n),
        micros_each(elapsed, n),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        peak_rss_mib(),
    );
}

/// A clock that stands at one instant (the dunning phase's "30 days later").
struct FixedClock(chrono::DateTime<Utc>);

impl faktura_domain::ports::Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        self.0
    }
}

fn main() {
    let sizes: Vec<usize> = if smoke() {
        vec![20]
    } else {
        std::env::var("FAKTURA_BENCH_SCHEDULES")
            .unwrap_or_else(|_| "1000,10000".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for n in sizes {
        runtime.block_on(run(n));
        runtime.block_on(collect(n));
    }
}
