//! Bank statements and their transactions on the wire.

use faktura_domain::bank::{BankTransaction, Direction, TransactionState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::booking::ExactDecimal;

/// One invoice a transaction paid, and how much.
#[derive(Serialize, ToSchema)]
pub struct AllocationDto {
    pub invoice_id: String,
    pub number: String,
    #[schema(example = "119.00")]
    pub amount: String,
}

/// An imported bank transaction: what the bank said, and what became of it.
#[derive(Serialize, ToSchema)]
pub struct BankTransactionDto {
    pub id: String,
    /// `matched` (recorded as payment), `unmatched` (waiting for review) or `ignored` (a
    /// debit).
    #[schema(example = "unmatched")]
    pub state: String,
    /// How it was matched: `creditor_reference`, `number_in_text`, `end_to_end_id`,
    /// `amount_and_name` or `assigned` (by hand).
    pub rule: Option<String>,
    /// Why it waits for review.
    pub reason: Option<String>,
    pub allocations: Vec<AllocationDto>,
    pub account: String,
    pub statement_id: String,
    #[schema(format = Date)]
    pub booking_date: String,
    #[schema(format = Date)]
    pub value_date: Option<String>,
    /// `credit` or `debit`.
    pub direction: String,
    /// A return or reversal.
    pub reversal: bool,
    #[schema(example = "119.00")]
    pub amount: String,
    pub currency: String,
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    pub remittance: String,
    pub creditor_reference: Option<String>,
    pub end_to_end_id: Option<String>,
    pub bank_reference: Option<String>,
    #[schema(format = DateTime)]
    pub imported_at: String,
}

impl From<&BankTransaction> for BankTransactionDto {
    fn from(b: &BankTransaction) -> Self {
        let t = &b.transaction;
        let (rule, reason, allocations) = match &b.state {
            TransactionState::Matched { rule, allocations } => (
                serde_json::to_value(rule)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string)),
                None,
                allocations
                    .iter()
                    .map(|a| AllocationDto {
                        invoice_id: a.document_id.to_string(),
                        number: a.number.as_str().to_string(),
                        amount: a.amount.to_string(),
                    })
                    .collect(),
            ),
            TransactionState::Unmatched { reason } => (None, Some(reason.clone()), Vec::new()),
            TransactionState::Ignored => (None, None, Vec::new()),
        };
        BankTransactionDto {
            id: b.id.to_string(),
            state: b.state.kind().as_str().to_string(),
            rule,
            reason,
            allocations,
            account: b.account.clone(),
            statement_id: b.statement_id.clone(),
            booking_date: t.booking_date.to_string(),
            value_date: t.value_date.map(|d| d.to_string()),
            direction: match t.direction {
                Direction::Credit => "credit",
                Direction::Debit => "debit",
            }
            .to_string(),
            reversal: t.reversal,
            amount: t.amount.to_string(),
            currency: t.currency.to_string(),
            counterparty_name: t.counterparty_name.clone(),
            counterparty_iban: t.counterparty_iban.clone(),
            remittance: t.remittance.clone(),
            creditor_reference: t.creditor_reference.clone(),
            end_to_end_id: t.end_to_end_id.clone(),
            bank_reference: t.bank_reference.clone(),
            imported_at: b.imported_at.to_rfc3339(),
        }
    }
}

/// What an import did: counts, and every transaction of the file as recorded.
#[derive(Serialize, ToSchema)]
pub struct ImportDto {
    pub statements: usize,
    /// Transactions recorded by this import.
    pub imported: usize,
    /// Transactions recorded before (the same or an overlapping statement): not again.
    pub duplicates: usize,
    pub matched: usize,
    pub unmatched: usize,
    pub ignored: usize,
    pub transactions: Vec<BankTransactionDto>,
}

#[derive(Serialize, ToSchema)]
pub struct BankTransactionListDto {
    pub transactions: Vec<BankTransactionDto>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `POST /v1/bank-transactions/{id}/assign`: the invoice a transaction pays
/// (`invoice_id`, `amount`), or the invoices (`allocations`, each with its amount).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "invoice_id": "inv_0193", "amount": "119.00" }))]
pub struct AssignRequest {
    #[serde(default)]
    pub invoice_id: Option<String>,
    /// At most the transaction's amount; default: all of it.
    #[serde(default)]
    pub amount: Option<ExactDecimal>,
    /// Instead of `invoice_id`: up to 20 invoices, each with its amount; together at most the
    /// transaction's amount.
    #[serde(default)]
    pub allocations: Option<Vec<AssignPart>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignPart {
    pub invoice_id: String,
    pub amount: ExactDecimal,
}
