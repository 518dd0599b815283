//! Dunning on the adapters: each level of an overdue invoice is one reminder document (own
//! series, the invoice's facet at the version read), however many runs of its job race; the
//! invoice ends exhausted and listed as such; a payment racing a run never leaves a reminder
//! issued after it.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use faktura_domain::booking::PaymentFact;
use faktura_domain::document::{Document, DocumentEvent};
use faktura_domain::dunning::DunningState;
use faktura_domain::jobs::{JobKind, JobState};
use faktura_domain::model::{DocumentKind, Tenant};
use faktura_domain::ports::{DocumentFilter, Stores};
use faktura_domain::service::commands::{Answered, Command, Commands, Outcome};
use faktura_domain::service::dunning::{Dunned, Dunner, level_due, level_job};
use faktura_domain::service::jobs::{Handlers, JobRunner, RunOutcome};

use super::{Adapters, booking_with, fresh_tenant_id, sample_tenant};

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

async fn issue(stores: &Stores, tenant: &Tenant, booking: &str) -> Document {
    let commands = Commands::new(stores.clone(), Arc::new(faktura_einvoice::EInvoiceXml));
    let created = commands
        .run(
            &tenant.id,
            Command::Create {
                kind: DocumentKind::Invoice,
                content: booking_with(booking, &format!("cus_{booking}"), "1"),
                draft: false,
            },
            &cause(),
            None,
        )
        .await
        .expect("an invoice");
    let Answered::Fresh(outcome) = created else {
        panic!("fresh")
    };
    let Outcome::Document(doc) = *outcome else {
        panic!("a document")
    };
    *doc
}

async fn reminders(a: &Adapters, tenant: &Tenant) -> Vec<Document> {
    let filter = DocumentFilter {
        kind: Some(DocumentKind::Reminder),
        ..DocumentFilter::default()
    };
    a.repository
        .documents(&tenant.id, &filter, None, 100)
        .await
        .expect("list")
        .documents
}

async fn read(a: &Adapters, tenant: &Tenant, doc: &Document) -> Document {
    a.repository
        .document(&tenant.id, doc.id())
        .await
        .expect("read")
        .expect("stored")
}

pub async fn each_level_is_sent_once_then_the_invoice_is_exhausted(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let clock = Arc::new(TestClock(std::sync::Mutex::new(Utc::now())));
    let stores = a.stores_at(std::slice::from_ref(&tenant), clock.clone());
    let invoice = issue(&stores, &tenant, "bk_dun").await;
    let runner = JobRunner::new(
        stores.clone(),
        Handlers {
            dunner: Some(Dunner::new(stores.clone())),
            ..Handlers::default()
        },
    );
    // The first job came with the invoice, due at the start of the reminder's day; handed out
    // early it waits (released to that day).
    let first = level_job(&tenant.id, invoice.id(), 1, "", Utc::now());
    let stored = a
        .jobs
        .job(&tenant.id, &first.id)
        .await
        .expect("read")
        .expect("written with the invoice");
    assert_eq!(stored.kind, JobKind::DunInvoice);
    assert_eq!(stored.due_at, level_due(&tenant, &invoice, 1));
    clock.set(stored.due_at - TimeDelta::hours(1));
    assert_eq!(
        runner.run(&tenant.id, &first.id).await.expect("run"),
        RunOutcome::NotDue
    );
    let mut job_id = first.id.clone();
    for level in 1..=3u8 {
        let doc = read(a, &tenant, &invoice).await;
        clock.set(level_due(&tenant, &doc, level));
        // Six runs of the level's job at once (a retry storm): one letter.
        let mut runs = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let dunner = Dunner::new(stores.clone());
            let job = a
                .jobs
                .job(&tenant.id, &job_id)
                .await
                .expect("read")
                .expect("the level's job");
            runs.spawn(async move { dunner.run(&job).await.expect("run") });
        }
        let mut letters = 0;
        while let Some(done) = runs.join_next().await {
            if matches!(done.expect("joined"), Dunned::Letter { .. }) {
                letters += 1;
            }
        }
        assert_eq!(letters, 1, "level {level}");
        let doc = read(a, &tenant, &invoice).await;
        assert_eq!(doc.dunning.level, level);
        assert_eq!(doc.dunning.reminders.len(), usize::from(level));
        let letters = reminders(a, &tenant).await;
        assert_eq!(letters.len(), usize::from(level));
        let letter = letters.last().unwrap();
        assert!(letter.content.number.as_str().starts_with("MA-"));
        assert_eq!(letter.content.reminder.as_ref().unwrap().level, level);
        assert_eq!(letter.content.preceding.as_ref().unwrap().id, *invoice.id());
        assert_eq!(
            letter.settlement.charged.value(),
            rust_decimal::Decimal::ZERO
        );
        job_id = level_job(&tenant.id, invoice.id(), level + 1, "", Utc::now()).id;
    }
    // The reminders' numbers are gapless in their own series.
    let numbers: Vec<String> = reminders(a, &tenant)
        .await
        .iter()
        .map(|d| d.content.number.as_str().to_string())
        .collect();
    let year = numbers[0].get(3..7).unwrap().to_string();
    let expected: Vec<String> = (1..=3).map(|n| format!("MA-{year}-{n:05}")).collect();
    if numbers.iter().all(|n| n.contains(&year)) {
        assert_eq!(numbers, expected);
    }
    // After the last deadline: exhausted, the owner's job, listed by the filter.
    let doc = read(a, &tenant, &invoice).await;
    clock.set(level_due(&tenant, &doc, 4));
    let job = a.jobs.job(&tenant.id, &job_id).await.unwrap().unwrap();
    assert_eq!(
        Dunner::new(stores.clone()).run(&job).await.unwrap(),
        Dunned::Exhausted
    );
    assert_eq!(
        Dunner::new(stores.clone()).run(&job).await.unwrap(),
        Dunned::Nothing("level_sent"),
        "exhausted once"
    );
    let doc = read(a, &tenant, &invoice).await;
    assert_eq!(doc.dunning.state(), DunningState::Exhausted);
    let owner = faktura_domain::jobs::Job::new(
        &tenant.id,
        JobKind::NotifyOwner,
        invoice.id(),
        "dunning_exhausted",
        Utc::now(),
    );
    let owner = a
        .jobs
        .job(&tenant.id, &owner.id)
        .await
        .unwrap()
        .expect("the owner's job");
    assert_eq!(owner.state, JobState::Pending);
    // Run twice (a retry): one mail to the owner, recorded on the invoice.
    let mails = Arc::new(Sent::default());
    let mailer =
        faktura_domain::service::delivery::DocumentMailer::new(stores.clone(), mails.clone());
    assert!(mailer.notify_owner(&owner).await.is_ok());
    assert!(mailer.notify_owner(&owner).await.is_ok());
    let keys = mails.0.lock().unwrap().clone();
    assert_eq!(keys, vec![format!("owner-{}", invoice.id())]);
    assert!(read(a, &tenant, &invoice).await.dunning.owner_notified);
    let filter = DocumentFilter {
        dunning: Some(DunningState::Exhausted),
        ..DocumentFilter::default()
    };
    let listed = a
        .repository
        .documents(&tenant.id, &filter, None, 100)
        .await
        .unwrap()
        .documents;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id(), invoice.id());
}

