//! The money model under random sequences of operations on a customer's issued invoices:
//! payments of any amount (partial, exact, over, invalid, reported twice), refunds, credit notes
//! of random line quantities, full cancellations, two credit notes computed from the same
//! document version, customer credit applied between documents and to new invoices.
//!
//! Each operation is applied the way the service applies it: the transition and the ledger
//! entries that go with it (see `service::{issuing, commands, bookings}`) form one change,
//! written only if every document in it is still at the version it was computed from and no
//! entry id exists yet; a refused or conflicting change writes nothing. After every step the
//! invariants are checked: entries written never change; a document's settlement is the sum of
//! its entries; the customer's balance is the sum of the signed entries and of what is open on
//! the documents; nothing is credited beyond what was invoiced (line by line and in total); the
//! open amount is negative only when more money came in than is payable (then: overpaid).
//! What each operation must end in (written, refused with which code, a duplicate) is worked
//! out beforehand from the state alone, so a refusal of something allowed fails as well.
//!
//! Two more properties: invoices of small prices credited in many small steps (where rounding
//! adds up) always take every credit note within what is left, and their credit notes add up
//! to them exactly; and `Settlement::state` agrees with the sign of `open()`.
//!
//! The cases are random: run with `PROPTEST_RNG_SEED=<n>` to repeat a run, `PROPTEST_CASES=<n>`
//! for more (or fewer) cases than the 256 default.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use faktura_domain::AppError;
use faktura_domain::audit::Cause;
use faktura_domain::booking::{Booking, BookingCustomer, BookingItem};
use faktura_domain::calc::totals_of_lines;
use faktura_domain::document::{
    Document, DocumentEvent, Lifecycle, PaymentState, RelationKind, Settlement,
};
use faktura_domain::invoicing::{plan_credit_note, plan_document, with_prepaid};
use faktura_domain::ledger::{
    EntryKind, LedgerEntry, PaymentDetails, balance, entry_id, settlement_of,
};
use faktura_domain::model::{
    DocumentKind, Invoice, InvoiceLine, PostalAddress, PriceBasis, Tenant,
};
use faktura_domain::money::{Amount, Currency, VatRate};
use faktura_domain::values::{Id, InvoiceNumber};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rust_decimal::Decimal;
use serde_json::json;

// ---- fixtures ----------------------------------------------------------------------------

