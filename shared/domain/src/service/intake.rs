//! The webhook's side: a booking event, validated, is recorded on its booking — once per
//! delivery and once per business fact — with the job that applies it. A rejected event
//! writes nothing; the answer to a retry is the answer to the first delivery.
//!
//! Events about a booking that does not exist yet (a payment that overtook `booking.created`)
//! are *held*: recorded and answered `202` with status `held`, and applied right after the
//! booking's `booking.created` (the platform need not retry).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::booking::{BookingEvent, BookingRecord, EventState, RecordedEvent, booking_hash};
use crate::document::{Document, Lifecycle};
use crate::error::{AppError, ErrorKind};
use crate::invoicing::plan_document;
use crate::jobs::{Job, JobKind};
use crate::model::{Billing, DocumentKind, EInvoiceFormat, Tenant};
use crate::ports::{Change, EInvoiceEncoder, EInvoiceProblem, Stores, TenantRecord, sha256_hex};
use crate::values::Id;

use super::{Attempt, commit_with_retry};

/// The webhook's answer for an accepted event (also for its retries).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BookingAccepted {
    pub booking_id: Id,
    /// The event type (`booking.created`, ...).
    pub event: &'static str,
    /// `accepted`, `held` (waits for booking.created) or `unchanged` (an update with the
    /// booking's current content).
    pub status: &'static str,
    /// The document the event makes, where it makes one (invoice, proforma, final invoice,
    /// credit note).
    pub document_id: Option<Id>,
    pub document_kind: Option<&'static str>,
    /// The invoice of a `booking.created` billed at once (as release 1 answered).
    pub invoice_id: Option<Id>,
}

#[derive(Clone)]
pub struct BookingIntake {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

/// Maps an e-invoice problem to the webhook field a platform can fix, where there is one.
pub fn problem_error(problems: &[EInvoiceProblem], format: EInvoiceFormat) -> AppError {
    let all = problems
        .iter()
        .map(|p| format!("[{}] {}", p.rule, p.message))
        .collect::<Vec<_>>()
        .join("; ");
    let field = match problems.first().and_then(|p| p.field.as_deref()) {
        Some("buyer_reference") => Some("data.customer.leitweg_id".to_string()),
        Some(f) if f.starts_with("buyer.address.") => f
            .strip_prefix("buyer.address.")
            .map(|rest| format!("data.customer.address.{rest}")),
        Some(f) if f.starts_with("buyer.") => f
            .strip_prefix("buyer.")
            .map(|rest| format!("data.customer.{rest}")),
        // Seller data comes from the tenant's settings, not from the booking.
        Some(f) if f.starts_with("seller.") => Some(format!("tenant.{f}")),
        _ => None,
    };
    let mut e = unprocessable(
        "einvoice_invalid",
        format!(
            "the customer needs a {} e-invoice, which this booking cannot produce: {all}",
            format.as_str()
        ),
    );
    if let Some(field) = field {
        e = e.with_field(field);
    }
    e
}

fn document_kind_for(
    event: &BookingEvent,
    record: &BookingRecord,
    billing: Billing,
) -> Option<DocumentKind> {
    // A schedule bills it: its invoices come with the occurrences, and its later events make
    // no document of their own (a payment settles instalments, a cancellation stops it).
    // Collected: its items wait for a collective invoice; no event makes a document of its own.
    if record.schedule_spec().is_some() || billing == Billing::Collect {
        return None;
    }
    match event {
        BookingEvent::Created {
            schedule: Some(_), ..
        } => None,
        BookingEvent::Created { .. } => Some(match billing {
            Billing::Invoice => DocumentKind::Invoice,
            Billing::ProformaFirst => DocumentKind::Proforma,
            Billing::Collect => return None,
        }),
        BookingEvent::Paid { .. } => (record.documents.invoice.is_none()
            && billing == Billing::ProformaFirst)
            .then_some(DocumentKind::Invoice),
        BookingEvent::Cancelled { .. } => (record.documents.invoice.is_some()
            || billing == Billing::Invoice)
            .then_some(DocumentKind::CreditNote),
        BookingEvent::Updated { .. } => Some(
            if record.documents.invoice.is_none() && billing == Billing::ProformaFirst {
                DocumentKind::Proforma
            } else {
                DocumentKind::Invoice
            },
        ),
    }
}

fn id_prefix(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => "inv",
        DocumentKind::Proforma => "pro",
        DocumentKind::CreditNote => "crn",
        DocumentKind::Reminder => "rem",
    }
}

