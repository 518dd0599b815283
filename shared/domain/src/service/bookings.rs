//! Applying a booking's events (job `apply_booking_events`): one event per change, in order —
//! `booking.created` first, then the others as they came. Each change writes the booking
//! record at the version it was read at, so two workers never apply an event twice, and
//! every document and ledger entry it makes carries an id fixed at intake or derived from the
//! fact, so a retry finds its own work.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::audit::Cause;
use crate::booking::{
    BookingEvent, BookingRecord, Cancellation, EventState, PaymentFact, RecordedEvent,
};
use crate::collective::ItemSource;
use crate::document::{Document, Lifecycle, RelationKind};
use crate::error::{AppError, ErrorKind};
use crate::i18n;
use crate::invoicing::{customer_from_booking, plan_credit_note, plan_document, with_prepaid};
use crate::jobs::{Job, JobInput};
use crate::ledger::{EntryKind, PaymentDetails};
use crate::model::{Billing, DocumentKind, Invoice, Tenant};
use crate::money::Amount;
use crate::ports::{Change, EInvoiceEncoder, ItemWrite, Stores};
use crate::values::Id;

use super::issuing::{Numbering, entry, issue_into, update_into};
use super::{Attempt, commit_with_retry, internal, job_cause};

/// How many documents' surplus one new invoice takes credit from.
pub const CREDIT_SOURCES: usize = 10;

