//! The write API's use cases, run synchronously for the caller: invoices (issued at once, or
//! drafts that are changed and then issued), cancellations, credit notes, payments, refunds,
//! resends, customers.
//!
//! With an idempotency key the answer is stored in the same change as what it reports, so a
//! retry replays it and can never make a second document or payment; the same key with
//! another request is a conflict. Refusals (4xx) are stored too: a retry gets the same one.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::audit::Cause;
use crate::booking::{Booking, PaymentFact};
use crate::document::{Document, Lifecycle, RelationKind};
use crate::error::{AppError, ErrorKind};
use crate::invoicing::{customer_from_booking, plan_document};
use crate::jobs::{Job, JobInput, JobKind};
use crate::ledger::{EntryKind, PaymentDetails, entry_id};
use crate::model::{Customer, DocumentKind, DocumentSource, Invoice, Tenant};
use crate::money::Amount;
use crate::ports::{Change, Conflict, DocumentWrite, EInvoiceEncoder, IdempotencyRecord, Stores};
use crate::values::{EmailAddress, Id};

use super::bookings::{credit_into, remaining};
use super::collective;
use super::intake::problem_error;
use super::issuing::{Numbering, entry, issue_draft_into, issue_into, update_into};
use super::schedules::{self, ScheduleUpdate};
use super::{Attempt, commit_with_retry, internal};
use crate::schedule::{Schedule, ScheduleSpec};

/// How long an idempotency key's answer is kept (at least 24 h, as promised).
pub const IDEMPOTENCY_KEPT: TimeDelta = TimeDelta::hours(48);

/// A write the API asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// A new invoice or proforma (a draft when `draft`) for `content`'s customer and items.
    Create {
        kind: DocumentKind,
        content: Booking,
        draft: bool,
    },
    /// New content for a draft.
    ChangeDraft {
        id: Id,
        content: Booking,
    },
    Issue {
        id: Id,
    },
    /// Cancels an invoice by a credit note for all that is left (or voids a proforma).
    Cancel {
        id: Id,
        reason: Option<String>,
    },
    /// A credit note for some lines: (position, quantity).
    CreditNote {
        id: Id,
        lines: Vec<(u32, Decimal)>,
        reason: Option<String>,
    },
    Payment {
        id: Id,
        payment: PaymentFact,
    },
    Refund {
        id: Id,
        amount: Amount,
        reference: Option<String>,
        at: DateTime<Utc>,
    },
    /// Mails the document again, to `to` (or its buyer).
    Send {
        id: Id,
        to: Vec<EmailAddress>,
    },
    /// Pauses (or resumes) an invoice's dunning.
    Dunning {
        id: Id,
        paused: bool,
    },
    /// Pauses (or resumes) the dunning of all of a customer's invoices.
    CustomerDunning {
        customer_key: String,
        paused: bool,
    },
    PutCustomer {
        customer: Customer,
    },
    /// A recurring invoice or instalment plan for `content`'s customer and items.
    CreateSchedule {
        content: Booking,
        spec: ScheduleSpec,
    },
    UpdateSchedule {
        id: Id,
        update: ScheduleUpdate,
    },
    /// Billable items for a customer, collected for a collective invoice. `content` carries
    /// the currency, price basis and items (its customer is not used).
    AddItems {
        customer_key: String,
        content: Booking,
        /// The caller's reference: the items' ids derive from it (sent again, the same items).
        reference: Option<String>,
    },
    /// New description, quantity or price of an item not yet on an issued invoice.
    ChangeItem {
        customer_key: String,
        id: Id,
        change: ItemChange,
    },
    /// A collective invoice (a draft) for a customer's open items (all of them, or `items`).
    CreateCollective {
        customer_key: String,
        items: Option<Vec<Id>>,
        send_on: Option<chrono::NaiveDate>,
    },
    /// A collective draft's items (the whole new list) and send date (`Some(None)`: none).
    ChangeCollective {
        id: Id,
        items: Option<Vec<Id>>,
        send_on: Option<Option<chrono::NaiveDate>>,
    },
}

/// What may change on an item before it is billed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemChange {
    pub description: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
}