impl BookingIntake {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> Self {
        BookingIntake { stores, einvoice }
    }

    /// Records one verified booking event for `tenant`, brought by webhook delivery
    /// `delivery_id`.
    pub async fn receive(
        &self,
        tenant: &TenantRecord,
        delivery_id: Option<&str>,
        event: BookingEvent,
    ) -> Result<BookingAccepted, AppError> {
        let s = &self.stores;
        let tenant = &tenant.tenant;
        let booking_id = event.booking_id().clone();
        let payload_hash = sha256_hex(&serde_json::to_vec(&event).unwrap_or_default());
        let fact = event.fact();
        let answer = commit_with_retry(
            s,
            || async {
                let now = s.clock.now();
                let record = s.repository.booking(&tenant.id, &booking_id).await?;
                let expected = record.as_ref().map(|r| r.version);
                if let Some(r) = &record
                    && let Some(existing) = r.recorded(delivery_id, &fact)
                {
                    return answer_for_existing(r, existing, &payload_hash, &event)
                        .map(Attempt::Done);
                }
                let billing_of_event = match &event {
                    BookingEvent::Created { billing, .. } => {
                        Some(billing.unwrap_or(tenant.settings.billing))
                    }
                    _ => None,
                };
                let mut record = record.unwrap_or_else(|| {
                    BookingRecord::new(
                        &tenant.id,
                        &booking_id,
                        billing_of_event.unwrap_or(tenant.settings.billing),
                        now,
                    )
                });
                if let Some(b) = billing_of_event {
                    record.billing = b;
                }
                // An update with the content the booking has already changes nothing.
                if let BookingEvent::Updated { booking } = &event
                    && record
                        .content
                        .as_ref()
                        .is_some_and(|c| booking_hash(c) == booking_hash(booking))
                {
                    return Ok(Attempt::Done(BookingAccepted {
                        booking_id: booking_id.clone(),
                        event: event.type_name(),
                        status: "unchanged",
                        document_id: None,
                        document_kind: None,
                        invoice_id: None,
                    }));
                }
                self.validate(tenant, &record, &event, now).await?;
                let kind = document_kind_for(&event, &record, record.billing);
                let document_id = kind.map(|k| Id::generate(id_prefix(k)));
                let seq = record.next_seq();
                let held = !record.is_created() && !matches!(event, BookingEvent::Created { .. });
                if let BookingEvent::Created { booking, .. } = &event {
                    record.content = Some(booking.clone());
                }
                record.events.push(RecordedEvent {
                    seq,
                    event: event.clone(),
                    fact: fact.clone(),
                    payload_hash: payload_hash.clone(),
                    delivery_id: delivery_id.map(str::to_string),
                    received_at: now,
                    document_id: document_id.clone(),
                    state: if held {
                        EventState::Held
                    } else {
                        EventState::Pending
                    },
                });
                let mut change = Change::for_tenant(&tenant.id);
                if !held {
                    change.jobs.push(Job::new(
                        &tenant.id,
                        JobKind::ApplyBookingEvents,
                        &booking_id,
                        &seq.to_string(),
                        now,
                    ));
                }
                let answer = accepted(&record, seq, kind);
                change.booking = Some((record, expected));
                Ok(Attempt::Commit(Box::new(change), answer))
            },
            |_| None,
        )
        .await?;
        tracing::info!(tenant_id = %tenant.id, booking_id = %booking_id, event = answer.event, status = answer.status, "booking event recorded");
        Ok(answer)
    }

