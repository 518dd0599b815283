//! Bank statements in: each transaction is recorded once (by the bank's reference, else a
//! hash of what it says), matched against the tenant's open invoices and, when matched,
//! recorded as their payment in the same commit, which also stops their dunning. What is not
//! sure waits for the owner in the review list, who assigns it by hand.

use chrono::{DateTime, Utc};

use crate::audit::Cause;
use crate::bank::{
    Allocation, BankStatement, BankTransaction, Decision, MatchRule, Matcher, OpenItem,
    StatementTransaction, TransactionState, TransactionStateKind,
};
use crate::document::Document;
use crate::error::{AppError, ErrorKind};
use crate::ledger::{EntryKind, PaymentDetails};
use crate::model::DocumentKind;
use crate::money::Amount;
use crate::ports::{BankTransactionWrite, Change, Conflict, DocumentFilter, Stores};
use crate::values::{Id, InvoiceNumber};

use super::issuing::{entry, update_into};
use super::{Attempt, commit_with_retry};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub statements: usize,
    /// Every transaction of the file, as recorded (new or from an earlier import).
    pub transactions: Vec<BankTransaction>,
    /// How many were recorded before (the same or an overlapping statement).
    pub duplicates: usize,
}

fn refused(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message)
}

#[derive(Clone)]
pub struct Banking {
    stores: Stores,
}

/// The method a bank transfer's payment is recorded with.
const METHOD: &str = "bank_transfer";

impl Banking {
    pub fn new(stores: Stores) -> Banking {
        Banking { stores }
    }

