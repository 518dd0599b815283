use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;
use crate::booking::BookingRecord;
use crate::document::{Document, Lifecycle, PaymentState};
use crate::error::StoreError;
use crate::jobs::Job;
use crate::ledger::LedgerEntry;
use crate::model::{Customer, DocumentKind};
use crate::numbering::CounterKey;
use crate::schedule::{Schedule, ScheduleState};
use crate::values::{Id, InvoiceNumber};

/// A document to write: new (`expected: None`, stored as version 1) or a change of the one
/// stored at version `expected` (stored as `expected + 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentWrite {
    pub document: Document,
    pub expected: Option<u64>,
}

impl DocumentWrite {
    pub fn new(document: Document) -> DocumentWrite {
        DocumentWrite {
            document,
            expected: None,
        }
    }

    /// A change of `document` as it was read (its `version`).
    pub fn update(document: Document) -> DocumentWrite {
        let expected = Some(document.version);
        DocumentWrite { document, expected }
    }

    /// The version the document has once written.
    pub fn next_version(&self) -> u64 {
        self.expected.map_or(1, |v| v + 1)
    }
}

/// A number taken from a gapless counter: the counter moves from `expected` to
/// `expected + 1`, and `number` is claimed for `document_id` (never for two documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberClaim {
    pub counter: CounterKey,
    pub expected: u64,
    pub number: InvoiceNumber,
    pub document_id: Id,
}

/// A schedule to write: new (`expected: None`, version 1) or at the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleWrite {
    pub schedule: Schedule,
    pub expected: Option<u64>,
}

impl ScheduleWrite {
    pub fn new(schedule: Schedule) -> ScheduleWrite {
        ScheduleWrite {
            schedule,
            expected: None,
        }
    }

    pub fn update(schedule: Schedule, read_at: u64) -> ScheduleWrite {
        ScheduleWrite {
            schedule,
            expected: Some(read_at),
        }
    }

    pub fn next_version(&self) -> u64 {
        self.expected.map_or(1, |v| v + 1)
    }
}

/// Occurrence `occurrence` of a schedule is billed by `document_id`: written once, so no
/// period is ever billed twice (whatever runs at once or again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodClaim {
    pub tenant_id: Id,
    pub schedule_id: Id,
    pub occurrence: u32,
    pub document_id: Id,
}

/// A billable item to write: new (`expected: None`, version 1) or at the version read; the
/// condition is what makes a claim atomic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    pub item: crate::collective::BillableItem,
    pub expected: Option<u64>,
}

impl ItemWrite {
    pub fn new(item: crate::collective::BillableItem) -> ItemWrite {
        ItemWrite {
            item,
            expected: None,
        }
    }

    /// A change of `item` as it was read (its `version`).
    pub fn update(item: crate::collective::BillableItem, read_at: u64) -> ItemWrite {
        ItemWrite {
            item,
            expected: Some(read_at),
        }
    }

    pub fn next_version(&self) -> u64 {
        self.expected.map_or(1, |v| v + 1)
    }
}

/// A bank transaction to write: new (`expected: None`: recorded once, whoever imports its
/// statement again) or at the version read (assigned by the owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransactionWrite {
    pub transaction: crate::bank::BankTransaction,
    pub expected: Option<u64>,
}

impl BankTransactionWrite {
    pub fn next_version(&self) -> u64 {
        self.expected.map_or(1, |v| v + 1)
    }
}

/// The stored answer to an API request with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub tenant_id: Id,
    pub key: String,
    /// SHA-256 of method, path and body: the same key with another request is a conflict.
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// One atomic change: all of it is written, or nothing (see the module docs for the
/// condition on each part).
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub tenant_id: Option<Id>,
    /// The booking record and the version it was read at (`None`: new).
    pub booking: Option<(BookingRecord, Option<u64>)>,
    pub documents: Vec<DocumentWrite>,
    pub numbers: Vec<NumberClaim>,
    /// Upserted unconditionally (the latest address wins; documents keep their snapshot).
    pub customers: Vec<Customer>,
    pub ledger: Vec<LedgerEntry>,
    pub audit: Vec<AuditEntry>,
    /// New jobs (each written once: a job id that exists is a conflict).
    pub jobs: Vec<Job>,
    pub idempotency: Option<IdempotencyRecord>,
    pub schedules: Vec<ScheduleWrite>,
    pub periods: Vec<PeriodClaim>,
    /// Customers' dunning holds, upserted (the latest word of the owner wins).
    pub holds: Vec<crate::dunning::DunningHold>,
    /// Billable items, new or at the version read (a claim, a release, a withdrawal).
    pub items: Vec<ItemWrite>,
    /// Imported bank transactions, new or at the version read.
    pub bank_transactions: Vec<BankTransactionWrite>,
}

