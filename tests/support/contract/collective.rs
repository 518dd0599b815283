//! Collective invoices on the adapters: items claimed atomically (many requests for one item
//! leave it on exactly one draft), a period's items collected once by racing runs, a draft
//! changed (items released, prices changed) and issued on its send date once.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use faktura_domain::collective::{BillableItem, ItemState};
use faktura_domain::document::{Document, Lifecycle};
use faktura_domain::jobs::JobKind;
use faktura_domain::model::{DocumentKind, ServicePeriod, Tenant};
use faktura_domain::ports::{DocumentFilter, Stores};
use faktura_domain::service::collective::{Collected, Collector, collect_job, send_job};
use faktura_domain::service::commands::{Answered, Command, Commands, ItemChange, Outcome};
use rust_decimal::Decimal;

use super::{Adapters, at, booking_with, date, fresh_tenant_id, sample_tenant};

struct TestClock(std::sync::Mutex<DateTime<Utc>>);

impl faktura_domain::ports::Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

impl TestClock {
    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock") = at;
    }
}

fn cause() -> faktura_domain::audit::Cause {
    faktura_domain::audit::Cause::Migration { from_version: 0 }
}

fn commands(stores: &Stores) -> Commands {
    Commands::new(stores.clone(), Arc::new(faktura_einvoice::EInvoiceXml))
}

async fn run(stores: &Stores, tenant: &Tenant, command: Command) -> Result<Outcome, String> {
    match commands(stores)
        .run(&tenant.id, command, &cause(), None)
        .await
    {
        Ok(Answered::Fresh(o)) => Ok(*o),
        Ok(Answered::Replayed(_)) => Err("replayed".into()),
        Err(e) => Err(e.code.to_string()),
    }
}

/// The customer `ext:<customer>`, as a first booking records it.
async fn customer(stores: &Stores, tenant: &Tenant, customer: &str) -> String {
    let booking = booking_with(&format!("bk_{customer}"), customer, "1");
    let key = booking.customer.key();
    let mut change = faktura_domain::ports::Change::for_tenant(&tenant.id);
    change
        .customers
        .push(faktura_domain::invoicing::customer_from_booking(
            &booking,
            tenant,
            Utc::now(),
        ));
    stores.repository.commit(change).await.expect("customer");
    key
}

/// `n` items of 10.00 (gross, 19 %) for `key`, on days of November 2026.
async fn add_items(
    stores: &Stores,
    tenant: &Tenant,
    key: &str,
    n: usize,
    r: &str,
) -> Vec<BillableItem> {
    let mut content = booking_with("bk_items", "unused", "1");
    content.items = (0..n)
        .map(|i| faktura_domain::booking::BookingItem {
            description: format!("Raummiete {}", i + 1),
            quantity: Decimal::ONE,
            unit: "HUR".into(),
            unit_price: Decimal::new(1000, 2),
            vat_rate: None,
            vat_category: None,
            service: Some(ServicePeriod::day(date(2026, 11, 2 + i as u32))),
        })
        .collect();
    match run(
        stores,
        tenant,
        Command::AddItems {
            customer_key: key.to_string(),
            content,
            reference: Some(r.to_string()),
        },
    )
    .await
    .expect("items")
    {
        Outcome::Items(items) => items,
        other => panic!("items, not {other:?}"),
    }
}

async fn read(a: &Adapters, tenant: &Tenant, id: &faktura_domain::values::Id) -> Document {
    a.repository
        .document(&tenant.id, id)
        .await
        .expect("read")
        .expect("stored")
}

fn doc(o: Outcome) -> Document {
    match o {
        Outcome::Document(d) => *d,
        other => panic!("a document, not {other:?}"),
    }
}

