//! The document aggregate: one issued (or draft) document of any kind with its facets.
//!
//! The *content* ([`Invoice`], after the EN 16931 model) never changes once issued. Around it
//! the facets move, each on its own:
//!
//! - **lifecycle** ([`Lifecycle`]): draft → issued → partially credited → cancelled; a proforma
//!   is issued → converted (its final invoice exists) or voided;
//! - **delivery** ([`Delivery`]): pending → sent, or failed;
//! - **payment** ([`PaymentState`]): derived from the document's [`Settlement`], the sums of its
//!   ledger entries (open → partially paid → paid → overpaid), and *overdue* from the due date.
//!
//! Transitions are pure functions: they take the document and a command and return the changed
//! document with the [`DocumentEvent`]s it causes (for the audit trail and the bus), or a 422
//! naming why not. Persisting them is the store's business ([`crate::ports::Change`]), with
//! the document's `version` as the optimistic lock, so two racing transitions never both apply.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::dunning::{DunningFacet, SentReminder};
use crate::error::{AppError, ErrorKind};
use crate::model::{DocumentKind, Invoice};
use crate::money::Amount;
use crate::values::{EmailAddress, Id};

/// Where a document is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// No number yet; its content may still change.
    Draft,
    /// Numbered and final.
    Issued,
    /// An invoice some credit note corrects in part.
    PartiallyCredited,
    /// An invoice fully credited (cancelled by credit notes).
    Cancelled,
    /// A proforma that was called off (it is not a tax document: nothing to correct).
    Voided,
    /// A proforma whose final invoice was issued.
    Converted,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Draft => "draft",
            Lifecycle::Issued => "issued",
            Lifecycle::PartiallyCredited => "partially_credited",
            Lifecycle::Cancelled => "cancelled",
            Lifecycle::Voided => "voided",
            Lifecycle::Converted => "converted",
        }
    }

    pub fn parse(s: &str) -> Option<Lifecycle> {
        [
            Lifecycle::Draft,
            Lifecycle::Issued,
            Lifecycle::PartiallyCredited,
            Lifecycle::Cancelled,
            Lifecycle::Voided,
            Lifecycle::Converted,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }

    /// Whether the document is numbered (anything but a draft).
    pub fn is_issued(self) -> bool {
        self != Lifecycle::Draft
    }
}

/// Whether the document reached its recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Not sent yet (a delivery job is due or running).
    Pending,
    /// Mailed; `sends` counts every mail that went out (a resend to another address adds one).
    Sent {
        at: DateTime<Utc>,
        message_id: String,
        to: Vec<EmailAddress>,
        #[serde(default = "one")]
        sends: u32,
    },
    /// Given up after the delivery job's last attempt.
    Failed { at: DateTime<Utc>, code: String },
}

fn one() -> u32 {
    1
}

fn is_default(f: &DunningFacet) -> bool {
    *f == DunningFacet::default()
}

impl Delivery {
    pub fn as_str(&self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Sent { .. } => "sent",
            Delivery::Failed { .. } => "failed",
        }
    }

    pub fn is_sent(&self) -> bool {
        matches!(self, Delivery::Sent { .. })
    }
}

/// The sums of a document's ledger entries, kept on the document so its payment state is read
/// with it (the ledger entries are the append-only record they are the sum of).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// What the document claims (an invoice's gross total incl. rounding; 0 for proformas and
    /// credit notes, which are not claims of their own).
    pub charged: Amount,
    /// Money received for it.
    pub paid: Amount,
    /// Money paid back to the customer on it.
    pub refunded: Amount,
    /// Gross amount its credit notes took back.
    pub credited: Amount,
    /// Customer credit applied to it (shown as prepaid amount BT-113).
    pub credit_applied: Amount,
    /// Its surplus that was applied to another document.
    pub credit_used: Amount,
}

impl Settlement {
    /// What the customer owes for the document before any payment: charged − credited.
    pub fn payable(&self) -> Amount {
        self.charged - self.credited
    }

    /// What went toward it: payments and applied credit, less refunds and surplus moved away.
    pub fn settled(&self) -> Amount {
        self.paid + self.credit_applied - self.refunded - self.credit_used
    }