fn tenant() -> Tenant {
    serde_json::from_value(json!({
        "id": "demo",
        "seller": {
            "legal_name": "Yogastudio Sonnenschein GmbH",
            "address": { "line1": "Lindenallee 12", "line2": null, "postal_code": "10405",
                         "city": "Berlin", "country": "DE" },
            "vat_id": "DE123456789", "tax_number": "27/123/45678",
            "email": "rechnung@yoga-sonnenschein.example", "phone": "+49 30 1234567",
            "contact_name": "Anna Beispiel", "website": null, "register": null,
            "managing_directors": null,
            "bank": { "account_holder": "Yogastudio Sonnenschein GmbH",
                      "iban": "DE02 1203 0000 0000 2020 51", "bic": "BYLADEM1001", "bank_name": null }
        },
        "settings": {
            "small_business": false, "default_vat_rate": "19", "default_prices": "gross",
            "payment_terms_days": 14, "language": "de",
            "invoice_numbering": { "pattern": "RE-{yyyy}-{seq:5}", "yearly_reset": true },
            "apply_credit": true
        }
    }))
    .expect("tenant")
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

fn gross(invoice: &Invoice) -> Amount {
    invoice.totals.tax_inclusive + invoice.totals.rounding
}

fn cents(c: i64) -> Amount {
    let sign = if c < 0 { "-" } else { "" };
    let c = c.abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
        .parse()
        .expect("an exact amount")
}

#[derive(Debug, Clone)]
struct LineSpec {
    quantity: Decimal,
    price: Decimal,
    rate: &'static str,
}

#[derive(Debug, Clone)]
struct InvoiceSpec {
    lines: Vec<LineSpec>,
    gross: bool,
}

fn booking(spec: &InvoiceSpec, n: u32) -> Booking {
    Booking {
        id: format!("bk_{n}").parse().unwrap(),
        booked_at: start(),
        currency: Currency::EUR,
        prices: Some(if spec.gross {
            PriceBasis::Gross
        } else {
            PriceBasis::Net
        }),
        customer: BookingCustomer {
            external_id: Some("cus_1".parse().unwrap()),
            name: "Erika Mustermann".into(),
            company: None,
            email: "erika@example.org".parse().unwrap(),
            language: None,
            vat_id: None,
            address: PostalAddress {
                line1: "Hauptstraße 1".into(),
                line2: None,
                postal_code: "10115".into(),
                city: "Berlin".into(),
                country: "DE".parse().unwrap(),
            },
            einvoice: None,
            leitweg_id: None,
        },
        items: spec
            .lines
            .iter()
            .map(|l| BookingItem {
                description: format!("{} × {}", l.quantity, l.price),
                quantity: l.quantity,
                unit: "C62".into(),
                unit_price: l.price,
                vat_rate: Some(l.rate.parse::<VatRate>().unwrap()),
                vat_category: None,
                service: None,
            })
            .collect(),
        reference: None,
        note: None,
    }
}

// ---- operations --------------------------------------------------------------------------

/// An amount relative to what it is for (the open amount of a payment, the surplus of a
/// refund), or absolute.
#[derive(Debug, Clone, Copy)]
enum Money {
    /// All of it.
    Exact,
    /// This percentage of it (up to 150 %).
    Percent(u8),
    /// So many cents (zero and negative ones included).
    Cents(i64),
}

impl Money {
    fn of(self, base: Amount) -> Amount {
        match self {
            Money::Exact => base,
            Money::Percent(p) => {
                Amount::round(base.value() * Decimal::from(p) / Decimal::from(100))
            }
            Money::Cents(c) => cents(c),
        }
    }
}

/// A quantity to credit on a line, relative to what is left of it.
#[derive(Debug, Clone, Copy)]
enum Qty {
    Zero,
    All,
    Tenths(u8),
    /// A tenth more than is left.
    Over,
}

impl Qty {
    fn of(self, left: Decimal) -> Decimal {
        match self {
            Qty::Zero => Decimal::ZERO,
            Qty::All => left,
            Qty::Tenths(t) => Decimal::new(i64::from(t), 1),
            Qty::Over => left + Decimal::new(1, 1),
        }
    }
}

/// A document of the world: mostly an invoice, sometimes any document (credit notes too).
#[derive(Debug, Clone, Copy)]
struct Pick(u8);

#[derive(Debug, Clone)]
enum Op {
    Pay {
        doc: Pick,
        money: Money,
        /// Payments with the same reference are the same payment.
        reference: u8,
    },
    Refund {
        doc: Pick,
        money: Money,
        reference: u8,
    },
    Credit {
        doc: Pick,
        quantities: Vec<Qty>,
    },
    Cancel {
        doc: Pick,
    },
    /// Two credit notes computed from the same version of the invoice, committed one after
    /// the other.
    RacingCredits {
        doc: Pick,
        first: Vec<Qty>,
        second: Vec<Qty>,
    },
    /// Surplus of one document applied to another (use_credit + apply_credit in one change).
    ApplyCredit {
        from: Pick,
        to: Pick,
        money: Money,
    },
    /// A new invoice for the customer, taking their credit as prepaid amount where
    /// `apply_credit` (as a booking does with the tenant's `apply_credit`).
    NewInvoice {
        spec: InvoiceSpec,
        apply_credit: bool,
    },
}

fn line_spec() -> impl Strategy<Value = LineSpec> {
    let quantity = prop_oneof![
        3 => (1i64..=12).prop_map(Decimal::from),
        1 => (1i64..=120).prop_map(|t| Decimal::new(t, 1)),
    ];
    let price = prop_oneof![
        3 => (1i64..=50_000).prop_map(|c| Decimal::new(c, 2)),
        1 => (1i64..=500_000).prop_map(|c| Decimal::new(c, 4)),
    ];
    (quantity, price, prop::sample::select(vec!["19", "7", "0"])).prop_map(
        |(quantity, price, rate)| LineSpec {
            quantity,
            price,
            rate,
        },
    )
}

fn invoice_spec() -> impl Strategy<Value = InvoiceSpec> {
    (prop::collection::vec(line_spec(), 1..=3), any::<bool>())
        .prop_map(|(lines, gross)| InvoiceSpec { lines, gross })
}

/// Many units of small prices (down to fractions of a cent): where rounding adds up.
fn small_invoice_spec() -> impl Strategy<Value = InvoiceSpec> {
    let quantity = prop_oneof![
        (1i64..=60).prop_map(Decimal::from),
        (1i64..=200).prop_map(|t| Decimal::new(t, 1)),
    ];
    let price = prop_oneof![
        (1i64..=500).prop_map(|c| Decimal::new(c, 2)),
        (1i64..=20_000).prop_map(|c| Decimal::new(c, 4)),
    ];
    let line = (quantity, price, prop::sample::select(vec!["19", "7", "0"])).prop_map(
        |(quantity, price, rate)| LineSpec {
            quantity,
            price,
            rate,
        },
    );
    (prop::collection::vec(line, 1..=3), any::<bool>())
        .prop_map(|(lines, gross)| InvoiceSpec { lines, gross })
}

fn money() -> impl Strategy<Value = Money> {
    prop_oneof![
        3 => Just(Money::Exact),
        4 => (1u8..=150).prop_map(Money::Percent),
        3 => (1i64..=60_000).prop_map(Money::Cents),
        1 => (-500i64..=0).prop_map(Money::Cents),
    ]
}

fn quantities() -> impl Strategy<Value = Vec<Qty>> {
    let qty = prop_oneof![
        4 => Just(Qty::Zero),
        1 => Just(Qty::All),
        4 => (1u8..=30).prop_map(Qty::Tenths),
        1 => Just(Qty::Over),
    ];
    prop::collection::vec(qty, 3)
}

fn pick() -> impl Strategy<Value = Pick> {
    any::<u8>().prop_map(Pick)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (pick(), money(), 0u8..6)
            .prop_map(|(doc, money, reference)| Op::Pay { doc, money, reference }),
        2 => (pick(), money(), 0u8..4)
            .prop_map(|(doc, money, reference)| Op::Refund { doc, money, reference }),
        4 => (pick(), quantities()).prop_map(|(doc, quantities)| Op::Credit { doc, quantities }),
        1 => pick().prop_map(|doc| Op::Cancel { doc }),
        2 => (pick(), quantities(), quantities())
            .prop_map(|(doc, first, second)| Op::RacingCredits { doc, first, second }),
        2 => (pick(), pick(), money()).prop_map(|(from, to, money)| Op::ApplyCredit { from, to, money }),
        1 => (invoice_spec(), any::<bool>())
            .prop_map(|(spec, apply_credit)| Op::NewInvoice { spec, apply_credit }),
    ]
}

// ---- the world: documents and ledger as a store keeps them -------------------------------

/// Why a change was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflict {
    /// A document in it is no longer at the version the change was computed from.
    Version,
    /// One of its ledger entries exists already (the same fact reported again).
    Entry,
}

