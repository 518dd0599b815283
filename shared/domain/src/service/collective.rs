//! Collective invoices: recording billable items, combining a customer's open items into a
//! draft (on demand, or by job `collect_items` the day after a collection period), changing
//! the draft, and issuing it on its send date (job `send_draft`). Drafts without a send date
//! wait for the owner, who gets a digest (job `digest_drafts`) on the day they become due.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::Cause;
use crate::booking::{Booking, BookingItem};
use crate::collective::{
    BillableItem, CollectiveFacet, ItemSource, ItemState, MAX_ITEMS_PER_INVOICE, period_of,
};
use crate::document::{Document, Lifecycle};
use crate::error::{AppError, ErrorKind};
use crate::invoicing::plan_document;
use crate::jobs::{Job, JobInput, JobKind};
use crate::model::{Customer, DocumentKind, DocumentSource, Invoice, ServicePeriod, Tenant};
use crate::ports::{Change, DocumentWrite, EInvoiceEncoder, ItemWrite, Stores};
use crate::schedule::booking_customer;
use crate::values::Id;

use super::intake::problem_error;
use super::issuing::{issue_draft_into, update_into};
use super::{Attempt, commit_with_retry, internal, job_cause};

fn refused(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

/// An item's id from what identifies its source (stable: reported twice, one item).
pub fn item_id(tenant: &Id, source: &str) -> Id {
    let h = crate::ports::sha256_hex(format!("{tenant}\u{0}item\u{0}{source}").as_bytes());
    format!("itm_{}", h.get(..24).unwrap_or(&h))
        .parse()
        .unwrap_or_else(|_| Id::generate("itm"))
}

/// A new open item for `customer_key`, counting for its service start (else today).
#[allow(clippy::too_many_arguments)]
pub fn new_item(
    tenant: &Tenant,
    id: Id,
    customer_key: &str,
    booking: &Booking,
    item: &BookingItem,
    source: ItemSource,
    reference: Option<String>,
    now: DateTime<Utc>,
) -> BillableItem {
    BillableItem {
        id,
        tenant_id: tenant.id.clone(),
        customer_key: customer_key.to_string(),
        currency: booking.currency,
        prices: booking.prices,
        day: item
            .service
            .map_or_else(|| tenant.today(booking.booked_at), |s| s.start),
        item: item.clone(),
        source,
        reference,
        state: ItemState::Open,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The day the job of a period runs: the day after it, at the send window's opening if set.
fn start_of_day(tenant: &Tenant, day: NaiveDate) -> DateTime<Utc> {
    match tenant.settings.send_window {
        Some(w) => tenant.settings.time_zone.at(day, w.from),
        None => tenant.settings.time_zone.start_of(day),
    }
}

fn customer_subject(customer_key: &str) -> Id {
    let h = crate::ports::sha256_hex(customer_key.as_bytes());
    format!("cus_{}", h.get(..24).unwrap_or(&h))
        .parse()
        .unwrap_or_else(|_| Id::generate("cus"))
}

/// The job that combines `customer_key`'s items of `period` (once per customer and period).
pub fn collect_job(
    tenant: &Tenant,
    customer_key: &str,
    period: ServicePeriod,
    now: DateTime<Utc>,
) -> Job {
    let day = period.end.succ_opt().unwrap_or(period.end);
    Job::new(
        &tenant.id,
        JobKind::CollectItems,
        &customer_subject(customer_key),
        &format!("{customer_key}\u{0}{}", period.end),
        now,
    )
    .with_input(JobInput {
        customer_key: Some(customer_key.to_string()),
        period: Some(period),
        ..JobInput::default()
    })
    .due(start_of_day(tenant, day).max(now))
}

/// The job that issues and mails draft `doc` on `day`.
pub fn send_job(tenant: &Tenant, doc: &Id, day: NaiveDate, now: DateTime<Utc>) -> Job {
    Job::new(
        &tenant.id,
        JobKind::SendDraft,
        doc,
        &format!("send:{day}"),
        now,
    )
    .with_input(JobInput {
        day: Some(day),
        ..JobInput::default()
    })
    .due(start_of_day(tenant, day).max(now))
}

/// The job that issues and mails a held document at the next send time.
pub fn review_job(tenant: &Tenant, doc: &Id, now: DateTime<Utc>) -> (NaiveDate, Job) {
    let (day, at) =
        crate::sending::next_send(tenant.settings.send_window, tenant.settings.time_zone, now);
    let job = Job::new(
        &tenant.id,
        JobKind::SendDraft,
        doc,
        &format!("send:{day}"),
        now,
    )
    .with_input(JobInput {
        day: Some(day),
        ..JobInput::default()
    })
    .due(at.max(now));
    (day, job)
}

/// The owner's digest of drafts due on `day` (`round` > 0: a later one the same day, for
/// drafts that became due after the first digest went out).
pub fn digest_job(tenant: &Tenant, day: NaiveDate, round: u32, now: DateTime<Utc>) -> Job {
    Job::new(
        &tenant.id,
        JobKind::DigestDrafts,
        &tenant.id,
        &format!("digest:{day}:{round}"),
        now,
    )
    .with_input(JobInput {
        day: Some(day),
        ..JobInput::default()
    })
    .due(start_of_day(tenant, day).max(now))
}

/// Records new items in `change` with the job of each one's collection period (when the
/// tenant collects per period; a period's job is shared by all its items, written once).
pub(crate) async fn record_into(
    change: &mut Change,
    stores: &Stores,
    tenant: &Tenant,
    items: &[BillableItem],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut jobs: Vec<Job> = Vec::new();
    for item in items {
        change.items.push(ItemWrite::new(item.clone()));
        if let Some(interval) = tenant.settings.collective.period {
            let job = collect_job(
                tenant,
                &item.customer_key,
                period_of(interval, item.day),
                now,
            );
            if !jobs.iter().any(|j| j.id == job.id) {
                jobs.push(job);
            }
        }
    }
    for job in jobs {
        if stores.jobs.job(&tenant.id, &job.id).await?.is_none() {
            change.jobs.push(job);
        }
    }
    Ok(())
}

/// The content of a collective invoice for `customer` billing `items` (in order).
fn content(
    tenant: &Tenant,
    customer: &Customer,
    items: &[BillableItem],
    id: &Id,
    now: DateTime<Utc>,
) -> Result<Invoice, AppError> {
    let first = items
        .first()
        .ok_or_else(|| refused("no_items", "a collective invoice bills at least one item"))?;
    let (currency, prices) = first.group(tenant.settings.default_prices);
    if let Some(other) = items
        .iter()
        .find(|i| i.group(tenant.settings.default_prices) != (currency, prices))
    {
        return Err(refused(
            "mixed_items",
            format!(
                "item {} is in another currency or price basis than item {}; one invoice bills one of each",
                other.id, first.id
            ),
        )
        .with_field("items"));
    }
    let lang = customer.language;
    let from = items.iter().map(|i| i.day).min().unwrap_or(first.day);
    let to = items.iter().map(|i| i.day).max().unwrap_or(first.day);
    let booking = Booking {
        id: id.clone(),
        booked_at: now,
        currency,
        prices: Some(prices),
        customer: booking_customer(customer),
        items: items
            .iter()
            .map(|i| BookingItem {
                service: Some(i.item.service.unwrap_or(ServicePeriod::day(i.day))),
                ..i.item.clone()
            })
            .collect(),
        reference: None,
        note: Some(crate::i18n::collective_note(lang, from, to)),
    };
    let mut invoice = plan_document(
        tenant,
        &booking,
        DocumentKind::Invoice,
        id,
        tenant.today(now),
        now,
    )?
    .invoice;
    invoice.booking_id = None;
    invoice.source = DocumentSource::Collective;
    Ok(invoice)
}

async fn customer(stores: &Stores, tenant: &Id, key: &str) -> Result<Customer, AppError> {
    stores
        .repository
        .customer(tenant, key)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                "customer_not_found",
                "no such customer; customers come with their first booking or document",
            )
        })
}

