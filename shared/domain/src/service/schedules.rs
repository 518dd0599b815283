//! Schedules' use cases: planning a new one (from the API or a booking), changing one (pause,
//! resume, stop, new items), previewing its next occurrences, and the `bill_schedule` job that
//! issues an occurrence's invoice.
//!
//! Billing occurrence `n` is one change: the invoice with its number, charge, audit entry and
//! render job, the claim of (schedule, n), the schedule at the version read (next = n + 1) and
//! the job of `n + 1`. A second run at once, a retried job or a stale job loses on the claim or
//! the version and bills nothing.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::booking::{Booking, BookingItem};
use crate::error::{AppError, ErrorKind};
use crate::invoicing::plan_document;
use crate::jobs::{Job, JobInput, ScheduleSlot};
use crate::model::{DocumentKind, DocumentSource, Invoice, ServicePeriod, Tenant};
use crate::money::Amount;
use crate::ports::{Change, Conflict, EInvoiceEncoder, PeriodClaim, ScheduleWrite, Stores};
use crate::schedule::{
    Decision, End, MAX_OCCURRENCES, Mode, Plan, Schedule, ScheduleSpec, ScheduleState, check_new,
    instalment_parts,
};
use crate::values::Id;

use super::bookings::{credit_to_apply, move_credit, show_credit};
use super::intake::problem_error;
use super::issuing::{Numbering, issue_into};
use super::{Attempt, commit_with_retry, job_cause};

/// A change asked of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    Pause,
    Resume,
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleUpdate {
    pub action: Option<ScheduleAction>,
    /// New items from the next occurrence on (recurring schedules).
    pub items: Option<Vec<BookingItem>>,
}

/// One coming occurrence, as it would be billed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occurrence {
    pub occurrence: u32,
    pub date: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub period: ServicePeriod,
    pub net: Amount,
    pub vat: Amount,
    pub gross: Amount,
    pub lines: Vec<String>,
}

/// What a bill run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Billed {
    /// Invoice `document_id` for `occurrence` (and `skipped` recorded as skipped).
    Invoice {
        occurrence: u32,
        document_id: Id,
        skipped: Vec<u32>,
    },
    /// Not due before this instant.
    NotYet(DateTime<Utc>),
    /// Inactive, stale or billed already.
    Nothing,
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

fn check_einvoice(einvoice: &dyn EInvoiceEncoder, invoice: &Invoice) -> Result<(), AppError> {
    let problems = einvoice.problems(invoice);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problem_error(&problems, invoice.einvoice))
    }
}

/// Names a schedule error's field as the wire format does: `count`, `until`, `anchor`… under
/// `prefix` (`schedule.` in the API, `data.billing.schedule.` in a booking).
pub fn wire_field(e: AppError, prefix: &str) -> AppError {
    const SCHEDULE_FIELDS: [&str; 7] = [
        "interval",
        "mode",
        "count",
        "until",
        "anchor",
        "missed",
        "payment_terms_days",
    ];
    match e.field.clone() {
        Some(f) if SCHEDULE_FIELDS.contains(&f.as_str()) => e.with_field(format!("{prefix}{f}")),
        _ => e,
    }
}

/// The invoice of occurrence `n` as it would be issued at `now` (numbered by the caller).
pub fn plan_occurrence(
    tenant: &Tenant,
    schedule: &Schedule,
    n: u32,
    customer: Option<&crate::model::Customer>,
    id: &Id,
    now: DateTime<Utc>,
) -> Result<Invoice, AppError> {
    let booking = schedule.occurrence_booking(n, customer, now)?;
    let mut invoice = plan_document(
        tenant,
        &booking,
        DocumentKind::Invoice,
        id,
        tenant.today(now),
        now,
    )?
    .invoice;
    invoice.booking_id = schedule.booking_id.clone();
    invoice.source = DocumentSource::Schedule;
    if let Some(days) = schedule.payment_terms_days {
        invoice.due_date = invoice
            .issue_date
            .checked_add_days(chrono::Days::new(u64::from(days)))
            .unwrap_or(invoice.issue_date);
        invoice.payment_terms =
            crate::i18n::payment_terms(invoice.language, days, invoice.due_date);
    }
    Ok(invoice)
}