/// What one change writes, as `ports::Change` carries it (documents with the version they
/// were read at; ledger entries), with the events of its transitions.
#[derive(Debug, Default)]
struct Change {
    writes: Vec<(Document, Option<u64>)>,
    entries: Vec<LedgerEntry>,
    events: Vec<(Id, DocumentEvent)>,
}

impl Change {
    /// A transition of `before` (as read): like `issuing::update_into`.
    fn update(&mut self, before: &Document, (after, events): (Document, Vec<DocumentEvent>)) {
        self.events
            .extend(events.into_iter().map(|e| (after.id().clone(), e)));
        self.writes.push((after, Some(before.version)));
    }

    /// A new document (issued in this change).
    fn create(&mut self, (doc, events): (Document, Vec<DocumentEvent>)) {
        self.events
            .extend(events.into_iter().map(|e| (doc.id().clone(), e)));
        self.writes.push((doc, None));
    }

    /// The later state of a document new in this change (`bookings::replace_new`).
    fn replace_new(&mut self, doc: Document, events: Vec<DocumentEvent>) {
        self.events
            .extend(events.into_iter().map(|e| (doc.id().clone(), e)));
        if let Some(w) = self
            .writes
            .iter_mut()
            .find(|(d, expected)| expected.is_none() && d.id() == doc.id())
        {
            w.0 = doc;
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct World {
    tenant: Tenant,
    docs: BTreeMap<Id, Document>,
    /// Every document in the order it was issued.
    order: Vec<Id>,
    ledger: Vec<LedgerEntry>,
    seq: u32,
    now: DateTime<Utc>,
}

fn cause() -> Cause {
    Cause::ApiKey {
        key_id: "key_1".into(),
        request_id: None,
    }
}

impl World {
    fn new() -> World {
        World {
            tenant: tenant(),
            docs: BTreeMap::new(),
            order: Vec::new(),
            ledger: Vec::new(),
            seq: 0,
            now: start(),
        }
    }

    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn invoices(&self) -> Vec<&Document> {
        self.order
            .iter()
            .filter_map(|id| self.docs.get(id))
            .filter(|d| d.kind() == DocumentKind::Invoice)
            .collect()
    }

    fn pick(&self, p: Pick) -> Document {
        self.pick_where(p, |_| true)
    }

    /// Mostly an invoice for which `fits` holds (where there is one), sometimes any document.
    fn pick_where(&self, p: Pick, fits: impl Fn(&Document) -> bool) -> Document {
        let mut invoices = self.invoices();
        if invoices.iter().any(|d| fits(d)) {
            invoices.retain(|d| fits(d));
        }
        if p.0 < 200 && !invoices.is_empty() {
            invoices[usize::from(p.0) % invoices.len()].clone()
        } else {
            self.docs[&self.order[usize::from(p.0) % self.order.len()]].clone()
        }
    }

    fn has_entry(&self, id: &Id) -> bool {
        self.ledger.iter().any(|e| &e.id == id)
    }

    /// Writes `change` if every document in it is still at the version it was read at and
    /// none of its entries exists; else nothing.
    fn commit(&mut self, change: Change) -> Result<(), Conflict> {
        let mut written = BTreeSet::new();
        for (doc, expected) in &change.writes {
            if !written.insert(doc.id().clone()) {
                return Err(Conflict::Version);
            }
            if self.docs.get(doc.id()).map(|d| d.version) != *expected {
                return Err(Conflict::Version);
            }
        }
        let mut ids: BTreeSet<Id> = self.ledger.iter().map(|e| e.id.clone()).collect();
        if change.entries.iter().any(|e| !ids.insert(e.id.clone())) {
            return Err(Conflict::Entry);
        }
        for (mut doc, expected) in change.writes {
            doc.version = expected.map_or(1, |v| v + 1);
            if expected.is_none() {
                self.order.push(doc.id().clone());
            }
            self.docs.insert(doc.id().clone(), doc);
        }
        self.ledger.extend(change.entries);
        Ok(())
    }

    /// A ledger entry for `doc` recording `fact` (`issuing::entry`).
    fn entry(&self, doc: &Document, kind: EntryKind, amount: Amount, fact: &str) -> LedgerEntry {
        LedgerEntry {
            id: entry_id(&self.tenant.id, fact),
            tenant_id: doc.content.tenant_id.clone(),
            customer_key: doc.content.buyer.customer_key.clone(),
            document_id: doc.id().clone(),
            kind,
            amount,
            currency: doc.content.currency,
            at: self.now,
            cause: cause(),
            related_document: None,
            payment: None,
        }
    }

    /// A new invoice with what the customer has as credit applied (booking.created with
    /// `apply_credit`: `credit_to_apply`, `show_credit`, `issue_into`, `move_credit`).
    fn new_invoice(&mut self, spec: &InvoiceSpec, apply_credit: bool) -> Result<Change, AppError> {
        let n = self.next();
        let id: Id = format!("inv_{n}").parse().unwrap();
        let mut invoice = plan_document(
            &self.tenant,
            &booking(spec, n),
            DocumentKind::Invoice,
            &id,
            self.now.date_naive(),
            self.now,
        )?
        .invoice;
        invoice.number = format!("RE-2026-{n:05}").parse::<InvoiceNumber>().unwrap();
        let mut credit = Vec::new();
        if apply_credit {
            let mut left = gross(&invoice);
            for doc in self.invoices() {
                if doc.payment_state() != PaymentState::Overpaid || left.is_zero() {
                    continue;
                }
                let surplus = Amount::ZERO - doc.settlement.open();
                let take = if surplus > left { left } else { surplus };
                if take.is_zero() || take.is_negative() {
                    continue;
                }
                left = left - take;
                credit.push((doc.clone(), take));
            }
        }
        let total: Amount = credit.iter().map(|(_, a)| *a).sum();
        if !total.is_zero() {
            invoice = with_prepaid(invoice, total, Some("Guthaben verrechnet".into()));
        }
        let mut change = Change::default();
        let (doc, events) = Document::new(invoice, true, self.now);
        change.entries.push(self.entry(
            &doc,
            EntryKind::Charge,
            doc.settlement.charged,
            &format!("charge:{id}"),
        ));
        change.create((doc.clone(), events));
        let mut doc = doc;
        for (source, amount) in &credit {
            let used = source.use_credit(doc.id(), *amount, self.now)?;
            let mut e = self.entry(
                source,
                EntryKind::CreditUsed,
                *amount,
                &format!("credit:{}:{}", source.id(), doc.id()),
            );
            e.related_document = Some(doc.id().clone());
            change.entries.push(e);
            change.update(source, used);
            let (applied, events) = doc.apply_credit(source.id(), *amount, self.now)?;
            let mut e = self.entry(
                &applied,
                EntryKind::CreditApplied,
                *amount,
                &format!("credit-in:{}:{}", source.id(), doc.id()),
            );
            e.related_document = Some(source.id().clone());
            change.entries.push(e);
            change.replace_new(applied.clone(), events);
            doc = applied;
        }
        Ok(change)
    }

    /// `Command::Payment`.
    fn payment(&self, doc: &Document, amount: Amount, reference: u8) -> Result<Change, AppError> {
        let fact = format!("api-payment:{}:ref:R{reference}", doc.id());
        let eid = entry_id(&self.tenant.id, &fact);
        let transition = doc.record_payment(&eid, amount, self.now)?;
        let mut change = Change::default();
        let mut e = self.entry(&transition.0, EntryKind::Payment, amount, &fact);
        e.payment = Some(PaymentDetails {
            method: Some("sepa".into()),
            reference: Some(format!("R{reference}")),
            paid_at: self.now,
        });
        change.entries.push(e);
        change.update(doc, transition);
        Ok(change)
    }

    /// `Command::Refund`.
    fn refund(&self, doc: &Document, amount: Amount, reference: u8) -> Result<Change, AppError> {
        let fact = format!("api-refund:{}:ref:F{reference}", doc.id());
        let eid = entry_id(&self.tenant.id, &fact);
        let transition = doc.record_refund(&eid, amount, self.now)?;
        let mut change = Change::default();
        change
            .entries
            .push(self.entry(&transition.0, EntryKind::Refund, amount, &fact));
        change.update(doc, transition);
        Ok(change)
    }

    /// `bookings::credit_into`: the credit note for `quantities` of `invoice` as it was read.
    fn credit(&mut self, invoice: &Document, quantities: &[Decimal]) -> Result<Change, AppError> {
        let n = self.next();
        let id: Id = format!("crn_{n}").parse().unwrap();
        let mut content = plan_credit_note(
            invoice,
            quantities,
            &id,
            self.now.date_naive(),
            self.now,
            Some("Korrektur"),
        )?;
        content.number = format!("RK-2026-{n:05}").parse::<InvoiceNumber>().unwrap();
        let transition = invoice.credit(&content, quantities, self.now)?;
        let amount = gross(&content);
        let mut change = Change::default();
        let mut e = self.entry(
            &transition.0,
            EntryKind::Credit,
            amount,
            &format!("credit-note:{id}"),
        );
        e.related_document = Some(id.clone());
        change.entries.push(e);
        change.update(invoice, transition);
        let (note, events) = Document::new(content, true, self.now);
        change.create((
            note.relate(RelationKind::Corrects, &invoice.content),
            events,
        ));
        Ok(change)
    }

    /// `Command::Cancel` of an invoice or a credit note.
    fn cancel(&mut self, doc: &Document) -> Result<Change, AppError> {
        match doc.kind() {
            DocumentKind::Invoice => {
                let left = remaining(doc);
                self.credit(doc, &left)
            }
            _ => Err(AppError::new(
                faktura_domain::ErrorKind::Unprocessable,
                "not_cancellable",
                "a credit note is not cancelled",
            )),
        }
    }

    /// Customer credit moved from `from` to `to` (`bookings::move_credit_between`).
    fn apply_credit(
        &mut self,
        from: &Document,
        to: &Document,
        amount: Amount,
    ) -> Result<Change, AppError> {
        let n = self.next();
        let used = from.use_credit(to.id(), amount, self.now)?;
        let applied = to.apply_credit(from.id(), amount, self.now)?;
        let mut change = Change::default();
        let mut e = self.entry(
            from,
            EntryKind::CreditUsed,
            amount,
            &format!("credit:{}:{}:{n}", from.id(), to.id()),
        );
        e.related_document = Some(to.id().clone());
        change.entries.push(e);
        let mut e = self.entry(
            to,
            EntryKind::CreditApplied,
            amount,
            &format!("credit-in:{}:{}:{n}", from.id(), to.id()),
        );
        e.related_document = Some(from.id().clone());
        change.entries.push(e);
        change.update(from, used);
        change.update(to, applied);
        Ok(change)
    }
}

/// Per line: what is left to credit (`bookings::remaining`).
fn remaining(doc: &Document) -> Vec<Decimal> {
    doc.content
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.quantity.abs()
                - doc
                    .credited_quantities
                    .get(i)
                    .copied()
                    .unwrap_or(Decimal::ZERO)
        })
        .collect()
}

fn resolve(doc: &Document, quantities: &[Qty]) -> Vec<Decimal> {
    remaining(doc)
        .into_iter()
        .enumerate()
        .map(|(i, left)| quantities.get(i).copied().unwrap_or(Qty::Zero).of(left))
        .collect()
}

fn surplus(doc: &Document) -> Amount {
    Amount::ZERO - doc.settlement.open()
}

// ---- what must happen --------------------------------------------------------------------

/// What an operation must end in, worked out from the state before it, independently of the
/// code under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Written,
    Refused(&'static str),
    Duplicate,
}

fn positive(a: Amount) -> bool {
    !a.is_negative() && !a.is_zero()
}

fn payable_refusal(doc: &Document) -> Option<&'static str> {
    match (doc.kind(), doc.lifecycle) {
        (DocumentKind::Invoice, Lifecycle::Issued | Lifecycle::PartiallyCredited) => None,
        (DocumentKind::Invoice, Lifecycle::Cancelled) => Some("document_cancelled"),
        (DocumentKind::Invoice, Lifecycle::Draft) => Some("document_draft"),
        _ => Some("not_payable"),
    }
}

