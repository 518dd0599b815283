//! The use cases under concurrency, on the real adapters: whatever order the store lets the
//! racing changes in, numbers stay gapless, money adds up and nothing is recorded twice.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use faktura_domain::audit::Cause;
use faktura_domain::booking::PaymentFact;
use faktura_domain::document::{Document, Lifecycle};
use faktura_domain::error::AppError;
use faktura_domain::jobs::{Job, JobKind, LEASE};
use faktura_domain::ledger::{EntryKind, balance, settlement_of};
use faktura_domain::model::{DocumentKind, Tenant};
use faktura_domain::money::Amount;
use faktura_domain::ports::{DocumentFilter, Stores};
use faktura_domain::service::commands::{Answered, Command, Commands, Idem, Outcome};
use faktura_domain::values::Id;
use rust_decimal::Decimal;

use super::listing::list_all;
use super::{
    Adapters, booking_with, counter_key, einvoice, fresh_tenant_id, parsed, sample_booking,
    sample_tenant,
};

fn api() -> Cause {
    Cause::ApiKey {
        key_id: "key_race".into(),
        request_id: None,
    }
}

struct World {
    tenant: Tenant,
    stores: Stores,
    commands: Commands,
}

fn world(a: &Adapters) -> World {
    let tenant = sample_tenant(&fresh_tenant_id());
    let stores = a.stores(std::slice::from_ref(&tenant));
    let commands = Commands::new(stores.clone(), einvoice());
    World {
        tenant,
        stores,
        commands,
    }
}

impl World {
    async fn run(&self, command: Command) -> Result<Outcome, AppError> {
        match self
            .commands
            .run(&self.tenant.id, command, &api(), None)
            .await?
        {
            Answered::Fresh(o) => Ok(*o),
            Answered::Replayed(r) => panic!("replayed without a key: {r:?}"),
        }
    }

    async fn invoice(&self, booking: &str, quantity: &str) -> Document {
        match self
            .run(Command::Create {
                kind: DocumentKind::Invoice,
                content: booking_with(booking, "cus_race", quantity),
                draft: false,
            })
            .await
        {
            Ok(Outcome::Document(d)) => *d,
            other => panic!("creating an invoice: {other:?}"),
        }
    }

    async fn stored(&self, id: &Id) -> Document {
        self.stores
            .repository
            .document(&self.tenant.id, id)
            .await
            .expect("document")
            .expect("stored")
    }

    /// The document's settlement is the sum of its ledger entries, and the customer's balance
    /// the sum of theirs; the open amount of an invoice not overpaid is never negative.
    async fn money_adds_up(&self, doc: &Document) -> Amount {
        let entries = self
            .stores
            .repository
            .ledger(&self.tenant.id, &doc.content.buyer.customer_key)
            .await
            .expect("ledger");
        let own = entries.iter().filter(|e| e.document_id == *doc.id());
        let stored = self.stored(doc.id()).await;
        assert_eq!(
            stored.settlement,
            settlement_of(own),
            "{}: the settlement is the sum of its entries",
            stored.content.number
        );
        assert!(
            stored.settlement.credited <= stored.settlement.charged,
            "never credited more than was invoiced"
        );
        let ids: BTreeSet<&Id> = entries.iter().map(|e| &e.id).collect();
        assert_eq!(ids.len(), entries.len(), "no entry twice");
        balance(&entries)
    }
}

fn payment(amount: &str, reference: &str) -> PaymentFact {
    PaymentFact {
        paid_at: Utc::now(),
        amount: parsed(amount),
        currency: parsed("EUR"),
        method: Some("bank_transfer".into()),
        reference: Some(reference.into()),
    }
}

/// Many invoices issued at once get the numbers 1..=n of their series, each once.
pub async fn numbering_is_gapless_under_concurrency(a: &Adapters) {
    const WORKERS: usize = 12;
    const EACH: usize = 5;
    let w = Arc::new(world(a));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let w = w.clone();
        tasks.spawn(async move {
            let mut made = Vec::new();
            for n in 0..EACH {
                made.push(w.invoice(&format!("bk_gap_{worker}_{n}"), "1").await);
            }
            made
        });
    }
    let mut docs = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        docs.extend(joined.unwrap_or_else(|e| panic!("an issuing task failed: {e}")));
    }
    let n = WORKERS * EACH;
    eprintln!(
        "gapless numbering: {n} invoices by {WORKERS} concurrent callers in {:.2?}",
        started.elapsed()
    );
    // The tenant's local date (Berlin is a day ahead of UTC after 23:00 UTC).
    let today = w.tenant.today(Utc::now());
    let pattern = &w.tenant.settings.invoice_numbering.pattern;
    let wanted: BTreeSet<String> = (1..=n as u64)
        .map(|s| pattern.format(s, today).as_str().to_string())
        .collect();
    let got: BTreeSet<String> = docs
        .iter()
        .map(|d| d.content.number.as_str().to_string())
        .collect();
    assert_eq!(got, wanted, "exactly the numbers 1..={n}, each once");
    let key = counter_key(&w.tenant, DocumentKind::Invoice, today);
    assert_eq!(
        w.stores.repository.counter(&key).await.expect("counter"),
        n as u64
    );
    let listed = list_all(a, &w.tenant.id, &DocumentFilter::default(), 100).await;
    assert_eq!(listed.len(), n, "exactly {n} documents are stored");
    for d in &docs {
        assert_eq!(w.stored(d.id()).await.content.number, d.content.number);
    }
}

