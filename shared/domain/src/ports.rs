//! Ports: the small traits the domain needs from the outside world. Each has an embedded
//! adapter (SQLite, files, outbox, in-process bus) and an AWS adapter (DynamoDB, S3, SESv2,
//! EventBridge); both must pass the same contract tests.
//!
//! Writes that must not happen twice are conditional: the port reports what it found
//! (`Recorded::Existing`, `IssueOutcome::CounterMoved`...) instead of failing, so the domain
//! decides. Everything a DynamoDB conditional write or transaction can express, nothing more.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::Booking;
use crate::error::StoreError;
use crate::events::DomainEvent;
use crate::model::{Customer, Invoice, InvoiceStatus, Tenant};
use crate::numbering::CounterKey;
use crate::values::{EmailAddress, Id};
use crate::view::DocumentView;

/// A tenant with the credentials that authenticate it.
#[derive(Clone)]
pub struct TenantRecord {
    pub tenant: Tenant,
    /// Standard Webhooks secrets (`whsec_...`); several during a rotation.
    pub webhook_secrets: Vec<String>,
}

impl std::fmt::Debug for TenantRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs or panic messages.
        f.debug_struct("TenantRecord")
            .field("tenant", &self.tenant)
            .field(
                "webhook_secrets",
                &format!("<{} redacted>", self.webhook_secrets.len()),
            )
            .finish()
    }
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The form in which API keys are kept and compared: their SHA-256, never the key itself.
pub fn api_key_hash(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// Whether `s` looks like an [`api_key_hash`].
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[async_trait]
pub trait TenantDirectory: Send + Sync {
    async fn tenant(&self, id: &Id) -> Result<Option<TenantRecord>, StoreError>;
    /// The tenant an API key belongs to. Keys are compared by their SHA-256, never stored plain.
    async fn tenant_for_api_key(&self, api_key: &str) -> Result<Option<Id>, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Recorded; the invoice is not issued (or its PDF not stored) yet.
    Received,
    /// The invoice is issued and its PDF stored.
    Invoiced,
}

/// The idempotency record of one booking: written once, by the first delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingRecord {
    pub tenant_id: Id,
    pub booking_id: Id,
    /// SHA-256 of the validated booking; another payload under the same id is a conflict.
    pub payload_hash: String,
    /// Chosen when the booking is recorded, so every retry answers with the same id.
    pub invoice_id: Id,
    pub booking: Booking,
    pub status: BookingStatus,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Created,
    Existing(Box<BookingRecord>),
}

/// One unit of stuck work found by a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub tenant_id: Id,
    pub id: Id,
}

#[async_trait]
pub trait BookingStore: Send + Sync {
    /// Stores the record unless one exists for the tenant and booking id; then returns that one.
    async fn record_booking(&self, record: &BookingRecord) -> Result<Recorded, StoreError>;
    async fn booking(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
    ) -> Result<Option<BookingRecord>, StoreError>;
    async fn mark_booking_invoiced(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
    ) -> Result<(), StoreError>;
    /// Bookings still `Received` that were recorded before `before` (for the sweep).
    async fn bookings_awaiting_invoice(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError>;
}

#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Creates or replaces the customer under `(tenant, customer.key)`.
    async fn upsert_customer(&self, tenant_id: &Id, customer: &Customer) -> Result<(), StoreError>;
    async fn customer(&self, tenant_id: &Id, key: &str) -> Result<Option<Customer>, StoreError>;
}

/// What an attempt to store a freshly numbered invoice found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    /// Stored; the counter now equals the invoice's sequence number.
    Issued,
    /// Another issue took the number first: read the counter again and retry.
    CounterMoved,
    /// An invoice with this id exists already (a retry of work that succeeded).
    AlreadyExists,
}