    /// The tenant's invoices that can still be paid, and the numbers of those that cannot
    /// (paid, overpaid, credited) and of proformas, for matching.
    async fn open_items(
        &self,
        tenant: &Id,
    ) -> Result<(Vec<OpenItem>, Vec<InvoiceNumber>), AppError> {
        let mut items = Vec::new();
        let mut closed = Vec::new();
        // One pass over the tenant's invoices and one over its proformas (a number index is
        // for tenants with far more documents than ours have).
        for kind in [DocumentKind::Invoice, DocumentKind::Proforma] {
            let filter = DocumentFilter {
                kind: Some(kind),
                ..DocumentFilter::default()
            };
            let mut cursor = None;
            loop {
                let page = self
                    .stores
                    .repository
                    .documents(tenant, &filter, cursor.as_deref(), 500)
                    .await?;
                for d in &page.documents {
                    match open_item(d) {
                        Some(item) => items.push(item),
                        None if d.lifecycle.is_issued()
                            && matches!(
                                d.kind(),
                                DocumentKind::Invoice | DocumentKind::Proforma
                            ) =>
                        {
                            closed.push(d.content.number.clone());
                        }
                        None => {}
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok((items, closed))
    }

    /// Records every transaction of `statements` once and pays what it finds.
    pub async fn import(
        &self,
        tenant_id: &Id,
        statements: &[BankStatement],
        cause: &Cause,
    ) -> Result<ImportSummary, AppError> {
        super::tenant(&self.stores, tenant_id).await?;
        let (open, closed) = self.open_items(tenant_id).await?;
        let mut matcher = Matcher::new(open).with_closed(closed);
        let mut summary = ImportSummary {
            statements: statements.len(),
            transactions: Vec::new(),
            duplicates: 0,
        };
        for statement in statements {
            for tx in &statement.transactions {
                let (recorded, new) = self
                    .record(tenant_id, statement, tx, &matcher, cause)
                    .await?;
                if !new {
                    summary.duplicates += 1;
                }
                // What it paid is no longer open for the next transaction of the file.
                if new && let TransactionState::Matched { allocations, .. } = &recorded.state {
                    for a in allocations {
                        matcher.paid(&a.document_id, a.amount);
                    }
                }
                summary.transactions.push(recorded);
            }
        }
        Ok(summary)
    }

    /// Records one transaction; false when it was recorded already.
    async fn record(
        &self,
        tenant_id: &Id,
        statement: &BankStatement,
        tx: &StatementTransaction,
        matcher: &Matcher,
        cause: &Cause,
    ) -> Result<(BankTransaction, bool), AppError> {
        let s = &self.stores;
        let id = BankTransaction::id_for(tx, &statement.account);
        let recorded = commit_with_retry(
            s,
            || async {
                if let Some(existing) = s.repository.bank_transaction(tenant_id, &id).await? {
                    return Ok(Attempt::Done((existing, false)));
                }
                let now = s.clock.now();
                let mut change = Change::for_tenant(tenant_id);
                let mut state = match matcher.decide(tx) {
                    Decision::Matched { rule, allocations } => {
                        TransactionState::Matched { rule, allocations }
                    }
                    Decision::Review(reason) => TransactionState::Unmatched { reason },
                    Decision::Ignored => TransactionState::Ignored,
                };
                if let TransactionState::Matched { allocations, .. } = &state {
                    // A document that cannot take the payment any more (cancelled meanwhile)
                    // leaves the transaction for the owner.
                    if let Err(e) = self
                        .pay_into(&mut change, tenant_id, &id, tx, allocations, cause, now)
                        .await
                    {
                        // Only a refusal of the documents themselves; an outage is retried.
                        if matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal) {
                            return Err(e);
                        }
                        change = Change::for_tenant(tenant_id);
                        state = TransactionState::Unmatched {
                            reason: format!("could not be recorded: {}", e.message),
                        };
                    }
                }
                let record = BankTransaction {
                    id: id.clone(),
                    tenant_id: tenant_id.clone(),
                    account: statement.account.clone(),
                    statement_id: statement.id.clone(),
                    imported_at: now,
                    version: 1,
                    transaction: tx.clone(),
                    state,
                };
                change.bank_transactions.push(BankTransactionWrite {
                    transaction: record.clone(),
                    expected: None,
                });
                Ok(Attempt::Commit(Box::new(change), (record, true)))
            },
            |conflict| match conflict {
                // Another import recorded it (or its payment) meanwhile.
                Conflict::BankTransaction(_) | Conflict::LedgerEntry(_) => Some(Err(
                    AppError::new(ErrorKind::Conflict, "already_recorded", ""),
                )),
                _ => None,
            },
        )
        .await;
        match recorded {
            Err(e) if e.code == "already_recorded" => {
                let existing = s
                    .repository
                    .bank_transaction(tenant_id, &id)
                    .await?
                    .ok_or_else(|| {
                        super::internal("bank_transaction_lost", "a recorded transaction is gone")
                    })?;
                Ok((existing, false))
            }
            other => other,
        }
    }

    /// Puts the payments of `allocations` into `change`: each document's payment and its
    /// ledger entry, whose id names the transaction (recorded once, whatever runs again).
    #[allow(clippy::too_many_arguments)]
    async fn pay_into(
        &self,
        change: &mut Change,
        tenant_id: &Id,
        tx_id: &Id,
        tx: &StatementTransaction,
        allocations: &[Allocation],
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        for a in allocations {
            let doc = self
                .stores
                .repository
                .document(tenant_id, &a.document_id)
                .await?
                .ok_or_else(|| {
                    AppError::not_found(
                        "document_not_found",
                        format!("no document '{}'", a.document_id),
                    )
                })?;
            if doc.content.currency != tx.currency {
                return Err(refused(
                    "currency_mismatch",
                    format!("the document is in {}", doc.content.currency),
                ));
            }
            let fact = format!("bank:{tx_id}:{}", a.document_id);
            let eid = crate::ledger::entry_id(tenant_id, &fact);
            let paid = update_into(
                change,
                &doc,
                doc.record_payment(&eid, a.amount, now)?,
                cause,
                now,
            );
            let mut e = entry(&paid, EntryKind::Payment, a.amount, &fact, cause, now);
            e.payment = Some(PaymentDetails {
                method: Some(METHOD.to_string()),
                reference: tx
                    .bank_reference
                    .clone()
                    .or_else(|| Some(tx_id.to_string())),
                paid_at: tx
                    .booking_date
                    .and_hms_opt(12, 0, 0)
                    .map_or(now, |d| d.and_utc()),
            });
            change.ledger.push(e);
        }
        Ok(())
    }

    /// The owner's decision for a transaction in the review list: it pays `document_id`
    /// (`amount`, at most the transaction's; all of it when not given).
    pub async fn assign(
        &self,
        tenant_id: &Id,
        id: &Id,
        document_id: &Id,
        amount: Option<Amount>,
        cause: &Cause,
    ) -> Result<BankTransaction, AppError> {
        self.assign_parts(tenant_id, id, &[(document_id.clone(), amount)], cause)
            .await
    }

    /// The owner's decision, spread over several invoices: each `(document, amount)` (an
    /// amount may be left out only when there is one part: then all of it), together at most
    /// the transaction's amount, each document once. Errors name `allocations[i]`'s field.
    pub async fn assign_parts(
        &self,
        tenant_id: &Id,
        id: &Id,
        parts: &[(Id, Option<Amount>)],
        cause: &Cause,
    ) -> Result<BankTransaction, AppError> {
        if parts.is_empty() || parts.len() > crate::bank::MAX_ALLOCATIONS {
            return Err(refused(
                "invalid_allocations",
                format!("assign to 1 to {} invoices", crate::bank::MAX_ALLOCATIONS),
            )
            .with_field("allocations"));
        }
        let field = |i: usize, name: &str| {
            if parts.len() == 1 {
                name.to_string()
            } else {
                format!("allocations[{i}].{name}")
            }
        };
        for (i, (doc, amount)) in parts.iter().enumerate() {
            if parts.len() > 1 && amount.is_none() {
                return Err(refused("invalid_amount", "each part names its amount")
                    .with_field(field(i, "amount")));
            }
            if parts.iter().take(i).any(|(d, _)| d == doc) {
                return Err(refused("invalid_allocations", "each invoice once")
                    .with_field(field(i, "invoice_id")));
            }
        }
        let s = &self.stores;
        commit_with_retry(
            s,
            || async {
                let current = s
                    .repository
                    .bank_transaction(tenant_id, id)
                    .await?
                    .ok_or_else(|| {
                        AppError::not_found(
                            "bank_transaction_not_found",
                            format!("no bank transaction '{id}'"),
                        )
                    })?;
                let tx = &current.transaction;
                match &current.state {
                    TransactionState::Unmatched { .. } => {}
                    TransactionState::Matched { .. } => {
                        return Err(AppError::new(
                            ErrorKind::Conflict,
                            "bank_transaction_matched",
                            "this transaction is recorded as a payment already",
                        ));
                    }
                    TransactionState::Ignored => {
                        return Err(refused(
                            "bank_transaction_debit",
                            "a debit is no payment to assign",
                        ));
                    }
                }
                if tx.direction == crate::bank::Direction::Debit {
                    return Err(refused(
                        "bank_transaction_debit",
                        "a debit is no payment to assign",
                    ));
                }
                let mut allocations = Vec::with_capacity(parts.len());
                let mut total = Amount::ZERO;
                for (i, (document_id, amount)) in parts.iter().enumerate() {
                    let amount = amount.unwrap_or(tx.amount);
                    if amount.is_zero() || amount.is_negative() {
                        return Err(refused("invalid_amount", "a payment is a positive amount")
                            .with_field(field(i, "amount")));
                    }
                    total += amount;
                    if total > tx.amount {
                        return Err(refused(
                            "amount_exceeds_transaction",
                            format!("the transaction brought {} only", tx.amount),
                        )
                        .with_field(field(i, "amount")));
                    }
                    let doc = s
                        .repository
                        .document(tenant_id, document_id)
                        .await?
                        .ok_or_else(|| {
                            AppError::not_found(
                                "document_not_found",
                                format!("no document '{document_id}'"),
                            )
                            .with_field(field(i, "invoice_id"))
                        })?;
                    allocations.push(Allocation {
                        document_id: document_id.clone(),
                        number: doc.content.number.clone(),
                        amount,
                    });
                }
                let now = s.clock.now();
                let mut change = Change::for_tenant(tenant_id);
                self.pay_into(&mut change, tenant_id, id, tx, &allocations, cause, now)
                    .await
                    .map_err(|e| {
                        if e.field.is_none() {
                            e.with_field("invoice_id")
                        } else {
                            e
                        }
                    })?;
                let mut updated = current.clone();
                updated.version = current.version + 1;
                updated.state = TransactionState::Matched {
                    rule: MatchRule::Assigned,
                    allocations,
                };
                change.bank_transactions.push(BankTransactionWrite {
                    transaction: updated.clone(),
                    expected: Some(current.version),
                });
                Ok(Attempt::Commit(Box::new(change), updated))
            },
            // Assigned meanwhile: read again, and the state says what happened.
            |conflict| match conflict {
                Conflict::BankTransaction(_) | Conflict::LedgerEntry(_) => {
                    Some(Err(AppError::new(
                        ErrorKind::Conflict,
                        "bank_transaction_matched",
                        "this transaction was recorded as a payment meanwhile",
                    )))
                }
                _ => None,
            },
        )
        .await
    }

    pub async fn transactions(
        &self,
        tenant_id: &Id,
        state: Option<TransactionStateKind>,
    ) -> Result<Vec<BankTransaction>, AppError> {
        Ok(self
            .stores
            .repository
            .bank_transactions(tenant_id, state)
            .await?)
    }

    pub async fn transaction(&self, tenant_id: &Id, id: &Id) -> Result<BankTransaction, AppError> {
        self.stores
            .repository
            .bank_transaction(tenant_id, id)
            .await?
            .ok_or_else(|| {
                AppError::not_found(
                    "bank_transaction_not_found",
                    format!("no bank transaction '{id}'"),
                )
            })
    }
}

/// An issued invoice with something open, as matching sees it. Proformas are not: their
/// payment comes through their booking (which issues the final invoice), so a transfer for
/// one waits for the owner.
fn open_item(d: &Document) -> Option<OpenItem> {
    let payable = d.kind() == DocumentKind::Invoice;
    let open = d.settlement.open();
    if !payable || !d.lifecycle.is_issued() || open.is_zero() || open.is_negative() {
        return None;
    }
    let buyer = &d.content.buyer;
    Some(OpenItem {
        document_id: d.id().clone(),
        number: d.content.number.clone(),
        open,
        currency: d.content.currency,
        names: std::iter::once(buyer.name.clone())
            .chain(buyer.company.clone())
            .collect(),
    })
}