/// A full payment and a cancellation at once: either the payment came first (the cancelled
/// invoice's payment is the customer's credit) or the cancellation did (the payment is
/// refused). Never both lost, never a credit note twice.
pub async fn payment_races_cancellation(a: &Adapters) {
    let w = Arc::new(world(a));
    let mut outcomes = BTreeSet::new();
    for round in 0..6 {
        let inv = w.invoice(&format!("bk_pvc_{round}"), "1").await;
        let gross = inv.settlement.charged;
        let (pay, cancel) = tokio::join!(
            {
                let w = w.clone();
                let id = inv.id().clone();
                async move {
                    w.run(Command::Payment {
                        id,
                        payment: payment("119.00", &format!("pvc-{round}")),
                    })
                    .await
                }
            },
            {
                let w = w.clone();
                let id = inv.id().clone();
                async move {
                    w.run(Command::Cancel {
                        id,
                        reason: Some("race".into()),
                    })
                    .await
                }
            }
        );
        let credit_note = match cancel {
            Ok(Outcome::Document(d)) => *d,
            other => panic!("the cancellation always succeeds: {other:?}"),
        };
        assert_eq!(credit_note.kind(), DocumentKind::CreditNote);
        let stored = w.stored(inv.id()).await;
        assert_eq!(stored.lifecycle, Lifecycle::Cancelled);
        w.money_adds_up(&inv).await;
        match pay {
            Ok(_) => {
                outcomes.insert("payment first");
                assert_eq!(stored.settlement.paid, gross);
                assert_eq!(
                    stored.settlement.open(),
                    Amount::ZERO - gross,
                    "the payment on the cancelled invoice is owed back"
                );
            }
            Err(e) => {
                outcomes.insert("cancellation first");
                assert_eq!(e.code, "document_cancelled", "{e}");
                assert_eq!(stored.settlement.paid, Amount::ZERO);
                assert_eq!(stored.settlement.open(), Amount::ZERO);
            }
        }
    }
    eprintln!("payment vs cancellation: {outcomes:?}");
    let notes = list_all(
        a,
        &w.tenant.id,
        &DocumentFilter {
            kind: Some(DocumentKind::CreditNote),
            ..DocumentFilter::default()
        },
        100,
    )
    .await;
    assert_eq!(notes.len(), 6, "one credit note per cancelled invoice");
}

/// Two (and three) credit notes at once for what is left of a line: no more is credited than
/// was invoiced, and the winners' credit notes are numbered without a gap.
pub async fn two_credit_notes_race_for_the_last_quantity(a: &Adapters) {
    let w = Arc::new(world(a));
    let mut issued_notes = 0u64;
    for (quantity, racers, each, winners) in [("2", 2, "2", 1), ("2", 3, "1", 2)] {
        let inv = w.invoice(&format!("bk_cn_{racers}"), quantity).await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..racers {
            let w = w.clone();
            let id = inv.id().clone();
            let q: Decimal = parsed(each);
            tasks.spawn(async move {
                w.run(Command::CreditNote {
                    id,
                    lines: vec![(1, q)],
                    reason: None,
                })
                .await
            });
        }
        let mut ok = 0;
        while let Some(r) = tasks.join_next().await {
            match r.expect("task") {
                Ok(Outcome::Document(d)) => {
                    assert_eq!(d.kind(), DocumentKind::CreditNote);
                    ok += 1;
                }
                Ok(other) => panic!("a credit note was expected: {other:?}"),
                Err(e) => assert!(
                    e.code == "credit_exceeds_invoice" || e.code == "document_cancelled",
                    "a loser is refused for what is left: {e}"
                ),
            }
        }
        assert_eq!(
            ok, winners,
            "{racers} credit notes of {each} for {quantity}"
        );
        issued_notes += winners as u64;
        let stored = w.stored(inv.id()).await;
        assert_eq!(stored.lifecycle, Lifecycle::Cancelled);
        assert_eq!(stored.credited_quantities, vec![parsed::<Decimal>("2")]);
        assert_eq!(stored.settlement.credited, stored.settlement.charged);
        w.money_adds_up(&inv).await;
        let credits: Vec<_> = w
            .stores
            .repository
            .ledger(&w.tenant.id, &inv.content.buyer.customer_key)
            .await
            .expect("ledger")
            .into_iter()
            .filter(|e| e.document_id == *inv.id() && e.kind == EntryKind::Credit)
            .collect();
        assert_eq!(credits.len(), winners);
    }
    let key = counter_key(
        &w.tenant,
        DocumentKind::CreditNote,
        w.tenant.today(Utc::now()),
    );
    assert_eq!(
        w.stores.repository.counter(&key).await.expect("counter"),
        issued_notes,
        "losers take no number"
    );
}