impl Change {
    pub fn for_tenant(tenant: &Id) -> Change {
        Change {
            tenant_id: Some(tenant.clone()),
            ..Change::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.booking.is_none()
            && self.documents.is_empty()
            && self.numbers.is_empty()
            && self.customers.is_empty()
            && self.ledger.is_empty()
            && self.audit.is_empty()
            && self.jobs.is_empty()
            && self.idempotency.is_none()
            && self.schedules.is_empty()
            && self.periods.is_empty()
            && self.holds.is_empty()
            && self.items.is_empty()
            && self.bank_transactions.is_empty()
    }
}

/// Which condition of a change was not met (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The booking record is not at the expected version (or exists when new).
    Booking,
    /// The document is not at the expected version (or exists when new).
    Document(Id),
    /// The counter moved: read it again and take the next number.
    Counter(CounterKey),
    /// The number is claimed by another document: a broken invariant, never retried.
    Number(String),
    /// The ledger entry exists: the fact it records was recorded already.
    LedgerEntry(Id),
    /// A job with this id exists.
    Job(Id),
    /// An answer is stored under this idempotency key already.
    Idempotency(String),
    /// The schedule is not at the expected version (or exists when new).
    Schedule(Id),
    /// This occurrence of the schedule is billed already.
    Period { schedule_id: Id, occurrence: u32 },
    /// The billable item is not at the expected version (or exists when new).
    Item(Id),
    /// The bank transaction is not at the expected version (or is recorded already).
    BankTransaction(Id),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CommitError {
    Conflict(Conflict),
    Store(StoreError),
}

impl From<StoreError> for CommitError {
    fn from(e: StoreError) -> Self {
        CommitError::Store(e)
    }
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitError::Conflict(c) => write!(f, "conflict: {c:?}"),
            CommitError::Store(e) => write!(f, "{e}"),
        }
    }
}

/// Which documents a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    pub kind: Option<DocumentKind>,
    pub lifecycle: Option<Lifecycle>,
    pub payment: Option<PaymentState>,
    /// Only documents overdue on this day.
    pub overdue_on: Option<NaiveDate>,
    pub customer_key: Option<String>,
    pub booking_id: Option<Id>,
    /// `sent`, `pending` or `failed`.
    pub delivery: Option<String>,
    /// Issue date range, inclusive (drafts have none and are left out by these).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Where the invoice stands in its dunning.
    pub dunning: Option<crate::dunning::DunningState>,
    /// Only collective invoices (drafts and issued).
    pub collective: bool,
    /// Only collective drafts waiting for the owner on this day (no send date, due).
    pub pending_on: Option<NaiveDate>,
}