pub async fn items_are_claimed_once_under_concurrency(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let stores = a.stores(std::slice::from_ref(&tenant));
    let key = customer(&stores, &tenant, "c-coll").await;
    let items = add_items(&stores, &tenant, &key, 5, "nov").await;
    // The same reference again: the same items, nothing new.
    let again = add_items(&stores, &tenant, &key, 5, "nov").await;
    assert_eq!(
        items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        again.iter().map(|i| &i.id).collect::<Vec<_>>()
    );
    assert_eq!(
        a.repository
            .billable_items(&tenant.id, &key, true)
            .await
            .expect("list")
            .len(),
        5
    );
    // Eight requests for a collective invoice of all open items at once: one draft.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let stores = stores.clone();
        let tenant = tenant.clone();
        let key = key.clone();
        tasks.spawn(async move {
            run(
                &stores,
                &tenant,
                Command::CreateCollective {
                    customer_key: key,
                    items: None,
                    send_on: None,
                },
            )
            .await
        });
    }
    let mut drafts = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r.expect("joined") {
            Ok(o) => drafts.push(doc(o)),
            Err(code) => assert!(
                ["no_open_items", "item_not_open", "item_claimed"].contains(&code.as_str()),
                "{code}"
            ),
        }
    }
    assert_eq!(drafts.len(), 1, "one draft for the items");
    let draft = &drafts[0];
    assert_eq!(draft.lifecycle, Lifecycle::Draft);
    assert!(!draft.content.number.is_assigned());
    assert_eq!(draft.content.lines.len(), 5);
    assert_eq!(
        draft.content.totals.tax_inclusive.value(),
        Decimal::new(5000, 2)
    );
    for item in a
        .repository
        .billable_items(&tenant.id, &key, false)
        .await
        .expect("list")
    {
        assert_eq!(item.claimed_by(), Some(draft.id()), "{}", item.id);
        assert_eq!(item.version, 2);
    }
    let pending = DocumentFilter {
        collective: true,
        pending_on: Some(tenant.today(Utc::now())),
        ..DocumentFilter::default()
    };
    let listed = a
        .repository
        .documents(&tenant.id, &pending, None, 10)
        .await
        .expect("list");
    assert_eq!(listed.documents.len(), 1);
    // Its digest job, one per day for all drafts.
    let jobs = a.jobs.jobs(&tenant.id, None, None, 50).await.expect("jobs");
    assert_eq!(
        jobs.jobs
            .iter()
            .filter(|j| j.kind == JobKind::DigestDrafts)
            .count(),
        1
    );
    // A second draft the same day (new items) shares the day's digest.
    add_items(&stores, &tenant, &key, 2, "dec").await;
    doc(run(
        &stores,
        &tenant,
        Command::CreateCollective {
            customer_key: key.clone(),
            items: None,
            send_on: None,
        },
    )
    .await
    .expect("second draft"));
    let jobs = a.jobs.jobs(&tenant.id, None, None, 50).await.expect("jobs");
    assert_eq!(
        jobs.jobs
            .iter()
            .filter(|j| j.kind == JobKind::DigestDrafts)
            .count(),
        1
    );
}