fn expect_payment(world: &World, doc: &Document, amount: Amount, reference: u8) -> Expect {
    let fact = format!("api-payment:{}:ref:R{reference}", doc.id());
    if let Some(code) = payable_refusal(doc) {
        Expect::Refused(code)
    } else if !positive(amount) {
        Expect::Refused("invalid_amount")
    } else if world.has_entry(&entry_id(&world.tenant.id, &fact)) {
        Expect::Duplicate
    } else {
        Expect::Written
    }
}

fn expect_refund(world: &World, doc: &Document, amount: Amount, reference: u8) -> Expect {
    let fact = format!("api-refund:{}:ref:F{reference}", doc.id());
    if doc.kind() != DocumentKind::Invoice {
        Expect::Refused("not_refundable")
    } else if !positive(amount) {
        Expect::Refused("invalid_amount")
    } else if amount > surplus(doc) {
        Expect::Refused("refund_exceeds_credit")
    } else if world.has_entry(&entry_id(&world.tenant.id, &fact)) {
        Expect::Duplicate
    } else {
        Expect::Written
    }
}

fn expect_credit(doc: &Document, quantities: &[Decimal]) -> Expect {
    if doc.kind() != DocumentKind::Invoice {
        Expect::Refused("not_creditable")
    } else if doc.lifecycle == Lifecycle::Cancelled {
        Expect::Refused("document_cancelled")
    } else if quantities.iter().all(Decimal::is_zero) {
        Expect::Refused("no_items")
    } else if quantities
        .iter()
        .zip(remaining(doc))
        .any(|(q, left)| *q > left)
    {
        Expect::Refused("credit_exceeds_invoice")
    } else {
        // Within what is left of every line: a credit note is always possible.
        Expect::Written
    }
}

