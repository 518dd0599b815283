//! Job `dun_invoice`: chases one overdue invoice one level further.
//!
//! Every issued invoice gets a `dun_invoice` job for level 1 in the change that issues it. A
//! run reads the invoice and the tenant's levels and then does exactly one of:
//! - nothing, when the invoice is paid, credited, paused or the level was sent (the job ends;
//!   resuming writes a new one);
//! - wait, when the level's day has not come (the job is due again then);
//! - issue the level's letter: in one change the reminder document (own series, rendered and
//!   mailed by its jobs), the invoice's dunning facet at the version read, and the job of the
//!   next level. A payment that lands meanwhile changes the invoice's version, so the change is
//!   refused and the run starts again from the paid invoice: it sends nothing;
//! - after the last level's deadline: mark the invoice exhausted and tell the owner.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::audit::Cause;
use crate::document::Document;
use crate::dunning::{
    DunningSettings, OpenItem, ReminderFacts, default_begins, default_interest, flat_fee,
    interest_points, level_day, plus_days,
};
use crate::error::{AppError, ErrorKind};
use crate::i18n;
use crate::jobs::{Job, JobInput, JobKind};
use crate::model::{
    DocumentKind, DocumentSource, EInvoiceFormat, Invoice, InvoiceLine, PrecedingDocument,
    PriceBasis, ServicePeriod, Tenant, Totals, VatBreakdown, VatCategory,
};
use crate::money::{Amount, VatRate};
use crate::ports::{Change, Stores};
use crate::values::{Id, InvoiceNumber};

