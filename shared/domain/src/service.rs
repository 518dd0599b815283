//! Use cases. Each step is idempotent, so a redelivered event, a retried call or two workers
//! racing never make a second invoice, number or email:
//!
//! 1. [`BookingIntake::receive`] (webhook): validate, record the booking once (the record
//!    fixes the invoice id), publish `booking.received`.
//! 2. [`InvoiceIssuer::issue_for_booking`] (on `booking.received`): upsert the customer,
//!    number and store the invoice (atomic with the counter), render and store the PDF,
//!    publish `invoice.issued`.
//! 3. [`InvoiceMailer::deliver`] (on `invoice.issued`): claim the delivery, send the email
//!    with the PDF, mark it sent, publish `invoice.sent`.
//! 4. [`Sweeper::sweep`] (scheduled): re-publish work stuck between steps.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::booking::{Booking, parse_booking_event};
use crate::error::{AppError, ErrorKind, StoreError};
use crate::events::{DomainEvent, EventType};
use crate::invoicing::{booking_hash, customer_from_booking, plan_invoice};
use crate::mail::{Attachment, invoice_mail};
use crate::model::{EInvoiceFormat, Invoice, InvoiceStatus, Tenant};
use crate::numbering::CounterKey;
use crate::ports::{
    BookingRecord, BookingStatus, EInvoiceEncoder, EInvoiceProblem, InvoiceFilter, InvoicePage,
    IssueOutcome, MailSender, OutgoingMail, PdfRenderer, Recorded, StoredInvoice, Stores,
    TenantRecord, XmlSyntax,
};
use crate::values::Id;
use crate::view::DocumentView;

/// How often issuing retries when concurrent issues keep taking the next number.
const MAX_NUMBERING_ATTEMPTS: u32 = 100;
/// How long one worker may hold the right to send an invoice's email.
const DELIVERY_LEASE: TimeDelta = TimeDelta::minutes(5);

/// Where an invoice's PDF is stored.
pub fn pdf_key(invoice: &Invoice) -> String {
    format!(
        "tenants/{}/invoices/{}/{}.pdf",
        invoice.tenant_id,
        invoice.id,
        invoice.number.as_str().replace('/', "-")
    )
}

pub fn pdf_file_name(invoice: &Invoice) -> String {
    format!("{}.pdf", invoice.number.as_str().replace('/', "-"))
}

/// Where the e-invoice XML (the legal original of ZUGFeRD and XRechnung invoices) is stored.
pub fn xml_key(invoice: &Invoice) -> String {
    format!(
        "tenants/{}/invoices/{}/{}",
        invoice.tenant_id,
        invoice.id,
        xml_file_name(invoice)
    )
}

pub fn xml_file_name(invoice: &Invoice) -> String {
    format!("{}.xml", invoice.number.as_str().replace('/', "-"))
}