impl DocumentFilter {
    pub fn matches(&self, d: &Document) -> bool {
        let issued = d.lifecycle.is_issued();
        self.kind.is_none_or(|k| d.kind() == k)
            && self.lifecycle.is_none_or(|l| d.lifecycle == l)
            && self.payment.is_none_or(|p| d.payment_state() == p)
            && self.overdue_on.is_none_or(|day| d.is_overdue(day))
            && self
                .customer_key
                .as_ref()
                .is_none_or(|k| &d.content.buyer.customer_key == k)
            && self
                .booking_id
                .as_ref()
                .is_none_or(|b| d.content.booking_id.as_ref() == Some(b))
            && self
                .delivery
                .as_deref()
                .is_none_or(|s| d.delivery.as_str() == s)
            && self
                .from
                .is_none_or(|f| issued && d.content.issue_date >= f)
            && self.to.is_none_or(|t| issued && d.content.issue_date <= t)
            && self.dunning.is_none_or(|s| d.dunning.state() == s)
            && (!self.collective || d.collective.is_some())
            && self.pending_on.is_none_or(|day| {
                d.lifecycle == Lifecycle::Draft
                    && d.collective.as_ref().is_some_and(|c| c.is_pending(day))
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocumentPage {
    /// Oldest first (creation order).
    pub documents: Vec<Document>,
    /// Opaque; pass back to get the next page.
    pub next_cursor: Option<String>,
}

/// Which schedules a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleFilter {
    pub state: Option<ScheduleState>,
    pub customer_key: Option<String>,
}

impl ScheduleFilter {
    pub fn matches(&self, s: &Schedule) -> bool {
        self.state.is_none_or(|st| s.state == st)
            && self
                .customer_key
                .as_ref()
                .is_none_or(|k| &s.customer.key() == k)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePage {
    /// Oldest first.
    pub schedules: Vec<Schedule>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPage {
    pub customers: Vec<Customer>,
    pub next_cursor: Option<String>,
}

/// Everything the domain reads and writes about bookings, documents, customers, the ledger,
/// the audit trail, counters and idempotency keys.
#[async_trait]
pub trait Repository: Send + Sync {
    async fn booking(
        &self,
        tenant: &Id,
        booking_id: &Id,
    ) -> Result<Option<BookingRecord>, StoreError>;
    async fn document(&self, tenant: &Id, id: &Id) -> Result<Option<Document>, StoreError>;
    async fn documents(
        &self,
        tenant: &Id,
        filter: &DocumentFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, StoreError>;
    async fn customer(&self, tenant: &Id, key: &str) -> Result<Option<Customer>, StoreError>;
    async fn customers(
        &self,
        tenant: &Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CustomerPage, StoreError>;
    /// A customer's ledger, oldest first.
    async fn ledger(&self, tenant: &Id, customer_key: &str)
    -> Result<Vec<LedgerEntry>, StoreError>;
    /// A document's audit trail, oldest first.
    async fn audit(&self, tenant: &Id, document_id: &Id) -> Result<Vec<AuditEntry>, StoreError>;
    /// The last number taken from a counter (0 before the first).
    async fn counter(&self, key: &CounterKey) -> Result<u64, StoreError>;
    /// The stored answer for an idempotency key, if one younger than `not_before` exists.
    async fn idempotency(
        &self,
        tenant: &Id,
        key: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    async fn schedule(&self, tenant: &Id, id: &Id) -> Result<Option<Schedule>, StoreError>;
    async fn schedules(
        &self,
        tenant: &Id,
        filter: &ScheduleFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SchedulePage, StoreError>;
    /// The document that billed an occurrence, if it is billed.
    async fn period(
        &self,
        tenant: &Id,
        schedule_id: &Id,
        occurrence: u32,
    ) -> Result<Option<Id>, StoreError>;
    /// A customer's dunning hold, if one was ever set.
    async fn dunning_hold(
        &self,
        tenant: &Id,
        customer_key: &str,
    ) -> Result<Option<crate::dunning::DunningHold>, StoreError>;
    /// A customer's billable item.
    async fn billable_item(
        &self,
        tenant: &Id,
        customer_key: &str,
        id: &Id,
    ) -> Result<Option<crate::collective::BillableItem>, StoreError>;
    /// A customer's billable items, oldest first (`open_only`: just those waiting to be
    /// billed).
    async fn billable_items(
        &self,
        tenant: &Id,
        customer_key: &str,
        open_only: bool,
    ) -> Result<Vec<crate::collective::BillableItem>, StoreError>;
    /// An imported bank transaction.
    async fn bank_transaction(
        &self,
        tenant: &Id,
        id: &Id,
    ) -> Result<Option<crate::bank::BankTransaction>, StoreError>;
    /// A tenant's bank transactions in import order (only those in `state` when given).
    async fn bank_transactions(
        &self,
        tenant: &Id,
        state: Option<crate::bank::TransactionStateKind>,
    ) -> Result<Vec<crate::bank::BankTransaction>, StoreError>;
    async fn commit(&self, change: Change) -> Result<(), CommitError>;
}