/// What a draft is asked to be.
pub(crate) struct DraftPlan {
    pub send_on: Option<NaiveDate>,
    pub due_on: NaiveDate,
    pub period: Option<ServicePeriod>,
}

/// Puts a new collective draft billing `items` (read just now, all open) into `change`: the
/// document, each item's claim at the version read, and its send or digest job.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn draft_into(
    change: &mut Change,
    stores: &Stores,
    tenant: &Tenant,
    customer_key: &str,
    items: &[BillableItem],
    plan: DraftPlan,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Document, AppError> {
    if items.len() > MAX_ITEMS_PER_INVOICE {
        return Err(refused(
            "too_many_items",
            format!("a collective invoice bills at most {MAX_ITEMS_PER_INVOICE} items"),
        )
        .with_field("items"));
    }
    let id = Id::generate("inv");
    let buyer = customer(stores, &tenant.id, customer_key).await?;
    let invoice = content(tenant, &buyer, items, &id, now)?;
    let (mut doc, events) = Document::new(invoice, false, now);
    doc.collective = Some(CollectiveFacet {
        items: items.iter().map(|i| i.id.clone()).collect(),
        send_on: plan.send_on,
        due_on: plan.due_on,
        period: plan.period,
    });
    doc.version = 1;
    for item in items {
        change
            .items
            .push(ItemWrite::update(item.claim(&id, now)?, item.version));
    }
    super::audit(change, &doc, 1, events, cause, now);
    change.documents.push(DocumentWrite::new(doc.clone()));
    waiting_job_into(change, stores, tenant, &doc, now).await?;
    Ok(doc)
}

