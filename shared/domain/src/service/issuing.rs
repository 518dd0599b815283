//! Issuing: numbering a planned document from its series and putting everything its issue
//! writes into one change — the document, the number claim, the ledger charge, the audit
//! entry and the job that renders it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::audit::Cause;
use crate::document::{Document, DocumentEvent};
use crate::error::AppError;
use crate::jobs::{Job, JobInput, JobKind};
use crate::ledger::{EntryKind, LedgerEntry, entry_id};
use crate::model::{DocumentKind, Invoice, Tenant};
use crate::numbering::CounterKey;
use crate::ports::{Change, DocumentWrite, NumberClaim, Stores};

use super::internal;

/// Takes numbers for one change: at most one per series (a counter is written once per
/// transaction).
pub(crate) struct Numbering<'a> {
    stores: &'a Stores,
    tenant: &'a Tenant,
    taken: BTreeSet<String>,
}

impl<'a> Numbering<'a> {
    pub fn new(stores: &'a Stores, tenant: &'a Tenant) -> Numbering<'a> {
        Numbering {
            stores,
            tenant,
            taken: BTreeSet::new(),
        }
    }

    /// Gives `invoice` the next number of its kind's series (as of the counter read now).
    pub async fn number(&mut self, invoice: &mut Invoice) -> Result<NumberClaim, AppError> {
        let settings = self.tenant.settings.numbering(invoice.kind);
        let key = CounterKey::new(
            &self.tenant.id,
            invoice.kind.series(),
            settings.yearly_reset,
            invoice.issue_date,
        );
        if !self.taken.insert(key.scope()) {
            return Err(internal(
                "two_numbers_one_series",
                "one change takes at most one number per series",
            ));
        }
        let current = self.stores.repository.counter(&key).await?;
        invoice.number = settings.pattern.format(current + 1, invoice.issue_date);
        // The link names the number, so it is made with it (and never changes after).
        invoice.payment_link = self.tenant.settings.payment_link.as_ref().and_then(|link| {
            crate::payment_codes::PaymentRequest::of(invoice)
                .map(|request| link.for_request(&self.tenant.id, &request))
        });
        Ok(NumberClaim {
            counter: key,
            expected: current,
            number: invoice.number.clone(),
            document_id: invoice.id.clone(),
        })
    }
}

/// Puts the issue of a numbered `content` into `change`: the new document, its number claim,
/// the charge of an invoice, the audit entry and the render job. Returns the document as
/// stored (version 1).
pub(crate) fn issue_into(
    change: &mut Change,
    tenant: &Tenant,
    content: Invoice,
    claim: NumberClaim,
    render: JobInput,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Document {
    let (mut doc, events) = Document::new(content, true, now);
    doc.version = 1;
    if doc.kind() == DocumentKind::Reminder
        && let Some(of) = &doc.content.preceding
    {
        // The reminder names the invoice it is about (the invoice names it back).
        doc.related.push(crate::document::Relation {
            kind: crate::document::RelationKind::Reminds,
            document_id: of.id.clone(),
            number: Some(of.number.as_str().to_string()),
        });
    }
    if doc.kind() == DocumentKind::Invoice {
        change.ledger.push(LedgerEntry {
            id: entry_id(&doc.content.tenant_id, &format!("charge:{}", doc.id())),
            tenant_id: doc.content.tenant_id.clone(),
            customer_key: doc.content.buyer.customer_key.clone(),
            document_id: doc.id().clone(),
            kind: EntryKind::Charge,
            amount: doc.settlement.charged,
            currency: doc.content.currency,
            at: now,
            cause: cause.clone(),
            related_document: None,
            payment: None,
        });
    }
    super::audit(change, &doc, 1, events, cause, now);
    change.jobs.push(render_job(&doc, render, now));
    if doc.kind() == DocumentKind::Invoice {
        // Chased once overdue; the job waits for its day and ends when the invoice is paid.
        change
            .jobs
            .push(super::dunning::first_job(tenant, &doc, now));
    }
    change.numbers.push(claim);
    change.documents.push(DocumentWrite::new(doc.clone()));
    doc
}

/// The job that renders `doc` (and then queues its delivery).
pub(crate) fn render_job(doc: &Document, input: JobInput, now: DateTime<Utc>) -> Job {
    Job::new(
        &doc.content.tenant_id,
        JobKind::RenderDocument,
        doc.id(),
        "",
        now,
    )
    .with_input(input)
}

/// A ledger entry for `doc` recording `fact`.
pub(crate) fn entry(
    doc: &Document,
    kind: EntryKind,
    amount: crate::money::Amount,
    fact: &str,
    cause: &Cause,
    now: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        id: entry_id(&doc.content.tenant_id, fact),
        tenant_id: doc.content.tenant_id.clone(),
        customer_key: doc.content.buyer.customer_key.clone(),
        document_id: doc.id().clone(),
        kind,
        amount,
        currency: doc.content.currency,
        at: now,
        cause: cause.clone(),
        related_document: None,
        payment: None,
    }
}

/// Writes a transition of a stored document (read at `doc.version`) into `change`.
pub(crate) fn update_into(
    change: &mut Change,
    before: &Document,
    (after, events): (Document, Vec<DocumentEvent>),
    cause: &Cause,
    now: DateTime<Utc>,
) -> Document {
    // A second transition of a document in one change (a held draft issued, then paid) is
    // one write at the version first read: a transaction writes an item once.
    if let Some(w) = change
        .documents
        .iter_mut()
        .find(|w| w.document.id() == after.id())
    {
        let version = w.next_version();
        w.document = after;
        let mut stored = w.document.clone();
        stored.version = version;
        super::audit(change, &stored, version, events, cause, now);
        return stored;
    }
    let write = DocumentWrite {
        document: after,
        expected: Some(before.version),
    };
    let version = write.next_version();
    let mut stored = write.document.clone();
    stored.version = version;
    super::audit(change, &stored, version, events, cause, now);
    change.documents.push(write);
    stored
}

/// Issues a stored draft today into `change`: dates and terms follow the issue, the number
/// comes from its series, and it gets what every issued document gets (the charge, the
/// render job, an invoice's first dunning job). `check` refuses content the e-invoice rules
/// do not accept. Returns the issued document as stored.
pub(crate) async fn issue_draft_into(
    change: &mut Change,
    stores: &Stores,
    tenant: &Tenant,
    draft: &Document,
    check: impl Fn(&Invoice) -> Result<(), AppError>,
    cause: &Cause,
    now: DateTime<Utc>,
) -> Result<Document, AppError> {
    let mut invoice = draft.content.clone();
    let days = tenant.settings.payment_terms_days;
    invoice.issue_date = tenant.today(now);
    invoice.issued_at = now;
    invoice.due_date = invoice
        .issue_date
        .checked_add_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(invoice.issue_date);
    invoice.payment_terms = crate::i18n::payment_terms(invoice.language, days, invoice.due_date);
    check(&invoice)?;
    let claim = Numbering::new(stores, tenant).number(&mut invoice).await?;
    let (issued, events) = draft.issue(invoice, now)?;
    let stored = update_into(change, draft, (issued, events), cause, now);
    if stored.kind() == DocumentKind::Invoice {
        change.ledger.push(entry(
            &stored,
            EntryKind::Charge,
            stored.settlement.charged,
            &format!("charge:{}", stored.id()),
            cause,
            now,
        ));
        change
            .jobs
            .push(super::dunning::first_job(tenant, &stored, now));
    }
    change.numbers.push(claim);
    change
        .jobs
        .push(render_job(&stored, JobInput::default(), now));
    Ok(stored)
}
