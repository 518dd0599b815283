//! The customer ledger: every money fact about a customer as an append-only entry. A document's
//! [`Settlement`](crate::document::Settlement) is the sum of its entries, a customer's balance
//! the sum of all of theirs (positive: the customer owes; negative: they have credit).
//!
//! Entry ids come from the business fact they record (a payment's reference, the credit note
//! that credits), so the same fact reported twice is one entry: the second write is refused
//! by the store as a duplicate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::Cause;
use crate::document::Settlement;
use crate::money::{Amount, Currency};
use crate::values::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// An invoice was issued: its gross total is claimed (+).
    Charge,
    /// Money came in for a document (−).
    Payment,
    /// Money went back to the customer (+).
    Refund,
    /// A credit note took back part of an invoice (−, on the invoice it corrects).
    Credit,
    /// Customer credit was applied to a new invoice (−, on that invoice).
    CreditApplied,
    /// A document's surplus was moved to another one (+, on the document it came from).
    CreditUsed,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Charge => "charge",
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
            EntryKind::Credit => "credit",
            EntryKind::CreditApplied => "credit_applied",
            EntryKind::CreditUsed => "credit_used",
        }
    }

    /// Whether the entry raises (+1) or lowers (−1) what the customer owes.
    pub fn sign(self) -> i8 {
        match self {
            EntryKind::Charge | EntryKind::Refund | EntryKind::CreditUsed => 1,
            EntryKind::Payment | EntryKind::Credit | EntryKind::CreditApplied => -1,
        }
    }
}

/// How a payment was made, as the platform or the bank said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDetails {
    pub method: Option<String>,
    pub reference: Option<String>,
    pub paid_at: DateTime<Utc>,
}

/// One immutable ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: Id,
    pub tenant_id: Id,
    pub customer_key: String,
    pub document_id: Id,
    pub kind: EntryKind,
    /// The magnitude; the kind gives the sign.
    pub amount: Amount,
    pub currency: Currency,
    pub at: DateTime<Utc>,
    pub cause: Cause,
    /// The other document of the fact: the credit note of a `credit`, the source of applied
    /// credit, the target of used credit.
    #[serde(default)]
    pub related_document: Option<Id>,
    #[serde(default)]
    pub payment: Option<PaymentDetails>,
}

impl LedgerEntry {
    /// The signed amount: what it adds to the customer's balance.
    pub fn signed(&self) -> Amount {
        if self.kind.sign() > 0 {
            self.amount
        } else {
            Amount::ZERO - self.amount
        }
    }

    /// Adds the entry to a document's settlement.
    pub fn apply_to(&self, s: &mut Settlement) {
        match self.kind {
            EntryKind::Charge => s.charged += self.amount,
            EntryKind::Payment => s.paid += self.amount,
            EntryKind::Refund => s.refunded += self.amount,
            EntryKind::Credit => s.credited += self.amount,
            EntryKind::CreditApplied => s.credit_applied += self.amount,
            EntryKind::CreditUsed => s.credit_used += self.amount,
        }
    }
}

/// The settlement of one document from its entries.
pub fn settlement_of<'a>(entries: impl IntoIterator<Item = &'a LedgerEntry>) -> Settlement {
    let mut s = Settlement::default();
    for e in entries {
        e.apply_to(&mut s);
    }
    s
}

/// A customer's balance: the sum of their entries (negative: credit owed to the customer).
pub fn balance<'a>(entries: impl IntoIterator<Item = &'a LedgerEntry>) -> Amount {
    entries.into_iter().map(LedgerEntry::signed).sum()
}

/// A stable id for the entry recording `fact` (same fact, same id).
pub fn entry_id(tenant: &Id, fact: &str) -> Id {
    let hash = crate::ports::sha256_hex(format!("{tenant}\u{0}{fact}").as_bytes());
    format!("led_{}", hash.get(..32).unwrap_or(&hash))
        .parse()
        .unwrap_or_else(|_| Id::generate("led"))
}