/// A new schedule for `content`'s customer and items, checked by planning its first invoice.
/// `booking_id`: the booking it comes from (its id is then derived from it).
pub fn plan_schedule(
    tenant: &Tenant,
    content: &Booking,
    spec: &ScheduleSpec,
    booking_id: Option<&Id>,
    einvoice: &dyn EInvoiceEncoder,
    now: DateTime<Utc>,
) -> Result<Schedule, AppError> {
    let anchor = spec.anchor.unwrap_or_else(|| tenant.today(now));
    let plan = match spec.mode {
        Mode::Recurring => Plan::Recurring {
            items: content.items.clone(),
        },
        Mode::Instalments => {
            let whole = plan_document(
                tenant,
                content,
                DocumentKind::Invoice,
                &Id::generate("inv"),
                anchor,
                now,
            )?
            .invoice;
            let parts = instalment_parts(&whole, content);
            let sum: rust_decimal::Decimal = parts.iter().map(|p| p.total).sum();
            if sum != whole.totals.amount_due.value() {
                return Err(super::internal(
                    "instalment_parts",
                    format!(
                        "the instalment parts add up to {sum}, the booking to {}",
                        whole.totals.amount_due
                    ),
                ));
            }
            Plan::Instalments { parts }
        }
    };
    check_new(anchor, &spec.end, &plan, spec.missed)?;
    // Dates a person means: a year back at most (an old anchor would bill years at once) and
    // ten years ahead.
    let today = tenant.today(now);
    let earliest = today
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(today);
    let latest = today
        .checked_add_months(chrono::Months::new(120))
        .unwrap_or(today);
    if anchor < earliest || anchor > latest {
        return Err(unprocessable(
            "invalid_value",
            format!("the anchor date must lie between {earliest} and {latest}"),
        )
        .with_field("anchor"));
    }
    let id = match booking_id {
        Some(b) => {
            let hash = crate::ports::sha256_hex(b.as_str().as_bytes());
            format!("sch_{}", hash.get(..20).unwrap_or(&hash))
                .parse()
                .unwrap_or_else(|_| Id::generate("sch"))
        }
        None => Id::generate("sch"),
    };
    let schedule = Schedule {
        id,
        tenant_id: tenant.id.clone(),
        customer: content.customer.clone(),
        currency: content.currency,
        prices: content.prices,
        reference: content.reference.clone(),
        note: content.note.clone(),
        booking_id: booking_id.cloned(),
        plan,
        interval: spec.interval,
        anchor,
        end: spec.end,
        missed: spec.missed,
        payment_terms_days: spec.payment_terms_days,
        state: ScheduleState::Active,
        next: 0,
        billed: Vec::new(),
        skipped: Vec::new(),
        epoch: 0,
        paused_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    if schedule.period(0).is_none() || !schedule.occurs(0) {
        return Err(unprocessable(
            "schedule_empty",
            "the schedule has no occurrence within its end",
        )
        .with_field("until"));
    }
    if let End::On { date } = spec.end
        && schedule
            .date(MAX_OCCURRENCES)
            .is_none_or(|last| last <= date)
    {
        return Err(unprocessable(
            "invalid_value",
            format!(
                "the end date lies beyond {MAX_OCCURRENCES} occurrences; bill until stopped instead"
            ),
        )
        .with_field("until"));
    }
    let first = plan_occurrence(tenant, &schedule, 0, None, &Id::generate("inv"), now)?;
    check_einvoice(einvoice, &first)?;
    if let Plan::Instalments { parts } = &schedule.plan {
        // Every instalment must be an invoice of its own: positive, and plannable.
        let count = schedule.count().unwrap_or(1);
        for n in 1..count {
            let invoice = plan_occurrence(tenant, &schedule, n, None, &Id::generate("inv"), now)?;
            if !invoice.totals.amount_due.is_negative() && !invoice.totals.amount_due.is_zero() {
                continue;
            }
            return Err(unprocessable(
                "zero_instalment",
                format!(
                    "instalment {} of {count} would not be positive; choose fewer instalments",
                    n + 1
                ),
            )
            .with_field("count"));
        }
        debug_assert!(!parts.is_empty());
    }
    if first.totals.amount_due.is_zero() || first.totals.amount_due.is_negative() {
        return Err(
            unprocessable("zero_instalment", "the first invoice would not be positive")
                .with_field("count"),
        );
    }
    Ok(schedule)
}

/// Puts a new schedule and its first bill job into `change`.
pub fn create_into(change: &mut Change, tenant: &Tenant, schedule: &Schedule, now: DateTime<Utc>) {
    change.schedules.push(ScheduleWrite::new(schedule.clone()));
    if let Some(job) = bill_job(schedule, tenant, now) {
        change.jobs.push(job);
    }
}

pub fn bill_job(schedule: &Schedule, tenant: &Tenant, now: DateTime<Utc>) -> Option<Job> {
    schedule.bill_job(&tenant.settings.time_zone, now).map(|j| {
        j.with_input(JobInput {
            schedule: Some(ScheduleSlot {
                epoch: schedule.epoch,
                occurrence: schedule.next,
            }),
            ..JobInput::default()
        })
    })
}

/// The change that applies `update` to `schedule` (read at its version), and the schedule
/// after it.
pub fn update_into(
    change: &mut Change,
    tenant: &Tenant,
    schedule: &Schedule,
    update: &ScheduleUpdate,
    einvoice: &dyn EInvoiceEncoder,
    now: DateTime<Utc>,
) -> Result<Schedule, AppError> {
    let tz = &tenant.settings.time_zone;
    let mut after = schedule.clone();
    if let Some(items) = &update.items {
        after = after.with_items(items.clone(), now)?;
        let first = plan_occurrence(tenant, &after, after.next, None, &Id::generate("inv"), now)
            .map_err(|e| match e.field {
                Some(_) => e,
                None => e.with_field("items"),
            })?;
        check_einvoice(einvoice, &first)?;
    }
    let resumed = match update.action {
        Some(ScheduleAction::Pause) => {
            after = after.pause(now)?;
            false
        }
        Some(ScheduleAction::Resume) => {
            after = after.resume(now, tz)?;
            true
        }
        Some(ScheduleAction::Stop) => {
            after = after.stop(now)?;
            false
        }
        None => false,
    };
    if after == *schedule {
        return Ok(after);
    }
    change
        .schedules
        .push(ScheduleWrite::update(after.clone(), schedule.version));
    if resumed && let Some(job) = bill_job(&after, tenant, now) {
        change.jobs.push(job);
    }
    after.version = schedule.version + 1;
    Ok(after)
}

/// The next `count` occurrences from the next to bill, with their amounts as billed now.
pub async fn preview(
    stores: &Stores,
    tenant: &Tenant,
    schedule: &Schedule,
    count: usize,
) -> Result<Vec<Occurrence>, AppError> {
    let now = stores.clock.now();
    let customer = stores
        .repository
        .customer(&tenant.id, &schedule.customer.key())
        .await?;
    let tz = &tenant.settings.time_zone;
    let mut out = Vec::new();
    if schedule.state.is_final() {
        return Ok(out);
    }
    let mut n = schedule.next;
    while out.len() < count && schedule.occurs(n) {
        let (Some(date), Some(period), Some(due_at)) =
            (schedule.date(n), schedule.period(n), schedule.due_at(n, tz))
        else {
            break;
        };
        let invoice = plan_occurrence(
            tenant,
            schedule,
            n,
            customer.as_ref(),
            &Id::generate("inv"),
            now,
        )?;
        out.push(Occurrence {
            occurrence: n,
            date,
            due_at,
            period,
            net: invoice.totals.line_net,
            vat: invoice.totals.vat,
            gross: invoice.totals.amount_due,
            lines: invoice
                .lines
                .iter()
                .map(|l| l.description.clone())
                .collect(),
        });
        n += 1;
    }
    Ok(out)
}

/// The `bill_schedule` job's handler.
#[derive(Clone)]
pub struct ScheduleBiller {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

impl ScheduleBiller {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> ScheduleBiller {
        ScheduleBiller { stores, einvoice }
    }

    pub async fn bill(&self, job: &Job) -> Result<Billed, AppError> {
        let s = &self.stores;
        let tenant = super::tenant(s, &job.tenant_id).await?;
        let cause = job_cause(job);
        commit_with_retry(
            s,
            || async {
                let Some(schedule) = s.repository.schedule(&tenant.id, &job.subject).await? else {
                    return Ok(Attempt::Done(Billed::Nothing));
                };
                // A job of an earlier epoch (before a pause) or an occurrence billed already.
                if let Some(slot) = job.input.schedule
                    && (slot.epoch != schedule.epoch || slot.occurrence != schedule.next)
                {
                    return Ok(Attempt::Done(Billed::Nothing));
                }
                let now = s.clock.now();
                let (occurrence, skipped) = match schedule.decide(now, &tenant.settings.time_zone) {
                    Decision::Inactive => return Ok(Attempt::Done(Billed::Nothing)),
                    Decision::NotYet(at) => return Ok(Attempt::Done(Billed::NotYet(at))),
                    Decision::Bill {
                        occurrence,
                        skipped,
                    } => (occurrence, skipped),
                };
                let customer = s
                    .repository
                    .customer(&tenant.id, &schedule.customer.key())
                    .await?;
                let id = Id::generate("inv");
                let mut invoice =
                    plan_occurrence(&tenant, &schedule, occurrence, customer.as_ref(), &id, now)?;
                check_einvoice(self.einvoice.as_ref(), &invoice)?;
                let mut change = Change::for_tenant(&tenant.id);
                let after = schedule.billed(occurrence, &skipped, &id, now);
                change
                    .schedules
                    .push(ScheduleWrite::update(after.clone(), schedule.version));
                change.periods.push(PeriodClaim {
                    tenant_id: tenant.id.clone(),
                    schedule_id: schedule.id.clone(),
                    occurrence,
                    document_id: id.clone(),
                });
                let claim = Numbering::new(s, &tenant).number(&mut invoice).await?;
                let credit = if tenant.settings.apply_credit {
                    credit_to_apply(s, &tenant, &invoice).await?
                } else {
                    Vec::new()
                };
                let invoice = show_credit(invoice, &credit);
                let doc = issue_into(
                    &mut change,
                    &tenant,
                    invoice,
                    claim,
                    JobInput::default(),
                    &cause,
                    now,
                );
                move_credit(&mut change, doc, &credit, &cause, now);
                if let Some(next) = bill_job(&after, &tenant, now) {
                    change.jobs.push(next);
                }
                Ok(Attempt::Commit(
                    Box::new(change),
                    Billed::Invoice {
                        occurrence,
                        document_id: id,
                        skipped,
                    },
                ))
            },
            // The occurrence is billed, or the next job is written: another run won.
            |c| {
                matches!(c, Conflict::Period { .. } | Conflict::Job(_))
                    .then_some(Ok(Billed::Nothing))
            },
        )
        .await
    }
}
