//! Bank statements and how their transactions find invoices. A statement (CAMT.053 or MT940,
//! parsed at the edge) is a list of transactions; each credit is matched, in order, by the RF
//! creditor reference, by a document number in the remittance text, by the end-to-end id,
//! and last by amount and payer name. A match never assigns more than the transaction's
//! amount; anything unsure goes to the owner's review list.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::money::{Amount, Currency};
use crate::payment_codes::CreditorReference;
use crate::values::{Id, InvoiceNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Credit,
    Debit,
}

/// One transaction of a statement, as the bank wrote it (a batch booking's transactions
/// each become one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementTransaction {
    /// The bank's own reference of the transaction (CAMT `AcctSvcrRef`, MT940 bank
    /// reference), with the position in a batch booking where the batch shares one.
    pub bank_reference: Option<String>,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub direction: Direction,
    /// A return or reversal (CAMT `RvslInd`, MT940 `RC`/`RD`).
    pub reversal: bool,
    /// Always positive; `direction` says which way.
    pub amount: Amount,
    pub currency: Currency,
    pub end_to_end_id: Option<String>,
    /// The payer of a credit (the payee of a debit).
    pub counterparty_name: Option<String>,
    pub counterparty_iban: Option<String>,
    /// Unstructured remittance text, its pieces joined by line breaks.
    pub remittance: String,
    /// A structured creditor reference (CAMT `Strd/CdtrRefInf/Ref`).
    pub creditor_reference: Option<String>,
}

impl StatementTransaction {
    /// The key that records this transaction once, however often its statement (or an
    /// overlapping one) is imported: the bank's reference where it gives one, else a hash
    /// of what the transaction says.
    pub fn dedup_key(&self, account: &str) -> String {
        let mut hash = Sha256::new();
        let part = |h: &mut Sha256, s: &str| {
            h.update(s.as_bytes());
            h.update([0u8]);
        };
        part(&mut hash, account);
        match &self.bank_reference {
            Some(reference) => {
                part(&mut hash, "ref");
                part(&mut hash, reference);
            }
            None => {
                part(&mut hash, "content");
                part(&mut hash, &self.booking_date.to_string());
                part(&mut hash, &format!("{:?}{}", self.direction, self.reversal));
                part(&mut hash, &self.amount.to_string());
                part(&mut hash, self.currency.as_str());
                for field in [
                    &self.end_to_end_id,
                    &self.counterparty_name,
                    &self.counterparty_iban,
                    &self.creditor_reference,
                ] {
                    part(&mut hash, field.as_deref().unwrap_or_default());
                }
                part(&mut hash, &self.remittance);
            }
        }
        let digest = hash.finalize();
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

/// A parsed statement: the account it is of and its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankStatement {
    /// The statement's own id (CAMT `Stmt/Id`, MT940 `:20:`).
    pub id: String,
    /// The account (an IBAN in electronic form where the bank gives one).
    pub account: String,
    pub transactions: Vec<StatementTransaction>,
}

/// An imported transaction of a tenant: what the bank said and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTransaction {
    /// `btx_` and the transaction's [`StatementTransaction::dedup_key`].
    pub id: Id,
    pub tenant_id: Id,
    /// The account the statement is of, and the statement's id.
    pub account: String,
    pub statement_id: String,
    pub imported_at: DateTime<Utc>,
    pub version: u64,
    pub transaction: StatementTransaction,
    pub state: TransactionState,
}

impl BankTransaction {
    /// The id a transaction of `account` is recorded under.
    pub fn id_for(tx: &StatementTransaction, account: &str) -> Id {
        // Hex digits after a prefix: always a valid id.
        format!("btx_{}", tx.dedup_key(account))
            .parse()
            .unwrap_or_else(|_| Id::generate("btx"))
    }
}

/// What became of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TransactionState {
    /// Recorded as payment of these invoices.
    Matched {
        rule: MatchRule,
        allocations: Vec<Allocation>,
    },
    /// Waiting for the owner (the review list), and why.
    Unmatched { reason: String },
    /// Not a payment to us (a debit).
    Ignored,
}

/// The states without their data, for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStateKind {
    Matched,
    Unmatched,
    Ignored,
}