/// An invoice with its (mutable) delivery state. The document itself never changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInvoice {
    pub invoice: Invoice,
    pub status: InvoiceStatus,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    pub customer_key: Option<String>,
    pub status: Option<InvoiceStatus>,
    /// Issue date range, inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl InvoiceFilter {
    pub fn matches(&self, s: &StoredInvoice) -> bool {
        self.customer_key
            .as_ref()
            .is_none_or(|k| &s.invoice.buyer.customer_key == k)
            && self.status.is_none_or(|st| s.status == st)
            && self.from.is_none_or(|d| s.invoice.issue_date >= d)
            && self.to.is_none_or(|d| s.invoice.issue_date <= d)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InvoicePage {
    /// Oldest first (issue order).
    pub invoices: Vec<StoredInvoice>,
    /// Opaque; pass back to get the next page.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait InvoiceStore: Send + Sync {
    /// The last sequence number used by this counter (0 before the first document).
    async fn counter(&self, key: &CounterKey) -> Result<u64, StoreError>;
    /// Atomically: move the counter from `expected` to `expected + 1` and store the invoice,
    /// which carries the number for `expected + 1`. Nothing is written unless both succeed.
    async fn insert_issued(
        &self,
        key: &CounterKey,
        expected: u64,
        invoice: &Invoice,
    ) -> Result<IssueOutcome, StoreError>;
    async fn invoice(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
    ) -> Result<Option<StoredInvoice>, StoreError>;
    async fn list_invoices(
        &self,
        tenant_id: &Id,
        filter: &InvoiceFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<InvoicePage, StoreError>;
    /// Takes the right to send this invoice's email until `lease_until`; false when it was sent
    /// already or someone else holds an unexpired lease.
    async fn claim_delivery(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives up the lease taken with `lease_until` (after a send that failed, so a retry need
    /// not wait for it to expire). A lease someone else holds now, or a sent invoice, is left
    /// alone.
    async fn release_delivery(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn mark_sent(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        at: DateTime<Utc>,
        message_id: &str,
    ) -> Result<(), StoreError>;
    /// Invoices issued before `before` and not sent yet (for the sweep).
    async fn invoices_awaiting_delivery(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError>;
}

/// The keys every [`DocumentStore`] accepts: a relative path of non-empty segments, at most
/// 1024 bytes, without `.`/`..` segments, backslashes or control characters.
pub fn check_document_key(key: &str) -> Result<(), StoreError> {
    let bad = |why: &str| Err(StoreError::Corrupt(format!("document key '{key}' {why}")));
    if key.is_empty() {
        return bad("is empty");
    }
    if key.len() > 1024 {
        return bad("is longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return bad("is absolute");
    }
    if key.contains('\\') || key.chars().any(char::is_control) {
        return bad("contains a backslash or a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("has an empty segment"),
            "." | ".." => return bad("has a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Blob storage for documents (PDFs, XML), addressed by tenant-scoped keys.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    async fn put_document(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        file_name: &str,
    ) -> Result<(), StoreError>;
    async fn document(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// A complete MIME message ready to hand to a mail service.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// Stable per message (the invoice id): adapters use it for file names or dedupe.
    pub key: String,
    pub from: EmailAddress,
    pub to: Vec<EmailAddress>,
    pub raw: Vec<u8>,
}

#[async_trait]
pub trait MailSender: Send + Sync {
    /// Sends and returns the provider's message id.
    async fn send(&self, mail: &OutgoingMail) -> Result<String, StoreError>;
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError>;
}

/// Turns a document view into a PDF. Synchronous and CPU-bound: callers run it off the
/// async executor.
pub trait PdfRenderer: Send + Sync {
    fn render_pdf(&self, view: &DocumentView, ident: &str) -> Result<Vec<u8>, String>;
    /// A ZUGFeRD / Factur-X hybrid: a PDF/A-3 that embeds `xml` as `factur-x.xml`.
    fn render_hybrid_pdf(
        &self,
        view: &DocumentView,
        ident: &str,
        xml: &[u8],
    ) -> Result<Vec<u8>, String>;
}

/// XML syntaxes of EN 16931 e-invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlSyntax {
    /// UN/CEFACT Cross Industry Invoice (ZUGFeRD / Factur-X, XRechnung CII).
    Cii,
    /// OASIS UBL 2.1 (XRechnung UBL).
    Ubl,
}

/// A reason an invoice cannot become the e-invoice its buyer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EInvoiceProblem {
    /// The business rule, e.g. `BR-DE-15`.
    pub rule: String,
    pub message: String,
    /// The invoice model field to blame, e.g. `buyer_reference`, `seller.phone`.
    pub field: Option<String>,
}

/// Writes EN 16931 XML for invoices and tells what would make it invalid.
pub trait EInvoiceEncoder: Send + Sync {
    /// Rules the invoice breaks for the format it is issued in (`invoice.einvoice`);
    /// empty when the document can be issued.
    fn problems(&self, invoice: &Invoice) -> Vec<EInvoiceProblem>;
    /// The invoice as XML in `syntax`, in the profile its format calls for.
    fn xml(&self, invoice: &Invoice, syntax: XmlSyntax) -> Vec<u8>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The storage side every deployment has.
#[derive(Clone)]
pub struct Stores {
    pub tenants: Arc<dyn TenantDirectory>,
    pub bookings: Arc<dyn BookingStore>,
    pub customers: Arc<dyn CustomerStore>,
    pub invoices: Arc<dyn InvoiceStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub events: Arc<dyn EventPublisher>,
    pub clock: Arc<dyn Clock>,
}
