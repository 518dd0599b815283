//! The document aggregate's transitions, one by one: what each does on its happy path and
//! every refusal it answers with (by code). Fixtures are planned from a booking with the real
//! `plan_document` and `plan_credit_note`, as the service does.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use faktura_domain::AppError;
use faktura_domain::booking::{Booking, BookingCustomer, BookingItem};
use faktura_domain::document::{
    Delivery, Document, DocumentEvent, Lifecycle, PaymentState, RelationKind, Settlement,
};
use faktura_domain::error::ErrorKind;
use faktura_domain::invoicing::{plan_credit_note, plan_document, with_prepaid};
use faktura_domain::model::{DocumentKind, Invoice, PostalAddress, PriceBasis, Tenant};
use faktura_domain::money::{Amount, Currency, VatRate};
use faktura_domain::values::{EmailAddress, Id, InvoiceNumber};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
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
            "invoice_numbering": { "pattern": "RE-{yyyy}-{seq:5}", "yearly_reset": true }
        }
    }))
    .expect("tenant")
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

fn later(minutes: i64) -> DateTime<Utc> {
    at() + Duration::minutes(minutes)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn id(s: &str) -> Id {
    s.parse().unwrap()
}

fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

/// A booking with net-priced items (quantity, unit price, VAT rate).
fn booking(items: &[(&str, &str, &str)]) -> Booking {
    Booking {
        id: id("bk_1"),
        booked_at: at(),
        currency: Currency::EUR,
        prices: Some(PriceBasis::Net),
        customer: BookingCustomer {
            external_id: Some(id("cus_1")),
            name: "Erika Mustermann".into(),
            company: None,
            email: "erika@example.org".parse::<EmailAddress>().unwrap(),
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
        items: items
            .iter()
            .map(|(q, p, rate)| BookingItem {
                description: format!("{q} × {p}"),
                quantity: q.parse().unwrap(),
                unit: "C62".into(),
                unit_price: p.parse().unwrap(),
                vat_rate: Some(rate.parse::<VatRate>().unwrap()),
                vat_category: None,
                service: None,
            })
            .collect(),
        reference: Some("B-1".into()),
        note: None,
    }
}

/// 2 × 50.00 at 19 % and 1 × 10.00 at 7 %: 110.00 net, 19.70 VAT, 129.70 gross.
const ITEMS: [(&str, &str, &str); 2] = [("2", "50.00", "19"), ("1", "10.00", "7")];

fn planned_with(kind: DocumentKind, items: &[(&str, &str, &str)]) -> Invoice {
    let doc_id = match kind {
        DocumentKind::Invoice => "inv_1",
        DocumentKind::Proforma => "pro_1",
        DocumentKind::CreditNote => unreachable!("credit notes come from plan_credit_note"),
        DocumentKind::Reminder => unreachable!("reminders come from plan_reminder"),
    };
    plan_document(
        &tenant(),
        &booking(items),
        kind,
        &id(doc_id),
        at().date_naive(),
        at(),
    )
    .expect("planned")
    .invoice
}

fn numbered(mut invoice: Invoice, number: &str) -> Invoice {
    invoice.number = number.parse::<InvoiceNumber>().unwrap();
    invoice
}

fn number_of(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => "RE-2026-00001",
        DocumentKind::Proforma => "PRO-2026-00001",
        DocumentKind::CreditNote => "RK-2026-00001",
        DocumentKind::Reminder => "MA-2026-00001",
    }
}

/// An issued document as stored (version 1).
fn issued_with(kind: DocumentKind, items: &[(&str, &str, &str)]) -> Document {
    let (mut doc, _) = Document::new(
        numbered(planned_with(kind, items), number_of(kind)),
        true,
        at(),
    );
    doc.version = 1;
    doc
}

fn issued(kind: DocumentKind) -> Document {
    issued_with(kind, &ITEMS)
}

fn draft(kind: DocumentKind) -> Document {
    let (mut doc, _) = Document::new(planned_with(kind, &ITEMS), false, at());
    doc.version = 1;
    doc
}

fn quantities(q: &[&str]) -> Vec<Decimal> {
    q.iter().map(|q| q.parse().unwrap()).collect()
}

/// The numbered credit note `n` for `q` of `invoice`.
fn credit_note(invoice: &Document, q: &[Decimal], n: u32) -> Invoice {
    let content = plan_credit_note(
        invoice,
        q,
        &id(&format!("crn_{n}")),
        at().date_naive(),
        later(i64::from(n)),
        Some("storniert"),
    )
    .expect("credit note planned");
    numbered(content, &format!("RK-2026-{n:05}"))
}

/// Credits `q` of `invoice` the way the service does (plan, then transition).
fn credited(invoice: &Document, q: &[&str], n: u32) -> Document {
    let q = quantities(q);
    let note = credit_note(invoice, &q, n);
    invoice
        .credit(&note, &q, later(i64::from(n)))
        .expect("credited")
        .0
}

fn paid(doc: &Document, a: &str) -> Document {
    doc.record_payment(&id("led_pay"), amount(a), later(1))
        .expect("payment recorded")
        .0
}

/// The refusal of a transition: a 422 with its code.
#[track_caller]
fn refusal<T: std::fmt::Debug>(result: Result<T, AppError>) -> AppError {
    let e = result.expect_err("the transition is refused");
    assert_eq!(e.kind, ErrorKind::Unprocessable, "{e:?}");
    assert!(!e.message.is_empty());
    e
}

#[track_caller]
fn refused_with<T: std::fmt::Debug>(result: Result<T, AppError>, code: &str) -> AppError {
    let e = refusal(result);
    assert_eq!(e.code, code, "{e:?}");
    e
}

fn gross(invoice: &Invoice) -> Amount {
    invoice.totals.tax_inclusive + invoice.totals.rounding
}

// ---- new ---------------------------------------------------------------------------------

#[test]
fn a_planned_invoice_is_issued_with_its_gross_total_charged() {
    let content = numbered(planned_with(DocumentKind::Invoice, &ITEMS), "RE-2026-00001");
    assert_eq!(gross(&content), amount("129.70"));
    let (doc, events) = Document::new(content.clone(), true, at());
    assert_eq!(doc.lifecycle, Lifecycle::Issued);
    assert_eq!(doc.delivery, Delivery::Pending);
    assert_eq!(
        doc.settlement,
        Settlement {
            charged: amount("129.70"),
            ..Settlement::default()
        }
    );
    assert_eq!(doc.credited_quantities, vec![Decimal::ZERO; 2]);
    assert!(doc.related.is_empty());
    assert!(!doc.rendered);
    assert_eq!((doc.created_at, doc.updated_at), (at(), at()));
    assert_eq!(doc.payment_state(), PaymentState::Open);
    assert_eq!(
        events,
        vec![DocumentEvent::Issued {
            number: "RE-2026-00001".into()
        }]
    );
    assert_eq!(doc.content, content);
}

#[test]
fn prepaid_amounts_on_the_content_are_not_settled_by_new() {
    // The prepaid amount (BT-113) is settled by the ledger entries written with the document
    // (a payment, applied credit), never by the content: no double counting.
    let content = with_prepaid(
        numbered(planned_with(DocumentKind::Invoice, &ITEMS), "RE-2026-00001"),
        amount("29.70"),
        None,
    );
    assert_eq!(content.totals.prepaid, amount("29.70"));
    assert_eq!(content.totals.amount_due, amount("100.00"));
    let (doc, _) = Document::new(content, true, at());
    assert_eq!(doc.settlement.charged, amount("129.70"));
    assert_eq!(doc.settlement.credit_applied, Amount::ZERO);
    assert_eq!(doc.settlement.open(), amount("129.70"));
    let (applied, _) = doc
        .apply_credit(&id("inv_0"), amount("29.70"), at())
        .unwrap();
    assert_eq!(applied.settlement.open(), amount("100.00"));
}

#[test]
fn proformas_and_drafts_charge_nothing() {
    let proforma = issued(DocumentKind::Proforma);
    assert_eq!(proforma.lifecycle, Lifecycle::Issued);
    assert_eq!(proforma.settlement, Settlement::default());
    assert_eq!(proforma.payment_state(), PaymentState::NothingDue);

    let (draft, events) = Document::new(planned_with(DocumentKind::Invoice, &ITEMS), false, at());
    assert_eq!(draft.lifecycle, Lifecycle::Draft);
    assert!(!draft.lifecycle.is_issued());
    assert_eq!(draft.settlement, Settlement::default());
    assert_eq!(draft.payment_state(), PaymentState::NothingDue);
    assert_eq!(events, vec![DocumentEvent::DraftCreated]);

    let note = issued_credit_note();
    assert_eq!(note.kind(), DocumentKind::CreditNote);
    assert_eq!(note.settlement, Settlement::default());
}

fn issued_credit_note() -> Document {
    let invoice = issued(DocumentKind::Invoice);
    let q = quantities(&["1", "0"]);
    let (mut doc, _) = Document::new(credit_note(&invoice, &q, 1), true, at());
    doc.version = 1;
    doc
}

// ---- issue / change_draft ----------------------------------------------------------------

#[test]
fn issuing_a_draft_numbers_and_charges_it() {
    let mut draft = draft(DocumentKind::Invoice);
    draft.version = 3;
    draft = draft.relate(
        RelationKind::Replaces,
        &numbered(planned_with(DocumentKind::Invoice, &ITEMS), "RE-2026-00000"),
    );
    let numbered_content = numbered(draft.content.clone(), "RE-2026-00007");
    let (doc, events) = draft.issue(numbered_content.clone(), later(5)).unwrap();
    assert_eq!(doc.lifecycle, Lifecycle::Issued);
    assert_eq!(doc.content, numbered_content);
    assert_eq!(doc.settlement.charged, amount("129.70"));
    assert_eq!(
        doc.version, 3,
        "the version moves when the change is stored"
    );
    assert_eq!(doc.created_at, at());
    assert_eq!(doc.updated_at, later(5));
    assert_eq!(doc.related, draft.related);
    assert_eq!(
        events,
        vec![DocumentEvent::Issued {
            number: "RE-2026-00007".into()
        }]
    );
}

#[test]
fn issuing_a_draft_proforma_charges_nothing() {
    let draft = draft(DocumentKind::Proforma);
    let content = numbered(draft.content.clone(), "PRO-2026-00001");
    let (doc, _) = draft.issue(content, later(1)).unwrap();
    assert_eq!(doc.lifecycle, Lifecycle::Issued);
    assert_eq!(doc.settlement, Settlement::default());
}

#[test]
fn only_drafts_are_issued() {
    let invoice = issued(DocumentKind::Invoice);
    refused_with(
        invoice.issue(invoice.content.clone(), later(1)),
        "already_issued",
    );
    let proforma = issued(DocumentKind::Proforma);
    refused_with(
        proforma.issue(proforma.content.clone(), later(1)),
        "already_issued",
    );
    let cancelled = credited(&invoice, &["2", "1"], 1);
    refused_with(
        cancelled.issue(cancelled.content.clone(), later(1)),
        "already_issued",
    );
}

#[test]
fn a_draft_takes_new_content() {
    let draft = draft(DocumentKind::Invoice);
    let content = planned_with(
        DocumentKind::Invoice,
        &[("1", "5.00", "19"), ("3", "1.00", "7"), ("1", "2.00", "19")],
    );
    let (doc, events) = draft.change_draft(content.clone(), later(2)).unwrap();
    assert_eq!(doc.content, content);
    assert_eq!(doc.lifecycle, Lifecycle::Draft);
    assert_eq!(doc.credited_quantities, vec![Decimal::ZERO; 3]);
    assert_eq!(doc.settlement, Settlement::default());
    assert_eq!(doc.updated_at, later(2));
    assert_eq!(doc.created_at, at());
    assert_eq!(events, vec![DocumentEvent::DraftChanged]);
}

#[test]
fn only_drafts_change() {
    let content = planned_with(DocumentKind::Invoice, &[("1", "5.00", "19")]);
    let invoice = issued(DocumentKind::Invoice);
    refused_with(
        invoice.change_draft(content.clone(), later(1)),
        "document_issued",
    );
    refused_with(
        issued(DocumentKind::Proforma).change_draft(content.clone(), later(1)),
        "document_issued",
    );
    let voided = issued(DocumentKind::Proforma).void(later(1)).unwrap().0;
    refused_with(voided.change_draft(content, later(2)), "document_issued");
}

// ---- payments ----------------------------------------------------------------------------

#[test]
fn payment_states_open_partial_exact_over() {
    let invoice = issued(DocumentKind::Invoice);
    assert_eq!(invoice.payment_state(), PaymentState::Open);
    assert_eq!(invoice.settlement.open(), amount("129.70"));

    let (partial, events) = invoice
        .record_payment(&id("led_1"), amount("50.00"), later(1))
        .unwrap();
    assert_eq!(partial.payment_state(), PaymentState::PartiallyPaid);
    assert_eq!(partial.settlement.paid, amount("50.00"));
    assert_eq!(partial.settlement.open(), amount("79.70"));
    assert_eq!(partial.updated_at, later(1));
    assert_eq!(partial.lifecycle, Lifecycle::Issued);
    assert_eq!(
        events,
        vec![DocumentEvent::PaymentRecorded {
            entry_id: id("led_1"),
            amount: amount("50.00")
        }]
    );

    let exact = paid(&partial, "79.70");
    assert_eq!(exact.payment_state(), PaymentState::Paid);
    assert!(exact.settlement.open().is_zero());

    let over = paid(&exact, "0.01");
    assert_eq!(over.payment_state(), PaymentState::Overpaid);
    assert_eq!(over.settlement.open(), amount("-0.01"));

    let at_once = paid(&invoice, "129.70");
    assert_eq!(at_once.payment_state(), PaymentState::Paid);
    let too_much = paid(&invoice, "200.00");
    assert_eq!(too_much.payment_state(), PaymentState::Overpaid);
    assert_eq!(too_much.settlement.open(), amount("-70.30"));
}

#[test]
fn a_payment_is_a_positive_amount() {
    let invoice = issued(DocumentKind::Invoice);
    for a in ["0", "0.00", "-0.01", "-129.70"] {
        let e = refused_with(
            invoice.record_payment(&id("led_1"), amount(a), later(1)),
            "invalid_amount",
        );
        assert_eq!(e.field.as_deref(), Some("amount"));
    }
}

#[test]
fn payments_are_recorded_on_issued_invoices_only() {
    let invoice = issued(DocumentKind::Invoice);
    let pay = |doc: &Document| doc.record_payment(&id("led_1"), amount("10.00"), later(9));

    // A partially credited invoice still takes payments.
    let partial = credited(&invoice, &["1", "0"], 1);
    assert_eq!(partial.lifecycle, Lifecycle::PartiallyCredited);
    assert_eq!(pay(&partial).unwrap().0.settlement.paid, amount("10.00"));

    let cancelled = credited(&invoice, &["2", "1"], 1);
    assert_eq!(cancelled.lifecycle, Lifecycle::Cancelled);
    refused_with(pay(&cancelled), "document_cancelled");
    refused_with(pay(&draft(DocumentKind::Invoice)), "document_draft");
    refused_with(pay(&issued(DocumentKind::Proforma)), "not_payable");
    refused_with(pay(&draft(DocumentKind::Proforma)), "not_payable");
    let voided = issued(DocumentKind::Proforma).void(later(1)).unwrap().0;
    refused_with(pay(&voided), "not_payable");
    refused_with(pay(&issued_credit_note()), "not_payable");
}

// ---- refunds -----------------------------------------------------------------------------

#[test]
fn refunds_pay_back_the_surplus_and_no_more() {
    let over = paid(&issued(DocumentKind::Invoice), "150.00");
    assert_eq!(over.settlement.open(), amount("-20.30"));

    let e = refused_with(
        over.record_refund(&id("led_r"), amount("20.31"), later(2)),
        "refund_exceeds_credit",
    );
    assert_eq!(e.field.as_deref(), Some("amount"));

    let (part, _) = over
        .record_refund(&id("led_r"), amount("10.00"), later(2))
        .unwrap();
    assert_eq!(part.payment_state(), PaymentState::Overpaid);
    let (back, events) = part
        .record_refund(&id("led_r2"), amount("10.30"), later(3))
        .unwrap();
    assert_eq!(back.settlement.refunded, amount("20.30"));
    assert_eq!(back.payment_state(), PaymentState::Paid);
    assert!(back.settlement.open().is_zero());
    assert_eq!(
        events,
        vec![DocumentEvent::RefundRecorded {
            entry_id: id("led_r2"),
            amount: amount("10.30")
        }]
    );
    refused_with(
        back.record_refund(&id("led_r3"), amount("0.01"), later(4)),
        "refund_exceeds_credit",
    );
}

#[test]
fn nothing_is_refunded_without_a_surplus() {
    let invoice = issued(DocumentKind::Invoice);
    refused_with(
        invoice.record_refund(&id("led_r"), amount("0.01"), later(1)),
        "refund_exceeds_credit",
    );
    let partial = paid(&invoice, "100.00");
    refused_with(
        partial.record_refund(&id("led_r"), amount("1.00"), later(1)),
        "refund_exceeds_credit",
    );
    let exact = paid(&invoice, "129.70");
    refused_with(
        exact.record_refund(&id("led_r"), amount("0.01"), later(1)),
        "refund_exceeds_credit",
    );
}

#[test]
fn a_refund_is_a_positive_amount() {
    let over = paid(&issued(DocumentKind::Invoice), "150.00");
    for a in ["0", "-1.00"] {
        let e = refused_with(
            over.record_refund(&id("led_r"), amount(a), later(1)),
            "invalid_amount",
        );
        assert_eq!(e.field.as_deref(), Some("amount"));
    }
}

#[test]
fn a_cancelled_invoice_refunds_what_was_paid_on_it() {
    let invoice = paid(&issued(DocumentKind::Invoice), "129.70");
    let cancelled = credited(&invoice, &["2", "1"], 1);
    assert_eq!(cancelled.lifecycle, Lifecycle::Cancelled);
    assert_eq!(cancelled.settlement.credited, amount("129.70"));
    assert_eq!(cancelled.payment_state(), PaymentState::Overpaid);
    assert_eq!(cancelled.settlement.open(), amount("-129.70"));
    refused_with(
        cancelled.record_refund(&id("led_r"), amount("129.71"), later(3)),
        "refund_exceeds_credit",
    );
    let (back, _) = cancelled
        .record_refund(&id("led_r"), amount("129.70"), later(3))
        .unwrap();
    assert_eq!(back.payment_state(), PaymentState::NothingDue);
}

#[test]
fn refunds_are_recorded_on_issued_invoices_only() {
    let refund = |doc: &Document| doc.record_refund(&id("led_r"), amount("1.00"), later(1));
    refused_with(refund(&draft(DocumentKind::Invoice)), "not_refundable");
    refused_with(refund(&issued(DocumentKind::Proforma)), "not_refundable");
    refused_with(refund(&issued_credit_note()), "not_refundable");
}

// ---- credit notes ------------------------------------------------------------------------

#[test]
fn a_partial_credit_note_takes_back_its_lines() {
    let invoice = issued(DocumentKind::Invoice);
    let q = quantities(&["1", "0"]);
    let note = credit_note(&invoice, &q, 1);
    // One of two 50.00 lines at 19 %: 50.00 + 9.50.
    assert_eq!(gross(&note), amount("59.50"));
    assert_eq!(note.kind, DocumentKind::CreditNote);
    assert!(!note.cancels_fully);
    assert_eq!(note.lines.len(), 1);
    assert_eq!(
        note.preceding.as_ref().map(|p| p.id.clone()),
        Some(id("inv_1"))
    );

    let (doc, events) = invoice.credit(&note, &q, later(1)).unwrap();
    assert_eq!(doc.lifecycle, Lifecycle::PartiallyCredited);
    assert_eq!(doc.credited_quantities, q);
    assert_eq!(doc.settlement.credited, amount("59.50"));
    assert_eq!(doc.settlement.open(), amount("70.20"));
    assert_eq!(doc.payment_state(), PaymentState::Open);
    assert_eq!(doc.related.len(), 1);
    assert_eq!(doc.related[0].kind, RelationKind::CreditedBy);
    assert_eq!(doc.related[0].document_id, id("crn_1"));
    assert_eq!(doc.related[0].number.as_deref(), Some("RK-2026-00001"));
    assert_eq!(doc.updated_at, later(1));
    assert_eq!(
        events,
        vec![DocumentEvent::Credited {
            credit_note_id: id("crn_1"),
            amount: amount("59.50"),
            fully: false
        }]
    );
}

#[test]
fn crediting_everything_cancels_the_invoice() {
    let invoice = issued(DocumentKind::Invoice);
    let q = quantities(&["2", "1"]);
    let note = credit_note(&invoice, &q, 1);
    assert!(note.cancels_fully);
    assert_eq!(note.totals, {
        let mut t = invoice.content.totals.clone();
        t.amount_due = gross(&invoice.content);
        t
    });
    let (doc, events) = invoice.credit(&note, &q, later(1)).unwrap();
    assert_eq!(doc.lifecycle, Lifecycle::Cancelled);
    assert_eq!(doc.settlement.credited, doc.settlement.charged);
    assert_eq!(doc.payment_state(), PaymentState::NothingDue);
    assert!(matches!(
        events.as_slice(),
        [DocumentEvent::Credited { fully: true, .. }]
    ));
}

#[test]
fn the_credit_notes_of_an_invoice_add_up_to_it() {
    // 3 × 33.33 at 19 %: 99.99 + 19.00 = 118.99; one unit is 33.33 + 6.33 = 39.66, three of
    // them 118.98. Two units in one credit note would be 66.66 + 12.67 = 79.33: the second
    // credit note takes the cent as rounding amount (BT-114), so that after each one the credit
    // notes took back what one credit note for all of it would.
    let invoice = issued_with(DocumentKind::Invoice, &[("3", "33.33", "19")]);
    assert_eq!(invoice.settlement.charged, amount("118.99"));
    let mut doc = invoice;
    let mut total = Amount::ZERO;
    for (n, rounding) in [(1, "0.00"), (2, "0.01"), (3, "0.00")] {
        let q = quantities(&["1"]);
        let note = credit_note(&doc, &q, n);
        assert_eq!(note.totals.tax_inclusive, amount("39.66"));
        assert_eq!(note.totals.rounding, amount(rounding), "credit note {n}");
        total += gross(&note);
        doc = doc.credit(&note, &q, later(i64::from(n))).unwrap().0;
        let expected = if n < 3 {
            Lifecycle::PartiallyCredited
        } else {
            Lifecycle::Cancelled
        };
        assert_eq!(doc.lifecycle, expected);
    }
    assert_eq!(total, amount("118.99"));
    assert_eq!(doc.settlement.credited, amount("118.99"));
    assert_eq!(doc.payment_state(), PaymentState::NothingDue);
    assert_eq!(doc.related.len(), 3);
}

/// Credits `invoice` (one line) one unit per credit note, `units` of them, checking that each
/// is taken and that the credit notes never take back more than the invoice claims.
fn credit_unit_by_unit(invoice: Document, units: u32) -> (Document, Vec<Invoice>) {
    let mut doc = invoice;
    let mut notes = Vec::new();
    for n in 1..=units {
        let q = quantities(&["1"]);
        let note = credit_note(&doc, &q, n);
        doc = doc
            .credit(&note, &q, later(i64::from(n)))
            .unwrap_or_else(|e| panic!("unit {n}: {e:?}"))
            .0;
        assert!(
            doc.settlement.credited <= doc.settlement.charged,
            "unit {n}"
        );
        notes.push(note);
    }
    (doc, notes)
}

#[test]
fn partial_credit_notes_of_many_small_units_can_always_cancel_the_rest() {
    // 100 × 0.025 net: a unit's share rounds up (0.03 + 0.01 VAT instead of 0.02975): credited
    // one unit at a time, the credit notes took back all of the invoice by unit 75 once.
    let invoice = issued_with(DocumentKind::Invoice, &[("100", "0.025", "19")]);
    assert_eq!(invoice.settlement.charged, amount("2.98"));
    let (doc, notes) = credit_unit_by_unit(invoice, 100);
    assert_eq!(doc.lifecycle, Lifecycle::Cancelled);
    assert_eq!(doc.settlement.credited, doc.settlement.charged);
    // The nets of a line's credit notes add up to the line's net exactly.
    let nets: Amount = notes.iter().map(|n| n.totals.line_net).sum();
    assert_eq!(nets, amount("2.50"));

    // 100 × 0.03 net: every unit's VAT rounds up (0.0057 → 0.01), 0.04 a unit where the
    // invoice claims 3.57 for 100; the credit notes stay within what is left all the same.
    let invoice = issued_with(DocumentKind::Invoice, &[("100", "0.03", "19")]);
    assert_eq!(invoice.settlement.charged, amount("3.57"));
    let (doc, notes) = credit_unit_by_unit(invoice, 100);
    assert_eq!(doc.lifecycle, Lifecycle::Cancelled);
    assert_eq!(doc.settlement.credited, amount("3.57"));
    for note in &notes {
        assert_eq!(note.totals.line_net, amount("0.03"));
        assert!(
            note.totals.rounding.value().abs() <= dec!(0.01),
            "{:?}",
            note.totals
        );
        assert_eq!(
            note.totals.amount_due,
            note.totals.tax_inclusive + note.totals.rounding
        );
    }
}

#[test]
fn credit_beyond_a_line_is_refused_with_the_line() {
    let invoice = issued(DocumentKind::Invoice);
    let partial = credited(&invoice, &["1", "0"], 1);
    let q = quantities(&["2", "0"]);
    // Planned from the document as it is now: refused there already.
    let e = refused_with(
        plan_credit_note(&partial, &q, &id("crn_2"), at().date_naive(), at(), None),
        "credit_exceeds_invoice",
    );
    assert_eq!(e.field.as_deref(), Some("items[0].quantity"));
    // A credit note planned for another version of the invoice is refused by the transition.
    let stale = credit_note(&invoice, &q, 2);
    let e = refused_with(
        partial.credit(&stale, &q, later(2)),
        "credit_exceeds_invoice",
    );
    assert_eq!(e.field.as_deref(), Some("items[0].quantity"));
    let e = refused_with(
        invoice.credit(&stale, &quantities(&["0", "1.5"]), later(2)),
        "credit_exceeds_invoice",
    );
    assert_eq!(e.field.as_deref(), Some("items[1].quantity"));
}

#[test]
fn credit_beyond_the_total_is_refused() {
    let invoice = issued(DocumentKind::Invoice);
    let q = quantities(&["1", "0"]);
    let mut note = credit_note(&invoice, &q, 1);
    note.totals.tax_inclusive = amount("129.71");
    let e = refused_with(
        invoice.credit(&note, &q, later(1)),
        "credit_exceeds_invoice",
    );
    assert_eq!(e.field, None);

    // What is left in total after a partial credit note.
    let partial = credited(&invoice, &["1", "0"], 1);
    let q = quantities(&["0", "1"]);
    let mut note = credit_note(&partial, &q, 2);
    note.totals.tax_inclusive = amount("70.21");
    refused_with(
        partial.credit(&note, &q, later(2)),
        "credit_exceeds_invoice",
    );
    note.totals.tax_inclusive = amount("70.20");
    note.totals.rounding = Amount::ZERO;
    assert!(partial.credit(&note, &q, later(2)).is_ok());
}

#[test]
fn credit_quantities_are_one_per_line_and_not_negative() {
    let invoice = issued(DocumentKind::Invoice);
    let note = credit_note(&invoice, &quantities(&["1", "0"]), 1);
    refused_with(
        invoice.credit(&note, &quantities(&["1"]), later(1)),
        "invalid_items",
    );
    refused_with(
        invoice.credit(&note, &quantities(&["1", "0", "0"]), later(1)),
        "invalid_items",
    );
    let e = refused_with(
        invoice.credit(&note, &quantities(&["1", "-1"]), later(1)),
        "invalid_items",
    );
    assert_eq!(e.field.as_deref(), Some("items[1].quantity"));

    let plan = |q: &[&str]| {
        plan_credit_note(
            &invoice,
            &quantities(q),
            &id("crn_1"),
            at().date_naive(),
            at(),
            None,
        )
    };
    refused_with(plan(&["1"]), "invalid_items");
    let e = refused_with(plan(&["0", "0"]), "no_items");
    assert_eq!(e.field.as_deref(), Some("items"));
    refused_with(plan(&["3", "0"]), "credit_exceeds_invoice");
    refused_with(plan(&["-1", "1"]), "credit_exceeds_invoice");
}

#[test]
fn only_issued_invoices_are_credited() {
    let invoice = issued(DocumentKind::Invoice);
    let q = quantities(&["1", "0"]);
    let note = credit_note(&invoice, &q, 1);
    let cancelled = credited(&invoice, &["2", "1"], 2);
    refused_with(cancelled.credit(&note, &q, later(3)), "document_cancelled");
    refused_with(
        draft(DocumentKind::Invoice).credit(&note, &q, later(3)),
        "document_draft",
    );
    refused_with(
        issued(DocumentKind::Proforma).credit(&note, &q, later(3)),
        "not_creditable",
    );
    let credit_note = issued_credit_note();
    refused_with(
        credit_note.credit(&note, &quantities(&["1"]), later(3)),
        "not_creditable",
    );

    // Planning says so too: a cancelled invoice is refused as cancelled (a cancellation of
    // what is left of it, nothing, is no `no_items`).
    let plan = |doc: &Document, q: &[&str]| {
        plan_credit_note(
            doc,
            &quantities(q),
            &id("crn_9"),
            at().date_naive(),
            at(),
            None,
        )
    };
    refused_with(plan(&cancelled, &["0", "0"]), "document_cancelled");
    refused_with(plan(&cancelled, &["1", "0"]), "document_cancelled");
    refused_with(
        plan(&draft(DocumentKind::Invoice), &["1", "0"]),
        "document_draft",
    );
    refused_with(
        plan(&issued(DocumentKind::Proforma), &["1", "0"]),
        "not_creditable",
    );
    refused_with(plan(&credit_note, &["1"]), "not_creditable");
}

// ---- proformas: void / convert -----------------------------------------------------------

#[test]
fn a_proforma_is_voided_once() {
    let proforma = issued(DocumentKind::Proforma);
    let (voided, events) = proforma.void(later(1)).unwrap();
    assert_eq!(voided.lifecycle, Lifecycle::Voided);
    assert_eq!(voided.updated_at, later(1));
    assert_eq!(voided.payment_state(), PaymentState::NothingDue);
    assert_eq!(events, vec![DocumentEvent::Voided]);
    refused_with(voided.void(later(2)), "not_voidable");
}

#[test]
fn only_issued_proformas_are_voided() {
    refused_with(issued(DocumentKind::Invoice).void(later(1)), "not_voidable");
    refused_with(draft(DocumentKind::Invoice).void(later(1)), "not_voidable");
    refused_with(issued_credit_note().void(later(1)), "not_voidable");
    refused_with(draft(DocumentKind::Proforma).void(later(1)), "not_voidable");
    let final_invoice = issued(DocumentKind::Invoice);
    let converted = issued(DocumentKind::Proforma)
        .convert(&final_invoice.content, later(1))
        .unwrap()
        .0;
    refused_with(converted.void(later(2)), "not_voidable");
}

#[test]
fn a_proforma_is_converted_by_its_final_invoice() {
    let proforma = issued(DocumentKind::Proforma);
    let final_invoice = issued(DocumentKind::Invoice);
    let (doc, events) = proforma.convert(&final_invoice.content, later(1)).unwrap();
    assert_eq!(doc.lifecycle, Lifecycle::Converted);
    assert_eq!(doc.related.len(), 1);
    assert_eq!(doc.related[0].kind, RelationKind::FinalInvoice);
    assert_eq!(doc.related[0].document_id, id("inv_1"));
    assert_eq!(doc.related[0].number.as_deref(), Some("RE-2026-00001"));
    assert_eq!(
        events,
        vec![DocumentEvent::Converted {
            final_invoice_id: id("inv_1")
        }]
    );
    refused_with(
        doc.convert(&final_invoice.content, later(2)),
        "not_convertible",
    );
}

#[test]
fn only_issued_proformas_are_converted() {
    let final_invoice = issued(DocumentKind::Invoice).content;
    let voided = issued(DocumentKind::Proforma).void(later(1)).unwrap().0;
    for doc in [
        voided,
        draft(DocumentKind::Proforma),
        issued(DocumentKind::Invoice),
        issued_credit_note(),
    ] {
        refused_with(doc.convert(&final_invoice, later(2)), "not_convertible");
    }
}

// ---- customer credit ---------------------------------------------------------------------

#[test]
fn credit_is_applied_up_to_the_open_amount() {
    let invoice = issued(DocumentKind::Invoice);
    let (doc, events) = invoice
        .apply_credit(&id("inv_0"), amount("29.70"), later(1))
        .unwrap();
    assert_eq!(doc.settlement.credit_applied, amount("29.70"));
    assert_eq!(doc.settlement.open(), amount("100.00"));
    assert_eq!(doc.payment_state(), PaymentState::PartiallyPaid);
    assert_eq!(
        events,
        vec![DocumentEvent::CreditApplied {
            from: id("inv_0"),
            amount: amount("29.70")
        }]
    );
    refused_with(
        doc.apply_credit(&id("inv_0"), amount("100.01"), later(2)),
        "credit_exceeds_open",
    );
    let (full, _) = doc
        .apply_credit(&id("inv_0"), amount("100.00"), later(2))
        .unwrap();
    assert_eq!(full.payment_state(), PaymentState::Paid);
    refused_with(
        full.apply_credit(&id("inv_0"), amount("0.01"), later(3)),
        "credit_exceeds_open",
    );
}

#[test]
fn applied_credit_is_a_positive_amount() {
    let invoice = issued(DocumentKind::Invoice);
    for a in ["0", "-10.00"] {
        let e = refused_with(
            invoice.apply_credit(&id("inv_0"), amount(a), later(1)),
            "invalid_amount",
        );
        assert_eq!(e.field.as_deref(), Some("amount"));
    }
}

#[test]
fn credit_is_applied_to_issued_invoices_only() {
    let apply = |doc: &Document| doc.apply_credit(&id("inv_0"), amount("1.00"), later(1));
    let invoice = issued(DocumentKind::Invoice);
    refused_with(
        apply(&credited(&invoice, &["2", "1"], 1)),
        "document_cancelled",
    );
    refused_with(apply(&draft(DocumentKind::Invoice)), "document_draft");
    refused_with(apply(&issued(DocumentKind::Proforma)), "not_payable");
    refused_with(apply(&issued_credit_note()), "not_payable");
}

#[test]
fn a_surplus_is_used_up_to_what_it_is() {
    let over = paid(&issued(DocumentKind::Invoice), "150.00");
    let (used, events) = over
        .use_credit(&id("inv_2"), amount("20.00"), later(2))
        .unwrap();
    assert_eq!(used.settlement.credit_used, amount("20.00"));
    assert_eq!(used.settlement.open(), amount("-0.30"));
    assert_eq!(
        events,
        vec![DocumentEvent::CreditUsed {
            to: id("inv_2"),
            amount: amount("20.00")
        }]
    );
    refused_with(
        used.use_credit(&id("inv_2"), amount("0.31"), later(3)),
        "credit_exceeds_surplus",
    );
    let (all, _) = used
        .use_credit(&id("inv_2"), amount("0.30"), later(3))
        .unwrap();
    assert_eq!(all.payment_state(), PaymentState::Paid);
    refused_with(
        issued(DocumentKind::Invoice).use_credit(&id("inv_2"), amount("0.01"), later(1)),
        "credit_exceeds_surplus",
    );
    for a in ["0", "-1.00"] {
        let e = refused_with(
            over.use_credit(&id("inv_2"), amount(a), later(1)),
            "invalid_amount",
        );
        assert_eq!(e.field.as_deref(), Some("amount"));
    }
}

// ---- delivery and rendering --------------------------------------------------------------

#[test]
fn rendering_and_delivery_facets() {
    let invoice = issued(DocumentKind::Invoice);
    let (rendered, events) = invoice.mark_rendered(later(1));
    assert!(rendered.rendered);
    assert_eq!(rendered.updated_at, later(1));
    assert_eq!(events, vec![DocumentEvent::Rendered]);

    let to: EmailAddress = "erika@example.org".parse().unwrap();
    let (sent, events) = rendered.mark_sent(vec![to.clone()], "<m1@faktura>", later(2));
    assert_eq!(
        sent.delivery,
        Delivery::Sent {
            at: later(2),
            message_id: "<m1@faktura>".into(),
            to: vec![to.clone()],
            sends: 1
        }
    );
    assert_eq!(
        events,
        vec![DocumentEvent::Sent {
            to: vec![to.clone()],
            message_id: "<m1@faktura>".into()
        }]
    );
    let other: EmailAddress = "buchhaltung@example.org".parse().unwrap();
    let (again, _) = sent.mark_sent(vec![other.clone()], "<m2@faktura>", later(3));
    assert!(matches!(
        &again.delivery,
        Delivery::Sent { sends: 2, to, .. } if to == &vec![other.clone()]
    ));

    // A failure after a send keeps the send (the document did reach its recipient).
    let (still_sent, events) = again.mark_delivery_failed("bounced", later(4));
    assert_eq!(still_sent.delivery, again.delivery);
    assert_eq!(
        events,
        vec![DocumentEvent::DeliveryFailed {
            code: "bounced".into()
        }]
    );
    let (failed, _) = rendered.mark_delivery_failed("ses_rejected", later(4));
    assert_eq!(
        failed.delivery,
        Delivery::Failed {
            at: later(4),
            code: "ses_rejected".into()
        }
    );
    let (sent_later, _) = failed.mark_sent(vec![to], "<m3@faktura>", later(5));
    assert!(matches!(
        sent_later.delivery,
        Delivery::Sent { sends: 1, .. }
    ));
    // None of this touches the money.
    assert_eq!(sent_later.settlement, invoice.settlement);
    assert_eq!(sent_later.lifecycle, Lifecycle::Issued);
}

// ---- overdue -----------------------------------------------------------------------------

#[test]
fn overdue_after_the_due_date_with_something_open() {
    let invoice = issued(DocumentKind::Invoice);
    assert_eq!(invoice.content.due_date, day(2026, 12, 4));
    assert!(!invoice.is_overdue(day(2026, 11, 20)));
    assert!(!invoice.is_overdue(day(2026, 12, 4)), "due on the due date");
    assert!(invoice.is_overdue(day(2026, 12, 5)));
    assert!(invoice.is_overdue(day(2027, 6, 1)));

    let after = day(2026, 12, 5);
    assert!(paid(&invoice, "129.00").is_overdue(after));
    assert!(!paid(&invoice, "129.70").is_overdue(after));
    assert!(!paid(&invoice, "150.00").is_overdue(after));
    let partial = credited(&invoice, &["1", "0"], 1);
    assert!(partial.is_overdue(after));
    assert!(!paid(&partial, "70.20").is_overdue(after));
    assert!(!credited(&invoice, &["2", "1"], 1).is_overdue(after));
    assert!(!draft(DocumentKind::Invoice).is_overdue(after));
    assert!(!issued(DocumentKind::Proforma).is_overdue(after));
    assert!(!issued_credit_note().is_overdue(after));
}

// ---- settlement, names, release 1 --------------------------------------------------------

#[test]
fn settlement_states() {
    let s = |charged: &str, paid: &str, refunded: &str, credited: &str| Settlement {
        charged: amount(charged),
        paid: amount(paid),
        refunded: amount(refunded),
        credited: amount(credited),
        ..Settlement::default()
    };
    assert_eq!(s("0", "0", "0", "0").state(), PaymentState::NothingDue);
    assert_eq!(s("10", "10", "0", "10").state(), PaymentState::Overpaid);
    assert_eq!(s("10", "10", "10", "10").state(), PaymentState::NothingDue);
    assert_eq!(s("10", "0", "0", "0").state(), PaymentState::Open);
    assert_eq!(s("10", "4", "0", "0").state(), PaymentState::PartiallyPaid);
    assert_eq!(s("10", "4", "0", "6").state(), PaymentState::Paid);
    assert_eq!(s("10", "12", "2", "0").state(), PaymentState::Paid);
    assert_eq!(s("10", "4", "4", "0").state(), PaymentState::Open);
    let used = Settlement {
        credit_used: amount("3"),
        ..s("10", "13", "0", "0")
    };
    assert_eq!(used.state(), PaymentState::Paid);
    assert_eq!(used.settled(), amount("10"));
    assert_eq!(used.payable(), amount("10"));
}

#[test]
fn names_round_trip() {
    for l in [
        Lifecycle::Draft,
        Lifecycle::Issued,
        Lifecycle::PartiallyCredited,
        Lifecycle::Cancelled,
        Lifecycle::Voided,
        Lifecycle::Converted,
    ] {
        assert_eq!(Lifecycle::parse(l.as_str()), Some(l));
    }
    for p in [
        PaymentState::Open,
        PaymentState::PartiallyPaid,
        PaymentState::Paid,
        PaymentState::Overpaid,
        PaymentState::NothingDue,
    ] {
        assert_eq!(PaymentState::parse(p.as_str()), Some(p));
    }
    assert_eq!(Lifecycle::parse("paid"), None);
    assert_eq!(PaymentState::parse("cancelled"), None);
}

#[test]
fn a_release1_invoice_becomes_an_issued_document() {
    let content = numbered(planned_with(DocumentKind::Invoice, &ITEMS), "RE-2026-00001");
    let unsent = Document::from_release1(content.clone(), None);
    assert_eq!(unsent.lifecycle, Lifecycle::Issued);
    assert_eq!(unsent.delivery, Delivery::Pending);
    assert!(!unsent.rendered);
    assert_eq!(unsent.version, 1);
    assert_eq!(unsent.settlement.charged, amount("129.70"));
    assert_eq!(unsent.credited_quantities, vec![Decimal::ZERO; 2]);
    let sent = Document::from_release1(content.clone(), Some((later(5), "<m@x>".into())));
    assert!(sent.rendered);
    assert!(matches!(sent.delivery, Delivery::Sent { sends: 1, .. }));
    // It is credited like any other invoice.
    let cancelled = credited(&sent, &["2", "1"], 1);
    assert_eq!(cancelled.lifecycle, Lifecycle::Cancelled);
    assert_eq!(cancelled.settlement.credited, amount("129.70"));
    assert_eq!(dec!(2), cancelled.credited_quantities[0]);
}

#[test]
fn a_credit_note_of_only_a_discount_line_is_refused() {
    // 2 × 100.00 and a discount of −20.00: crediting the discount alone would raise what is
    // owed; that is a new invoice, not a credit note.
    let invoice = issued_with(
        DocumentKind::Invoice,
        &[("2", "100.00", "19"), ("1", "-20.00", "19")],
    );
    let q = quantities(&["0", "1"]);
    let note = credit_note(&invoice, &q, 1);
    let e = refused_with(invoice.credit(&note, &q, later(1)), "credit_not_positive");
    assert_eq!(e.field.as_deref(), Some("items"));
    // With a regular line it is a credit note as usual.
    let q = quantities(&["1", "1"]);
    let note = credit_note(&invoice, &q, 1);
    assert!(invoice.credit(&note, &q, later(1)).is_ok());
}

// ---- dunning ------------------------------------------------------------------------------

/// An issued invoice of 110.00 net (129.70 gross) to a company, due 2026-12-04.
fn business_invoice() -> Document {
    let mut booking = booking(&ITEMS);
    booking.customer.company = Some("Muster GmbH".into());
    let invoice = plan_document(
        &tenant(),
        &booking,
        DocumentKind::Invoice,
        &id("inv_b"),
        at().date_naive(),
        at(),
    )
    .expect("planned")
    .invoice;
    let (mut doc, _) = Document::new(numbered(invoice, "RE-2026-00009"), true, at());
    doc.version = 1;
    doc
}

fn noon(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(11, 0, 0).unwrap().and_utc()
}

#[test]
fn a_business_pays_nine_points_and_the_flat_fee_once() {
    use faktura_domain::service::dunning::plan_reminder;
    let tenant = tenant();
    let doc = business_invoice();
    assert_eq!(doc.content.due_date, day(2026, 12, 4));
    assert!(
        !doc.content.notes.iter().any(|n| n.contains("§ 286 Abs. 3")),
        "no consumer notice for a business"
    );
    // Level 1 on 11 Dec: free, no interest yet; default begins the next day.
    let first = plan_reminder(&tenant, &doc, 1, &id("rem_1"), noon(day(2026, 12, 11))).unwrap();
    assert!(first.content.lines.is_empty());
    assert_eq!(first.default_since, Some(day(2026, 12, 12)));
    assert_eq!(first.content.kind, DocumentKind::Reminder);
    assert_eq!(first.content.due_date, day(2026, 12, 18), "a new deadline");
    let (doc, events) = doc
        .remind(
            1,
            &numbered(first.content.clone(), "MA-2026-00001"),
            first.default_since,
            false,
            later(1),
        )
        .unwrap();
    assert!(matches!(
        events[0],
        DocumentEvent::Reminded { level: 1, .. }
    ));
    // Two letters of one level: never.
    refused_with(
        doc.remind(
            1,
            &numbered(first.content.clone(), "MA-2026-00002"),
            None,
            false,
            later(2),
        ),
        "reminder_level_sent",
    );
    // Level 2 on 25 Dec: the €40 flat fee (the level's fee is counted against it), 14 days
    // at 1.27 + 9 points.
    let second = plan_reminder(&tenant, &doc, 2, &id("rem_2"), noon(day(2026, 12, 25))).unwrap();
    let lines: Vec<(&str, Amount)> = second
        .content
        .lines
        .iter()
        .map(|l| (l.description.as_str(), l.net_amount))
        .collect();
    let interest = Amount::round(dec!(129.70) * dec!(0.1027) * dec!(14) / dec!(365));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0]
            .0
            .starts_with("Verzugspauschale nach § 288 Abs. 5 BGB")
    );
    assert_eq!(lines[0].1, amount("40.00"));
    assert!(
        lines[1]
            .0
            .starts_with("Verzugszinsen 10,27 % p. a. auf 129,70 €"),
        "{}",
        lines[1].0
    );
    assert!(lines[1].0.ends_with("(14 Tage)"), "{}", lines[1].0);
    assert_eq!(lines[1].1, interest);
    assert!(second.flat_fee_charged);
    let facts = second.content.reminder.as_ref().unwrap();
    assert_eq!(facts.total, amount("129.70") + amount("40.00") + interest);
    assert_eq!(
        second.content.totals.vat,
        Amount::ZERO,
        "outside the scope of VAT"
    );
    assert!(
        second
            .content
            .lines
            .iter()
            .all(|l| l.vat_category.code() == "O")
    );
    let (doc, _) = doc
        .remind(
            2,
            &numbered(second.content.clone(), "MA-2026-00002"),
            None,
            true,
            later(3),
        )
        .unwrap();
    // Level 3: the €40 still owed (once, not again on top) and interest to its date; the
    // level's 5.00 is counted against the €40 too.
    let third = plan_reminder(&tenant, &doc, 3, &id("rem_3"), noon(day(2027, 1, 8))).unwrap();
    assert!(!third.flat_fee_charged, "charged before");
    let amounts: Vec<Amount> = third.content.lines.iter().map(|l| l.net_amount).collect();
    let interest = Amount::round(dec!(129.70) * dec!(0.1027) * dec!(28) / dec!(365));
    assert_eq!(amounts, vec![amount("40.00"), interest]);
    assert!(third.content.reminder.as_ref().unwrap().last);
    // In another currency the €40 is not owed: the level fees are.
    let mut usd = doc.clone();
    usd.content.currency = "USD".parse().unwrap();
    let other = plan_reminder(&tenant, &usd, 3, &id("rem_4"), noon(day(2027, 1, 8))).unwrap();
    let fees: Vec<Amount> = other
        .content
        .lines
        .iter()
        .take(2)
        .map(|l| l.net_amount)
        .collect();
    assert_eq!(fees, vec![amount("2.50"), amount("5.00")]);
}