impl TransactionStateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionStateKind::Matched => "matched",
            TransactionStateKind::Unmatched => "unmatched",
            TransactionStateKind::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<TransactionStateKind> {
        [
            TransactionStateKind::Matched,
            TransactionStateKind::Unmatched,
            TransactionStateKind::Ignored,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

impl TransactionState {
    pub fn kind(&self) -> TransactionStateKind {
        match self {
            TransactionState::Matched { .. } => TransactionStateKind::Matched,
            TransactionState::Unmatched { .. } => TransactionStateKind::Unmatched,
            TransactionState::Ignored => TransactionStateKind::Ignored,
        }
    }
}

/// An invoice that can still be paid, as matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub document_id: Id,
    pub number: InvoiceNumber,
    pub open: Amount,
    pub currency: Currency,
    /// The buyer's name and company, as the payer's bank may write them.
    pub names: Vec<String>,
}

/// Which rule found the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    CreditorReference,
    NumberInText,
    EndToEndId,
    AmountAndName,
    /// The owner assigned it by hand.
    Assigned,
}

/// One invoice a transaction pays, and how much of it goes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub document_id: Id,
    pub number: InvoiceNumber,
    pub amount: Amount,
}

/// What matching decided for one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pays these invoices (amounts sum to at most the transaction's).
    Matched {
        rule: MatchRule,
        allocations: Vec<Allocation>,
    },
    /// The owner decides (why, for the review list).
    Review(String),
    /// Not a payment to us: a debit.
    Ignored,
}

/// Letters and digits of a number, upper case: how numbers are compared in free text.
pub fn compact(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The runs of letters and digits of `text`, upper case.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

/// The open items whose numbers occur in `text`, in order of appearance. A number may be
/// written with spaces, dashes or line breaks anywhere (`RE-2026-00001`, `re 2026 00001`,
/// `RE2026-` + line break + `00001`), but must start and end at a word boundary, so
/// `RE-2026-00001` is not found in `RE-2026-000012`.
fn numbers_in(text: &str, by_number: &HashMap<String, usize>, longest: usize) -> Vec<usize> {
    let words = tokens(text);
    let mut found: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let mut joined = String::new();
        let mut hit = None;
        for (j, word) in words.iter().enumerate().skip(i) {
            joined.push_str(word);
            if joined.len() > longest {
                break;
            }
            if let Some(item) = by_number.get(&joined) {
                hit = Some((j, *item));
            }
        }
        match hit {
            Some((j, item)) => {
                if !found.contains(&item) {
                    found.push(item);
                }
                i = j + 1;
            }
            None => i += 1,
        }
    }
    found
}

/// RF references written anywhere in `text` (checked; spaces inside allowed).
fn references_in(text: &str) -> Vec<CreditorReference> {
    let words = tokens(text);
    let mut out = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if !word.starts_with("RF") {
            continue;
        }
        // `RF18 5390 0754 7034`: every join of the following groups that verifies is a
        // candidate (a longer join can verify by chance too; the index decides which is ours).
        let mut joined = String::new();
        for next in words.iter().skip(i) {
            joined.push_str(next);
            if joined.len() > 25 {
                break;
            }
            if let Ok(r) = joined.parse::<CreditorReference>()
                && !out.contains(&r)
            {
                out.push(r);
            }
        }
    }
    out
}

/// Whether the payer's name is one of the buyer's names: every word of the shorter appears
/// in the longer (banks reorder, abbreviate and upper-case names).
fn same_party(payer: &str, names: &[String]) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() > 1)
            .map(str::to_lowercase)
            .collect()
    };
    let payer = words(payer);
    if payer.is_empty() {
        return false;
    }
    names.iter().any(|name| {
        let name = words(name);
        if name.is_empty() {
            return false;
        }
        let (short, long) = if name.len() <= payer.len() {
            (&name, &payer)
        } else {
            (&payer, &name)
        };
        short.iter().all(|w| long.contains(w))
    })
}

/// Matches one transaction against the open items of its tenant.
pub fn decide(tx: &StatementTransaction, open: &[OpenItem]) -> Decision {
    Matcher::new(open.to_vec()).decide(tx)
}