/// Maps an e-invoice problem to the webhook field a platform can fix, where there is one.
fn problem_error(problems: &[EInvoiceProblem], format: EInvoiceFormat) -> AppError {
    let first = &problems[0];
    let all = problems
        .iter()
        .map(|p| format!("[{}] {}", p.rule, p.message))
        .collect::<Vec<_>>()
        .join("; ");
    let field = match first.field.as_deref() {
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
    let mut e = AppError::new(
        ErrorKind::Unprocessable,
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

/// The webhook's answer for an accepted booking (also for its retries).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BookingAccepted {
    pub booking_id: Id,
    pub invoice_id: Id,
    pub status: &'static str,
}

fn unavailable(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unavailable, code, message)
}

async fn tenant(stores: &Stores, tenant_id: &Id) -> Result<Tenant, AppError> {
    stores
        .tenants
        .tenant(tenant_id)
        .await?
        .map(|r| r.tenant)
        .ok_or_else(|| AppError::not_found("tenant_not_found", format!("no tenant '{tenant_id}'")))
}

#[derive(Clone)]
pub struct BookingIntake {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

impl BookingIntake {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> Self {
        BookingIntake { stores, einvoice }
    }

    /// Handles one verified webhook body for `tenant`.
    pub async fn receive(
        &self,
        tenant: &TenantRecord,
        body: &[u8],
    ) -> Result<BookingAccepted, AppError> {
        let booking = parse_booking_event(body)?;
        let tenant_id = &tenant.tenant.id;
        let hash = booking_hash(&booking);
        if let Some(existing) = self.stores.bookings.booking(tenant_id, &booking.id).await? {
            return answer_for_existing(&existing, &hash);
        }

        let now = self.stores.clock.now();
        let invoice_id = Id::generate("inv");
        // A dry run of issuing: a booking that cannot become an invoice (or the e-invoice its
        // customer needs) is rejected now, before anything is stored.
        let plan = plan_invoice(&tenant.tenant, &booking, &invoice_id, now.date_naive(), now)?;
        let problems = self.einvoice.problems(&plan.invoice);
        if !problems.is_empty() {
            return Err(problem_error(&problems, plan.invoice.einvoice));
        }

        let record = BookingRecord {
            tenant_id: tenant_id.clone(),
            booking_id: booking.id.clone(),
            payload_hash: hash.clone(),
            invoice_id: invoice_id.clone(),
            booking: booking.clone(),
            status: BookingStatus::Received,
            received_at: now,
        };
        match self.stores.bookings.record_booking(&record).await? {
            Recorded::Existing(existing) => answer_for_existing(&existing, &hash),
            Recorded::Created => {
                tracing::info!(tenant_id = %tenant_id, booking_id = %booking.id, invoice_id = %invoice_id, "booking recorded");
                publish_booking_received(&self.stores, &record, now).await;
                Ok(accepted(&booking, &invoice_id))
            }
        }
    }
}

fn accepted(booking: &Booking, invoice_id: &Id) -> BookingAccepted {
    BookingAccepted {
        booking_id: booking.id.clone(),
        invoice_id: invoice_id.clone(),
        status: "accepted",
    }
}

fn answer_for_existing(existing: &BookingRecord, hash: &str) -> Result<BookingAccepted, AppError> {
    if existing.payload_hash == hash {
        Ok(accepted(&existing.booking, &existing.invoice_id))
    } else {
        Err(AppError::new(
            ErrorKind::Conflict,
            "booking_conflict",
            format!(
                "booking '{}' was already received with different content",
                existing.booking_id
            ),
        )
        .with_field("data.id"))
    }
}

/// Publishing after the write is at-least-once only together with the sweep: a failed publish
/// is logged and the sweep re-publishes the booking later.
async fn publish_booking_received(stores: &Stores, record: &BookingRecord, now: DateTime<Utc>) {
    let event = DomainEvent::new(
        EventType::BookingReceived,
        &record.tenant_id,
        &record.booking_id,
        &record.invoice_id,
        None,
        now,
    );
    if let Err(e) = stores.events.publish(&event).await {
        tracing::warn!(tenant_id = %record.tenant_id, booking_id = %record.booking_id, error = %e, "publishing booking.received failed; the sweep will retry");
    }
}

#[derive(Clone)]
pub struct InvoiceIssuer {
    stores: Stores,
    renderer: Arc<dyn PdfRenderer>,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

impl InvoiceIssuer {
    pub fn new(
        stores: Stores,
        renderer: Arc<dyn PdfRenderer>,
        einvoice: Arc<dyn EInvoiceEncoder>,
    ) -> Self {
        InvoiceIssuer {
            stores,
            renderer,
            einvoice,
        }
    }

    pub async fn issue_for_booking(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
    ) -> Result<StoredInvoice, AppError> {
        let s = &self.stores;
        let record = s
            .bookings
            .booking(tenant_id, booking_id)
            .await?
            .ok_or_else(|| {
                AppError::not_found("booking_not_found", format!("no booking '{booking_id}'"))
            })?;
        let tenant = tenant(s, tenant_id).await?;
        let stored = match s.invoices.invoice(tenant_id, &record.invoice_id).await? {
            Some(existing) => existing,
            None => {
                let now = s.clock.now();
                let customer = customer_from_booking(&record.booking, &tenant, now);
                s.customers.upsert_customer(tenant_id, &customer).await?;
                let plan = plan_invoice(
                    &tenant,
                    &record.booking,
                    &record.invoice_id,
                    now.date_naive(),
                    now,
                )?;
                self.store_numbered(&tenant, plan.invoice).await?
            }
        };
        self.ensure_documents(&stored.invoice).await?;
        if record.status == BookingStatus::Received {
            s.bookings
                .mark_booking_invoiced(tenant_id, booking_id)
                .await?;
        }
        let inv = &stored.invoice;
        tracing::info!(tenant_id = %tenant_id, booking_id = %booking_id, invoice_id = %inv.id, number = %inv.number, "invoice issued");
        if stored.status == InvoiceStatus::Issued {
            let event = DomainEvent::new(
                EventType::InvoiceIssued,
                tenant_id,
                booking_id,
                &inv.id,
                Some(inv.number.as_str()),
                s.clock.now(),
            );
            s.events.publish(&event).await?;
        }
        Ok(stored)
    }

    /// Assigns the next number of the tenant's series and stores the invoice, atomically.
    async fn store_numbered(
        &self,
        tenant: &Tenant,
        mut invoice: Invoice,
    ) -> Result<StoredInvoice, AppError> {
        let numbering = &tenant.settings.invoice_numbering;
        let key = CounterKey::new(
            &tenant.id,
            invoice.kind.series(),
            numbering.yearly_reset,
            invoice.issue_date,
        );
        for attempt in 0..MAX_NUMBERING_ATTEMPTS {
            let current = self.stores.invoices.counter(&key).await?;
            invoice.number = numbering.pattern.format(current + 1, invoice.issue_date);
            match self
                .stores
                .invoices
                .insert_issued(&key, current, &invoice)
                .await?
            {
                IssueOutcome::Issued => {
                    return Ok(StoredInvoice {
                        invoice,
                        status: InvoiceStatus::Issued,
                        sent_at: None,
                        message_id: None,
                    });
                }
                IssueOutcome::AlreadyExists => {
                    return self
                        .stores
                        .invoices
                        .invoice(&tenant.id, &invoice.id)
                        .await?
                        .ok_or_else(|| {
                            AppError::new(
                                ErrorKind::Internal,
                                "invoice_vanished",
                                "the store reported the invoice as existing but has none",
                            )
                        });
                }
                IssueOutcome::CounterMoved => {
                    // Someone else took this number; back off a little (more with each try).
                    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(10)) + jitter))
                        .await;
                }
            }
        }
        Err(unavailable(
            "numbering_contention",
            "could not assign an invoice number under contention; retry later",
        ))
    }

    /// Stores the invoice's documents unless they are stored already: the e-invoice XML
    /// first (where the format has one), then the PDF, whose presence marks completion.
    /// Rendering and XML are deterministic, so a retry after a crash stores the same bytes.
    async fn ensure_documents(&self, invoice: &Invoice) -> Result<(), AppError> {
        let docs = &self.stores.documents;
        let key = pdf_key(invoice);
        if docs.document(&key).await?.is_some() {
            return Ok(());
        }
        let view = DocumentView::from_invoice(invoice);
        let ident = invoice.id.as_str().to_string();
        let pdf = if invoice.einvoice.has_xml() {
            let xml = self.einvoice.xml(invoice, XmlSyntax::Cii);
            docs.put_document(
                &xml_key(invoice),
                xml.clone(),
                "application/xml",
                &xml_file_name(invoice),
            )
            .await?;
            if invoice.einvoice == EInvoiceFormat::Zugferd {
                let renderer = self.renderer.clone();
                blocking(move || renderer.render_hybrid_pdf(&view, &ident, &xml)).await?
            } else {
                let renderer = self.renderer.clone();
                blocking(move || renderer.render_pdf(&view, &ident)).await?
            }
        } else {
            let renderer = self.renderer.clone();
            blocking(move || renderer.render_pdf(&view, &ident)).await?
        };
        docs.put_document(&key, pdf, "application/pdf", &pdf_file_name(invoice))
            .await?;
        Ok(())
    }
}