/// The job a draft waits for: its send date's, or (none) the owner's digest of its due day.
async fn waiting_job_into(
    change: &mut Change,
    stores: &Stores,
    tenant: &Tenant,
    doc: &Document,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(c) = &doc.collective else {
        return Ok(());
    };
    match c.send_on {
        Some(day) => change.jobs.push(send_job(tenant, doc.id(), day, now)),
        None => {
            let day = c.due_on.max(tenant.today(now));
            // One digest per day for all drafts; one that has gone out already is followed by
            // another for the drafts due after it.
            for round in 0..24 {
                let job = digest_job(tenant, day, round, now);
                match stores.jobs.job(&tenant.id, &job.id).await? {
                    None => {
                        change.jobs.push(job);
                        break;
                    }
                    Some(j) if j.state.is_open() => break,
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

/// Reads the open items `ids` of `customer_key` (all of its open items when `None`, oldest
/// first, at most one invoice's worth of one currency and price basis).
pub(crate) async fn open_items(
    stores: &Stores,
    tenant: &Tenant,
    customer_key: &str,
    ids: Option<&[Id]>,
    until: Option<NaiveDate>,
) -> Result<Vec<BillableItem>, AppError> {
    let r = &stores.repository;
    match ids {
        Some(ids) => {
            let mut items = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                if ids[..i].contains(id) {
                    return Err(AppError::invalid(
                        format!("items[{i}]"),
                        format!("item {id} is listed twice"),
                    ));
                }
                let item = r
                    .billable_item(&tenant.id, customer_key, id)
                    .await?
                    .ok_or_else(|| {
                        AppError::invalid(
                            format!("items[{i}]"),
                            format!("the customer has no item {id}"),
                        )
                    })?;
                items.push(item);
            }
            Ok(items)
        }
        None => {
            let mut open: Vec<BillableItem> = r
                .billable_items(&tenant.id, customer_key, true)
                .await?
                .into_iter()
                .filter(|i| until.is_none_or(|u| i.day <= u))
                .collect();
            open.sort_by_key(|i| (i.day, i.created_at));
            let Some(first) = open.first() else {
                return Ok(Vec::new());
            };
            let group = first.group(tenant.settings.default_prices);
            open.retain(|i| i.group(tenant.settings.default_prices) == group);
            open.truncate(MAX_ITEMS_PER_INVOICE);
            Ok(open)
        }
    }
}

/// A draft's new item list and send date: released items are open again, new ones claimed,
/// the content planned again from the items as they are now.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn change_into(
    change: &mut Change,
    stores: &Stores,
    tenant: &Tenant,
    draft: &Document,
    items: Option<Vec<BillableItem>>,
    send_on: Option<Option<NaiveDate>>,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Document, AppError> {
    let Some(facet) = draft.collective.clone() else {
        return Err(refused(
            "not_collective",
            "this document is not a collective invoice",
        ));
    };
    if draft.lifecycle != Lifecycle::Draft {
        return Err(refused(
            "document_issued",
            "an issued document never changes; correct it with a credit note",
        ));
    }
    let key = draft.content.buyer.customer_key.clone();
    let r = &stores.repository;
    let items = match items {
        Some(items) => {
            for old in &facet.items {
                if !items.iter().any(|i| &i.id == old)
                    && let Some(item) = r.billable_item(&tenant.id, &key, old).await?
                    && item.claimed_by() == Some(draft.id())
                {
                    change
                        .items
                        .push(ItemWrite::update(item.release(now), item.version));
                }
            }
            for item in &items {
                if item.claimed_by() != Some(draft.id()) {
                    change.items.push(ItemWrite::update(
                        item.claim(draft.id(), now)?,
                        item.version,
                    ));
                }
            }
            items
        }
        None => {
            let mut items = Vec::new();
            for id in &facet.items {
                let item = r
                    .billable_item(&tenant.id, &key, id)
                    .await?
                    .ok_or_else(|| {
                        internal("item_missing", format!("item {id} of a draft is missing"))
                    })?;
                items.push(item);
            }
            items
        }
    };
    if items.len() > MAX_ITEMS_PER_INVOICE {
        return Err(refused(
            "too_many_items",
            format!("a collective invoice bills at most {MAX_ITEMS_PER_INVOICE} items"),
        )
        .with_field("items"));
    }
    let send_on = send_on.unwrap_or(facet.send_on);
    if let Some(day) = send_on
        && day < tenant.today(now)
    {
        return Err(AppError::invalid("send_on", "the send date is in the past"));
    }
    let stored = replan_into(change, stores, tenant, draft, &items, send_on, cause, now).await?;
    if send_on != facet.send_on {
        waiting_job_into(change, stores, tenant, &stored, now).await?;
    }
    Ok(stored)
}

/// The draft planned again from `items` as they are now (their claims are the caller's).
#[allow(clippy::too_many_arguments)]
async fn replan_into(
    change: &mut Change,
    stores: &Stores,
    tenant: &Tenant,
    draft: &Document,
    items: &[BillableItem],
    send_on: Option<NaiveDate>,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Document, AppError> {
    let facet = draft.collective.clone().ok_or_else(|| {
        refused(
            "not_collective",
            "this document is not a collective invoice",
        )
    })?;
    let key = &draft.content.buyer.customer_key;
    let buyer = customer(stores, &tenant.id, key).await?;
    let content = content(tenant, &buyer, items, draft.id(), now)?;
    let (mut changed, events) = draft.change_draft(content, now)?;
    changed.collective = Some(CollectiveFacet {
        items: items.iter().map(|i| i.id.clone()).collect(),
        send_on,
        ..facet
    });
    Ok(update_into(change, draft, (changed, events), cause, now))
}

/// A draft whose items changed elsewhere in `change` (withdrawn, repriced), planned again.
pub(crate) async fn rebuild_into(
    change: &mut Change,
    stores: &Stores,
    tenant: &Tenant,
    draft: &Document,
    items: &[BillableItem],
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Document, AppError> {
    let send_on = draft.collective.as_ref().and_then(|c| c.send_on);
    replan_into(change, stores, tenant, draft, items, send_on, cause, now).await
}

/// What a `collect_items` or `send_draft` run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// Drafts made (collect) or the invoice issued (send).
    Documents(Vec<Id>),
    Nothing(&'static str),
    NotYet(DateTime<Utc>),
}

#[derive(Clone)]
pub struct Collector {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

impl Collector {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> Collector {
        Collector { stores, einvoice }
    }

    /// Job `collect_items`: the customer's open items of the period (up to its end) become
    /// collective drafts, as many as they fill.
    pub async fn collect(&self, job: &Job) -> Result<Collected, AppError> {
        let s = &self.stores;
        let (Some(key), Some(period)) = (&job.input.customer_key, job.input.period) else {
            return Ok(Collected::Nothing("no_period"));
        };
        let cause = job_cause(job);
        let tenant = super::tenant(s, &job.tenant_id).await?;
        let now = s.clock.now();
        let day = period.end.succ_opt().unwrap_or(period.end);
        let at = start_of_day(&tenant, day);
        if now < at {
            return Ok(Collected::NotYet(at));
        }
        let mut made = Vec::new();
        loop {
            let doc = commit_with_retry(
                s,
                || async {
                    let now = s.clock.now();
                    let items = open_items(s, &tenant, key, None, Some(period.end)).await?;
                    if items.is_empty() {
                        return Ok(Attempt::Done(None));
                    }
                    let today = tenant.today(now);
                    let plan = DraftPlan {
                        send_on: tenant
                            .settings
                            .collective
                            .send_after_days
                            .and_then(|n| today.checked_add_days(chrono::Days::new(n.into()))),
                        due_on: today,
                        period: Some(period),
                    };
                    let mut change = Change::for_tenant(&tenant.id);
                    let doc =
                        draft_into(&mut change, s, &tenant, key, &items, plan, &cause, now).await?;
                    Ok(Attempt::Commit(Box::new(change), Some(doc.id().clone())))
                },
                |_| None,
            )
            .await?;
            match doc {
                Some(id) => made.push(id),
                None => break,
            }
            if made.len() > 1000 {
                break;
            }
        }
        Ok(if made.is_empty() {
            Collected::Nothing("no_open_items")
        } else {
            Collected::Documents(made)
        })
    }

    /// Job `send_draft`: issues the draft on its send date (it is then rendered and mailed by
    /// its jobs). A draft issued meanwhile, or whose date moved, is left alone.
    pub async fn send(&self, job: &Job) -> Result<Collected, AppError> {
        let s = &self.stores;
        let cause = job_cause(job);
        let tenant = super::tenant(s, &job.tenant_id).await?;
        commit_with_retry(
            s,
            || async {
                let Some(doc) = s.repository.document(&job.tenant_id, &job.subject).await? else {
                    return Ok(Attempt::Done(Collected::Nothing("document_not_found")));
                };
                if doc.lifecycle != Lifecycle::Draft {
                    return Ok(Attempt::Done(Collected::Nothing("issued_already")));
                }
                let day = doc.send_on();
                if day.is_none() || day != job.input.day {
                    return Ok(Attempt::Done(Collected::Nothing("send_date_moved")));
                }
                let now = s.clock.now();
                let at = match doc.review {
                    Some(r) => {
                        crate::sending::next_send(
                            tenant.settings.send_window,
                            tenant.settings.time_zone,
                            tenant.settings.time_zone.start_of(r.send_on),
                        )
                        .1
                    }
                    None => start_of_day(&tenant, day.unwrap_or_default()),
                };
                if now < at {
                    return Ok(Attempt::Done(Collected::NotYet(at)));
                }
                let mut change = Change::for_tenant(&tenant.id);
                let issued = issue_draft_into(
                    &mut change,
                    s,
                    &tenant,
                    &doc,
                    |i| self.check(i),
                    &cause,
                    now,
                )
                .await?;
                Ok(Attempt::Commit(
                    Box::new(change),
                    Collected::Documents(vec![issued.id().clone()]),
                ))
            },
            |_| None,
        )
        .await
    }

    fn check(&self, invoice: &Invoice) -> Result<(), AppError> {
        let problems = self.einvoice.problems(invoice);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problem_error(&problems, invoice.einvoice))
        }
    }
}