fn expect_cancel(doc: &Document) -> Expect {
    match (doc.kind(), doc.lifecycle) {
        (DocumentKind::Invoice, Lifecycle::Cancelled) => Expect::Refused("document_cancelled"),
        (DocumentKind::Invoice, _) => Expect::Written,
        _ => Expect::Refused("not_cancellable"),
    }
}

fn expect_apply(from: &Document, to: &Document, amount: Amount) -> Expect {
    if !positive(amount) {
        Expect::Refused("invalid_amount")
    } else if amount > surplus(from) {
        Expect::Refused("credit_exceeds_surplus")
    } else if let Some(code) = payable_refusal(to) {
        Expect::Refused(code)
    } else if amount > to.settlement.open() {
        Expect::Refused("credit_exceeds_open")
    } else {
        Expect::Written
    }
}

// ---- running and checking ----------------------------------------------------------------

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Written,
    Refused,
    NotWritten(Conflict),
}

/// Plans and commits one change, checking it ends as `expect` says; a change that is not
/// written leaves the world as it was.
fn apply(
    world: &mut World,
    planned: Result<Change, AppError>,
    expect: Expect,
    what: &str,
) -> Result<Ended, TestCaseError> {
    let before = world.clone();
    let outcome = match planned {
        Err(e) => {
            // Refused: nothing was written (the transitions are pure).
            prop_assert_eq!(&world.docs, &before.docs);
            prop_assert_eq!(&world.ledger, &before.ledger);
            prop_assert_eq!(
                Expect::Refused(e.code),
                expect,
                "{}: refused with {:?}",
                what,
                e
            );
            prop_assert_eq!(e.kind, faktura_domain::ErrorKind::Unprocessable, "{}", what);
            return Ok(Ended::Refused);
        }
        Ok(change) => {
            check_events_match_entries(&change)?;
            let versions: Vec<(Id, Option<u64>)> = change
                .writes
                .iter()
                .map(|(d, v)| (d.id().clone(), *v))
                .collect();
            match world.commit(change) {
                Ok(()) => {
                    prop_assert_eq!(expect, Expect::Written, "{}: written", what);
                    for (id, read_at) in versions {
                        prop_assert_eq!(world.docs[&id].version, read_at.map_or(1, |v| v + 1));
                    }
                    Ended::Written
                }
                Err(conflict) => {
                    if conflict == Conflict::Entry {
                        prop_assert_eq!(expect, Expect::Duplicate, "{}: a duplicate entry", what);
                    }
                    Ended::NotWritten(conflict)
                }
            }
        }
    };
    if outcome != Ended::Written {
        prop_assert_eq!(
            &world.docs,
            &before.docs,
            "{}: not written, nothing changes",
            what
        );
        prop_assert_eq!(
            &world.ledger,
            &before.ledger,
            "{}: not written, nothing changes",
            what
        );
    }
    check_world(world, &before.ledger)?;
    Ok(outcome)
}