pub async fn a_period_is_collected_once_and_sent_on_its_date(a: &Adapters) {
    let mut tenant = sample_tenant(&fresh_tenant_id());
    tenant.settings.collective.send_after_days = Some(3);
    let clock = Arc::new(TestClock(std::sync::Mutex::new(at(2026, 11, 20, 9, 0, 0))));
    let stores = a.stores_at(std::slice::from_ref(&tenant), clock.clone());
    let key = customer(&stores, &tenant, "c-period").await;
    let items = add_items(&stores, &tenant, &key, 3, "nov").await;
    let november = ServicePeriod {
        start: date(2026, 11, 1),
        end: date(2026, 11, 30),
    };
    let job = collect_job(&tenant, &key, november, clock.now_utc());
    let stored = a
        .jobs
        .job(&tenant.id, &job.id)
        .await
        .expect("read")
        .expect("recorded with the items");
    // Due at the start of 1 December in Berlin.
    assert_eq!(stored.due_at, at(2026, 11, 30, 23, 0, 0));
    let collector = Collector::new(stores.clone(), Arc::new(faktura_einvoice::EInvoiceXml));
    assert!(matches!(
        collector.collect(&stored).await.expect("early"),
        Collected::NotYet(_)
    ));
    clock.set(at(2026, 12, 1, 6, 0, 0));
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let c = collector.clone();
        let job = stored.clone();
        runs.spawn(async move { c.collect(&job).await.expect("collect") });
    }
    let mut made = Vec::new();
    while let Some(r) = runs.join_next().await {
        if let Collected::Documents(ids) = r.expect("joined") {
            made.extend(ids);
        }
    }
    assert_eq!(made.len(), 1, "the period's items make one draft: {made:?}");
    let draft = read(a, &tenant, &made[0]).await;
    let facet = draft.collective.clone().expect("collective");
    assert_eq!(facet.send_on, Some(date(2026, 12, 4)));
    assert_eq!(facet.period, Some(november));
    assert_eq!(
        facet.items,
        items.iter().map(|i| i.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        draft.content.source,
        faktura_domain::model::DocumentSource::Collective
    );
    assert!(
        draft
            .content
            .notes
            .iter()
            .any(|n| n.contains("Sammelrechnung"))
    );
    // Each line carries its item's service date.
    assert_eq!(
        draft.content.lines[0].service,
        ServicePeriod::day(date(2026, 11, 2))
    );

    // Before the send date the draft still changes: one item off, one price up.
    let changed = doc(run(
        &stores,
        &tenant,
        Command::ChangeCollective {
            id: draft.id().clone(),
            items: Some(vec![items[0].id.clone(), items[1].id.clone()]),
            send_on: None,
        },
    )
    .await
    .expect("changed"));
    assert_eq!(changed.content.lines.len(), 2);
    let released = a
        .repository
        .billable_item(&tenant.id, &key, &items[2].id)
        .await
        .expect("read")
        .expect("item");
    assert_eq!(released.state, ItemState::Open);
    run(
        &stores,
        &tenant,
        Command::ChangeItem {
            customer_key: key.clone(),
            id: items[1].id.clone(),
            change: ItemChange {
                unit_price: Some(Decimal::new(1500, 2)),
                ..ItemChange::default()
            },
        },
    )
    .await
    .expect("price changed");
    let repriced = read(a, &tenant, draft.id()).await;
    assert_eq!(
        repriced.content.totals.tax_inclusive.value(),
        Decimal::new(2500, 2)
    );

    // The send job: early it waits; on the day, many runs issue it once.
    let send = send_job(&tenant, draft.id(), date(2026, 12, 4), clock.now_utc());
    let send = a
        .jobs
        .job(&tenant.id, &send.id)
        .await
        .expect("read")
        .expect("recorded with the draft");
    assert!(matches!(
        collector.send(&send).await.expect("early"),
        Collected::NotYet(_)
    ));
    clock.set(at(2026, 12, 4, 7, 0, 0));
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let c = collector.clone();
        let job = send.clone();
        runs.spawn(async move { c.send(&job).await.expect("send") });
    }
    let mut issued = 0;
    while let Some(r) = runs.join_next().await {
        if matches!(r.expect("joined"), Collected::Documents(_)) {
            issued += 1;
        }
    }
    assert_eq!(issued, 1);
    let invoice = read(a, &tenant, draft.id()).await;
    assert_eq!(invoice.lifecycle, Lifecycle::Issued);
    assert_eq!(invoice.kind(), DocumentKind::Invoice);
    assert!(invoice.content.number.is_assigned());
    assert_eq!(invoice.content.issue_date, date(2026, 12, 4));
    assert_eq!(invoice.settlement.charged.value(), Decimal::new(2500, 2));
    // Issued, its items cannot change any more.
    let refused = run(
        &stores,
        &tenant,
        Command::ChangeItem {
            customer_key: key.clone(),
            id: items[0].id.clone(),
            change: ItemChange {
                quantity: Some(Decimal::TWO),
                ..ItemChange::default()
            },
        },
    )
    .await
    .expect_err("billed");
    assert_eq!(refused, "item_billed");
    // The released item waits for the next invoice.
    let open = a
        .repository
        .billable_items(&tenant.id, &key, true)
        .await
        .expect("open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, items[2].id);
    // The period's job run again (a retry) makes nothing new: the third item counts for
    // November, so it is collected again... onto a new draft of its own.
    clock.set(clock.now_utc() + TimeDelta::minutes(1));
    let again = collector.collect(&stored).await.expect("again");
    assert!(
        matches!(again, Collected::Documents(ref d) if d.len() == 1),
        "{again:?}"
    );
    let again = collector.collect(&stored).await.expect("and again");
    assert_eq!(again, Collected::Nothing("no_open_items"));
}