pub async fn a_payment_racing_a_reminder_never_leaves_one_after_it(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let clock = Arc::new(TestClock(std::sync::Mutex::new(Utc::now())));
    let stores = a.stores_at(std::slice::from_ref(&tenant), clock.clone());
    let commands = Commands::new(stores.clone(), Arc::new(faktura_einvoice::EInvoiceXml));
    let mut invoices = Vec::new();
    for i in 0..8 {
        invoices.push(issue(&stores, &tenant, &format!("bk_race{i}")).await);
    }
    clock.set(level_due(&tenant, &invoices[0], 1) + TimeDelta::hours(1));
    let mut races = tokio::task::JoinSet::new();
    for invoice in &invoices {
        let job = level_job(&tenant.id, invoice.id(), 1, "", Utc::now());
        let job = a.jobs.job(&tenant.id, &job.id).await.unwrap().unwrap();
        let dunner = Dunner::new(stores.clone());
        races.spawn(async move { dunner.run(&job).await.expect("run") });
        let (commands, tenant_id, id, amount, currency) = (
            commands.clone(),
            tenant.id.clone(),
            invoice.id().clone(),
            invoice.settlement.open(),
            invoice.content.currency,
        );
        let at = clock.0.lock().map(|c| *c).unwrap();
        races.spawn(async move {
            commands
                .run(
                    &tenant_id,
                    Command::Payment {
                        id,
                        payment: PaymentFact {
                            paid_at: at,
                            amount,
                            currency,
                            method: None,
                            reference: None,
                        },
                    },
                    &cause(),
                    None,
                )
                .await
                .map(|_| Dunned::Nothing("paid"))
                .unwrap_or(Dunned::Nothing("payment failed"))
        });
    }
    while races.join_next().await.is_some() {}
    for invoice in &invoices {
        let doc = read(a, &tenant, invoice).await;
        assert_eq!(
            doc.settlement.open().value(),
            rust_decimal::Decimal::ZERO,
            "paid"
        );
        // Whichever won, the reminder (if any) came before the payment in the trail.
        let trail = a.repository.audit(&tenant.id, invoice.id()).await.unwrap();
        let reminded = trail
            .iter()
            .position(|e| matches!(e.event, DocumentEvent::Reminded { .. }));
        let paid = trail
            .iter()
            .position(|e| matches!(e.event, DocumentEvent::PaymentRecorded { .. }))
            .expect("the payment");
        if let Some(r) = reminded {
            assert!(r < paid, "a reminder after the payment: {trail:?}");
        }
        // And no later level for the paid invoice.
        clock.set(level_due(&tenant, &doc, 2) + TimeDelta::hours(1));
        let next = Dunner::new(stores.clone())
            .run(&level_job(&tenant.id, invoice.id(), 2, "", Utc::now()))
            .await
            .unwrap();
        assert!(matches!(next, Dunned::Nothing(_)), "{next:?}");
        clock.set(level_due(&tenant, &invoices[0], 1) + TimeDelta::hours(1));
    }
}