/// Every money event of a change has its ledger entry, and every entry its event.
fn check_events_match_entries(change: &Change) -> Result<(), TestCaseError> {
    let mut matched = 0;
    for (doc_id, event) in &change.events {
        let find = |kind: EntryKind, amount: Amount, related: Option<&Id>| {
            change.entries.iter().any(|e| {
                &e.document_id == doc_id
                    && e.kind == kind
                    && e.amount == amount
                    && (related.is_none() || e.related_document.as_ref() == related)
            })
        };
        let found = match event {
            DocumentEvent::Issued { .. } => {
                let doc = change
                    .writes
                    .iter()
                    .map(|(d, _)| d)
                    .find(|d| d.id() == doc_id);
                match doc {
                    Some(d) if d.kind() == DocumentKind::Invoice => {
                        find(EntryKind::Charge, d.settlement.charged, None)
                    }
                    _ => continue,
                }
            }
            DocumentEvent::PaymentRecorded { entry_id, amount } => change
                .entries
                .iter()
                .any(|e| &e.id == entry_id && e.kind == EntryKind::Payment && e.amount == *amount),
            DocumentEvent::RefundRecorded { entry_id, amount } => change
                .entries
                .iter()
                .any(|e| &e.id == entry_id && e.kind == EntryKind::Refund && e.amount == *amount),
            DocumentEvent::Credited {
                credit_note_id,
                amount,
                ..
            } => find(EntryKind::Credit, *amount, Some(credit_note_id)),
            DocumentEvent::CreditApplied { from, amount } => {
                find(EntryKind::CreditApplied, *amount, Some(from))
            }
            DocumentEvent::CreditUsed { to, amount } => {
                find(EntryKind::CreditUsed, *amount, Some(to))
            }
            _ => continue,
        };
        prop_assert!(found, "no ledger entry for {:?} of {}", event, doc_id);
        matched += 1;
    }
    prop_assert_eq!(matched, change.entries.len(), "an entry without its event");
    Ok(())
}

/// The invariants of documents and ledger, after every step.
fn check_world(world: &World, written_before: &[LedgerEntry]) -> Result<(), TestCaseError> {
    // Entries written never change (and are never taken back).
    prop_assert!(world.ledger.len() >= written_before.len());
    prop_assert_eq!(&world.ledger[..written_before.len()], written_before);
    let ids: BTreeSet<&Id> = world.ledger.iter().map(|e| &e.id).collect();
    prop_assert_eq!(ids.len(), world.ledger.len(), "entry ids are unique");

    let mut open = Amount::ZERO;
    for doc in world.docs.values() {
        let s = doc.settlement;
        let entries: Vec<&LedgerEntry> = world
            .ledger
            .iter()
            .filter(|e| &e.document_id == doc.id())
            .collect();
        prop_assert_eq!(
            settlement_of(entries.iter().copied()),
            s,
            "settlement of {}",
            doc.id()
        );
        for e in &entries {
            prop_assert!(!e.amount.is_negative(), "{:?}", e);
            if !matches!(e.kind, EntryKind::Charge | EntryKind::Credit) {
                prop_assert!(positive(e.amount), "{:?}", e);
            }
            prop_assert_eq!(&e.customer_key, "ext:cus_1");
        }
        open += s.open();

        // Nothing is credited beyond what was charged, nothing given back beyond what came in.
        prop_assert!(s.credited <= s.charged, "{}: {:?}", doc.id(), s);
        prop_assert!(!s.payable().is_negative());
        prop_assert!(!s.settled().is_negative(), "{}: {:?}", doc.id(), s);
        if s.open().is_negative() {
            prop_assert_eq!(doc.payment_state(), PaymentState::Overpaid);
            prop_assert!(s.settled() > s.payable());
            prop_assert!(positive(s.paid + s.credit_applied), "{:?}", s);
        } else {
            prop_assert_ne!(doc.payment_state(), PaymentState::Overpaid);
        }

        match doc.kind() {
            DocumentKind::Invoice => check_invoice(world, doc)?,
            // Reminders come from dunning runs, which these worlds do not have.
            DocumentKind::Reminder => prop_assert!(false, "no reminders in these worlds"),
            DocumentKind::CreditNote => {
                prop_assert_eq!(s, Settlement::default());
                prop_assert_eq!(doc.lifecycle, Lifecycle::Issued);
                prop_assert!(
                    doc.related.iter().any(|r| r.kind == RelationKind::Corrects),
                    "a credit note names the invoice it corrects"
                );
                // A rounding amount is a cent or so, never a way to make totals fit.
                prop_assert!(
                    doc.content.totals.rounding.value().abs() <= Decimal::new(5, 2),
                    "{:?}",
                    doc.content.totals
                );
                prop_assert_eq!(
                    doc.content.totals.amount_due,
                    doc.content.totals.tax_inclusive + doc.content.totals.rounding
                );
            }
            DocumentKind::Proforma => prop_assert!(false, "no proformas here"),
        }
    }

    // The customer's balance: the signed entries, and what is open on their documents.
    let signed: Amount = world
        .ledger
        .iter()
        .map(|e| match e.kind.sign() {
            1 => e.amount,
            _ => Amount::ZERO - e.amount,
        })
        .sum();
    prop_assert_eq!(balance(&world.ledger), signed);
    prop_assert_eq!(balance(&world.ledger), open);
    Ok(())
}