impl TestClock {
    fn now_utc(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// Feeds one booking event through the intake and applies it, as the webhook and its job do.
async fn deliver(
    stores: &Stores,
    tenant: &Tenant,
    event: faktura_domain::booking::BookingEvent,
) -> faktura_domain::service::intake::BookingAccepted {
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let booking_id = event.booking_id().clone();
    let record = faktura_domain::ports::TenantRecord {
        tenant: tenant.clone(),
        webhook_secrets: Vec::new(),
    };
    let accepted =
        faktura_domain::service::intake::BookingIntake::new(stores.clone(), einvoice.clone())
            .receive(
                &record,
                Some(faktura_domain::values::Id::generate("msg").as_str()),
                event,
            )
            .await
            .expect("received");
    let job = faktura_domain::jobs::Job::new(
        &tenant.id,
        JobKind::ApplyBookingEvents,
        &booking_id,
        "test",
        Utc::now(),
    );
    faktura_domain::service::bookings::BookingProcessor::new(stores.clone(), einvoice)
        .apply(&tenant.id, &booking_id, &job)
        .await
        .expect("applied");
    accepted
}

fn paid(booking: &str, amount: &str) -> faktura_domain::booking::BookingEvent {
    faktura_domain::booking::BookingEvent::Paid {
        booking_id: super::id(booking),
        payment: faktura_domain::booking::PaymentFact {
            paid_at: at(2026, 12, 1, 21, 0, 0),
            amount: super::parsed(amount),
            currency: faktura_domain::money::Currency::EUR,
            method: Some("card".into()),
            reference: Some(format!("pay-{booking}")),
        },
    }
}

fn created(booking: &str) -> faktura_domain::booking::BookingEvent {
    faktura_domain::booking::BookingEvent::Created {
        booking: booking_with(booking, &format!("cus_{booking}"), "1"),
        billing: None,
        schedule: None,
    }
}

pub async fn held_documents_wait_then_are_issued_paid_or_discarded(a: &Adapters) {
    let mut tenant = sample_tenant(&fresh_tenant_id());
    tenant.settings.review = true;
    tenant.settings.send_window = Some(
        serde_json::from_value(serde_json::json!({ "from": "08:00", "to": "18:00" }))
            .expect("window"),
    );
    // 20:00 in Berlin: held until 08:00 tomorrow.
    let clock = Arc::new(TestClock(std::sync::Mutex::new(at(2026, 12, 1, 19, 0, 0))));
    let stores = a.stores_at(std::slice::from_ref(&tenant), clock.clone());
    let held = |n: &str| format!("bk_held_{n}");
    let mut ids = Vec::new();
    for n in ["a", "b", "c"] {
        let accepted = deliver(&stores, &tenant, created(&held(n))).await;
        let id = accepted.document_id.expect("a document");
        let doc = read(a, &tenant, &id).await;
        assert_eq!(doc.lifecycle, Lifecycle::Draft, "held");
        assert!(!doc.content.number.is_assigned());
        assert_eq!(doc.review.map(|r| r.send_on), Some(date(2026, 12, 2)));
        ids.push(id);
    }
    // B is paid while held: issued now and paid, in one change (one write of the document).
    deliver(&stores, &tenant, paid(&held("b"), "119.00")).await;
    let b = read(a, &tenant, &ids[1]).await;
    assert_eq!(b.lifecycle, Lifecycle::Issued);
    assert!(b.content.number.is_assigned());
    assert_eq!(
        b.payment_state(),
        faktura_domain::document::PaymentState::Paid
    );
    // C is cancelled while held: discarded, never numbered.
    deliver(
        &stores,
        &tenant,
        faktura_domain::booking::BookingEvent::Cancelled {
            booking_id: super::id(&held("c")),
            cancellation: faktura_domain::booking::Cancellation {
                cancelled_at: at(2026, 12, 1, 19, 30, 0),
                reason: None,
                items: None,
            },
        },
    )
    .await;
    let c = read(a, &tenant, &ids[2]).await;
    assert_eq!(c.lifecycle, Lifecycle::Voided);
    assert!(!c.content.number.is_assigned());
    // At 08:00 A's send job issues it: the next number after B's, no gap for C.
    let collector = Collector::new(stores.clone(), Arc::new(faktura_einvoice::EInvoiceXml));
    let (_, job) =
        faktura_domain::service::collective::review_job(&tenant, &ids[0], clock.now_utc());
    let job = a
        .jobs
        .job(&tenant.id, &job.id)
        .await
        .expect("read")
        .expect("recorded with the draft");
    assert_eq!(job.due_at, at(2026, 12, 2, 7, 0, 0));
    assert!(matches!(
        collector.send(&job).await.expect("early"),
        Collected::NotYet(_)
    ));
    clock.set(at(2026, 12, 2, 7, 0, 0));
    assert!(matches!(
        collector.send(&job).await.expect("send"),
        Collected::Documents(_)
    ));
    let a_doc = read(a, &tenant, &ids[0]).await;
    assert_eq!(a_doc.lifecycle, Lifecycle::Issued);
    assert_eq!(a_doc.content.issue_date, date(2026, 12, 2));
    let seq = |d: &Document| {
        d.content
            .number
            .as_str()
            .rsplit('-')
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(seq(&b), "00001");
    assert_eq!(seq(&a_doc), "00002");
    // C's send job does nothing.
    let (_, c_job) = faktura_domain::service::collective::review_job(
        &tenant,
        &ids[2],
        at(2026, 12, 1, 19, 0, 0),
    );
    let c_job = a
        .jobs
        .job(&tenant.id, &c_job.id)
        .await
        .expect("read")
        .expect("job");
    assert_eq!(
        collector.send(&c_job).await.expect("send"),
        Collected::Nothing("issued_already")
    );
}