/// The open items of a tenant, indexed by number, reference and amount, so each transaction
/// of a long statement is matched in time independent of how many invoices are open.
pub struct Matcher {
    items: Vec<OpenItem>,
    by_number: HashMap<String, usize>,
    by_reference: HashMap<String, usize>,
    by_amount: HashMap<(Amount, Currency), Vec<usize>>,
    by_document: HashMap<String, usize>,
    longest: usize,
    /// Numbers of this tenant's invoices that are not open (paid, credited): a transfer
    /// naming one is the owner's to look at, not the next open invoice's.
    closed: HashMap<String, usize>,
    closed_numbers: Vec<String>,
    closed_longest: usize,
}

impl Matcher {
    pub fn new(items: Vec<OpenItem>) -> Matcher {
        let mut m = Matcher {
            by_number: HashMap::with_capacity(items.len()),
            by_reference: HashMap::with_capacity(items.len()),
            by_amount: HashMap::with_capacity(items.len()),
            by_document: HashMap::with_capacity(items.len()),
            longest: 0,
            items: Vec::new(),
            closed: HashMap::new(),
            closed_numbers: Vec::new(),
            closed_longest: 0,
        };
        for item in items {
            if item.open.is_zero() || item.open.is_negative() {
                continue;
            }
            let i = m.items.len();
            let number = compact(item.number.as_str());
            m.longest = m.longest.max(number.len());
            m.by_number.insert(number, i);
            m.by_document
                .insert(item.document_id.as_str().to_string(), i);
            if let Some(r) = CreditorReference::for_number(&item.number) {
                m.by_reference.insert(r.as_str().to_string(), i);
            }
            m.by_amount
                .entry((item.open, item.currency))
                .or_default()
                .push(i);
            m.items.push(item);
        }
        m
    }

    /// Adds the numbers of the tenant's invoices that are not open.
    pub fn with_closed(mut self, numbers: impl IntoIterator<Item = InvoiceNumber>) -> Matcher {
        for number in numbers {
            let key = compact(number.as_str());
            if key.is_empty() || self.by_number.contains_key(&key) {
                continue;
            }
            self.closed_longest = self.closed_longest.max(key.len());
            self.closed.insert(key, self.closed_numbers.len());
            self.closed_numbers.push(number.as_str().to_string());
        }
        self
    }

    /// Records that `amount` of `document` was paid: what is left is open for the next
    /// transaction (nothing left: it is no longer open).
    pub fn paid(&mut self, document: &Id, amount: Amount) {
        let Some(&i) = self.by_document.get(document.as_str()) else {
            return;
        };
        let key = (self.items[i].open, self.items[i].currency);
        if let Some(list) = self.by_amount.get_mut(&key) {
            list.retain(|&x| x != i);
        }
        self.items[i].open = self.items[i].open - amount;
        let left = self.items[i].open;
        if !left.is_zero() && !left.is_negative() {
            self.by_amount
                .entry((left, self.items[i].currency))
                .or_default()
                .push(i);
        }
    }

    /// Whether item `i` can take a payment of `tx` (its currency, still open).
    fn payable(&self, i: usize, tx: &StatementTransaction) -> bool {
        let o = &self.items[i];
        o.currency == tx.currency && !o.open.is_zero() && !o.open.is_negative()
    }

    fn items(&self, found: Vec<usize>, tx: &StatementTransaction) -> Vec<&OpenItem> {
        found
            .into_iter()
            .filter(|&i| self.payable(i, tx))
            .map(|i| &self.items[i])
            .collect()
    }