fn check_invoice(world: &World, doc: &Document) -> Result<(), TestCaseError> {
    let s = doc.settlement;
    prop_assert_eq!(s.charged, gross(&doc.content));
    prop_assert_eq!(doc.credited_quantities.len(), doc.content.lines.len());
    let mut all = true;
    let mut none = true;
    for (line, credited) in doc.content.lines.iter().zip(&doc.credited_quantities) {
        prop_assert!(!credited.is_sign_negative() || credited.is_zero());
        prop_assert!(*credited <= line.quantity.abs(), "line {}", line.position);
        all &= *credited == line.quantity.abs();
        none &= credited.is_zero();
    }
    // Until the last one, its credit notes took back exactly what one credit note for all
    // they credit would: rounding on each small one never adds up.
    if doc.lifecycle != Lifecycle::Cancelled {
        let so_far: Vec<InvoiceLine> = doc
            .content
            .lines
            .iter()
            .zip(&doc.credited_quantities)
            .map(|(l, credited)| InvoiceLine {
                net_amount: if *credited == l.quantity {
                    l.net_amount
                } else {
                    Amount::round(l.net_amount.value() * *credited / l.quantity)
                },
                ..l.clone()
            })
            .collect();
        let worth = totals_of_lines(&so_far).1.tax_inclusive;
        prop_assert_eq!(
            s.credited,
            worth.min(s.charged),
            "{:?}",
            doc.credited_quantities
        );
    }
    match doc.lifecycle {
        Lifecycle::Issued => prop_assert!(none && s.credited.is_zero()),
        Lifecycle::PartiallyCredited => prop_assert!(!none && !all),
        Lifecycle::Cancelled => {
            prop_assert!(all);
            prop_assert_eq!(
                s.credited,
                s.charged,
                "a cancelled invoice is credited in full"
            );
        }
        other => prop_assert!(false, "an invoice is never {:?}", other),
    }
    // Its credit notes add up to what it credited, and it names each of them.
    let notes: Vec<&Document> = world
        .docs
        .values()
        .filter(|d| {
            d.kind() == DocumentKind::CreditNote
                && d.content.preceding.as_ref().map(|p| &p.id) == Some(doc.id())
        })
        .collect();
    let total: Amount = notes.iter().map(|n| gross(&n.content)).sum();
    prop_assert_eq!(total, s.credited);
    let named: BTreeSet<&Id> = doc
        .related
        .iter()
        .filter(|r| r.kind == RelationKind::CreditedBy)
        .map(|r| &r.document_id)
        .collect();
    prop_assert_eq!(named, notes.iter().map(|n| n.id()).collect::<BTreeSet<_>>());
    // The prepaid amount it was issued with was applied credit.
    prop_assert!(doc.content.totals.prepaid <= s.credit_applied);
    Ok(())
}