    /// Still owed (negative: the customer has that much credit on this document).
    pub fn open(&self) -> Amount {
        self.payable() - self.settled()
    }

    pub fn state(&self) -> PaymentState {
        let open = self.open();
        if self.payable().is_zero() && self.settled().is_zero() {
            PaymentState::NothingDue
        } else if open.is_negative() {
            PaymentState::Overpaid
        } else if open.is_zero() {
            PaymentState::Paid
        } else if self.settled().is_zero() || self.settled().is_negative() {
            PaymentState::Open
        } else {
            PaymentState::PartiallyPaid
        }
    }
}

/// The payment facet, derived from the [`Settlement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    Open,
    PartiallyPaid,
    Paid,
    /// More came in (or was credited) than the document claims: the customer has credit.
    Overpaid,
    /// Nothing to pay and nothing paid (a proforma, a credit note, a fully credited invoice).
    NothingDue,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Open => "open",
            PaymentState::PartiallyPaid => "partially_paid",
            PaymentState::Paid => "paid",
            PaymentState::Overpaid => "overpaid",
            PaymentState::NothingDue => "nothing_due",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentState> {
        [
            PaymentState::Open,
            PaymentState::PartiallyPaid,
            PaymentState::Paid,
            PaymentState::Overpaid,
            PaymentState::NothingDue,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// One document with its facets. `version` increases with every stored change; a change is
/// written only if the stored version is still the one it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub content: Invoice,
    pub lifecycle: Lifecycle,
    pub delivery: Delivery,
    #[serde(default)]
    pub settlement: Settlement,
    /// Per line (by position − 1): the quantity credit notes took back so far.
    #[serde(default)]
    pub credited_quantities: Vec<Decimal>,
    /// The documents that relate to this one: its credit notes, the final invoice of a
    /// proforma, the invoice a credit note corrects, the invoice that replaced it.
    #[serde(default)]
    pub related: Vec<Relation>,
    /// Whether its PDF (and XML) are stored.
    #[serde(default)]
    pub rendered: bool,
    /// An invoice's dunning: the levels sent, default, pause, exhaustion.
    #[serde(default, skip_serializing_if = "is_default")]
    pub dunning: DunningFacet,
    /// A collective invoice's items and send date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collective: Option<crate::collective::CollectiveFacet>,
    /// Held for the owner's review until its send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::sending::ReviewFacet>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A link to another document and what it is to this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    pub kind: RelationKind,
    pub document_id: Id,
    pub number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// A credit note that corrects this invoice.
    CreditedBy,
    /// The invoice this credit note corrects.
    Corrects,
    /// The final invoice issued for this proforma.
    FinalInvoice,
    /// The proforma this final invoice follows.
    FollowsProforma,
    /// The invoice that replaced this one (booking.updated).
    ReplacedBy,
    /// The invoice this one replaces.
    Replaces,
    /// A reminder or dunning letter for this invoice.
    RemindedBy,
    /// The invoice this reminder is about.
    Reminds,
}

/// What happened to a document: the audit trail's `what`, and the bus's event types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DocumentEvent {
    DraftCreated,
    DraftChanged,
    /// A draft called off before it was issued (its items were withdrawn).
    DraftDiscarded,
    Issued {
        number: String,
    },
    Rendered,
    Sent {
        to: Vec<EmailAddress>,
        message_id: String,
    },
    DeliveryFailed {
        code: String,
    },
    PaymentRecorded {
        entry_id: Id,
        amount: Amount,
    },
    RefundRecorded {
        entry_id: Id,
        amount: Amount,
    },
    Credited {
        credit_note_id: Id,
        amount: Amount,
        fully: bool,
    },
    CreditApplied {
        from: Id,
        amount: Amount,
    },
    CreditUsed {
        to: Id,
        amount: Amount,
    },
    Voided,
    Converted {
        final_invoice_id: Id,
    },
    Replaced {
        by: Id,
    },
    /// A reminder of `level` was issued for this invoice.
    Reminded {
        level: u8,
        reminder_id: Id,
        number: String,
    },
    DunningPaused,
    DunningResumed,
    /// Every level was sent and the last deadline passed; the owner is told.
    DunningExhausted,
    /// The owner's mail about the exhausted dunning went out.
    OwnerNotified,
}