    pub fn decide(&self, tx: &StatementTransaction) -> Decision {
        // A reversal either way (a credit taken back, a debit returned) may undo a payment:
        // the owner decides, before debits are set aside.
        if tx.reversal {
            return Decision::Review("a returned or reversed booking".into());
        }
        if tx.direction == Direction::Debit {
            return Decision::Ignored;
        }
        let references: Vec<CreditorReference> = tx
            .creditor_reference
            .iter()
            .filter_map(|r| CreditorReference::parse_loose(r))
            .chain(references_in(&tx.remittance))
            .chain(tx.end_to_end_id.iter().flat_map(|e| references_in(e)))
            .collect();
        if !references.is_empty() {
            let mut found: Vec<usize> = Vec::new();
            for r in &references {
                if let Some(&i) = self.by_reference.get(r.as_str())
                    && !found.contains(&i)
                {
                    found.push(i);
                }
            }
            let items = self.items(found, tx);
            if !items.is_empty() {
                return allocate(tx, MatchRule::CreditorReference, &items);
            }
            // The payer named a reference, and it is none of ours that is open (paid already,
            // another creditor's): guessing by amount would be wrong as often as right.
            let named = references
                .iter()
                .max_by_key(|r| r.as_str().len())
                .map(CreditorReference::as_str)
                .unwrap_or_default();
            return Decision::Review(format!("reference {named} belongs to no open invoice"));
        }
        let closed = numbers_in(&tx.remittance, &self.closed, self.closed_longest);
        if let Some(&first) = closed.first() {
            return Decision::Review(format!(
                "names invoice {}, which is not open (paid or credited)",
                self.closed_numbers[first]
            ));
        }
        let named = numbers_in(&tx.remittance, &self.by_number, self.longest);
        if named.len() > MAX_ALLOCATIONS {
            return Decision::Review(format!(
                "names {} invoices; at most {MAX_ALLOCATIONS} are paid by one transfer",
                named.len()
            ));
        }
        let in_text = self.items(named, tx);
        if !in_text.is_empty() {
            return allocate(tx, MatchRule::NumberInText, &in_text);
        }
        if let Some(e2e) = tx.end_to_end_id.as_deref() {
            let in_e2e = self.items(numbers_in(e2e, &self.by_number, self.longest), tx);
            if !in_e2e.is_empty() {
                return allocate(tx, MatchRule::EndToEndId, &in_e2e);
            }
        }
        let by_amount: Vec<&OpenItem> = self
            .by_amount
            .get(&(tx.amount, tx.currency))
            .into_iter()
            .flatten()
            .filter(|&&i| self.payable(i, tx))
            .map(|&i| &self.items[i])
            .filter(|o| {
                tx.counterparty_name
                    .as_deref()
                    .is_some_and(|payer| same_party(payer, &o.names))
            })
            .collect();
        match by_amount.as_slice() {
            [one] => allocate(tx, MatchRule::AmountAndName, &[*one]),
            [] => Decision::Review("no invoice number, reference or matching amount found".into()),
            _ => Decision::Review(format!(
                "{} open invoices of this payer have this amount",
                by_amount.len()
            )),
        }
    }
}

/// The most invoices one transaction pays: each is several writes of one atomic change, which
/// DynamoDB caps at 100.
pub const MAX_ALLOCATIONS: usize = 20;