    /// Refuses (422) what the event's job could not apply, before anything is written.
    async fn validate(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
        event: &BookingEvent,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        match event {
            BookingEvent::Created {
                booking, schedule, ..
            } => {
                if record.is_created() {
                    // Another booking.created under this id with other content.
                    return Err(AppError::new(
                        ErrorKind::Conflict,
                        "booking_conflict",
                        format!(
                            "booking '{}' was already received with different content",
                            booking.id
                        ),
                    )
                    .with_field("data.id"));
                }
                match schedule {
                    Some(spec) => {
                        let spec = crate::schedule::ScheduleSpec {
                            anchor: spec.anchor.or(Some(tenant.today(booking.booked_at))),
                            ..spec.clone()
                        };
                        super::schedules::plan_schedule(
                            tenant,
                            booking,
                            &spec,
                            Some(&booking.id),
                            self.einvoice.as_ref(),
                            now,
                        )
                        .map_err(|e| {
                            super::schedules::wire_field(e, "data.billing.schedule.")
                        })?;
                    }
                    None => self.dry_run(tenant, booking, record.billing, now)?,
                }
                // Events that came before it are checked against it when they are applied.
                Ok(())
            }
            BookingEvent::Updated { .. } if record.schedule_spec().is_some() => {
                Err(unprocessable(
                    "scheduled_booking",
                    "a booking billed by a schedule is not updated by booking.updated; change its schedule through PATCH /v1/schedules/{id}",
                ))
            }
            BookingEvent::Cancelled { cancellation, .. }
                if record.schedule_spec().is_some() && cancellation.items.is_some() =>
            {
                Err(unprocessable(
                    "scheduled_booking",
                    "a booking billed by a schedule is cancelled whole (its schedule stops); credit issued instalments through the API",
                )
                .with_field("data.items"))
            }
            BookingEvent::Updated { booking } => {
                if record.is_created() {
                    self.dry_run(tenant, booking, record.billing, now)?;
                    if let Some(doc) = self.current(tenant, record).await?
                        && doc.lifecycle == Lifecycle::Cancelled
                    {
                        return Err(unprocessable(
                            "document_cancelled",
                            "the booking is cancelled; there is nothing to update",
                        ));
                    }
                }
                Ok(())
            }
            BookingEvent::Paid { payment, .. } => {
                if let Some(content) = &record.content
                    && payment.currency != content.currency
                {
                    return Err(unprocessable(
                        "currency_mismatch",
                        format!(
                            "the booking is in {}; payments are recorded in its currency only",
                            content.currency
                        ),
                    )
                    .with_field("data.currency"));
                }
                if let Some(doc) = self.current(tenant, record).await?
                    && matches!(doc.lifecycle, Lifecycle::Cancelled | Lifecycle::Voided)
                {
                    return Err(unprocessable(
                        "document_cancelled",
                        format!(
                            "{} {} is cancelled; a payment is not recorded on it",
                            doc.kind().as_str(),
                            doc.content.number
                        ),
                    ));
                }
                Ok(())
            }
            BookingEvent::Cancelled { cancellation, .. } => {
                if let Some(doc) = self.current(tenant, record).await?
                    && matches!(doc.lifecycle, Lifecycle::Cancelled | Lifecycle::Voided)
                {
                    return Err(unprocessable(
                        "already_cancelled",
                        "the booking is cancelled already",
                    ));
                }
                if let (Some(content), Some(items)) = (&record.content, &cancellation.items) {
                    for (i, item) in items.iter().enumerate() {
                        let Some(booked) = content.items.get(item.index) else {
                            return Err(unprocessable(
                                "invalid_items",
                                format!("the booking has no item {}", item.index),
                            )
                            .with_field(format!("data.items[{i}].item")));
                        };
                        if item.quantity > booked.quantity {
                            return Err(unprocessable(
                                "credit_exceeds_invoice",
                                format!(
                                    "item {} was booked {} times",
                                    item.index,
                                    booked.quantity.normalize()
                                ),
                            )
                            .with_field(format!("data.items[{i}].quantity")));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The booking's current invoice (or its proforma while it has no invoice).
    async fn current(
        &self,
        tenant: &Tenant,
        record: &BookingRecord,
    ) -> Result<Option<Document>, AppError> {
        let id = record
            .documents
            .invoice
            .as_ref()
            .or(record.documents.proforma.as_ref());
        match id {
            Some(id) => Ok(self.stores.repository.document(&tenant.id, id).await?),
            None => Ok(None),
        }
    }

    /// A dry run of what the event's job will issue: a booking that cannot become its
    /// documents (or the e-invoice its customer needs) is refused now.
    fn dry_run(
        &self,
        tenant: &Tenant,
        booking: &crate::booking::Booking,
        billing: Billing,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        // The invoice is checked for proforma bookings too: it follows the payment.
        let plan = plan_document(
            tenant,
            booking,
            DocumentKind::Invoice,
            &Id::generate("inv"),
            tenant.today(now),
            now,
        )?;
        let problems = self.einvoice.problems(&plan.invoice);
        if !problems.is_empty() {
            return Err(problem_error(&problems, plan.invoice.einvoice));
        }
        if billing == Billing::ProformaFirst {
            plan_document(
                tenant,
                booking,
                DocumentKind::Proforma,
                &Id::generate("pro"),
                tenant.today(now),
                now,
            )?;
        }
        Ok(())
    }
}

fn accepted(record: &BookingRecord, seq: u32, kind: Option<DocumentKind>) -> BookingAccepted {
    let Some(e) = record.events.iter().find(|e| e.seq == seq) else {
        return BookingAccepted {
            booking_id: record.booking_id.clone(),
            event: "booking.unknown",
            status: "accepted",
            document_id: None,
            document_kind: None,
            invoice_id: None,
        };
    };
    let kind = kind.or_else(|| {
        e.document_id.as_ref().and_then(|id| {
            let p = id.as_str();
            [
                DocumentKind::Invoice,
                DocumentKind::Proforma,
                DocumentKind::CreditNote,
            ]
            .into_iter()
            .find(|k| p.starts_with(id_prefix(*k)))
        })
    });
    let created_invoice =
        matches!(e.event, BookingEvent::Created { .. }) && kind == Some(DocumentKind::Invoice);
    BookingAccepted {
        booking_id: record.booking_id.clone(),
        event: e.event.type_name(),
        status: if e.state == EventState::Held {
            "held"
        } else {
            "accepted"
        },
        document_id: e.document_id.clone(),
        document_kind: kind.map(DocumentKind::as_str),
        invoice_id: if created_invoice {
            e.document_id.clone()
        } else {
            None
        },
    }
}

fn answer_for_existing(
    record: &BookingRecord,
    existing: &RecordedEvent,
    hash: &str,
    event: &BookingEvent,
) -> Result<BookingAccepted, AppError> {
    if existing.payload_hash == hash {
        return Ok(accepted(record, existing.seq, None));
    }
    let (code, field) = match event {
        BookingEvent::Created { .. } => ("booking_conflict", "data.id"),
        _ => ("event_conflict", "data"),
    };
    Err(AppError::new(
        ErrorKind::Conflict,
        code,
        if code == "booking_conflict" {
            format!(
                "booking '{}' was already received with different content",
                record.booking_id
            )
        } else {
            format!(
                "this delivery or fact of booking '{}' was already received with different content",
                record.booking_id
            )
        },
    )
    .with_field(field))
}