use super::issuing::{Numbering, issue_into, update_into};
use super::{Attempt, commit_with_retry, job_cause};

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dunned {
    /// A letter of `level` was issued.
    Letter { level: u8, reminder_id: Id },
    /// The last deadline passed: exhausted, the owner is told.
    Exhausted,
    /// Nothing to do (why).
    Nothing(&'static str),
    /// The level's day has not come.
    NotYet(DateTime<Utc>),
}

/// The first `dun_invoice` job of a newly issued invoice: due at the start of the payment
/// reminder's day in the tenant's zone (the run checks that day again against the levels as
/// they are then).
pub(crate) fn first_job(tenant: &Tenant, doc: &Document, now: DateTime<Utc>) -> Job {
    level_job(&doc.content.tenant_id, doc.id(), 1, "", now).due(level_due(tenant, doc, 1).max(now))
}

/// A job for `level` of an invoice (`key` tells a resume's job from the first one).
pub fn level_job(tenant: &Id, invoice: &Id, level: u8, key: &str, now: DateTime<Utc>) -> Job {
    Job::new(
        tenant,
        JobKind::DunInvoice,
        invoice,
        &format!("level:{level}{key}"),
        now,
    )
    .with_input(JobInput {
        dunning_level: Some(level),
        ..JobInput::default()
    })
}

/// When level `level` of `doc` is due (the start of its local day); the level after the last
/// is the day after the last letter's deadline.
pub fn level_due(tenant: &Tenant, doc: &Document, level: u8) -> DateTime<Utc> {
    let settings = &tenant.settings.dunning;
    let previous = doc.dunning.last().map(|r| r.deadline);
    let day = if level <= settings.last_level() {
        level_day(settings, doc.content.due_date, level, previous)
    } else {
        let deadline = previous.unwrap_or(doc.content.due_date);
        deadline.succ_opt().unwrap_or(deadline)
    };
    // With a send window, at its opening: the letter is issued when it can be mailed at once
    // (no pause can fall between the two).
    match tenant.settings.send_window {
        Some(window) => tenant.settings.time_zone.at(day, window.from),
        None => tenant.settings.time_zone.start_of(day),
    }
}

#[derive(Clone)]
pub struct Dunner {
    stores: Stores,
}

impl Dunner {
    pub fn new(stores: Stores) -> Dunner {
        Dunner { stores }
    }

    pub async fn run(&self, job: &Job) -> Result<Dunned, AppError> {
        let s = &self.stores;
        let level = job.input.dunning_level.unwrap_or(1).max(1);
        let cause = job_cause(job);
        commit_with_retry(
            s,
            || async {
                let tenant = super::tenant(s, &job.tenant_id).await?;
                let settings = &tenant.settings.dunning;
                let Some(doc) = s.repository.document(&job.tenant_id, &job.subject).await? else {
                    return Ok(Attempt::Done(Dunned::Nothing("document_not_found")));
                };
                let now = s.clock.now();
                if !settings.enabled {
                    // Switched off: looked at again weekly, so switching it on chases the
                    // invoices issued meanwhile too.
                    return Ok(Attempt::Done(Dunned::NotYet(
                        now + chrono::TimeDelta::days(7),
                    )));
                }
                if doc.dunning.level >= level || doc.dunning.exhausted {
                    // A stale job: its level went out (or the invoice was given up) already.
                    return Ok(Attempt::Done(Dunned::Nothing("level_sent")));
                }
                let at = level_due(&tenant, &doc, level);
                if now < at {
                    return Ok(Attempt::Done(Dunned::NotYet(at)));
                }
                let today = tenant.today(now);
                if let Err(why) = doc.awaits_reminder(today) {
                    return Ok(Attempt::Done(Dunned::Nothing(why)));
                }
                if s.repository
                    .dunning_hold(&job.tenant_id, &doc.content.buyer.customer_key)
                    .await?
                    .is_some_and(|h| h.paused)
                {
                    // The customer's hold: looked at again each day, so lifting it needs
                    // nothing but the hold itself.
                    let tomorrow = today.succ_opt().unwrap_or(today);
                    return Ok(Attempt::Done(Dunned::NotYet(
                        tenant.settings.time_zone.start_of(tomorrow),
                    )));
                }
                let mut change = Change::for_tenant(&job.tenant_id);
                if level > settings.last_level() {
                    update_into(
                        &mut change,
                        &doc,
                        doc.exhaust_dunning(today, now)?,
                        &cause,
                        now,
                    );
                    change.jobs.push(Job::new(
                        &job.tenant_id,
                        JobKind::NotifyOwner,
                        doc.id(),
                        "dunning_exhausted",
                        now,
                    ));
                    return Ok(Attempt::Commit(Box::new(change), Dunned::Exhausted));
                }
                // The payments in default shape the interest; the first letter charges none.
                let ledger = if level > 1 && settings.interest {
                    s.repository
                        .ledger(&job.tenant_id, &doc.content.buyer.customer_key)
                        .await?
                } else {
                    Vec::new()
                };
                let letter =
                    plan_reminder_with(&tenant, &doc, level, &Id::generate("rem"), now, &ledger)?;
                let mut content = letter.content;
                let claim = Numbering::new(s, &tenant).number(&mut content).await?;
                let reminder = issue_into(
                    &mut change,
                    &tenant,
                    content,
                    claim,
                    JobInput::default(),
                    &cause,
                    now,
                );
                let reminded = doc.remind(
                    level,
                    &reminder.content,
                    letter.default_since,
                    letter.flat_fee_charged,
                    now,
                )?;
                let stored = update_into(&mut change, &doc, reminded, &cause, now);
                let next = level + 1;
                change.jobs.push(
                    level_job(&job.tenant_id, doc.id(), next, "", now)
                        .due(level_due(&tenant, &stored, next)),
                );
                Ok(Attempt::Commit(
                    Box::new(change),
                    Dunned::Letter {
                        level,
                        reminder_id: reminder.id().clone(),
                    },
                ))
            },
            // The next level's job exists: this level went out in a run that committed.
            |c| {
                matches!(c, crate::ports::Conflict::Job(_))
                    .then_some(Ok(Dunned::Nothing("level_sent")))
            },
        )
        .await
    }
}

/// Pauses or resumes one invoice's dunning (the API). Resuming writes the job of the next
/// level, due on its day (at once when that passed during the pause).
pub(crate) fn pause_into(
    change: &mut Change,
    tenant: &Tenant,
    doc: &Document,
    paused: bool,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Document, AppError> {
    if doc.dunning.paused == paused {
        // Paused (or running) already: nothing changes, no second job.
        doc.pause_dunning(paused, now)?;
        return Ok(doc.clone());
    }
    let stored = update_into(change, doc, doc.pause_dunning(paused, now)?, cause, now);
    if !paused && !stored.dunning.exhausted {
        let next = stored.dunning.level.saturating_add(1);
        let key = format!(":resume:{}", Id::generate("r"));
        change.jobs.push(
            level_job(&doc.content.tenant_id, doc.id(), next, &key, now)
                .due(level_due(tenant, &stored, next).max(now)),
        );
    }
    Ok(stored)
}

/// A planned reminder letter.
pub struct PlannedReminder {
    pub content: Invoice,
    pub default_since: Option<chrono::NaiveDate>,
    pub flat_fee_charged: bool,
}

/// The letter of `level` for the overdue invoice `doc`: the open item, and what default cost
/// so far — the fees of every level up to this one (the first is free: it is what puts the
/// customer in default), for a business instead the §288 Abs. 5 flat fee of €40 (the fees are
/// counted against it, §288 Abs. 5 S. 3), and the default interest from the first day of
/// default to the letter's date. Each letter states all of it again (the invoice is still
/// unpaid, so is what came on top). Dated today in the tenant's zone, with a new deadline; its
/// lines are outside the scope of VAT.
pub fn plan_reminder(
    tenant: &Tenant,
    doc: &Document,
    level: u8,
    id: &Id,
    now: DateTime<Utc>,
) -> Result<PlannedReminder, AppError> {
    plan_reminder_with(tenant, doc, level, id, now, &[])
}

/// [`plan_reminder`] with the customer's ledger: payments made during default lower the
/// interest from their day on (without it, today's open amount counts for every day).
pub fn plan_reminder_with(
    tenant: &Tenant,
    doc: &Document,
    level: u8,
    id: &Id,
    now: DateTime<Utc>,
    ledger: &[crate::ledger::LedgerEntry],
) -> Result<PlannedReminder, AppError> {
    let settings: &DunningSettings = &tenant.settings.dunning;
    let inv = &doc.content;
    let lang = inv.language;
    let cur = inv.currency;
    let today = tenant.today(now);
    let deadline = plus_days(today, settings.deadline_days);
    let business = inv.buyer.is_business();
    let open = doc.settlement.open();
    let default_since = doc
        .dunning
        .default_since
        .unwrap_or_else(|| default_begins(inv.due_date, today));
    // Default began before today: a letter after that may charge for it.
    let in_default = default_since <= today && level > 1;

    let mut charges: Vec<(String, Amount)> = Vec::new();
    // The €40 is owed in euros, by businesses, once in default.
    let flat = in_default && business && settings.flat_fee && cur == crate::money::Currency::EUR;
    let mut flat_fee_charged = false;
    if flat {
        charges.push((i18n::flat_fee_line(lang).to_string(), flat_fee()));
        flat_fee_charged = !doc.dunning.flat_fee_charged;
    } else {
        for l in 2..=level {
            if let Some(fee) = settings.level(l).map(|x| x.fee)
                && !fee.is_zero()
            {
                let title = i18n::reminder_title(lang, l);
                charges.push((i18n::dunning_fee_line(lang, title), fee));
            }
        }
    }
    if in_default && settings.interest {
        // From the first day of default to the letter's date; what earlier letters charged is
        // counted again in full here (each letter states the interest owed up to its date).
        let points = interest_points(business);
        // What was open each day: the invoice's ledger entries since default began, undone
        // from today's open amount (a partial payment lowers the interest from its day on).
        let zone = tenant.settings.time_zone;
        let changes: Vec<(chrono::NaiveDate, Amount)> = ledger
            .iter()
            .filter(|e| e.document_id == inv.id)
            .map(|e| {
                let signed = if e.kind.sign() < 0 {
                    Amount::ZERO - e.amount
                } else {
                    e.amount
                };
                (zone.date_of(e.at), signed)
            })
            .collect();
        let open_then = |day| crate::dunning::open_on(open, &changes, day);
        if let Some(i) = default_interest(
            &open_then,
            default_since,
            today,
            &settings.base_rates,
            points,
        ) {
            let rates = i
                .rates
                .iter()
                .map(|r| format!("{} %", i18n::number(lang, *r, 2, 2)))
                .collect::<Vec<_>>()
                .join(" / ");
            let on = match i.on {
                Some(amount) => i18n::money(lang, amount, cur),
                None => i18n::open_each_day(lang).to_string(),
            };
            let text = i18n::interest_line(lang, &rates, &on, i.from, i.to, i.days);
            charges.push((text, i.amount));
        }
    }

    let zero = VatRate::new(Decimal::ZERO)
        .map_err(|e| AppError::new(ErrorKind::Internal, "vat_rate", e.to_string()))?;
    let lines: Vec<InvoiceLine> = charges
        .iter()
        .enumerate()
        .map(|(i, (text, amount))| InvoiceLine {
            position: u32::try_from(i + 1).unwrap_or(u32::MAX),
            description: text.clone(),
            quantity: Decimal::ONE,
            unit_code: "C62".into(),
            unit_price_net: amount.value(),
            unit_price_gross: None,
            net_amount: *amount,
            vat_category: VatCategory::O,
            vat_rate: zero,
            service: ServicePeriod {
                start: today,
                end: today,
            },
        })
        .collect();
    let charged = charges
        .iter()
        .fold(Amount::ZERO, |sum, (_, amount)| sum + *amount);
    let vat_breakdown = if lines.is_empty() {
        Vec::new()
    } else {
        vec![VatBreakdown {
            category: VatCategory::O,
            rate: zero,
            taxable: charged,
            vat: Amount::ZERO,
            exemption_reason: Some(i18n::charges_not_taxable(lang).to_string()),
            exemption_code: None,
        }]
    };
    let total = open + charged;
    let item = OpenItem {
        document_id: inv.id.clone(),
        number: inv.number.as_str().to_string(),
        issue_date: inv.issue_date,
        due_date: inv.due_date,
        payable: doc.settlement.payable(),
        settled: doc.settlement.payable() - open,
        open,
    };
    let content = Invoice {
        id: id.clone(),
        tenant_id: inv.tenant_id.clone(),
        booking_id: inv.booking_id.clone(),
        source: DocumentSource::Dunning,
        kind: DocumentKind::Reminder,
        preceding: Some(PrecedingDocument {
            id: inv.id.clone(),
            kind: inv.kind,
            number: inv.number.clone(),
            issue_date: inv.issue_date,
        }),
        cancels_fully: false,
        number: InvoiceNumber::unassigned(),
        issue_date: today,
        due_date: deadline,
        currency: cur,
        language: lang,
        buyer_reference: inv.buyer_reference.clone(),
        order_reference: inv.order_reference.clone(),
        einvoice: EInvoiceFormat::Pdf,
        seller: tenant.seller.clone(),
        buyer: inv.buyer.clone(),
        lines,
        vat_breakdown,
        totals: Totals {
            line_net: charged,
            tax_exclusive: charged,
            vat: Amount::ZERO,
            tax_inclusive: charged,
            prepaid: Amount::ZERO,
            rounding: Amount::ZERO,
            amount_due: total,
        },
        vat_treatment: inv.vat_treatment,
        price_basis: PriceBasis::Net,
        notes: vec![i18n::not_a_tax_invoice(lang).to_string()],
        payment_terms: i18n::payment_terms(lang, settings.deadline_days, deadline),
        issued_at: now,
        payment_link: None,
        reminder: Some(ReminderFacts {
            level,
            last: level >= settings.last_level(),
            items: vec![item],
            charges: charged,
            total,
            default_since: in_default.then_some(default_since),
        }),
    };
    Ok(PlannedReminder {
        content,
        default_since: Some(default_since),
        flat_fee_charged,
    })
}