pub async fn a_customers_hold_pauses_all_their_invoices(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let clock = Arc::new(TestClock(std::sync::Mutex::new(Utc::now())));
    let stores = a.stores_at(std::slice::from_ref(&tenant), clock.clone());
    let commands = Commands::new(stores.clone(), Arc::new(faktura_einvoice::EInvoiceXml));
    let invoice = issue(&stores, &tenant, "bk_hold").await;
    let key = invoice.content.buyer.customer_key.clone();
    let hold = |paused| Command::CustomerDunning {
        customer_key: key.clone(),
        paused,
    };
    commands
        .run(&tenant.id, hold(true), &cause(), None)
        .await
        .expect("paused");
    let stored = a
        .repository
        .dunning_hold(&tenant.id, &key)
        .await
        .expect("read")
        .expect("stored");
    assert!(stored.paused);
    assert_eq!(
        a.repository
            .dunning_hold(&tenant.id, "ext:nobody")
            .await
            .unwrap(),
        None
    );
    let unknown = commands
        .run(
            &tenant.id,
            Command::CustomerDunning {
                customer_key: "ext:nobody".into(),
                paused: true,
            },
            &cause(),
            None,
        )
        .await;
    assert_eq!(unknown.err().map(|e| e.code), Some("customer_not_found"));

    let day = level_due(&tenant, &invoice, 1);
    clock.set(day + TimeDelta::hours(1));
    let job = level_job(&tenant.id, invoice.id(), 1, "", Utc::now());
    let held = Dunner::new(stores.clone()).run(&job).await.unwrap();
    let Dunned::NotYet(at) = held else {
        panic!("held: {held:?}")
    };
    let next_day = tenant.today(day).succ_opt().unwrap();
    assert_eq!(
        at,
        tenant.settings.time_zone.start_of(next_day),
        "looked at again the next day"
    );
    assert!(reminders(a, &tenant).await.is_empty());
    // Lifted: the next look sends the level that came due.
    commands
        .run(&tenant.id, hold(false), &cause(), None)
        .await
        .expect("resumed");
    assert!(
        !a.repository
            .dunning_hold(&tenant.id, &key)
            .await
            .unwrap()
            .unwrap()
            .paused
    );
    clock.set(at);
    let sent = Dunner::new(stores.clone()).run(&job).await.unwrap();
    assert!(matches!(sent, Dunned::Letter { level: 1, .. }), "{sent:?}");
    assert_eq!(reminders(a, &tenant).await.len(), 1);
}

/// A mail sender that keeps the keys of what it sent.
#[derive(Default)]
struct Sent(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl faktura_domain::ports::MailSender for Sent {
    async fn send(
        &self,
        mail: &faktura_domain::ports::OutgoingMail,
    ) -> Result<String, faktura_domain::StoreError> {
        self.0.lock().unwrap().push(mail.key.clone());
        Ok(mail.key.clone())
    }
}

/// A reminder whose mail fails for good pauses its invoice's dunning (the next letter would
/// refer to one the customer never got); a reminder dropped because the invoice was paid
/// meanwhile does not.
pub async fn an_undeliverable_reminder_pauses_its_invoice(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let clock = Arc::new(TestClock(std::sync::Mutex::new(Utc::now())));
    let stores = a.stores_at(std::slice::from_ref(&tenant), clock.clone());
    let mailer = faktura_domain::service::delivery::DocumentMailer::new(
        stores.clone(),
        Arc::new(Sent::default()),
    );
    for (booking, code, pauses) in [
        ("bk_bounce", "mail_refused", true),
        ("bk_paid", "invoice_settled", false),
    ] {
        let invoice = issue(&stores, &tenant, booking).await;
        clock.set(level_due(&tenant, &invoice, 1) + TimeDelta::hours(1));
        let job = level_job(&tenant.id, invoice.id(), 1, "", Utc::now());
        let Dunned::Letter { reminder_id, .. } =
            Dunner::new(stores.clone()).run(&job).await.unwrap()
        else {
            panic!("a letter")
        };
        let deliver = faktura_domain::jobs::Job::new(
            &tenant.id,
            JobKind::DeliverDocument,
            &reminder_id,
            "first",
            Utc::now(),
        );
        mailer.give_up(&deliver, code).await.expect("given up");
        let letter = a
            .repository
            .document(&tenant.id, &reminder_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(letter.delivery.as_str(), "failed");
        let doc = read(a, &tenant, &invoice).await;
        assert_eq!(doc.dunning.paused, pauses, "{code}");
    }
}