/// Spreads the transaction's amount over `items`: one invoice takes it all (a partial or an
/// overpayment is the payment's business); several take their open amounts when the sum is
/// exactly what was paid, else the owner decides.
fn allocate(tx: &StatementTransaction, rule: MatchRule, items: &[&OpenItem]) -> Decision {
    let allocation = |o: &OpenItem, amount| Allocation {
        document_id: o.document_id.clone(),
        number: o.number.clone(),
        amount,
    };
    match items {
        [one] => Decision::Matched {
            rule,
            allocations: vec![allocation(one, tx.amount)],
        },
        several => {
            let sum: Amount = several.iter().map(|o| o.open).sum();
            if sum == tx.amount {
                Decision::Matched {
                    rule,
                    allocations: several.iter().map(|o| allocation(o, o.open)).collect(),
                }
            } else {
                Decision::Review(format!(
                    "names {} invoices whose open amounts ({sum}) differ from the amount paid",
                    several.len()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn amount(cents: i64) -> Amount {
        Amount::round(Decimal::new(cents, 2))
    }

    fn item(id: &str, number: &str, cents: i64, name: &str) -> OpenItem {
        OpenItem {
            document_id: id.parse().unwrap(),
            number: number.parse().unwrap(),
            open: amount(cents),
            currency: Currency::EUR,
            names: vec![name.to_string()],
        }
    }

    fn credit(cents: i64, text: &str) -> StatementTransaction {
        StatementTransaction {
            bank_reference: None,
            booking_date: NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
            value_date: None,
            direction: Direction::Credit,
            reversal: false,
            amount: amount(cents),
            currency: Currency::EUR,
            end_to_end_id: None,
            counterparty_name: Some("MUSTERMANN, ERIKA".into()),
            counterparty_iban: None,
            remittance: text.into(),
            creditor_reference: None,
        }
    }

    fn open() -> Vec<OpenItem> {
        vec![
            item("doc1", "RE-2026-00001", 11900, "Erika Mustermann"),
            item("doc2", "RE-2026-00002", 5000, "Max Muster"),
            item("doc12", "RE-2026-000012", 7000, "Erika Mustermann"),
        ]
    }

    fn matched(d: &Decision) -> (MatchRule, Vec<(&str, Amount)>) {
        match d {
            Decision::Matched { rule, allocations } => (
                *rule,
                allocations
                    .iter()
                    .map(|a| (a.document_id.as_str(), a.amount))
                    .collect(),
            ),
            other => panic!("not matched: {other:?}"),
        }
    }

    #[test]
    fn the_rules_apply_in_order() {
        let rf = CreditorReference::for_number(&"RE-2026-00002".parse().unwrap()).unwrap();
        // RF first, even when the text names another number.
        let mut tx = credit(5000, "Rechnung RE-2026-00001");
        tx.creditor_reference = Some(rf.as_str().to_lowercase());
        assert_eq!(
            matched(&decide(&tx, &open())),
            (MatchRule::CreditorReference, vec![("doc2", amount(5000))])
        );
        // A reference that is no open invoice's: review, even where amount and name fit.
        let mut foreign = credit(11900, "Yoga");
        foreign.creditor_reference = Some("RF18539007547034".into());
        assert!(
            matches!(decide(&foreign, &open()), Decision::Review(r) if r.contains("RF18539007547034"))
        );
        // An RF typed into the text in groups.
        let tx = credit(100, &format!("Zahlung {}", rf.print_form()));
        assert_eq!(
            matched(&decide(&tx, &open())).0,
            MatchRule::CreditorReference
        );
        // Numbers, tolerant of case, spaces, dashes and line breaks; whole words only.
        for text in [
            "RE-2026-00001",
            "re 2026 00001 danke",
            "SVWZ+RE2026-\n00001",
            "Rechnung Nr.RE-2026-00001.",
        ] {
            let d = decide(&credit(11900, text), &open());
            assert_eq!(
                matched(&d),
                (MatchRule::NumberInText, vec![("doc1", amount(11900))]),
                "{text}"
            );
        }
        let d = decide(&credit(7000, "RE-2026-000012"), &open());
        assert_eq!(matched(&d).1, vec![("doc12", amount(7000))]);
        // A number that is paid already is not the next open invoice's, even where the
        // amount and the payer fit another.
        let matcher = Matcher::new(open()).with_closed(["RE-2026-00007".parse().unwrap()]);
        let d = matcher.decide(&credit(11900, "Rechnung RE-2026-00007"));
        assert!(
            matches!(&d, Decision::Review(r) if r.contains("RE-2026-00007")),
            "{d:?}"
        );
        // Partial and over: one invoice takes what was paid.
        let d = decide(&credit(2000, "RE-2026-00001"), &open());
        assert_eq!(matched(&d).1, vec![("doc1", amount(2000))]);
        // Two numbers and the exact sum: each its open amount; another sum: review.
        let d = decide(&credit(16900, "RE-2026-00001, RE-2026-00002"), &open());
        assert_eq!(
            matched(&d).1,
            vec![("doc1", amount(11900)), ("doc2", amount(5000))]
        );
        assert!(matches!(
            decide(&credit(16000, "RE-2026-00001 RE-2026-00002"), &open()),
            Decision::Review(_)
        ));
        // End-to-end id.
        let mut tx = credit(5000, "Danke");
        tx.end_to_end_id = Some("RE-2026-00002".into());
        assert_eq!(matched(&decide(&tx, &open())).0, MatchRule::EndToEndId);
        // Amount and name: one candidate only.
        let d = decide(&credit(11900, "Yoga Kurs"), &open());
        assert_eq!(
            matched(&d),
            (MatchRule::AmountAndName, vec![("doc1", amount(11900))])
        );
        let mut twice = open();
        twice.push(item("doc3", "RE-2026-00003", 11900, "Erika Mustermann"));
        assert!(matches!(
            decide(&credit(11900, "Yoga"), &twice),
            Decision::Review(_)
        ));
        let mut stranger = credit(11900, "Yoga");
        stranger.counterparty_name = Some("Someone Else".into());
        assert!(matches!(decide(&stranger, &open()), Decision::Review(_)));
        // Debits are not payments; returns go to review.
        let mut debit = credit(11900, "RE-2026-00001");
        debit.direction = Direction::Debit;
        assert_eq!(decide(&debit, &open()), Decision::Ignored);
        let mut ret = credit(11900, "RE-2026-00001");
        ret.reversal = true;
        assert!(matches!(decide(&ret, &open()), Decision::Review(_)));
        // A credit taken back (a debit reversing it) may undo a payment: review too.
        ret.direction = Direction::Debit;
        assert!(matches!(decide(&ret, &open()), Decision::Review(_)));
        // More invoices named than one change can pay: review.
        let many: Vec<OpenItem> = (1..=25)
            .map(|i| {
                item(
                    &format!("m{i}"),
                    &format!("RE-9-{i}"),
                    100,
                    "Erika Mustermann",
                )
            })
            .collect();
        let text: Vec<String> = (1..=25).map(|i| format!("RE-9-{i}")).collect();
        let d = decide(&credit(2500, &text.join(" ")), &many);
        assert!(
            matches!(&d, Decision::Review(r) if r.contains("25 invoices")),
            "{d:?}"
        );
        // Another currency is not this invoice's payment.
        let mut chf = credit(11900, "RE-2026-00001");
        chf.currency = "CHF".parse().unwrap();
        assert!(matches!(decide(&chf, &open()), Decision::Review(_)));
    }

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = credit(100, "x");
        assert_eq!(a.dedup_key("DE1"), a.clone().dedup_key("DE1"));
        assert_ne!(a.dedup_key("DE1"), a.dedup_key("DE2"));
        let b = credit(101, "x");
        assert_ne!(a.dedup_key("DE1"), b.dedup_key("DE1"));
        let mut r1 = a.clone();
        r1.bank_reference = Some("R1".into());
        let mut r1_other_text = b.clone();
        r1_other_text.bank_reference = Some("R1".into());
        assert_eq!(r1.dedup_key("DE1"), r1_other_text.dedup_key("DE1"));
    }

    proptest! {
        /// Whatever the text, amounts and open items: what a transaction assigns sums to at
        /// most its amount, only to open items of its currency, each at most once.
        #[test]
        fn matching_never_assigns_more_than_paid(
            cents in 1i64..100_000_000,
            text in "[A-Za-z0-9 \\-\n.,/]{0,60}",
            numbers in proptest::collection::vec((1u32..40, 1i64..50_000), 0..8),
            name in "[A-Za-z ]{0,20}",
        ) {
            let mut open: Vec<OpenItem> = numbers
                .iter()
                .enumerate()
                .map(|(i, (n, c))| item(&format!("d{i}"), &format!("RE-{n}"), *c, &name))
                .collect();
            open.dedup_by(|a, b| a.number == b.number);
            let mut tx = credit(cents, &text);
            tx.counterparty_name = Some(name.clone());
            if let Decision::Matched { allocations, .. } = decide(&tx, &open) {
                let sum: Amount = allocations.iter().map(|a| a.amount).sum();
                prop_assert!(sum <= tx.amount, "{sum} > {}", tx.amount);
                prop_assert!(!allocations.is_empty());
                for a in &allocations {
                    prop_assert!(!a.amount.is_zero() && !a.amount.is_negative());
                    prop_assert!(open.iter().any(|o| o.document_id == a.document_id));
                }
                let mut ids: Vec<_> = allocations.iter().map(|a| a.document_id.clone()).collect();
                ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                ids.dedup();
                prop_assert_eq!(ids.len(), allocations.len());
            }
        }
    }
}