/// Runs a render on the blocking pool: typst is CPU-bound and must not stall the executor.
async fn blocking(
    render: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
) -> Result<Vec<u8>, AppError> {
    tokio::task::spawn_blocking(render)
        .await
        .map_err(|e| AppError::new(ErrorKind::Internal, "render_failed", e.to_string()))?
        .map_err(|e| AppError::new(ErrorKind::Internal, "render_failed", e))
}

#[derive(Clone)]
pub struct InvoiceMailer {
    stores: Stores,
    mailer: Arc<dyn MailSender>,
}

impl InvoiceMailer {
    pub fn new(stores: Stores, mailer: Arc<dyn MailSender>) -> Self {
        InvoiceMailer { stores, mailer }
    }

    /// Emails the invoice with its PDF, once.
    pub async fn deliver(&self, tenant_id: &Id, invoice_id: &Id) -> Result<(), AppError> {
        let s = &self.stores;
        let stored = s
            .invoices
            .invoice(tenant_id, invoice_id)
            .await?
            .ok_or_else(|| {
                AppError::not_found("invoice_not_found", format!("no invoice '{invoice_id}'"))
            })?;
        if stored.status == InvoiceStatus::Sent {
            return Ok(());
        }
        let now = s.clock.now();
        let lease_until = now + DELIVERY_LEASE;
        if !s
            .invoices
            .claim_delivery(tenant_id, invoice_id, now, lease_until)
            .await?
        {
            // Sent meanwhile, or another worker holds the lease: come back later (the queue
            // redelivers after its visibility timeout; a sent invoice then returns above).
            tracing::info!(tenant_id = %tenant_id, invoice_id = %invoice_id, "delivery already sent or in progress");
            return Err(unavailable(
                "delivery_in_progress",
                "another attempt holds this invoice's delivery; retry later",
            ));
        }
        let release = || async {
            if let Err(e) = s
                .invoices
                .release_delivery(tenant_id, invoice_id, lease_until)
                .await
            {
                tracing::warn!(tenant_id = %tenant_id, invoice_id = %invoice_id, error = %e, "releasing the delivery lease failed");
            }
        };
        let mail = match self.mail(&stored.invoice, now).await {
            Ok(mail) => mail,
            Err(e) => {
                release().await;
                return Err(e);
            }
        };
        let message_id = match self.mailer.send(&mail).await {
            Ok(id) => id,
            Err(StoreError::Refused(reason)) => {
                // Certainly not sent: let the retry in now instead of after the lease.
                release().await;
                return Err(unavailable("mail_refused", reason));
            }
            // Maybe sent (no answer, a timeout): keep the lease, so no retry sends it again
            // within it; after it, the queue's retry or the sweep sends (at least once).
            Err(e) => return Err(e.into()),
        };
        let inv = &stored.invoice;
        let sent_at = s.clock.now();
        // The mail is out: recording that must not fail for a passing hiccup, or the sweep would
        // send it again after the lease.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match s
                .invoices
                .mark_sent(tenant_id, invoice_id, sent_at, &message_id)
                .await
            {
                Ok(()) => break,
                Err(e) if attempt < 3 => {
                    tracing::warn!(tenant_id = %tenant_id, invoice_id = %invoice_id, error = %e, attempt, "mark_sent failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(tenant_id = %tenant_id, invoice_id = %invoice_id, "invoice sent");
        let event = DomainEvent::new(
            EventType::InvoiceSent,
            tenant_id,
            &inv.booking_id,
            invoice_id,
            Some(inv.number.as_str()),
            sent_at,
        );
        s.events.publish(&event).await?;
        Ok(())
    }

    /// Builds the mail with its documents attached.
    async fn mail(&self, inv: &Invoice, now: DateTime<Utc>) -> Result<OutgoingMail, AppError> {
        let s = &self.stores;
        let missing = || {
            unavailable(
                "documents_missing",
                "the invoice documents are not stored yet; retry later",
            )
        };
        let pdf = s
            .documents
            .document(&pdf_key(inv))
            .await?
            .ok_or_else(missing)?;
        let mut attachments = Vec::new();
        if inv.einvoice == EInvoiceFormat::Xrechnung {
            // The XML is the invoice; the PDF travels along as a readable copy.
            let xml = s
                .documents
                .document(&xml_key(inv))
                .await?
                .ok_or_else(missing)?;
            attachments.push(Attachment::new("application/xml", xml_file_name(inv), xml));
        }
        attachments.push(Attachment::new("application/pdf", pdf_file_name(inv), pdf));
        let mail = invoice_mail(inv, &attachments, now)
            .map_err(|e| AppError::new(ErrorKind::Internal, "mail_build_failed", e.to_string()))?;
        Ok(mail)
    }
}

/// Routes a domain event to the step that handles it.
#[derive(Clone)]
pub struct Workflow {
    pub issuer: InvoiceIssuer,
    pub mailer: InvoiceMailer,
}

impl Workflow {
    pub async fn handle(&self, event: &DomainEvent) -> Result<(), AppError> {
        match event.event_type {
            EventType::BookingReceived => self
                .issuer
                .issue_for_booking(&event.tenant_id, &event.booking_id)
                .await
                .map(|_| ()),
            EventType::InvoiceIssued => {
                self.mailer
                    .deliver(&event.tenant_id, &event.invoice_id)
                    .await
            }
            EventType::InvoiceSent => Ok(()),
        }
    }
}

/// What a sweep re-published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub bookings: usize,
    pub invoices: usize,
}

#[derive(Clone)]
pub struct Sweeper {
    stores: Stores,
}

impl Sweeper {
    pub fn new(stores: Stores) -> Self {
        Sweeper { stores }
    }

    /// Re-publishes bookings not invoiced and invoices not sent that are older than `grace`.
    pub async fn sweep(&self, grace: TimeDelta, limit: usize) -> Result<SweepReport, AppError> {
        let s = &self.stores;
        let now = s.clock.now();
        let before = now - grace;
        let mut report = SweepReport::default();
        for item in s.bookings.bookings_awaiting_invoice(before, limit).await? {
            if let Some(record) = s.bookings.booking(&item.tenant_id, &item.id).await? {
                let event = DomainEvent::new(
                    EventType::BookingReceived,
                    &record.tenant_id,
                    &record.booking_id,
                    &record.invoice_id,
                    None,
                    now,
                );
                s.events.publish(&event).await?;
                report.bookings += 1;
            }
        }
        for item in s.invoices.invoices_awaiting_delivery(before, limit).await? {
            if let Some(stored) = s.invoices.invoice(&item.tenant_id, &item.id).await? {
                let inv = &stored.invoice;
                let event = DomainEvent::new(
                    EventType::InvoiceIssued,
                    &inv.tenant_id,
                    &inv.booking_id,
                    &inv.id,
                    Some(inv.number.as_str()),
                    now,
                );
                s.events.publish(&event).await?;
                report.invoices += 1;
            }
        }
        if report != SweepReport::default() {
            tracing::info!(
                bookings = report.bookings,
                invoices = report.invoices,
                "sweep re-published stuck work"
            );
        }
        Ok(report)
    }
}

/// Read side of the API.
#[derive(Clone)]
pub struct InvoiceQueries {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

impl InvoiceQueries {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> Self {
        InvoiceQueries { stores, einvoice }
    }

    /// The invoice as EN 16931 XML. The stored original where the invoice was issued with
    /// XML in that syntax; otherwise written from the invoice (deterministic, same data).
    pub async fn xml(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        syntax: XmlSyntax,
    ) -> Result<(String, Vec<u8>), AppError> {
        let stored = self.invoice(tenant_id, invoice_id).await?;
        let inv = &stored.invoice;
        let name = xml_file_name(inv);
        if syntax == XmlSyntax::Cii
            && inv.einvoice.has_xml()
            && let Some(bytes) = self.stores.documents.document(&xml_key(inv)).await?
        {
            return Ok((name, bytes));
        }
        Ok((name, self.einvoice.xml(inv, syntax)))
    }

    pub async fn invoice(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
    ) -> Result<StoredInvoice, AppError> {
        self.stores
            .invoices
            .invoice(tenant_id, invoice_id)
            .await?
            .ok_or_else(|| {
                AppError::not_found("invoice_not_found", format!("no invoice '{invoice_id}'"))
            })
    }

    pub async fn list(
        &self,
        tenant_id: &Id,
        filter: &InvoiceFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<InvoicePage, AppError> {
        Ok(self
            .stores
            .invoices
            .list_invoices(tenant_id, filter, cursor, limit)
            .await?)
    }

    /// The stored PDF and its file name.
    pub async fn pdf(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
    ) -> Result<(String, Vec<u8>), AppError> {
        let stored = self.invoice(tenant_id, invoice_id).await?;
        let bytes = self
            .stores
            .documents
            .document(&pdf_key(&stored.invoice))
            .await?
            .ok_or_else(|| {
                AppError::not_found(
                    "pdf_not_ready",
                    "the PDF is not rendered yet; try again shortly",
                )
            })?;
        Ok((pdf_file_name(&stored.invoice), bytes))
    }
}