impl DocumentEvent {
    /// The event's name in the audit trail and on the bus (`document.issued`...).
    pub fn name(&self) -> &'static str {
        match self {
            DocumentEvent::DraftCreated => "document.draft_created",
            DocumentEvent::DraftChanged => "document.draft_changed",
            DocumentEvent::DraftDiscarded => "document.draft_discarded",
            DocumentEvent::Issued { .. } => "document.issued",
            DocumentEvent::Rendered => "document.rendered",
            DocumentEvent::Sent { .. } => "document.sent",
            DocumentEvent::DeliveryFailed { .. } => "document.delivery_failed",
            DocumentEvent::PaymentRecorded { .. } => "payment.recorded",
            DocumentEvent::RefundRecorded { .. } => "refund.recorded",
            DocumentEvent::Credited { .. } => "document.credited",
            DocumentEvent::CreditApplied { .. } => "credit.applied",
            DocumentEvent::CreditUsed { .. } => "credit.used",
            DocumentEvent::Voided => "document.voided",
            DocumentEvent::Converted { .. } => "document.converted",
            DocumentEvent::Replaced { .. } => "document.replaced",
            DocumentEvent::Reminded { .. } => "document.reminded",
            DocumentEvent::DunningPaused => "dunning.paused",
            DocumentEvent::DunningResumed => "dunning.resumed",
            DocumentEvent::DunningExhausted => "dunning.exhausted",
            DocumentEvent::OwnerNotified => "dunning.owner_notified",
        }
    }
}