#[test]
fn paid_credited_or_paused_invoices_take_no_reminder() {
    let doc = business_invoice();
    let today = day(2026, 12, 11);
    assert_eq!(
        doc.awaits_reminder(day(2026, 12, 4)),
        Err("not_overdue"),
        "due today"
    );
    assert_eq!(doc.awaits_reminder(today), Ok(()));
    let (paid, _) = doc
        .record_payment(&id("pay_1"), amount("129.70"), later(1))
        .unwrap();
    assert_eq!(paid.awaits_reminder(today), Err("not_overdue"));
    let (paused, _) = doc.pause_dunning(true, later(1)).unwrap();
    assert_eq!(paused.awaits_reminder(today), Err("dunning_paused"));
    let (resumed, events) = paused.pause_dunning(false, later(2)).unwrap();
    assert_eq!(events, vec![DocumentEvent::DunningResumed]);
    assert_eq!(resumed.awaits_reminder(today), Ok(()));
    let (gone, _) = doc.exhaust_dunning(today, later(1)).unwrap();
    assert_eq!(gone.awaits_reminder(today), Err("dunning_exhausted"));
    assert_eq!(
        gone.dunning.state(),
        faktura_domain::dunning::DunningState::Exhausted
    );
}

#[test]
fn an_english_reminder_reads_english() {
    use faktura_domain::service::dunning::plan_reminder;
    let mut booking = booking(&ITEMS);
    booking.customer.language = Some("en".parse().unwrap());
    let invoice = plan_document(
        &tenant(),
        &booking,
        DocumentKind::Invoice,
        &id("inv_en"),
        at().date_naive(),
        at(),
    )
    .expect("planned")
    .invoice;
    assert!(
        invoice
            .notes
            .iter()
            .any(|n| n.starts_with("Notice under § 286(3) BGB")),
        "{:?}",
        invoice.notes
    );
    let (doc, _) = Document::new(numbered(invoice, "RE-2026-00010"), true, at());
    let tenant = tenant();
    let first = plan_reminder(&tenant, &doc, 1, &id("rem_en1"), noon(day(2026, 12, 11))).unwrap();
    let (doc, _) = doc
        .remind(
            1,
            &numbered(first.content.clone(), "MA-2026-00011"),
            first.default_since,
            false,
            later(1),
        )
        .unwrap();
    let second = plan_reminder(&tenant, &doc, 2, &id("rem_en2"), noon(day(2026, 12, 25))).unwrap();
    let c = &second.content;
    assert_eq!(c.lines[0].description, "Dunning fee (First dunning notice)");
    assert!(
        c.lines[1]
            .description
            .starts_with("Default interest at 6.27 % p.a. on €129.70 from"),
        "{}",
        c.lines[1].description
    );
    assert_eq!(
        c.notes,
        vec!["This letter is not a VAT invoice.".to_string()]
    );
    let view = faktura_domain::view::DocumentView::from_invoice(c);
    assert_eq!(view.labels["title"], "First dunning notice");
    let letter = view.letter.expect("a letter");
    assert!(
        letter
            .intro
            .starts_with("despite our reminder, invoice RE-2026-00010")
    );
    assert_eq!(letter.salutation, "Hello Erika Mustermann,");
    // The payment reference is the invoice's (its RF creditor reference), so the transfer
    // finds the invoice.
    let invoice_reference = faktura_domain::payment_codes::CreditorReference::for_number(
        &"RE-2026-00010".parse().unwrap(),
    )
    .unwrap()
    .print_form();
    assert_eq!(
        view.payment.and_then(|p| p.reference),
        Some(invoice_reference)
    );
}