#[derive(Clone)]
pub struct BookingProcessor {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

/// What applying one event did.
enum Step {
    Applied,
    /// Nothing (left) to apply.
    Idle,
}

fn refused(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

impl BookingProcessor {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> BookingProcessor {
        BookingProcessor { stores, einvoice }
    }

    /// Applies every event of the booking that can be applied now.
    pub async fn apply(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
        job: &Job,
    ) -> Result<usize, AppError> {
        let tenant = super::tenant(&self.stores, tenant_id).await?;
        let cause = job_cause(job);
        let mut applied = 0;
        for _ in 0..1000 {
            match self.apply_next(&tenant, booking_id, &cause).await? {
                Step::Applied => applied += 1,
                Step::Idle => break,
            }
        }
        Ok(applied)
    }

    async fn apply_next(
        &self,
        tenant: &Tenant,
        booking_id: &Id,
        cause: &Cause,
    ) -> Result<Step, AppError> {
        let s = &self.stores;
        commit_with_retry(
            s,
            || async {
                let Some(record) = s.repository.booking(&tenant.id, booking_id).await? else {
                    return Err(AppError::not_found(
                        "booking_not_found",
                        format!("no booking '{booking_id}'"),
                    ));
                };
                let Some(event) = record.unapplied().first().map(|e| (*e).clone()) else {
                    return Ok(Attempt::Done(Step::Idle));
                };
                let now = s.clock.now();
                if !record.is_created() {
                    // It came before booking.created: it waits (and says so).
                    if event.state == EventState::Held {
                        return Ok(Attempt::Done(Step::Idle));
                    }
                    let mut change = Change::for_tenant(&tenant.id);
                    change.booking = Some((with_state(&record, event.seq, EventState::Held), Some(record.version)));
                    return Ok(Attempt::Commit(Box::new(change), Step::Idle));
                }
                // The delivery that brought the event is what caused its changes (the job
                // only carried it out); an event without one (recorded by a test or a
                // migration) is the job's.
                let cause = match &event.delivery_id {
                    Some(delivery_id) => Cause::Webhook {
                        delivery_id: delivery_id.clone(),
                        event: event.event.type_name().to_string(),
                    },
                    None => cause.clone(),
                };
                let outcome = self.plan(tenant, &record, &event, &cause, now).await;
                let (mut change, state) = match outcome {
                    Ok((change, updated)) => (change, (EventState::Applied { at: now }, updated)),
                    Err(e) if e.kind == ErrorKind::Unprocessable || e.kind == ErrorKind::Conflict => {
                        tracing::warn!(tenant_id = %tenant.id, booking_id = %booking_id, seq = event.seq, code = e.code, "booking event rejected");
                        (
                            Change::for_tenant(&tenant.id),
                            (
                                EventState::Rejected {
                                    code: e.code.to_string(),
                                    message: e.message.clone(),
                                },
                                record.clone(),
                            ),
                        )
                    }
                    Err(e) => return Err(e),
                };
                let (state, updated) = state;
                change.booking = Some((with_state(&updated, event.seq, state), Some(record.version)));
                Ok(Attempt::Commit(Box::new(change), Step::Applied))
            },
            // A ledger entry or job of this event exists: another worker applied it and its
            // booking write won; read again.
            |_| None,
        )
        .await
    }

    /// The change that applies `event`, and the booking record as it is afterwards (documents).
    async fn plan(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
        event: &RecordedEvent,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(Change, BookingRecord), AppError> {
        let mut change = Change::for_tenant(&tenant.id);
        let mut updated = record.clone();
        match &event.event {
            BookingEvent::Created {
                schedule: Some(spec),
                ..
            } => {
                let content = record
                    .content
                    .as_ref()
                    .ok_or_else(|| internal("no_content", "created without content"))?;
                let spec = crate::schedule::ScheduleSpec {
                    anchor: spec.anchor.or(Some(tenant.today(content.booked_at))),
                    ..spec.clone()
                };
                let schedule = super::schedules::plan_schedule(
                    tenant,
                    content,
                    &spec,
                    Some(&record.booking_id),
                    self.einvoice.as_ref(),
                    now,
                )?;
                updated.documents.schedule = Some(schedule.id.clone());
                if self
                    .stores
                    .repository
                    .schedule(&tenant.id, &schedule.id)
                    .await?
                    .is_some()
                {
                    // Created by a run that stopped before recording the event as applied.
                    return Ok((change, updated));
                }
                change
                    .customers
                    .push(customer_from_booking(content, tenant, now));
                super::schedules::create_into(&mut change, tenant, &schedule, now);
            }
            BookingEvent::Created { billing, .. }
                if billing.unwrap_or(record.billing) == Billing::Collect =>
            {
                let content = record
                    .content
                    .as_ref()
                    .ok_or_else(|| internal("no_content", "created without content"))?;
                let key = content.customer.key();
                let items: Vec<_> = content
                    .items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        super::collective::new_item(
                            tenant,
                            collected_item_id(&tenant.id, &record.booking_id, index),
                            &key,
                            content,
                            item,
                            ItemSource::Booking {
                                booking_id: record.booking_id.clone(),
                                index,
                            },
                            None,
                            now,
                        )
                    })
                    .collect();
                updated.documents.items = items.iter().map(|i| i.id.clone()).collect();
                if let Some(first) = items.first()
                    && self
                        .stores
                        .repository
                        .billable_item(&tenant.id, &key, &first.id)
                        .await?
                        .is_some()
                {
                    // Recorded by a run that stopped before marking the event applied.
                    return Ok((change, updated));
                }
                change
                    .customers
                    .push(customer_from_booking(content, tenant, now));
                super::collective::record_into(&mut change, &self.stores, tenant, &items, now)
                    .await?;
            }
            BookingEvent::Created { billing, .. } => {
                let billing = billing.unwrap_or(record.billing);
                let id = event.document_id.clone().ok_or_else(|| {
                    internal("no_document_id", "a created event without a document id")
                })?;
                if self
                    .stores
                    .repository
                    .document(&tenant.id, &id)
                    .await?
                    .is_some()
                {
                    // Issued by a run that stopped before recording the event as applied
                    // (release 1 wrote the invoice before marking the booking).
                    register(&mut updated, billing, &id);
                    return Ok((change, updated));
                }
                let content = record
                    .content
                    .as_ref()
                    .ok_or_else(|| internal("no_content", "created without content"))?;
                change
                    .customers
                    .push(customer_from_booking(content, tenant, now));
                let kind = match billing {
                    Billing::Invoice | Billing::Collect => DocumentKind::Invoice,
                    Billing::ProformaFirst => DocumentKind::Proforma,
                };
                let today = tenant.today(now);
                let mut invoice = plan_document(tenant, content, kind, &id, today, now)?.invoice;
                self.check_einvoice(&invoice)?;
                if tenant.settings.review && kind == DocumentKind::Invoice {
                    // Held for review: a draft without a number until the next send time.
                    let (day, job) = super::collective::review_job(tenant, &id, now);
                    let (mut doc, events) = Document::new(invoice, false, now);
                    doc.version = 1;
                    doc.review = Some(crate::sending::ReviewFacet { send_on: day });
                    super::audit(&mut change, &doc, 1, events, cause, now);
                    change.documents.push(crate::ports::DocumentWrite::new(doc));
                    change.jobs.push(job);
                    register(&mut updated, billing, &id);
                    return Ok((change, updated));
                }
                let mut numbering = Numbering::new(&self.stores, tenant);
                let claim = numbering.number(&mut invoice).await?;
                let credit = if kind == DocumentKind::Invoice && tenant.settings.apply_credit {
                    credit_to_apply(&self.stores, tenant, &invoice).await?
                } else {
                    Vec::new()
                };
                let invoice = show_credit(invoice, &credit);
                let doc = issue_into(
                    &mut change,
                    tenant,
                    invoice,
                    claim,
                    JobInput::default(),
                    cause,
                    now,
                );
                move_credit(&mut change, doc, &credit, cause, now);
                register(&mut updated, billing, &id);
            }
            BookingEvent::Paid { payment, .. } => {
                self.plan_payment(
                    tenant,
                    record,
                    event,
                    payment,
                    &mut change,
                    &mut updated,
                    cause,
                    now,
                )
                .await?;
            }
            BookingEvent::Cancelled { cancellation, .. } => {
                self.plan_cancellation(
                    tenant,
                    record,
                    event,
                    cancellation,
                    &mut change,
                    &mut updated,
                    cause,
                    now,
                )
                .await?;
            }
            BookingEvent::Updated { booking } => {
                self.plan_update(
                    tenant,
                    record,
                    event,
                    booking,
                    &mut change,
                    &mut updated,
                    cause,
                    now,
                )
                .await?;
            }
        }
        Ok((change, updated))
    }

    fn check_einvoice(&self, invoice: &Invoice) -> Result<(), AppError> {
        let problems = self.einvoice.problems(invoice);
        match problems.first() {
            None => Ok(()),
            Some(p) => Err(refused(
                "einvoice_invalid",
                format!("[{}] {}", p.rule, p.message),
            )),
        }
    }

    async fn document(&self, tenant: &Id, id: &Id) -> Result<Document, AppError> {
        self.stores
            .repository
            .document(tenant, id)
            .await?
            .ok_or_else(|| {
                internal(
                    "document_missing",
                    format!("document {id} of a booking is missing"),
                )
            })
    }

    #[allow(clippy::too_many_arguments)]
    async fn plan_payment(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
        event: &RecordedEvent,
        payment: &PaymentFact,
        change: &mut Change,
        updated: &mut BookingRecord,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let fact = format!("booking:{}:{}", record.booking_id, event.fact);
        let details = PaymentDetails {
            method: payment.method.clone(),
            reference: payment.reference.clone(),
            paid_at: payment.paid_at,
        };
        // A proforma booking's first payment brings its final invoice.
        if record.documents.invoice.is_none()
            && let Some(proforma_id) = &record.documents.proforma
        {
            let proforma = self.document(&tenant.id, proforma_id).await?;
            if proforma.lifecycle == Lifecycle::Voided {
                return Err(refused(
                    "document_cancelled",
                    "the booking's proforma was voided; the payment is not recorded",
                ));
            }
            if payment.currency != proforma.content.currency {
                return Err(currency_mismatch(&proforma.content));
            }
            let content = record
                .content
                .as_ref()
                .ok_or_else(|| internal("no_content", "paid without content"))?;
            let id = event.document_id.clone().ok_or_else(|| {
                internal(
                    "no_document_id",
                    "a first payment without a final invoice id",
                )
            })?;
            let today = tenant.today(now);
            let mut invoice =
                plan_document(tenant, content, DocumentKind::Invoice, &id, today, now)?.invoice;
            invoice.preceding = Some(crate::model::PrecedingDocument {
                id: proforma.id().clone(),
                kind: DocumentKind::Proforma,
                number: proforma.content.number.clone(),
                issue_date: proforma.content.issue_date,
            });
            self.check_einvoice(&invoice)?;
            let mut numbering = Numbering::new(&self.stores, tenant);
            let claim = numbering.number(&mut invoice).await?;
            let note =
                i18n::follows_proforma_note(invoice.language, proforma.content.number.as_str());
            let invoice = with_prepaid(invoice, payment.amount, Some(note));
            let with_contract = tenant.settings.contract.enabled;
            let doc = issue_into(
                change,
                tenant,
                invoice,
                claim,
                JobInput {
                    with_contract,
                    ..JobInput::default()
                },
                cause,
                now,
            );
            // The payment settles the final invoice (it shows as prepaid).
            let (paid, events) = doc.record_payment(
                &crate::ledger::entry_id(&tenant.id, &fact),
                payment.amount,
                now,
            )?;
            let paid = paid.relate(RelationKind::FollowsProforma, &proforma.content);
            replace_new(change, paid.clone());
            super::audit(change, &paid, 1, events, cause, now);
            let mut e = entry(&paid, EntryKind::Payment, payment.amount, &fact, cause, now);
            e.payment = Some(details);
            change.ledger.push(e);
            update_into(
                change,
                &proforma,
                proforma.convert(&paid.content, now)?,
                cause,
                now,
            );
            updated.documents.invoice = Some(id.clone());
            updated.documents.invoices.push(id);
            return Ok(());
        }
        if !record.documents.items.is_empty() {
            return self
                .pay_collected(tenant, record, payment, &fact, details, change, cause, now)
                .await;
        }
        if let Some(schedule_id) = &record.documents.schedule {
            return self
                .pay_instalments(
                    tenant,
                    schedule_id,
                    payment,
                    &fact,
                    details,
                    change,
                    cause,
                    now,
                )
                .await;
        }
        let invoice_id = record
            .documents
            .invoice
            .clone()
            .ok_or_else(|| refused("no_invoice", "the booking has no invoice to pay"))?;
        let invoice = self
            .held_issued(tenant, &invoice_id, change, cause, now)
            .await?;
        if payment.currency != invoice.content.currency {
            return Err(currency_mismatch(&invoice.content));
        }
        let entry_id = crate::ledger::entry_id(&tenant.id, &fact);
        let transition = invoice.record_payment(&entry_id, payment.amount, now)?;
        let paid = update_into(change, &invoice, transition, cause, now);
        let mut e = entry(&paid, EntryKind::Payment, payment.amount, &fact, cause, now);
        e.payment = Some(details);
        change.ledger.push(e);
        Ok(())
    }

    /// The booking's invoice; held for review, a payment ends the review: it is issued now,
    /// in the same change (the payment's transition is then the same write).
    async fn held_issued(
        &self,
        tenant: &Tenant,
        id: &Id,
        change: &mut Change,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<Document, AppError> {
        let invoice = self.document(&tenant.id, id).await?;
        if invoice.lifecycle != Lifecycle::Draft || invoice.review.is_none() {
            return Ok(invoice);
        }
        super::issuing::issue_draft_into(
            change,
            &self.stores,
            tenant,
            &invoice,
            |i| self.check_einvoice(i),
            cause,
            now,
        )
        .await
    }

    /// A payment on a collected booking goes to the issued collective invoice that bills its
    /// first item (refused while its items are not on an issued invoice yet).
    #[allow(clippy::too_many_arguments)]
    async fn pay_collected(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
        payment: &PaymentFact,
        fact: &str,
        details: PaymentDetails,
        change: &mut Change,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let key = record
            .content
            .as_ref()
            .map(|c| c.customer.key())
            .unwrap_or_default();
        let mut invoice = None;
        for id in &record.documents.items {
            let Some(item) = self
                .stores
                .repository
                .billable_item(&tenant.id, &key, id)
                .await?
            else {
                continue;
            };
            if let Some(doc_id) = item.claimed_by() {
                let doc = self.document(&tenant.id, doc_id).await?;
                if doc.lifecycle.is_issued() {
                    invoice = Some(doc);
                    break;
                }
            }
        }
        let invoice = invoice.ok_or_else(|| {
            refused(
                "no_invoice",
                "the booking's items are not on an issued collective invoice yet; send the payment again once it is issued",
            )
        })?;
        if payment.currency != invoice.content.currency {
            return Err(currency_mismatch(&invoice.content));
        }
        let entry_id = crate::ledger::entry_id(&tenant.id, fact);
        let transition = invoice.record_payment(&entry_id, payment.amount, now)?;
        let paid = update_into(change, &invoice, transition, cause, now);
        let mut e = entry(&paid, EntryKind::Payment, payment.amount, fact, cause, now);
        e.payment = Some(details);
        change.ledger.push(e);
        Ok(())
    }

    /// A collected booking cancelled: its items not billed yet are withdrawn (taken off the
    /// draft that holds them, which is planned again or, left empty, discarded). Items on an
    /// issued invoice stay there: a credit note through the API corrects it.
    #[allow(clippy::too_many_arguments)]
    async fn cancel_collected(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
        cancellation: &Cancellation,
        change: &mut Change,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let key = record
            .content
            .as_ref()
            .map(|c| c.customer.key())
            .unwrap_or_default();
        let wanted: Vec<usize> = match &cancellation.items {
            None => (0..record.documents.items.len()).collect(),
            Some(items) => {
                let mut wanted = Vec::new();
                for (i, c) in items.iter().enumerate() {
                    let field = format!("data.items[{i}]");
                    let booked = record
                        .content
                        .as_ref()
                        .and_then(|b| b.items.get(c.index))
                        .ok_or_else(|| {
                            refused(
                                "invalid_items",
                                format!("the booking has no item {}", c.index),
                            )
                            .with_field(format!("{field}.item"))
                        })?;
                    if c.quantity != booked.quantity {
                        return Err(refused(
                            "partial_quantity",
                            "a collected item is withdrawn whole; its quantity is changed through PATCH /v1/customers/{id}/items/{item}",
                        )
                        .with_field(format!("{field}.quantity")));
                    }
                    wanted.push(c.index);
                }
                wanted
            }
        };
        let mut drafts: Vec<Id> = Vec::new();
        for index in wanted {
            let Some(id) = record.documents.items.get(index) else {
                continue;
            };
            let Some(item) = self
                .stores
                .repository
                .billable_item(&tenant.id, &key, id)
                .await?
            else {
                continue;
            };
            match item.claimed_by() {
                None if item.is_open() => change
                    .items
                    .push(ItemWrite::update(item.withdraw(now), item.version)),
                None => {}
                Some(doc_id) => {
                    let doc = self.document(&tenant.id, doc_id).await?;
                    if doc.lifecycle == crate::document::Lifecycle::Draft {
                        change
                            .items
                            .push(ItemWrite::update(item.withdraw(now), item.version));
                        if !drafts.contains(doc_id) {
                            drafts.push(doc_id.clone());
                        }
                    }
                }
            }
        }
        for doc_id in drafts {
            let draft = self.document(&tenant.id, &doc_id).await?;
            let withdrawn: Vec<&Id> = change.items.iter().map(|w| &w.item.id).collect();
            let keep: Vec<Id> = draft
                .collective
                .as_ref()
                .map(|c| c.items.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|i| !withdrawn.contains(&i))
                .collect();
            let mut items = Vec::new();
            for id in &keep {
                if let Some(item) = self
                    .stores
                    .repository
                    .billable_item(&tenant.id, &key, id)
                    .await?
                {
                    items.push(item);
                }
            }
            if items.is_empty() {
                update_into(change, &draft, draft.discard(now)?, cause, now);
            } else {
                super::collective::rebuild_into(
                    change,
                    &self.stores,
                    tenant,
                    &draft,
                    &items,
                    cause,
                    now,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// A payment on a scheduled booking settles its issued instalments oldest first, each up
    /// to what is open on it; what is left over goes to the latest one (overpaid: the
    /// customer's credit). One ledger entry per instalment it touches, each named after the
    /// payment and the instalment, so the payment reported again is recorded once.
    #[allow(clippy::too_many_arguments)]
    async fn pay_instalments(
        &self,
        tenant: &Tenant,
        schedule_id: &Id,
        payment: &PaymentFact,
        fact: &str,
        details: PaymentDetails,
        change: &mut Change,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let schedule = self
            .stores
            .repository
            .schedule(&tenant.id, schedule_id)
            .await?
            .ok_or_else(|| internal("schedule_missing", "the booking's schedule is missing"))?;
        let mut docs = Vec::new();
        for billed in &schedule.billed {
            let doc = self.document(&tenant.id, &billed.document_id).await?;
            if doc.lifecycle.is_issued() {
                docs.push(doc);
            }
        }
        let Some(last) = docs.last().cloned() else {
            return Err(refused(
                "no_invoice",
                "the booking's schedule has issued no invoice yet; send the payment again after the first instalment",
            ));
        };
        if payment.currency != last.content.currency {
            return Err(currency_mismatch(&last.content));
        }
        let mut left = payment.amount;
        let mut shares: Vec<(Document, Amount)> = Vec::new();
        for doc in &docs {
            let open = doc.settlement.open();
            if left.is_zero() || open.is_zero() || open.is_negative() {
                continue;
            }
            let take = if open < left { open } else { left };
            left = left - take;
            shares.push((doc.clone(), take));
        }
        if !left.is_zero() {
            match shares.iter_mut().find(|(d, _)| d.id() == last.id()) {
                Some((_, take)) => *take += left,
                None => shares.push((last, left)),
            }
        }
        for (doc, amount) in shares {
            let part = format!("{fact}:{}", doc.id());
            let entry_id = crate::ledger::entry_id(&tenant.id, &part);
            let transition = doc.record_payment(&entry_id, amount, now)?;
            let paid = update_into(change, &doc, transition, cause, now);
            let mut e = entry(&paid, EntryKind::Payment, amount, &part, cause, now);
            e.payment = Some(details.clone());
            change.ledger.push(e);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn plan_cancellation(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
        event: &RecordedEvent,
        cancellation: &Cancellation,
        change: &mut Change,
        updated: &mut BookingRecord,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        if !record.documents.items.is_empty() {
            return self
                .cancel_collected(tenant, record, cancellation, change, cause, now)
                .await;
        }
        if let Some(schedule_id) = &record.documents.schedule {
            // The schedule stops: nothing more is billed. Issued instalments stay as they are
            // (credit them through the API if the course was not given).
            let schedule = self
                .stores
                .repository
                .schedule(&tenant.id, schedule_id)
                .await?
                .ok_or_else(|| internal("schedule_missing", "the booking's schedule is missing"))?;
            if !schedule.state.is_final() {
                change.schedules.push(crate::ports::ScheduleWrite::update(
                    schedule.stop(now)?,
                    schedule.version,
                ));
            }
            return Ok(());
        }
        if record.documents.invoice.is_none()
            && let Some(proforma_id) = &record.documents.proforma
        {
            let proforma = self.document(&tenant.id, proforma_id).await?;
            if cancellation.items.is_some() {
                return Err(refused(
                    "partial_cancellation_of_proforma",
                    "a proforma is not corrected in part; send booking.updated with the new items",
                ));
            }
            update_into(change, &proforma, proforma.void(now)?, cause, now);
            return Ok(());
        }
        let invoice_id = record
            .documents
            .invoice
            .clone()
            .ok_or_else(|| refused("no_invoice", "the booking has no invoice to cancel"))?;
        let invoice = self.document(&tenant.id, &invoice_id).await?;
        if invoice.lifecycle == Lifecycle::Draft && invoice.review.is_some() {
            if cancellation.items.is_none() {
                // Never issued, never numbered: discarded, no credit note, no gap.
                update_into(change, &invoice, invoice.discard(now)?, cause, now);
                return Ok(());
            }
            return Err(refused(
                "held_for_review",
                "the booking's invoice waits for review; cancel it whole, or send booking.updated with the items left",
            ));
        }
        let quantities = match &cancellation.items {
            None => remaining(&invoice),
            Some(items) => {
                let mut q = vec![Decimal::ZERO; invoice.content.lines.len()];
                for (i, item) in items.iter().enumerate() {
                    let slot = q.get_mut(item.index).ok_or_else(|| {
                        refused(
                            "invalid_items",
                            format!("the booking has no item {}", item.index),
                        )
                        .with_field(format!("data.items[{i}].item"))
                    })?;
                    *slot += item.quantity;
                }
                q
            }
        };
        let id = event
            .document_id
            .clone()
            .ok_or_else(|| internal("no_document_id", "a cancellation without a credit note id"))?;
        self.credit_into(
            tenant,
            &invoice,
            &quantities,
            &id,
            cancellation.reason.as_deref(),
            change,
            cause,
            now,
        )
        .await?;
        updated.documents.credit_notes.push(id);
        Ok(())
    }

    /// Issues the credit note `id` for `quantities` of `invoice` into `change`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn credit_into(
        &self,
        tenant: &Tenant,
        invoice: &Document,
        quantities: &[Decimal],
        id: &Id,
        reason: Option<&str>,
        change: &mut Change,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<Document, AppError> {
        credit_into(
            &self.stores,
            tenant,
            invoice,
            quantities,
            id,
            reason,
            change,
            cause,
            now,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn plan_update(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
        event: &RecordedEvent,
        booking: &crate::booking::Booking,
        change: &mut Change,
        updated: &mut BookingRecord,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        if !record.documents.items.is_empty() {
            return Err(refused(
                "collected_booking_updated",
                "a collected booking's items are changed one by one: PATCH /v1/customers/{id}/items/{item} (or cancel it and book again)",
            ));
        }
        let new_id = event
            .document_id
            .clone()
            .ok_or_else(|| internal("no_document_id", "an update without a document id"))?;
        let today = tenant.today(now);
        let mut numbering = Numbering::new(&self.stores, tenant);
        change
            .customers
            .push(customer_from_booking(booking, tenant, now));
        if record.documents.invoice.is_none()
            && let Some(proforma_id) = &record.documents.proforma
        {
            // Not a tax document: the old proforma is voided, a new one issued.
            let proforma = self.document(&tenant.id, proforma_id).await?;
            if proforma.lifecycle == Lifecycle::Issued {
                update_into(change, &proforma, proforma.void(now)?, cause, now);
            }
            let mut content =
                plan_document(tenant, booking, DocumentKind::Proforma, &new_id, today, now)?
                    .invoice;
            let claim = numbering.number(&mut content).await?;
            issue_into(
                change,
                tenant,
                content,
                claim,
                JobInput::default(),
                cause,
                now,
            );
            updated.documents.proforma = Some(new_id);
            updated.content = Some(booking.clone());
            return Ok(());
        }
        let old_id = record
            .documents
            .invoice
            .clone()
            .ok_or_else(|| refused("no_invoice", "the booking has no invoice to update"))?;
        let old = self.document(&tenant.id, &old_id).await?;
        if old.lifecycle == Lifecycle::Draft && old.review.is_some() {
            // Still held: the draft takes the new items (no number was used).
            let mut content =
                plan_document(tenant, booking, DocumentKind::Invoice, &old_id, today, now)?.invoice;
            self.check_einvoice(&content)?;
            content.booking_id = old.content.booking_id.clone();
            update_into(change, &old, old.change_draft(content, now)?, cause, now);
            updated.content = Some(booking.clone());
            return Ok(());
        }
        if old.lifecycle == Lifecycle::Cancelled {
            return Err(refused(
                "document_cancelled",
                "the booking's invoice is cancelled; an update has nothing to correct",
            ));
        }
        // The old invoice is credited (what is left of it) by a credit note whose id derives
        // from the new invoice's, so a retry finds it.
        let credit_id: Id = format!("{}_cn", new_id.as_str())
            .parse()
            .map_err(|_| internal("bad_id", "credit note id"))?;
        let mut content =
            plan_document(tenant, booking, DocumentKind::Invoice, &new_id, today, now)?.invoice;
        self.check_einvoice(&content)?;
        credit_into(
            &self.stores,
            tenant,
            &old,
            &remaining(&old),
            &credit_id,
            Some("booking.updated"),
            change,
            cause,
            now,
        )
        .await?;
        let claim = numbering.number(&mut content).await?;
        // What was paid on the old invoice carries over to the new one.
        let carried = {
            let surplus = Amount::ZERO - credited_surplus(change, &old_id);
            if surplus.is_negative() {
                Amount::ZERO
            } else {
                surplus
            }
        };
        let content = if carried.is_zero() {
            content
        } else {
            let note = i18n::credit_applied_note(
                content.language,
                &i18n::money(content.language, carried, content.currency),
            );
            with_prepaid(content, carried, Some(note))
        };
        let carried = content.totals.prepaid;
        let doc = issue_into(
            change,
            tenant,
            content,
            claim,
            JobInput::default(),
            cause,
            now,
        );
        let doc = doc.relate(RelationKind::Replaces, &old.content);
        replace_new(change, doc.clone());
        if !carried.is_zero() {
            move_credit_between(change, &old_id, doc.clone(), carried, cause, now)?;
        }
        // The old invoice names its successor.
        if let Some(w) = change
            .documents
            .iter_mut()
            .find(|w| w.document.id() == &old_id)
        {
            w.document = w
                .document
                .clone()
                .relate(RelationKind::ReplacedBy, &doc.content);
        }
        updated.documents.credit_notes.push(credit_id);
        updated.documents.invoice = Some(new_id.clone());
        updated.documents.invoices.push(new_id);
        updated.content = Some(booking.clone());
        Ok(())
    }
}

/// The customer's credit (documents with a surplus) that a new invoice can take, from at
/// most [`CREDIT_SOURCES`] documents (each adds five writes to the change: DynamoDB takes
/// at most 100 per transaction; what is left is taken by the next invoice).
pub(crate) async fn credit_to_apply(
    stores: &Stores,
    tenant: &Tenant,
    invoice: &Invoice,
) -> Result<Vec<(Document, Amount)>, AppError> {
    let filter = crate::ports::DocumentFilter {
        kind: Some(DocumentKind::Invoice),
        payment: Some(crate::document::PaymentState::Overpaid),
        customer_key: Some(invoice.buyer.customer_key.clone()),
        ..Default::default()
    };
    let page = stores
        .repository
        .documents(&tenant.id, &filter, None, CREDIT_SOURCES)
        .await?;
    let mut left = invoice.totals.tax_inclusive + invoice.totals.rounding;
    let mut out = Vec::new();
    for doc in page.documents {
        if left.is_zero() || doc.content.currency != invoice.currency {
            continue;
        }
        let surplus = Amount::ZERO - doc.settlement.open();
        let take = if surplus > left { left } else { surplus };
        if take.is_zero() || take.is_negative() {
            continue;
        }
        left = left - take;
        out.push((doc, take));
    }
    Ok(out)
}

/// `invoice` with the credit it takes shown as prepaid amount (BT-113) and a note.
pub(crate) fn show_credit(invoice: Invoice, credit: &[(Document, Amount)]) -> Invoice {
    let total: Amount = credit.iter().map(|(_, a)| *a).sum();
    if total.is_zero() {
        return invoice;
    }
    let note = i18n::credit_applied_note(
        invoice.language,
        &i18n::money(invoice.language, total, invoice.currency),
    );
    with_prepaid(invoice, total, Some(note))
}

/// Moves the credit from its source documents into the new `doc` (both sides or neither).
pub(crate) fn move_credit(
    change: &mut Change,
    doc: Document,
    credit: &[(Document, Amount)],
    cause: &Cause,
    now: DateTime<Utc>,
) {
    let mut doc = doc;
    for (source, amount) in credit {
        // Both sides or neither: the surplus leaves its document only into this one.
        let (Ok(used), Ok((applied, events))) = (
            source.use_credit(doc.id(), *amount, now),
            doc.apply_credit(source.id(), *amount, now),
        ) else {
            continue;
        };
        let source_after = update_into(change, source, used, cause, now);
        let mut e = entry(
            &source_after,
            EntryKind::CreditUsed,
            *amount,
            &format!("credit:{}:{}", source.id(), doc.id()),
            cause,
            now,
        );
        e.related_document = Some(doc.id().clone());
        change.ledger.push(e);
        super::audit(change, &applied, 1, events, cause, now);
        let mut e = entry(
            &applied,
            EntryKind::CreditApplied,
            *amount,
            &format!("credit-in:{}:{}", source.id(), doc.id()),
            cause,
            now,
        );
        e.related_document = Some(source.id().clone());
        change.ledger.push(e);
        doc = applied;
    }
    replace_new(change, doc);
}

/// Replaces the new document in `change` (written as new) with its later state.
fn replace_new(change: &mut Change, doc: Document) {
    if let Some(w) = change
        .documents
        .iter_mut()
        .find(|w| w.expected.is_none() && w.document.id() == doc.id())
    {
        let mut doc = doc;
        doc.version = w.document.version;
        w.document = doc;
    }
}

/// The open amount of `document_id` as the change leaves it.
fn credited_surplus(change: &Change, document_id: &Id) -> Amount {
    change
        .documents
        .iter()
        .find(|w| w.document.id() == document_id)
        .map(|w| w.document.settlement.open())
        .unwrap_or(Amount::ZERO)
}

/// Moves `amount` of surplus from `from` (in the change already) to the new `to`.
fn move_credit_between(
    change: &mut Change,
    from: &Id,
    to: Document,
    amount: Amount,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(i) = change
        .documents
        .iter()
        .position(|w| w.document.id() == from)
    else {
        return Ok(());
    };
    let source = change.documents[i].document.clone();
    let (used, events) = source.use_credit(to.id(), amount, now)?;
    let version = change.documents[i].next_version();
    change.documents[i].document = used.clone();
    let mut stored = used;
    stored.version = version;
    super::audit(change, &stored, version, events, cause, now);
    let mut e = entry(
        &stored,
        EntryKind::CreditUsed,
        amount,
        &format!("credit:{}:{}", from, to.id()),
        cause,
        now,
    );
    e.related_document = Some(to.id().clone());
    change.ledger.push(e);
    let (applied, events) = to.apply_credit(from, amount, now)?;
    super::audit(change, &applied, 1, events, cause, now);
    let mut e = entry(
        &applied,
        EntryKind::CreditApplied,
        amount,
        &format!("credit-in:{}:{}", from, to.id()),
        cause,
        now,
    );
    e.related_document = Some(from.clone());
    change.ledger.push(e);
    replace_new(change, applied);
    Ok(())
}

/// Issues the credit note `id` for `quantities` of `invoice` into `change` (shared with the
/// API's cancellations and credit notes).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn credit_into(
    stores: &Stores,
    tenant: &Tenant,
    invoice: &Document,
    quantities: &[Decimal],
    id: &Id,
    reason: Option<&str>,
    change: &mut Change,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Document, AppError> {
    let mut content = plan_credit_note(invoice, quantities, id, tenant.today(now), now, reason)?;
    let mut numbering = Numbering::new(stores, tenant);
    let claim = numbering.number(&mut content).await?;
    let transition = invoice.credit(&content, quantities, now)?;
    let credited = update_into(change, invoice, transition, cause, now);
    let amount = content.totals.tax_inclusive + content.totals.rounding;
    let note = issue_into(
        change,
        tenant,
        content,
        claim,
        JobInput::default(),
        cause,
        now,
    );
    let note = note.relate(RelationKind::Corrects, &invoice.content);
    replace_new(change, note.clone());
    let mut e = entry(
        &credited,
        EntryKind::Credit,
        amount,
        &format!("credit-note:{id}"),
        cause,
        now,
    );
    e.related_document = Some(id.clone());
    change.ledger.push(e);
    Ok(credited)
}

/// Per line: what is left to credit.
pub(crate) fn remaining(doc: &Document) -> Vec<Decimal> {
    doc.content
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.quantity.abs()
                - doc
                    .credited_quantities
                    .get(i)
                    .copied()
                    .unwrap_or(Decimal::ZERO)
        })
        .collect()
}

fn currency_mismatch(invoice: &Invoice) -> AppError {
    refused(
        "currency_mismatch",
        format!(
            "the document is in {}; payments are recorded in its currency only",
            invoice.currency
        ),
    )
    .with_field("data.currency")
}

/// Records which document a created event made.
fn register(record: &mut BookingRecord, billing: Billing, id: &Id) {
    match billing {
        Billing::Invoice => {
            record.documents.invoice = Some(id.clone());
            if !record.documents.invoices.contains(id) {
                record.documents.invoices.push(id.clone());
            }
        }
        Billing::ProformaFirst => record.documents.proforma = Some(id.clone()),
        Billing::Collect => {}
    }
}

/// The id of item `index` of a collected booking.
pub(crate) fn collected_item_id(tenant: &Id, booking: &Id, index: usize) -> Id {
    super::collective::item_id(tenant, &format!("booking\u{0}{booking}\u{0}{index}"))
}

fn with_state(record: &BookingRecord, seq: u32, state: EventState) -> BookingRecord {
    let mut r = record.clone();
    if let Some(e) = r.events.iter_mut().find(|e| e.seq == seq) {
        e.state = state;
    }
    r
}
