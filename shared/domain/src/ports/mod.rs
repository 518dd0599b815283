//! Ports: the small traits the domain needs from the outside world. Each has an embedded
//! adapter (SQLite, files, outbox, in-process bus) and an AWS adapter (DynamoDB, S3, SESv2,
//! EventBridge); both pass the same contract tests.
//!
//! State changes go through one door, [`Repository::commit`]: a [`Change`] is written entirely
//! or not at all (one SQLite transaction; one DynamoDB `TransactWriteItems`), and every part of
//! it carries the condition that makes it safe to repeat or to race — a document is written
//! only at the version it was read at, a number only when the counter still stands where it
//! was read, a ledger entry, audit entry or job only once. The domain decides what a refused
//! condition means ([`Conflict`]).

mod clock;
mod files;
mod jobs;
mod outbound;
mod repository;
mod tenants;

pub use clock::{Clock, SystemClock};
pub use files::{FileStore, check_file_key};
pub use jobs::{DueJob, JobPage, JobQueue};
pub use outbound::{
    EInvoiceEncoder, EInvoiceProblem, EventPublisher, MailSender, OutgoingMail, PdfRenderer,
    XmlSyntax,
};
pub use repository::{
    BankTransactionWrite, Change, CommitError, Conflict, CustomerPage, DocumentFilter,
    DocumentPage, DocumentWrite, IdempotencyRecord, ItemWrite, NumberClaim, PeriodClaim,
    Repository, ScheduleFilter, SchedulePage, ScheduleWrite,
};
pub use tenants::{TenantDirectory, TenantRecord, api_key_hash, api_key_id, is_sha256_hex};

use std::sync::Arc;

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The storage side every deployment has.
#[derive(Clone)]
pub struct Stores {
    pub tenants: Arc<dyn TenantDirectory>,
    pub repository: Arc<dyn Repository>,
    pub jobs: Arc<dyn JobQueue>,
    pub files: Arc<dyn FileStore>,
    pub events: Arc<dyn EventPublisher>,
    pub clock: Arc<dyn Clock>,
}