fn step(world: &mut World, op: &Op) -> Result<(), TestCaseError> {
    world.now += Duration::minutes(1);
    match op {
        Op::Pay {
            doc,
            money,
            reference,
        } => {
            let doc = world.pick(*doc);
            let amount = money.of(doc.settlement.open());
            let expect = expect_payment(world, &doc, amount, *reference);
            let planned = world.payment(&doc, amount, *reference);
            apply(world, planned, expect, "payment")?;
        }
        Op::Refund {
            doc,
            money,
            reference,
        } => {
            let doc = world.pick(*doc);
            let amount = money.of(surplus(&doc));
            let expect = expect_refund(world, &doc, amount, *reference);
            let planned = world.refund(&doc, amount, *reference);
            apply(world, planned, expect, "refund")?;
        }
        Op::Credit { doc, quantities } => {
            let doc = world.pick(*doc);
            let q = resolve(&doc, quantities);
            let expect = expect_credit(&doc, &q);
            let planned = world.credit(&doc, &q);
            apply(world, planned, expect, "credit note")?;
        }
        Op::Cancel { doc } => {
            let doc = world.pick(*doc);
            let expect = expect_cancel(&doc);
            let planned = world.cancel(&doc);
            apply(world, planned, expect, "cancellation")?;
        }
        Op::RacingCredits { doc, first, second } => {
            // Both computed from the same version of the invoice.
            let read = world.pick(*doc);
            let (q1, q2) = (resolve(&read, first), resolve(&read, second));
            let planned1 = world.credit(&read, &q1);
            let planned2 = world.credit(&read, &q2);
            let (expect1, expect2) = (expect_credit(&read, &q1), expect_credit(&read, &q2));
            let first = apply(world, planned1, expect1, "first credit note")?;
            prop_assert_ne!(first, Ended::NotWritten(Conflict::Version));
            let stale = planned2.is_ok() && first == Ended::Written;
            let outcome = apply(world, planned2, expect2, "second credit note")?;
            if stale {
                // Computed from a version that is gone: discarded, and computed again from the
                // invoice as it is now (`commit_with_retry`).
                prop_assert_eq!(outcome, Ended::NotWritten(Conflict::Version));
                let fresh = world.docs[read.id()].clone();
                let q2 = resolve(&fresh, second);
                // A credit note planned for the old version, applied to the new one: the
                // transition itself never credits beyond the invoice.
                if let Ok(old_plan) = plan_credit_note(
                    &read,
                    &q2,
                    &"crn_stale".parse().unwrap(),
                    world.now.date_naive(),
                    world.now,
                    None,
                ) && let Ok((after, _)) = fresh.credit(&old_plan, &q2, world.now)
                {
                    for (line, c) in after.content.lines.iter().zip(&after.credited_quantities) {
                        prop_assert!(*c <= line.quantity.abs());
                    }
                    prop_assert!(after.settlement.credited <= after.settlement.charged);
                }
                let expect = expect_credit(&fresh, &q2);
                let planned = world.credit(&fresh, &q2);
                let again = apply(world, planned, expect, "second credit note, again")?;
                prop_assert_ne!(again, Ended::NotWritten(Conflict::Version));
            } else {
                prop_assert_ne!(outcome, Ended::NotWritten(Conflict::Version));
            }
        }
        Op::ApplyCredit { from, to, money } => {
            // Mostly from a document with a surplus to one with something open.
            let from = world.pick_where(*from, |d| positive(surplus(d)));
            let to = world.pick_where(*to, |d| {
                positive(d.settlement.open()) && d.id() != from.id()
            });
            if from.id() == to.id() {
                return Ok(());
            }
            let most = surplus(&from).min(to.settlement.open());
            let amount = money.of(most);
            let expect = expect_apply(&from, &to, amount);
            let planned = world.apply_credit(&from, &to, amount);
            apply(world, planned, expect, "applied credit")?;
        }
        Op::NewInvoice { spec, apply_credit } => {
            if world.invoices().len() >= 5 {
                return Ok(());
            }
            let credit_before: Amount = world
                .invoices()
                .iter()
                .map(|d| surplus(d))
                .filter(|s| positive(*s))
                .sum();
            let planned = world.new_invoice(spec, *apply_credit);
            prop_assert!(
                planned.is_ok(),
                "a new invoice: {:?}",
                planned.as_ref().err()
            );
            let id = world.order.len();
            let ended = apply(world, planned, Expect::Written, "new invoice")?;
            prop_assert_eq!(ended, Ended::Written);
            let doc = &world.docs[&world.order[id]];
            prop_assert_eq!(doc.kind(), DocumentKind::Invoice);
            // Shown as prepaid what was applied: the customer's credit, up to the total.
            let t = &doc.content.totals;
            prop_assert_eq!(t.prepaid, doc.settlement.credit_applied);
            prop_assert_eq!(t.amount_due, doc.settlement.open());
            if *apply_credit {
                let expected = if credit_before > doc.settlement.charged {
                    doc.settlement.charged
                } else {
                    credit_before
                };
                prop_assert_eq!(t.prepaid, expected);
            } else {
                prop_assert!(t.prepaid.is_zero());
            }
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_ledger_and_the_documents_agree_after_every_step(
        first in invoice_spec(),
        second in invoice_spec(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let mut world = World::new();
        for spec in [&first, &second] {
            let planned = world.new_invoice(spec, false);
            prop_assert!(planned.is_ok(), "{:?}", planned.as_ref().err());
            prop_assert_eq!(apply(&mut world, planned, Expect::Written, "invoice")?, Ended::Written);
        }
        for op in &ops {
            step(&mut world, op)?;
        }
        // Whatever happened, every invoice can still be cancelled, and then nothing is owed
        // on it: what was paid on it is the customer's credit.
        let invoices: Vec<Document> = world.invoices().into_iter().cloned().collect();
        for doc in invoices {
            let expect = expect_cancel(&doc);
            let planned = world.cancel(&doc);
            apply(&mut world, planned, expect, "final cancellation")?;
            let doc = &world.docs[doc.id()];
            prop_assert_eq!(doc.lifecycle, Lifecycle::Cancelled);
            prop_assert!(!positive(doc.settlement.open()), "{:?}", doc.settlement);
        }
    }

    #[test]
    fn credit_notes_in_small_steps_always_add_up_to_the_invoice(
        spec in small_invoice_spec(),
        steps in prop::collection::vec(prop::collection::vec(0u8..=12, 3), 1..48),
    ) {
        let mut world = World::new();
        let planned = world.new_invoice(&spec, false);
        prop_assert!(planned.is_ok(), "{:?}", planned.as_ref().err());
        prop_assert_eq!(apply(&mut world, planned, Expect::Written, "invoice")?, Ended::Written);
        let id = world.order[0].clone();
        for step in &steps {
            let doc = world.docs[&id].clone();
            if doc.lifecycle == Lifecycle::Cancelled {
                break;
            }
            // Tenths of a unit per line (0: none), never more than is left.
            let q: Vec<Decimal> = remaining(&doc)
                .into_iter()
                .zip(step)
                .map(|(left, t)| Decimal::new(i64::from(*t), 1).min(left))
                .collect();
            let expect = expect_credit(&doc, &q);
            let planned = world.credit(&doc, &q);
            apply(&mut world, planned, expect, "credit note")?;
        }
        let doc = world.docs[&id].clone();
        let planned = world.cancel(&doc);
        apply(&mut world, planned, expect_cancel(&doc), "the rest")?;
        let doc = &world.docs[&id];
        prop_assert_eq!(doc.lifecycle, Lifecycle::Cancelled);
        prop_assert_eq!(doc.settlement.credited, doc.settlement.charged);
    }

    #[test]
    fn the_payment_state_agrees_with_the_open_amount(
        amounts in prop::collection::vec(
            prop_oneof![2 => Just(0i64), 3 => 0i64..=20_000, 1 => Just(10_000i64)],
            6,
        ),
    ) {
        let s = Settlement {
            charged: cents(amounts[0]),
            paid: cents(amounts[1]),
            refunded: cents(amounts[2]),
            credited: cents(amounts[3]),
            credit_applied: cents(amounts[4]),
            credit_used: cents(amounts[5]),
        };
        let open = s.open();
        prop_assert_eq!(open, s.payable() - s.settled());
        let state = s.state();
        if open.is_negative() {
            prop_assert_eq!(state, PaymentState::Overpaid);
        } else if open.is_zero() {
            prop_assert!(matches!(state, PaymentState::Paid | PaymentState::NothingDue), "{:?}", state);
            prop_assert_eq!(
                state == PaymentState::NothingDue,
                s.payable().is_zero() && s.settled().is_zero()
            );
        } else {
            prop_assert!(matches!(state, PaymentState::Open | PaymentState::PartiallyPaid), "{:?}", state);
            prop_assert_eq!(state == PaymentState::PartiallyPaid, positive(s.settled()));
        }
    }
}