/// The same payment (same reference) reported four times at once, and once more later, is one
/// payment; every report answers with the invoice.
pub async fn one_payment_reported_twice_at_once(a: &Adapters) {
    let w = Arc::new(world(a));
    let inv = w.invoice("bk_dup_pay", "1").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let w = w.clone();
        let id = inv.id().clone();
        tasks.spawn(async move {
            w.run(Command::Payment {
                id,
                payment: payment("50.00", "same-transfer"),
            })
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(Outcome::Document(d)) => assert_eq!(d.id(), inv.id()),
            other => panic!("a repeated payment answers with the invoice: {other:?}"),
        }
    }
    let again = w
        .run(Command::Payment {
            id: inv.id().clone(),
            payment: payment("50.00", "same-transfer"),
        })
        .await;
    assert!(matches!(again, Ok(Outcome::Document(_))), "{again:?}");
    let stored = w.stored(inv.id()).await;
    assert_eq!(stored.settlement.paid, parsed::<Amount>("50.00"));
    let payments = w
        .stores
        .repository
        .ledger(&w.tenant.id, &inv.content.buyer.customer_key)
        .await
        .expect("ledger")
        .into_iter()
        .filter(|e| e.kind == EntryKind::Payment)
        .count();
    assert_eq!(payments, 1, "one payment entry");
    w.money_adds_up(&inv).await;
}

/// One request sent four times at once with the same `Idempotency-Key` makes one invoice, and
/// every answer is the same.
pub async fn one_idempotency_key_twice_at_once(a: &Adapters) {
    let w = Arc::new(world(a));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let w = w.clone();
        tasks.spawn(async move {
            let idem = Idem {
                key: "create-once".into(),
                request_hash: "same-request".into(),
                respond: Arc::new(|r: &Result<Outcome, AppError>| match r {
                    Ok(Outcome::Document(d)) => (201, format!("{}|{}", d.id(), d.content.number)),
                    Ok(_) => (200, String::new()),
                    Err(e) => (422, e.code.to_string()),
                }),
            };
            let answered = w
                .commands
                .run(
                    &w.tenant.id,
                    Command::Create {
                        kind: DocumentKind::Invoice,
                        content: sample_booking("bk_idem", "cus_idem"),
                        draft: false,
                    },
                    &api(),
                    Some(idem),
                )
                .await
                .expect("answered");
            match answered {
                Answered::Fresh(o) => match *o {
                    Outcome::Document(d) => format!("{}|{}", d.id(), d.content.number),
                    other => panic!("{other:?}"),
                },
                Answered::Replayed(r) => {
                    assert_eq!(r.status, 201);
                    r.body
                }
            }
        });
    }
    let mut answers = BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        answers.insert(r.expect("task"));
    }
    assert_eq!(answers.len(), 1, "one answer: {answers:?}");
    assert_eq!(
        list_all(a, &w.tenant.id, &DocumentFilter::default(), 100)
            .await
            .len(),
        1,
        "one invoice"
    );
}

/// Eight workers claim one job at once: one gets it.
pub async fn two_workers_one_job(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = Utc::now();
    let job = Job::new(
        &t,
        JobKind::DeliverDocument,
        &parsed("inv_one"),
        "first",
        now,
    );
    super::jobs::write_jobs(a, &t, std::slice::from_ref(&job)).await;
    for round in 0..3 {
        let at = now + TimeDelta::minutes(10 * round);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (jobs, t, id) = (a.jobs.clone(), t.clone(), job.id.clone());
            tasks.spawn(async move { jobs.claim(&t, &id, at, at + LEASE).await });
        }
        let mut claimed = 0;
        while let Some(r) = tasks.join_next().await {
            if r.expect("task").expect("claim").is_some() {
                claimed += 1;
            }
        }
        assert_eq!(claimed, 1, "round {round}: one worker holds the job");
    }
    let stored = a.jobs.job(&t, &job.id).await.expect("job").expect("job");
    assert_eq!(stored.attempts, 3, "one attempt per lease");
}