impl Command {
    /// The document the command works on, if it names one.
    pub fn document_id(&self) -> Option<&Id> {
        match self {
            Command::ChangeDraft { id, .. }
            | Command::Issue { id }
            | Command::Cancel { id, .. }
            | Command::CreditNote { id, .. }
            | Command::Payment { id, .. }
            | Command::Refund { id, .. }
            | Command::Send { id, .. }
            | Command::Dunning { id, .. }
            | Command::ChangeCollective { id, .. } => Some(id),
            Command::Create { .. }
            | Command::PutCustomer { .. }
            | Command::CustomerDunning { .. }
            | Command::CreateSchedule { .. }
            | Command::UpdateSchedule { .. }
            | Command::AddItems { .. }
            | Command::ChangeItem { .. }
            | Command::CreateCollective { .. } => None,
        }
    }
}

/// What a command made.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The document the command created or changed (a cancellation: the credit note, or the
    /// voided proforma).
    Document(Box<Document>),
    /// A job it queued (a resend).
    Job(Job),
    Customer(Customer),
    Schedule(Box<Schedule>),
    /// A customer's dunning hold as set.
    Hold(crate::dunning::DunningHold),
    /// Billable items as recorded or changed.
    Items(Vec<crate::collective::BillableItem>),
}

impl Outcome {
    fn doc(d: Document) -> Outcome {
        Outcome::Document(Box::new(d))
    }
}

/// Writes the answer (status, body) to a command's result, as it is stored under its key.
pub type Respond = Arc<dyn Fn(&Result<Outcome, AppError>) -> (u16, String) + Send + Sync>;

/// An idempotency key with the request it came with and how its answer is written.
pub struct Idem {
    pub key: String,
    pub request_hash: String,
    pub respond: Respond,
}

/// A command's answer: fresh, or replayed from its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Answered {
    Fresh(Box<Outcome>),
    Replayed(IdempotencyRecord),
}