fn refused(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

impl Document {
    /// A freshly planned document: a draft, or (with its number already in the content) issued.
    pub fn new(
        content: Invoice,
        issued: bool,
        now: DateTime<Utc>,
    ) -> (Document, Vec<DocumentEvent>) {
        let lines = content.lines.len();
        let charged = if issued && content.kind == DocumentKind::Invoice {
            content.totals.tax_inclusive + content.totals.rounding
        } else {
            Amount::ZERO
        };
        let event = if issued {
            DocumentEvent::Issued {
                number: content.number.as_str().to_string(),
            }
        } else {
            DocumentEvent::DraftCreated
        };
        let doc = Document {
            content,
            lifecycle: if issued {
                Lifecycle::Issued
            } else {
                Lifecycle::Draft
            },
            delivery: Delivery::Pending,
            // Only the charge: a prepaid amount on the content (payments on its proforma, applied
            // credit) is settled by the ledger entries written with the document, never here.
            settlement: Settlement {
                charged,
                ..Settlement::default()
            },
            credited_quantities: vec![Decimal::ZERO; lines],
            related: Vec::new(),
            rendered: false,
            dunning: DunningFacet::default(),
            collective: None,
            review: None,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        (doc, vec![event])
    }

    pub fn id(&self) -> &Id {
        &self.content.id
    }

    /// The day a draft is issued and mailed by itself (a collective invoice's send date, a
    /// held document's), if it has one.
    pub fn send_on(&self) -> Option<NaiveDate> {
        self.collective
            .as_ref()
            .and_then(|c| c.send_on)
            .or(self.review.map(|r| r.send_on))
    }

    pub fn kind(&self) -> DocumentKind {
        self.content.kind
    }

    pub fn payment_state(&self) -> PaymentState {
        self.settlement.state()
    }

    /// Overdue: an issued invoice with something open after its due date.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.kind() == DocumentKind::Invoice
            && matches!(
                self.lifecycle,
                Lifecycle::Issued | Lifecycle::PartiallyCredited
            )
            && !self.settlement.open().is_negative()
            && !self.settlement.open().is_zero()
            && self.content.due_date < today
    }

    fn touched(mut self, now: DateTime<Utc>) -> Document {
        self.updated_at = now;
        self
    }

    /// Issues a draft: its content (now numbered) becomes final.
    pub fn issue(
        &self,
        numbered: Invoice,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if self.lifecycle != Lifecycle::Draft {
            return Err(refused(
                "already_issued",
                format!(
                    "document {} is issued already ({})",
                    self.id(),
                    self.content.number
                ),
            ));
        }
        let (mut doc, events) = Document::new(numbered, true, now);
        doc.version = self.version;
        doc.created_at = self.created_at;
        doc.related = self.related.clone();
        doc.collective = self.collective.clone();
        doc.review = self.review;
        Ok((doc, events))
    }

    /// Discards a draft (never numbered, so no gap): it stays, voided, for the audit trail.
    pub fn discard(&self, now: DateTime<Utc>) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if self.lifecycle != Lifecycle::Draft {
            return Err(refused(
                "document_issued",
                "an issued document is never discarded; correct it with a credit note",
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.lifecycle = Lifecycle::Voided;
        Ok((doc, vec![DocumentEvent::DraftDiscarded]))
    }

    /// Replaces a draft's content (drafts only: issued content never changes).
    pub fn change_draft(
        &self,
        content: Invoice,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if self.lifecycle != Lifecycle::Draft {
            return Err(refused(
                "document_issued",
                "an issued document never changes; correct it with a credit note",
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.credited_quantities = vec![Decimal::ZERO; content.lines.len()];
        doc.content = content;
        Ok((doc, vec![DocumentEvent::DraftChanged]))
    }

    fn payable_kind(&self, what: &str) -> Result<(), AppError> {
        match (self.kind(), self.lifecycle) {
            (DocumentKind::Invoice, Lifecycle::Issued | Lifecycle::PartiallyCredited) => Ok(()),
            (DocumentKind::Invoice, Lifecycle::Cancelled) => Err(refused(
                "document_cancelled",
                format!(
                    "invoice {} is cancelled; a {what} cannot be recorded on it",
                    self.content.number
                ),
            )),
            (DocumentKind::Invoice, Lifecycle::Draft) => Err(refused(
                "document_draft",
                format!("a draft cannot take a {what}; issue it first"),
            )),
            (kind, _) => Err(refused(
                "not_payable",
                format!(
                    "a {} takes no {what}; record it on the invoice",
                    kind.as_str()
                ),
            )),
        }
    }

    /// Records a payment (any amount: partial, full or over; the surplus is customer credit).
    pub fn record_payment(
        &self,
        entry_id: &Id,
        amount: Amount,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        self.payable_kind("payment")?;
        if amount.is_negative() || amount.is_zero() {
            return Err(
                refused("invalid_amount", "a payment is a positive amount").with_field("amount")
            );
        }
        let mut doc = self.clone().touched(now);
        doc.settlement.paid += amount;
        Ok((
            doc,
            vec![DocumentEvent::PaymentRecorded {
                entry_id: entry_id.clone(),
                amount,
            }],
        ))
    }

    /// Records money paid back to the customer on this document; at most its surplus.
    pub fn record_refund(
        &self,
        entry_id: &Id,
        amount: Amount,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if self.kind() != DocumentKind::Invoice || !self.lifecycle.is_issued() {
            return Err(refused(
                "not_refundable",
                "refunds are recorded on issued invoices",
            ));
        }
        if amount.is_negative() || amount.is_zero() {
            return Err(
                refused("invalid_amount", "a refund is a positive amount").with_field("amount")
            );
        }
        let surplus = Amount::ZERO - self.settlement.open();
        if amount > surplus {
            return Err(refused(
                "refund_exceeds_credit",
                format!("the customer has {surplus} of credit on this invoice; a refund of {amount} is more"),
            )
            .with_field("amount"));
        }
        let mut doc = self.clone().touched(now);
        doc.settlement.refunded += amount;
        Ok((
            doc,
            vec![DocumentEvent::RefundRecorded {
                entry_id: entry_id.clone(),
                amount,
            }],
        ))
    }

    /// Whether credit notes may correct the document: an issued invoice not cancelled yet.
    pub fn creditable(&self) -> Result<(), AppError> {
        if self.kind() != DocumentKind::Invoice {
            return Err(refused(
                "not_creditable",
                format!(
                    "a {} is not corrected by credit notes",
                    self.kind().as_str()
                ),
            ));
        }
        match self.lifecycle {
            Lifecycle::Issued | Lifecycle::PartiallyCredited => {}
            Lifecycle::Cancelled => {
                return Err(refused(
                    "document_cancelled",
                    format!("invoice {} is cancelled already", self.content.number),
                ));
            }
            _ => {
                return Err(refused(
                    "document_draft",
                    "a draft is changed, not credited",
                ));
            }
        }
        Ok(())
    }

    /// Takes back `quantities` (per line, by position − 1) with credit note `credit_note`, whose
    /// gross total is `amount`. Never more than was invoiced, line by line and in total.
    pub fn credit(
        &self,
        credit_note: &Invoice,
        quantities: &[Decimal],
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        self.creditable()?;
        if quantities.len() != self.content.lines.len() {
            return Err(refused(
                "invalid_items",
                "one quantity per invoice line is needed",
            ));
        }
        let mut credited = self.credited_quantities.clone();
        credited.resize(self.content.lines.len(), Decimal::ZERO);
        for (i, (line, q)) in self.content.lines.iter().zip(quantities).enumerate() {
            if q.is_sign_negative() && !q.is_zero() {
                return Err(
                    refused("invalid_items", "quantities to credit are not negative")
                        .with_field(format!("items[{i}].quantity")),
                );
            }
            let left = line.quantity.abs() - credited[i];
            if *q > left {
                return Err(refused(
                    "credit_exceeds_invoice",
                    format!(
                        "line {} has {} left to credit, not {}",
                        line.position,
                        left.normalize(),
                        q.normalize()
                    ),
                )
                .with_field(format!("items[{i}].quantity")));
            }
            credited[i] += *q;
        }
        let amount = credit_note.totals.tax_inclusive + credit_note.totals.rounding;
        let left = self.settlement.charged - self.settlement.credited;
        if amount > left {
            return Err(refused(
                "credit_exceeds_invoice",
                format!(
                    "invoice {} has {left} left to credit, not {amount}",
                    self.content.number
                ),
            ));
        }
        let fully = credited
            .iter()
            .zip(&self.content.lines)
            .all(|(c, l)| *c == l.quantity.abs());
        // A credit note takes money back. One that would raise what is owed (only discount
        // lines) is a new invoice instead.
        if amount.is_negative() {
            return Err(refused(
                "credit_not_positive",
                format!(
                    "these lines credit {amount}: a credit note never raises what is owed; \
                     to charge more, issue a new invoice"
                ),
            )
            .with_field("items"));
        }
        let mut doc = self.clone().touched(now);
        doc.credited_quantities = credited;
        doc.settlement.credited += amount;
        doc.lifecycle = if fully {
            Lifecycle::Cancelled
        } else {
            Lifecycle::PartiallyCredited
        };
        doc.related.push(Relation {
            kind: RelationKind::CreditedBy,
            document_id: credit_note.id.clone(),
            number: Some(credit_note.number.as_str().to_string()).filter(|n| !n.is_empty()),
        });
        Ok((
            doc,
            vec![DocumentEvent::Credited {
                credit_note_id: credit_note.id.clone(),
                amount,
                fully,
            }],
        ))
    }

    /// Calls off a proforma (not a tax document: nothing is credited).
    pub fn void(&self, now: DateTime<Utc>) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if self.kind() != DocumentKind::Proforma {
            return Err(refused(
                "not_voidable",
                "only proformas are voided; invoices are cancelled by credit notes",
            ));
        }
        if self.lifecycle != Lifecycle::Issued {
            return Err(refused(
                "not_voidable",
                format!("the proforma is {} already", self.lifecycle.as_str()),
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.lifecycle = Lifecycle::Voided;
        Ok((doc, vec![DocumentEvent::Voided]))
    }

    /// Marks a proforma as followed by its final invoice.
    pub fn convert(
        &self,
        final_invoice: &Invoice,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if self.kind() != DocumentKind::Proforma || self.lifecycle != Lifecycle::Issued {
            return Err(refused(
                "not_convertible",
                format!(
                    "a {} {} has no final invoice to follow",
                    self.lifecycle.as_str(),
                    self.kind().as_str()
                ),
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.lifecycle = Lifecycle::Converted;
        doc.related.push(Relation {
            kind: RelationKind::FinalInvoice,
            document_id: final_invoice.id.clone(),
            number: Some(final_invoice.number.as_str().to_string()),
        });
        Ok((
            doc,
            vec![DocumentEvent::Converted {
                final_invoice_id: final_invoice.id.clone(),
            }],
        ))
    }

    /// Applies `amount` of customer credit from document `from` (shown as prepaid amount).
    pub fn apply_credit(
        &self,
        from: &Id,
        amount: Amount,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        self.payable_kind("credit")?;
        if amount.is_negative() || amount.is_zero() {
            return Err(
                refused("invalid_amount", "applied credit is a positive amount")
                    .with_field("amount"),
            );
        }
        if amount > self.settlement.open() {
            return Err(refused(
                "credit_exceeds_open",
                "credit is applied up to the open amount",
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.settlement.credit_applied += amount;
        Ok((
            doc,
            vec![DocumentEvent::CreditApplied {
                from: from.clone(),
                amount,
            }],
        ))
    }

    /// Moves `amount` of this document's surplus (customer credit) to document `to`.
    pub fn use_credit(
        &self,
        to: &Id,
        amount: Amount,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if amount.is_negative() || amount.is_zero() {
            return Err(
                refused("invalid_amount", "used credit is a positive amount").with_field("amount"),
            );
        }
        let surplus = Amount::ZERO - self.settlement.open();
        if amount > surplus {
            return Err(refused(
                "credit_exceeds_surplus",
                format!("the document holds {surplus} of credit, not {amount}"),
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.settlement.credit_used += amount;
        Ok((
            doc,
            vec![DocumentEvent::CreditUsed {
                to: to.clone(),
                amount,
            }],
        ))
    }

    pub fn mark_rendered(&self, now: DateTime<Utc>) -> (Document, Vec<DocumentEvent>) {
        let mut doc = self.clone().touched(now);
        doc.rendered = true;
        (doc, vec![DocumentEvent::Rendered])
    }

    pub fn mark_sent(
        &self,
        to: Vec<EmailAddress>,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> (Document, Vec<DocumentEvent>) {
        let sends = match &self.delivery {
            Delivery::Sent { sends, .. } => sends + 1,
            _ => 1,
        };
        let mut doc = self.clone().touched(now);
        doc.delivery = Delivery::Sent {
            at: now,
            message_id: message_id.to_string(),
            to: to.clone(),
            sends,
        };
        (
            doc,
            vec![DocumentEvent::Sent {
                to,
                message_id: message_id.to_string(),
            }],
        )
    }

    pub fn mark_delivery_failed(
        &self,
        code: &str,
        now: DateTime<Utc>,
    ) -> (Document, Vec<DocumentEvent>) {
        let mut doc = self.clone().touched(now);
        if !doc.delivery.is_sent() {
            doc.delivery = Delivery::Failed {
                at: now,
                code: code.to_string(),
            };
        }
        (
            doc,
            vec![DocumentEvent::DeliveryFailed {
                code: code.to_string(),
            }],
        )
    }

    /// A release-1 invoice as a document: issued, sent where it was (`sent`: when, and the
    /// message id), with its gross total charged. An unsent one is rendered again (rendering is
    /// deterministic) before it goes out.
    pub fn from_release1(content: Invoice, sent: Option<(DateTime<Utc>, String)>) -> Document {
        let at = content.issued_at;
        let charged = content.totals.tax_inclusive + content.totals.rounding;
        let delivery = match sent {
            Some((at, message_id)) => Delivery::Sent {
                at,
                message_id,
                to: vec![content.buyer.email.clone()],
                sends: 1,
            },
            None => Delivery::Pending,
        };
        Document {
            credited_quantities: vec![Decimal::ZERO; content.lines.len()],
            lifecycle: Lifecycle::Issued,
            rendered: delivery.is_sent(),
            delivery,
            settlement: Settlement {
                charged,
                ..Settlement::default()
            },
            related: Vec::new(),
            collective: None,
            review: None,
            dunning: DunningFacet::default(),
            version: 1,
            created_at: at,
            updated_at: at,
            content,
        }
    }

    fn dunnable(&self) -> Result<(), AppError> {
        if self.kind() != DocumentKind::Invoice || !self.lifecycle.is_issued() {
            return Err(refused(
                "not_dunnable",
                format!(
                    "only issued invoices are dunned, not a {} {}",
                    self.lifecycle.as_str(),
                    self.kind().as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Whether a reminder of the next level may be sent on `today`: overdue, not paused, not
    /// exhausted. The reason it may not, if not.
    pub fn awaits_reminder(&self, today: NaiveDate) -> Result<(), &'static str> {
        if self.dunnable().is_err() {
            return Err("not_dunnable");
        }
        if !self.is_overdue(today) {
            return Err("not_overdue");
        }
        if self.dunning.paused {
            return Err("dunning_paused");
        }
        if self.dunning.exhausted {
            return Err("dunning_exhausted");
        }
        Ok(())
    }

    /// Records reminder `letter` (of `level`, the next one) for this overdue invoice. Never two
    /// letters of one level, never one for a paid, credited or paused invoice.
    pub fn remind(
        &self,
        level: u8,
        letter: &Invoice,
        default_since: Option<NaiveDate>,
        flat_fee_charged: bool,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if let Err(code) = self.awaits_reminder(letter.issue_date) {
            return Err(refused(
                code,
                format!("invoice {} takes no reminder now", self.content.number),
            ));
        }
        if level != self.dunning.level.saturating_add(1) {
            return Err(refused(
                "reminder_level_sent",
                format!(
                    "invoice {} is at dunning level {}; level {level} is not next",
                    self.content.number, self.dunning.level
                ),
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.dunning.level = level;
        doc.dunning.reminders.push(SentReminder {
            level,
            document_id: letter.id.clone(),
            number: letter.number.as_str().to_string(),
            date: letter.issue_date,
            deadline: letter.due_date,
        });
        if doc.dunning.default_since.is_none() {
            doc.dunning.default_since = default_since;
        }
        doc.dunning.flat_fee_charged |= flat_fee_charged;
        doc.related.push(Relation {
            kind: RelationKind::RemindedBy,
            document_id: letter.id.clone(),
            number: Some(letter.number.as_str().to_string()),
        });
        Ok((
            doc,
            vec![DocumentEvent::Reminded {
                level,
                reminder_id: letter.id.clone(),
                number: letter.number.as_str().to_string(),
            }],
        ))
    }

    /// After the last level's deadline: marks the invoice exhausted (the owner is told).
    pub fn exhaust_dunning(
        &self,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        if let Err(code) = self.awaits_reminder(today) {
            return Err(refused(
                code,
                format!("invoice {} is not to be given up", self.content.number),
            ));
        }
        let mut doc = self.clone().touched(now);
        doc.dunning.exhausted = true;
        Ok((doc, vec![DocumentEvent::DunningExhausted]))
    }

    /// Records that the owner was told of the exhausted dunning.
    pub fn mark_owner_notified(&self, now: DateTime<Utc>) -> (Document, Vec<DocumentEvent>) {
        let mut doc = self.clone().touched(now);
        doc.dunning.owner_notified = true;
        (doc, vec![DocumentEvent::OwnerNotified])
    }

    /// Pauses (`true`) or resumes dunning for this invoice.
    pub fn pause_dunning(
        &self,
        paused: bool,
        now: DateTime<Utc>,
    ) -> Result<(Document, Vec<DocumentEvent>), AppError> {
        self.dunnable()?;
        let mut doc = self.clone().touched(now);
        doc.dunning.paused = paused;
        let event = if paused {
            DocumentEvent::DunningPaused
        } else {
            DocumentEvent::DunningResumed
        };
        Ok((doc, vec![event]))
    }

    pub fn relate(mut self, kind: RelationKind, other: &Invoice) -> Document {
        self.related.push(Relation {
            kind,
            document_id: other.id.clone(),
            number: Some(other.number.as_str().to_string()).filter(|n| !n.is_empty()),
        });
        self
    }
}