#[derive(Clone)]
pub struct Commands {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

fn refused(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

impl Commands {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> Commands {
        Commands { stores, einvoice }
    }

    pub async fn run(
        &self,
        tenant_id: &Id,
        command: Command,
        cause: &Cause,
        idem: Option<Idem>,
    ) -> Result<Answered, AppError> {
        let s = &self.stores;
        let tenant = super::tenant(s, tenant_id).await?;
        if let Some(idem) = &idem
            && let Some(stored) = self.stored(tenant_id, idem).await?
        {
            return Ok(Answered::Replayed(stored));
        }
        let result = commit_with_retry(
            s,
            || async {
                let now = s.clock.now();
                let (mut change, outcome) = self.plan(&tenant, &command, cause, now).await?;
                if let Some(idem) = &idem {
                    change.idempotency = Some(record(tenant_id, idem, &Ok(outcome.clone()), now));
                }
                Ok(Attempt::Commit(
                    Box::new(change),
                    Answered::Fresh(Box::new(outcome)),
                ))
            },
            |c| match c {
                // A concurrent request with the same key won: its answer is the answer.
                Conflict::Idempotency(_) => Some(Err(AppError::new(
                    ErrorKind::Conflict,
                    "idempotency_replay",
                    "",
                ))),
                // The payment (or refund) is recorded already: the answer is the document
                // as it stands (read below), the same as for the first report.
                Conflict::LedgerEntry(_) => Some(Err(AppError::new(
                    ErrorKind::Conflict,
                    "already_recorded",
                    "",
                ))),
                _ => None,
            },
        )
        .await;
        let result = match (result, command.document_id()) {
            (Err(e), Some(id)) if e.code == "already_recorded" => self
                .document(tenant_id, id)
                .await
                .map(|d| Answered::Fresh(Box::new(Outcome::doc(d)))),
            (result, _) => result,
        };
        match (result, &idem) {
            (Err(e), Some(idem)) if e.code == "idempotency_replay" => self
                .stored(tenant_id, idem)
                .await?
                .map(Answered::Replayed)
                .ok_or_else(|| internal("idempotency_lost", "the answer under this key vanished")),
            (Err(e), Some(idem)) if is_client_error(&e) => {
                // Refusals are answered the same way on a retry with the key.
                let mut change = Change::for_tenant(tenant_id);
                change.idempotency = Some(record(tenant_id, idem, &Err(e.clone()), s.clock.now()));
                match s.repository.commit(change).await {
                    Ok(()) | Err(crate::ports::CommitError::Conflict(_)) => {}
                    Err(crate::ports::CommitError::Store(err)) => {
                        tracing::warn!(error = %err, "storing a refusal under its idempotency key failed");
                    }
                }
                Err(e)
            }
            (result, _) => result,
        }
    }

    /// A request refused before it became a command (its body did not parse): with a key, the
    /// refusal is stored under it like any other answer, so a retry gets the same refusal and
    /// the key cannot be reused for another request. A key already holding an answer replays
    /// it (or is a conflict for another request).
    pub async fn refuse(
        &self,
        tenant_id: &Id,
        idem: Option<Idem>,
        e: AppError,
    ) -> Result<Answered, AppError> {
        let Some(idem) = idem.filter(|_| is_client_error(&e)) else {
            return Err(e);
        };
        if let Some(stored) = self.stored(tenant_id, &idem).await? {
            return Ok(Answered::Replayed(stored));
        }
        let s = &self.stores;
        let mut change = Change::for_tenant(tenant_id);
        change.idempotency = Some(record(tenant_id, &idem, &Err(e.clone()), s.clock.now()));
        match s.repository.commit(change).await {
            Ok(()) => Err(e),
            Err(crate::ports::CommitError::Conflict(_)) => self
                .stored(tenant_id, &idem)
                .await?
                .map(Answered::Replayed)
                .ok_or(e),
            Err(crate::ports::CommitError::Store(err)) => {
                tracing::warn!(error = %err, "storing a refusal under its idempotency key failed");
                Err(e)
            }
        }
    }

    async fn stored(
        &self,
        tenant_id: &Id,
        idem: &Idem,
    ) -> Result<Option<IdempotencyRecord>, AppError> {
        let since = self.stores.clock.now() - IDEMPOTENCY_KEPT;
        let Some(stored) = self
            .stores
            .repository
            .idempotency(tenant_id, &idem.key, since)
            .await?
        else {
            return Ok(None);
        };
        if stored.request_hash != idem.request_hash {
            return Err(AppError::new(
                ErrorKind::Conflict,
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request",
            )
            .with_field("Idempotency-Key"));
        }
        Ok(Some(stored))
    }

    async fn document(&self, tenant: &Id, id: &Id) -> Result<Document, AppError> {
        self.stores
            .repository
            .document(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found("invoice_not_found", format!("no document '{id}'")))
    }

    fn check_einvoice(&self, invoice: &Invoice) -> Result<(), AppError> {
        let problems = self.einvoice.problems(invoice);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(api_fields(problem_error(&problems, invoice.einvoice)))
        }
    }

    fn planned(
        &self,
        tenant: &Tenant,
        kind: DocumentKind,
        content: &Booking,
        id: &Id,
        now: DateTime<Utc>,
    ) -> Result<Invoice, AppError> {
        if !matches!(kind, DocumentKind::Invoice | DocumentKind::Proforma) {
            return Err(refused(
                "invalid_kind",
                "the API creates invoices and proformas; credit notes come from /credit-notes",
            )
            .with_field("kind"));
        }
        let mut invoice = plan_document(tenant, content, kind, id, tenant.today(now), now)
            .map_err(api_fields)?
            .invoice;
        invoice.booking_id = None;
        invoice.source = DocumentSource::Api;
        self.check_einvoice(&invoice)?;
        Ok(invoice)
    }

    async fn plan(
        &self,
        tenant: &Tenant,
        command: &Command,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(Change, Outcome), AppError> {
        let t = &tenant.id;
        let mut change = Change::for_tenant(t);
        let outcome = match command {
            Command::Create {
                kind,
                content,
                draft,
            } => {
                let id = Id::generate(if *kind == DocumentKind::Proforma {
                    "pro"
                } else {
                    "inv"
                });
                let mut invoice = self.planned(tenant, *kind, content, &id, now)?;
                change
                    .customers
                    .push(customer_from_booking(content, tenant, now));
                if *draft {
                    let (mut doc, events) = Document::new(invoice, false, now);
                    doc.version = 1;
                    super::audit(&mut change, &doc, 1, events, cause, now);
                    change.documents.push(DocumentWrite::new(doc.clone()));
                    Outcome::doc(doc)
                } else {
                    let claim = Numbering::new(&self.stores, tenant)
                        .number(&mut invoice)
                        .await?;
                    Outcome::doc(issue_into(
                        &mut change,
                        tenant,
                        invoice,
                        claim,
                        JobInput::default(),
                        cause,
                        now,
                    ))
                }
            }
            Command::ChangeDraft { id, content } => {
                let doc = self.document(t, id).await?;
                if doc.collective.is_some() {
                    return Err(refused(
                        "collective_draft",
                        "a collective invoice is changed through PATCH /v1/collective-invoices/{id} (its items) and PATCH /v1/customers/{id}/items/{item} (their prices)",
                    ));
                }
                let mut invoice = self.planned(tenant, doc.kind(), content, id, now)?;
                if doc.review.is_some() {
                    // A held booking invoice stays the booking's.
                    invoice.booking_id = doc.content.booking_id.clone();
                    invoice.source = doc.content.source;
                }
                change
                    .customers
                    .push(customer_from_booking(content, tenant, now));
                Outcome::doc(update_into(
                    &mut change,
                    &doc,
                    doc.change_draft(invoice, now)?,
                    cause,
                    now,
                ))
            }
            Command::Issue { id } => {
                let doc = self.document(t, id).await?;
                if doc.lifecycle != Lifecycle::Draft {
                    return Err(refused(
                        "already_issued",
                        format!(
                            "{} {} is issued already",
                            doc.kind().as_str(),
                            doc.content.number
                        ),
                    ));
                }
                let stored = issue_draft_into(
                    &mut change,
                    &self.stores,
                    tenant,
                    &doc,
                    |i| self.check_einvoice(i),
                    cause,
                    now,
                )
                .await?;
                Outcome::doc(stored)
            }
            Command::AddItems {
                customer_key,
                content,
                reference,
            } => {
                // Recorded now by this clock (the simulated one too): an item without a
                // service date counts for today.
                let content = &Booking {
                    booked_at: now,
                    ..content.clone()
                };
                let Some(buyer) = self.stores.repository.customer(t, customer_key).await? else {
                    return Err(AppError::not_found(
                        "customer_not_found",
                        "no such customer; customers come with their first booking or document",
                    ));
                };
                // Planned once as an invoice: prices, VAT and the e-invoice rules are checked
                // now, not when the collective invoice is made.
                let probe = Id::generate("inv");
                let mut check = content.clone();
                check.customer = crate::schedule::booking_customer(&buyer);
                self.planned(tenant, DocumentKind::Invoice, &check, &probe, now)?;
                let items: Vec<_> = content
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let id = match reference {
                            Some(r) => collective::item_id(
                                t,
                                &format!("api\u{0}{customer_key}\u{0}{r}\u{0}{i}"),
                            ),
                            None => Id::generate("itm"),
                        };
                        collective::new_item(
                            tenant,
                            id,
                            customer_key,
                            content,
                            item,
                            crate::collective::ItemSource::Api,
                            reference.clone(),
                            now,
                        )
                    })
                    .collect();
                if let Some(first) = items.first()
                    && reference.is_some()
                    && let Some(existing) = self
                        .stores
                        .repository
                        .billable_item(t, customer_key, &first.id)
                        .await?
                {
                    // Recorded already under this reference: the same answer.
                    let mut found = vec![existing];
                    for item in items.iter().skip(1) {
                        if let Some(i) = self
                            .stores
                            .repository
                            .billable_item(t, customer_key, &item.id)
                            .await?
                        {
                            found.push(i);
                        }
                    }
                    return Ok((change, Outcome::Items(found)));
                }
                collective::record_into(&mut change, &self.stores, tenant, &items, now).await?;
                Outcome::Items(items)
            }
            Command::ChangeItem {
                customer_key,
                id,
                change: what,
            } => {
                let item = self
                    .stores
                    .repository
                    .billable_item(t, customer_key, id)
                    .await?
                    .ok_or_else(|| {
                        AppError::not_found(
                            "item_not_found",
                            format!("the customer has no item {id}"),
                        )
                    })?;
                let draft = match item.claimed_by() {
                    Some(doc_id) => {
                        let doc = self.document(t, doc_id).await?;
                        if doc.lifecycle != Lifecycle::Draft {
                            return Err(refused(
                                "item_billed",
                                format!(
                                    "the item is on invoice {}; correct it with a credit note",
                                    doc.content.number
                                ),
                            ));
                        }
                        Some(doc)
                    }
                    None if item.is_open() => None,
                    None => {
                        return Err(refused("item_withdrawn", "the item was withdrawn"));
                    }
                };
                let mut changed = item.clone();
                if let Some(d) = &what.description {
                    changed.item.description = d.clone();
                }
                if let Some(q) = what.quantity {
                    changed.item.quantity = q;
                }
                if let Some(p) = what.unit_price {
                    changed.item.unit_price = p;
                }
                changed.updated_at = now;
                let mut probe = Booking {
                    id: Id::generate("chk"),
                    booked_at: now,
                    currency: changed.currency,
                    prices: changed.prices,
                    customer: crate::schedule::booking_customer(
                        &self
                            .stores
                            .repository
                            .customer(t, customer_key)
                            .await?
                            .ok_or_else(|| internal("customer_missing", "the customer vanished"))?,
                    ),
                    items: vec![changed.item.clone()],
                    reference: None,
                    note: None,
                };
                probe.items[0].service = Some(crate::model::ServicePeriod::day(changed.day));
                self.planned(
                    tenant,
                    DocumentKind::Invoice,
                    &probe,
                    &Id::generate("inv"),
                    now,
                )?;
                change.items.push(crate::ports::ItemWrite::update(
                    changed.clone(),
                    item.version,
                ));
                if let Some(draft) = draft {
                    let mut items = Vec::new();
                    for i in draft.collective.iter().flat_map(|c| c.items.iter()) {
                        if i == &changed.id {
                            items.push(changed.clone());
                        } else if let Some(other) = self
                            .stores
                            .repository
                            .billable_item(t, customer_key, i)
                            .await?
                        {
                            items.push(other);
                        }
                    }
                    collective::rebuild_into(
                        &mut change,
                        &self.stores,
                        tenant,
                        &draft,
                        &items,
                        cause,
                        now,
                    )
                    .await?;
                }
                let mut stored = changed;
                stored.version = item.version + 1;
                Outcome::Items(vec![stored])
            }
            Command::CreateCollective {
                customer_key,
                items,
                send_on,
            } => {
                let today = tenant.today(now);
                if let Some(day) = send_on
                    && *day < today
                {
                    return Err(AppError::invalid("send_on", "the send date is in the past"));
                }
                let items = collective::open_items(
                    &self.stores,
                    tenant,
                    customer_key,
                    items.as_deref(),
                    None,
                )
                .await?;
                for (i, item) in items.iter().enumerate() {
                    if !item.is_open() {
                        return Err(refused(
                            "item_not_open",
                            format!("item {} is {} already", item.id, item.state.as_str()),
                        )
                        .with_field(format!("items[{i}]")));
                    }
                }
                if items.is_empty() {
                    return Err(refused(
                        "no_open_items",
                        "the customer has no open items to bill",
                    ));
                }
                let doc = collective::draft_into(
                    &mut change,
                    &self.stores,
                    tenant,
                    customer_key,
                    &items,
                    collective::DraftPlan {
                        send_on: *send_on,
                        due_on: today,
                        period: None,
                    },
                    cause,
                    now,
                )
                .await?;
                Outcome::doc(doc)
            }
            Command::ChangeCollective { id, items, send_on } => {
                let doc = self.document(t, id).await?;
                let key = doc.content.buyer.customer_key.clone();
                let items = match items {
                    Some(ids) => {
                        let read =
                            collective::open_items(&self.stores, tenant, &key, Some(ids), None)
                                .await?;
                        for (i, item) in read.iter().enumerate() {
                            if !item.is_open() && item.claimed_by() != Some(id) {
                                return Err(refused(
                                    "item_not_open",
                                    format!("item {} is {} already", item.id, item.state.as_str()),
                                )
                                .with_field(format!("items[{i}]")));
                            }
                        }
                        if read.is_empty() {
                            return Err(AppError::invalid(
                                "items",
                                "a collective invoice bills at least one item",
                            ));
                        }
                        Some(read)
                    }
                    None => None,
                };
                Outcome::doc(
                    collective::change_into(
                        &mut change,
                        &self.stores,
                        tenant,
                        &doc,
                        items,
                        *send_on,
                        cause,
                        now,
                    )
                    .await?,
                )
            }
            Command::Cancel { id, reason } => {
                let doc = self.document(t, id).await?;
                match doc.kind() {
                    DocumentKind::Proforma => {
                        Outcome::doc(update_into(&mut change, &doc, doc.void(now)?, cause, now))
                    }
                    DocumentKind::Invoice => {
                        if doc.lifecycle == Lifecycle::Draft {
                            return Err(refused(
                                "document_draft",
                                "a draft is not cancelled; it is never issued",
                            ));
                        }
                        let credit_id = Id::generate("crn");
                        credit_into(
                            &self.stores,
                            tenant,
                            &doc,
                            &remaining(&doc),
                            &credit_id,
                            reason.as_deref(),
                            &mut change,
                            cause,
                            now,
                        )
                        .await
                        .map_err(api_fields)?;
                        Outcome::doc(new_document(&change, &credit_id)?)
                    }
                    DocumentKind::CreditNote => {
                        return Err(refused(
                            "not_cancellable",
                            "a credit note is not cancelled; issue a new invoice instead",
                        ));
                    }
                    DocumentKind::Reminder => {
                        return Err(refused(
                            "not_cancellable",
                            "a reminder is not cancelled; record the payment, or pause the invoice's dunning",
                        ));
                    }
                }
            }
            Command::CreditNote { id, lines, reason } => {
                let doc = self.document(t, id).await?;
                let mut quantities = vec![Decimal::ZERO; doc.content.lines.len()];
                for (i, (position, q)) in lines.iter().enumerate() {
                    let slot = position
                        .checked_sub(1)
                        .and_then(|p| quantities.get_mut(p as usize))
                        .ok_or_else(|| {
                            refused(
                                "invalid_items",
                                format!("the invoice has no line {position}"),
                            )
                            .with_field(format!("items[{i}].position"))
                        })?;
                    *slot += *q;
                }
                let credit_id = Id::generate("crn");
                credit_into(
                    &self.stores,
                    tenant,
                    &doc,
                    &quantities,
                    &credit_id,
                    reason.as_deref(),
                    &mut change,
                    cause,
                    now,
                )
                .await
                .map_err(api_fields)?;
                Outcome::doc(new_document(&change, &credit_id)?)
            }
            Command::Payment { id, payment } => {
                let doc = self.document(t, id).await?;
                if payment.currency != doc.content.currency {
                    return Err(refused(
                        "currency_mismatch",
                        format!(
                            "the document is in {}; payments are recorded in its currency only",
                            doc.content.currency
                        ),
                    )
                    .with_field("currency"));
                }
                let fact = match &payment.reference {
                    Some(r) => format!("api-payment:{id}:ref:{r}"),
                    None => format!(
                        "api-payment:{id}:{}:{}",
                        payment.paid_at.to_rfc3339(),
                        payment.amount
                    ),
                };
                let eid = entry_id(t, &fact);
                let paid = update_into(
                    &mut change,
                    &doc,
                    doc.record_payment(&eid, payment.amount, now)?,
                    cause,
                    now,
                );
                let mut e = entry(&paid, EntryKind::Payment, payment.amount, &fact, cause, now);
                e.payment = Some(PaymentDetails {
                    method: payment.method.clone(),
                    reference: payment.reference.clone(),
                    paid_at: payment.paid_at,
                });
                change.ledger.push(e);
                Outcome::doc(paid)
            }
            Command::Refund {
                id,
                amount,
                reference,
                at,
            } => {
                let doc = self.document(t, id).await?;
                let fact = match reference {
                    Some(r) => format!("api-refund:{id}:ref:{r}"),
                    None => format!("api-refund:{id}:{}:{amount}", at.to_rfc3339()),
                };
                let eid = entry_id(t, &fact);
                let refunded = update_into(
                    &mut change,
                    &doc,
                    doc.record_refund(&eid, *amount, now)?,
                    cause,
                    now,
                );
                change.ledger.push(entry(
                    &refunded,
                    EntryKind::Refund,
                    *amount,
                    &fact,
                    cause,
                    now,
                ));
                Outcome::doc(refunded)
            }
            Command::Send { id, to } => {
                let doc = self.document(t, id).await?;
                if !doc.lifecycle.is_issued() {
                    return Err(refused(
                        "document_draft",
                        "a draft is issued before it is sent",
                    ));
                }
                if !doc.rendered {
                    return Err(AppError::new(
                        ErrorKind::Unavailable,
                        "not_rendered",
                        "the document's files are being made; send it in a moment",
                    ));
                }
                let with_contract = doc
                    .related
                    .iter()
                    .any(|r| r.kind == RelationKind::FollowsProforma)
                    && tenant.settings.contract.enabled;
                let job = Job::new(
                    t,
                    JobKind::DeliverDocument,
                    id,
                    &format!("send:{}", Id::generate("s")),
                    now,
                )
                .with_input(JobInput {
                    to: if to.is_empty() {
                        vec![doc.content.buyer.email.clone()]
                    } else {
                        to.clone()
                    },
                    with_contract,
                    ..JobInput::default()
                });
                change.jobs.push(job.clone());
                Outcome::Job(job)
            }
            Command::Dunning { id, paused } => {
                let doc = self.document(t, id).await?;
                Outcome::doc(super::dunning::pause_into(
                    &mut change,
                    tenant,
                    &doc,
                    *paused,
                    cause,
                    now,
                )?)
            }
            Command::CustomerDunning {
                customer_key,
                paused,
            } => {
                if self
                    .stores
                    .repository
                    .customer(t, customer_key)
                    .await?
                    .is_none()
                {
                    return Err(AppError::not_found(
                        "customer_not_found",
                        "no such customer; customers come with their first document",
                    ));
                }
                let hold = crate::dunning::DunningHold {
                    customer_key: customer_key.clone(),
                    paused: *paused,
                    at: now,
                };
                change.holds.push(hold.clone());
                Outcome::Hold(hold)
            }
            Command::PutCustomer { customer } => {
                change.customers.push(customer.clone());
                Outcome::Customer(customer.clone())
            }
            Command::CreateSchedule { content, spec } => {
                let schedule = schedules::plan_schedule(
                    tenant,
                    content,
                    spec,
                    None,
                    self.einvoice.as_ref(),
                    now,
                )
                .map_err(|e| schedules::wire_field(api_fields(e), "schedule."))?;
                change
                    .customers
                    .push(customer_from_booking(content, tenant, now));
                schedules::create_into(&mut change, tenant, &schedule, now);
                Outcome::Schedule(Box::new(schedule))
            }
            Command::UpdateSchedule { id, update } => {
                let schedule = self
                    .stores
                    .repository
                    .schedule(t, id)
                    .await?
                    .ok_or_else(|| {
                        AppError::not_found("schedule_not_found", format!("no schedule '{id}'"))
                    })?;
                let after = schedules::update_into(
                    &mut change,
                    tenant,
                    &schedule,
                    update,
                    self.einvoice.as_ref(),
                    now,
                )
                .map_err(api_fields)?;
                Outcome::Schedule(Box::new(after))
            }
        };
        Ok((change, outcome))
    }
}

/// The document the change creates under `id`, as stored.
fn new_document(change: &Change, id: &Id) -> Result<Document, AppError> {
    change
        .documents
        .iter()
        .find(|w| w.expected.is_none() && w.document.id() == id)
        .map(|w| {
            let mut d = w.document.clone();
            d.version = w.next_version();
            d
        })
        .ok_or_else(|| internal("no_document", "the change made no document"))
}

fn record(
    tenant: &Id,
    idem: &Idem,
    result: &Result<Outcome, AppError>,
    now: DateTime<Utc>,
) -> IdempotencyRecord {
    let (status, body) = (idem.respond)(result);
    IdempotencyRecord {
        tenant_id: tenant.clone(),
        key: idem.key.clone(),
        request_hash: idem.request_hash.clone(),
        status,
        body,
        created_at: now,
    }
}

fn is_client_error(e: &AppError) -> bool {
    !matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal)
        && e.code != "idempotency_key_reused"
}

/// Webhook field paths (`data.items[0]…`) in the API's terms (`items[0]…`).
fn api_fields(mut e: AppError) -> AppError {
    if let Some(f) = &e.field
        && let Some(rest) = f.strip_prefix("data.")
    {
        e.field = Some(rest.to_string());
    }
    e
}
