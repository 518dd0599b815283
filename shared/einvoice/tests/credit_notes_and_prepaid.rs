//! Credit notes and invoices with a prepaid amount, built the way the product builds them —
//! an invoice issued from a booking (`plan_document`) becomes an issued
//! [`Document`](faktura_domain::document::Document), credit notes are planned from it
//! (`plan_credit_note`, whole or in parts, each recorded on the invoice with `Document::credit`
//! as the service does), and final invoices after a proforma or with applied customer credit
//! show the amount already paid (`with_prepaid`, BT-113).
//!
//! Every document is written through the product's encoder port ([`EInvoiceXml`]) in each form
//! Faktura issues it: as a ZUGFeRD document (CII Factur-X EN16931, UBL EN 16931) and as an
//! XRechnung (CII and UBL XRechnung 3.0). All of them must pass the official rules for what
//! they declare (`scripts/validate_einvoice.py`: XSD, CEN EN 16931 1.3.16, Factur-X profile,
//! KoSIT XRechnung), and read back they must say what the model says: type code 381 and BG-3
//! for credit notes (UBL as a `CreditNote` document), positive document totals, BT-113 and
//! BR-CO-16 (BT-115 = BT-112 − BT-113 + BT-114) to the cent, and the credit notes of an invoice
//! adding up to exactly what it charged.

mod support;

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use faktura_domain::document::Document;
use faktura_domain::i18n;
use faktura_domain::invoicing::{plan_credit_note, with_prepaid};
use faktura_domain::model::{DocumentKind, EInvoiceFormat, Invoice, PrecedingDocument};
use faktura_domain::money::Amount;
use faktura_domain::ports::{EInvoiceEncoder, XmlSyntax};
use faktura_domain::values::Id;
use faktura_einvoice::inspect::{self, Element};
use faktura_einvoice::{EInvoiceXml, FACTURX_EN16931_ID, XRECHNUNG_3_ID};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use support::{
    booking, customer_b2b_de, customer_de, customer_eu_business, customer_swiss, gmbh, issue, item,
    kleinunternehmer_with_vat_id,
};

const CII_TX: &str = "rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction";

fn credit_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn credit_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

/// An invoice as the store keeps it once issued.
fn issued(invoice: Invoice) -> Document {
    Document::new(invoice, true, support::issued_at()).0
}

/// What is left to credit of each line (the service's `remaining`).
fn rest(doc: &Document) -> Vec<Decimal> {
    doc.content
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| l.quantity.abs() - doc.credited_quantities[i])
        .collect()
}

/// Takes back `quantities` of `original` with credit note `number`, as the service does:
/// planned from the issued invoice, numbered, and recorded on the invoice.
fn credit(
    original: &Document,
    quantities: &[Decimal],
    number: &str,
    reason: Option<&str>,
) -> (Invoice, Document) {
    let id: Id = format!("cn_{}", number.replace('/', "_")).parse().unwrap();
    let mut note = plan_credit_note(
        original,
        quantities,
        &id,
        credit_date(),
        credit_at(),
        reason,
    )
    .unwrap_or_else(|e| panic!("credit note {number} refused: {e:?}"));
    note.number = number.parse().unwrap();
    let (after, _) = original
        .credit(&note, quantities, credit_at())
        .unwrap_or_else(|e| panic!("credit {number} not recorded: {e:?}"));
    (note, after)
}

fn quantities(list: &[&str]) -> Vec<Decimal> {
    list.iter().map(|q| q.parse().unwrap()).collect()
}

/// One document to check, and what it must show.
struct Case {
    name: String,
    invoice: Invoice,
}

fn case(name: &str, invoice: Invoice) -> Case {
    Case {
        name: name.into(),
        invoice,
    }
}

/// The booking of the demo's proforma course (`events/life/demo/01-proforma-course.json`).
fn proforma_course() -> String {
    let path = support::workspace_root().join("events/life/demo/01-proforma-course.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The final invoice after a paid proforma, as `plan_payment` issues it: planned as an invoice
/// that follows the proforma, the payment shown as prepaid.
fn final_after_proforma(number: &str, paid: &str) -> Invoice {
    let mut invoice = issue(&gmbh(), &proforma_course(), number);
    let proforma_number = "PF-2026-00001";
    invoice.preceding = Some(PrecedingDocument {
        id: "inv_proforma".parse().unwrap(),
        kind: DocumentKind::Proforma,
        number: proforma_number.parse().unwrap(),
        issue_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
    });
    let note = i18n::follows_proforma_note(invoice.language, proforma_number);
    with_prepaid(invoice, amount(paid), Some(note))
}

/// An invoice with a customer's credit applied (`show_credit` in the service).
fn with_credit(invoice: Invoice, credit: &str) -> Invoice {
    let total = amount(credit);
    let note = i18n::credit_applied_note(
        invoice.language,
        &i18n::money(invoice.language, total, invoice.currency),
    );
    with_prepaid(invoice, total, Some(note))
}

fn mixed_gross_items() -> Vec<Value> {
    vec![
        item("Prenatal yoga course, 6 sessions", "1", "149.00", "19"),
        item("Book \"Yoga für Schwangere\"", "1", "24.99", "7"),
        item("Herbal tea, 3 × 100 g", "3", "4.99", "7"),
        item("Mat rental", "6", "2.00", "19"),
        item("Gift voucher redeemed", "1", "-10.00", "19"),
    ]
}

fn net_b2b_items() -> Vec<Value> {
    vec![
        item("Workshop Achtsamkeit im Team (2 Tage)", "2", "450.00", "19"),
        item("Begleitbuch, 12 Exemplare", "12", "18.6916", "7"),
        item("Online-Kurs (Zugang 1 Jahr)", "3", "33.3333", "19"),
    ]
}

/// A gross price at 19 % for which crediting 1 of 3 first and the other 2 after leaves a cent
/// that the completing credit note carries as its rounding amount (BT-114).
fn gross_needing_rounding_on_completion() -> (Document, Invoice, Invoice) {
    for cents in 100..3000 {
        let price = format!("{}.{:02}", cents / 100, cents % 100);
        let body = booking(
            "bk_cn_round",
            "gross",
            customer_de(),
            vec![item("Drop-in class, 3er-Karte", "3", &price, "19")],
            Some("PO-CN-ROUND"),
            None,
        );
        let original = issued(issue(&gmbh(), &body, "RE-2026-00120"));
        let (first, after) = credit(&original, &quantities(&["1"]), "RK-2026-00120", None);
        let (second, _) = credit(&after, &rest(&after), "RK-2026-00121", None);
        if !second.totals.rounding.is_zero() {
            return (original, first, second);
        }
    }
    panic!("no gross price between 1.00 and 29.99 leaves a cent for the completing credit note");
}

/// An invoice and the credit notes that together take all of it back.
struct Chain {
    name: &'static str,
    original: Invoice,
    notes: Vec<Invoice>,
}

fn chain(name: &'static str, original: &Document, notes: &[&Invoice]) -> Chain {
    Chain {
        name,
        original: original.content.clone(),
        notes: notes.iter().map(|n| (*n).clone()).collect(),
    }
}

fn cases() -> (Vec<Case>, Vec<Chain>) {
    let mut cases = Vec::new();
    let mut chains: Vec<Chain> = Vec::new();
    let reference = Some("PO-4711");

    // Whole credit of a net-priced B2B invoice with two rates: a Stornorechnung mirroring it.
    let net = issued(issue(
        &gmbh(),
        &booking(
            "bk_cn_net",
            "net",
            customer_b2b_de(),
            net_b2b_items(),
            reference,
            Some("Vielen Dank!"),
        ),
        "RE-2026-00101",
    ));
    let (whole, _) = credit(
        &net,
        &rest(&net),
        "RK-2026-00101",
        Some("Auftrag storniert"),
    );
    assert!(whole.cancels_fully);
    chains.push(chain("net-b2b", &net, &[&whole]));
    cases.push(case("cn-whole-net-b2b-19-7", whole));

    // The same invoice credited in three steps, the last one completing it.
    let net = issued(issue(
        &gmbh(),
        &booking(
            "bk_cn_net2",
            "net",
            customer_b2b_de(),
            net_b2b_items(),
            reference,
            None,
        ),
        "RE-2026-00102",
    ));
    let (p1, net) = credit(
        &net,
        &quantities(&["1", "0", "0"]),
        "RK-2026-00102",
        Some("Ein Workshoptag entfällt"),
    );
    let (p2, net) = credit(&net, &quantities(&["0", "5", "1"]), "RK-2026-00103", None);
    let (p3, _) = credit(&net, &rest(&net), "RK-2026-00104", None);
    assert!(!p1.cancels_fully && !p2.cancels_fully && !p3.cancels_fully);
    chains.push(chain("net-b2b-in-parts", &net, &[&p1, &p2, &p3]));
    cases.push(case("cn-partial-net-b2b-1-of-3", p1));
    cases.push(case("cn-partial-net-b2b-2-of-3", p2));
    cases.push(case("cn-partial-net-b2b-3-of-3-completes", p3));

    // Gross prices, two rates and a discount line (negative price): whole and in parts.
    let mixed = issued(issue(
        &gmbh(),
        &booking(
            "bk_cn_mixed",
            "gross",
            customer_de(),
            mixed_gross_items(),
            reference,
            None,
        ),
        "RE-2026-00105",
    ));
    let (whole, _) = credit(&mixed, &rest(&mixed), "RK-2026-00105", None);
    chains.push(chain("gross-mixed", &mixed, &[&whole]));
    cases.push(case("cn-whole-gross-mixed-with-discount", whole));
    let mixed = issued(issue(
        &gmbh(),
        &booking(
            "bk_cn_mixed2",
            "gross",
            customer_de(),
            mixed_gross_items(),
            reference,
            None,
        ),
        "RE-2026-00106",
    ));
    let (p1, after) = credit(
        &mixed,
        &quantities(&["0", "0", "1", "2", "0"]),
        "RK-2026-00106",
        Some("Tee und zwei Matten zurückgegeben"),
    );
    let (p2, _) = credit(&after, &rest(&after), "RK-2026-00107", None);
    chains.push(chain("gross-mixed-in-parts", &mixed, &[&p1, &p2]));
    cases.push(case("cn-partial-gross-mixed", p1));
    cases.push(case("cn-rest-gross-mixed-with-discount", p2));

    // The completing credit note carries the cent left over (BT-114).
    let (original, first, second) = gross_needing_rounding_on_completion();
    chains.push(chain("gross-rounding", &original, &[&first, &second]));
    cases.push(case("cn-partial-gross-1-of-3", first));
    cases.push(case("cn-completing-with-rounding-amount", second));

    // Reverse charge (AE): whole and partial.
    let rc_body = booking(
        "bk_cn_rc",
        "net",
        customer_eu_business(),
        vec![item("Leadership workshop, 2 days", "2", "1450.00", "19")],
        reference,
        None,
    );
    let rc = issued(issue(&gmbh(), &rc_body, "RE-2026-00108"));
    let (whole, _) = credit(&rc, &rest(&rc), "RK-2026-00108", None);
    cases.push(case("cn-whole-reverse-charge", whole));
    let (part, _) = credit(
        &rc,
        &quantities(&["1"]),
        "RK-2026-00109",
        Some("Day 2 cancelled"),
    );
    cases.push(case("cn-partial-reverse-charge", part));

    // Intra-community supply (K, deliver-to country), export (G), outside the scope (O).
    for (name, customer, category, number) in [
        ("k", customer_eu_business(), "K", "00110"),
        ("g", customer_swiss(), "G", "00111"),
        ("o", customer_swiss(), "O", "00112"),
    ] {
        let mut goods = item("Yoga mats, 20 pieces", "20", "25.00", "0");
        goods["vat_category"] = json!(category);
        let doc = issued(issue(
            &gmbh(),
            &booking(
                &format!("bk_cn_{name}"),
                "net",
                customer,
                vec![goods],
                reference,
                None,
            ),
            &format!("RE-2026-{number}"),
        ));
        let (part, _) = credit(
            &doc,
            &quantities(&["3"]),
            &format!("RK-2026-{number}"),
            Some("3 mats returned"),
        );
        cases.push(case(&format!("cn-partial-category-{name}"), part));
    }

    // Small business (§19 UStG, category E) with a VAT ID: whole and partial.
    let ku = issued(issue(
        &kleinunternehmer_with_vat_id(),
        &booking(
            "bk_cn_ku",
            "net",
            customer_de(),
            vec![
                item("Einzelcoaching (90 Minuten)", "3", "120.00", "19"),
                item("Arbeitsmappe", "1", "19.90", "7"),
            ],
            reference,
            None,
        ),
        "2026-0101",
    ));
    let (whole, _) = credit(&ku, &rest(&ku), "RK-2026-0101", None);
    cases.push(case("cn-whole-small-business", whole));
    let (part, _) = credit(&ku, &quantities(&["1", "0"]), "RK-2026-0102", None);
    cases.push(case("cn-partial-small-business", part));

    // A public buyer (Leitweg-ID in BT-10, the reference in BT-13): issued as XRechnung.
    let public = json!({ "id": "cus_amt", "name": "Bezirksamt Pankow",
        "company": "Bezirksamt Pankow von Berlin", "email": "rechnungseingang@ba-pankow.example",
        "language": "de", "vat_id": null, "leitweg_id": "04011000-1234512345-06",
        "address": { "line1": "Breite Straße 24a-26", "line2": null, "postal_code": "13187",
                     "city": "Berlin", "country": "DE" } });
    let public = issued(issue(
        &gmbh(),
        &booking(
            "bk_cn_public",
            "net",
            public,
            vec![item("Gesundheitstag, Kursleitung", "6", "95.00", "19")],
            Some("Bestellschein 2026/0815"),
            None,
        ),
        "RE-2026-00113",
    ));
    assert_eq!(public.content.einvoice, EInvoiceFormat::Xrechnung);
    let (part, _) = credit(&public, &quantities(&["2"]), "RK-2026-00113", None);
    cases.push(case("cn-partial-public-buyer", part));

    // A paid final invoice (prepaid in full) cancelled afterwards: the credit note takes back
    // what was charged, with nothing prepaid on it.
    let paid = issued(final_after_proforma("RE-2026-00114", "1490.00"));
    let (whole, _) = credit(&paid, &rest(&paid), "RK-2026-00114", Some("Kurs abgesagt"));
    cases.push(case("cn-whole-of-prepaid-final-invoice", whole));

    // Final invoices after a proforma: paid in full, and partly.
    cases.push(case(
        "prepaid-final-after-proforma-in-full",
        final_after_proforma("RE-2026-00115", "1490.00"),
    ));
    cases.push(case(
        "prepaid-final-after-proforma-partly",
        final_after_proforma("RE-2026-00116", "500.00"),
    ));
    // More paid than charged: the prepaid amount is capped at the total.
    cases.push(case(
        "prepaid-final-after-proforma-overpaid",
        final_after_proforma("RE-2026-00117", "1500.00"),
    ));
    // Customer credit applied: gross mixed rates with a discount, partly and wholly covered.
    let mixed = |number: &str| {
        issue(
            &gmbh(),
            &booking(
                "bk_pp_mixed",
                "gross",
                customer_de(),
                mixed_gross_items(),
                reference,
                None,
            ),
            number,
        )
    };
    cases.push(case(
        "prepaid-credit-applied-gross-mixed-partly",
        with_credit(mixed("RE-2026-00118"), "30.00"),
    ));
    let whole = mixed("RE-2026-00119");
    let payable = whole.totals.tax_inclusive + whole.totals.rounding;
    cases.push(case(
        "prepaid-credit-applied-gross-mixed-in-full",
        with_credit(whole, &payable.to_string()),
    ));
    // With a rounding amount (BT-114): BT-115 = BT-112 − BT-113 + BT-114.
    let (_, rounding) = support::gross_needing_rounding();
    let payable = rounding.totals.tax_inclusive + rounding.totals.rounding;
    cases.push(case(
        "prepaid-with-rounding-amount-partly",
        with_credit(rounding.clone(), "5.00"),
    ));
    cases.push(case(
        "prepaid-with-rounding-amount-in-full",
        with_credit(rounding, &payable.to_string()),
    ));
    // Net B2B, reverse charge and small business with a prepayment.
    cases.push(case(
        "prepaid-net-b2b",
        with_credit(
            issue(
                &gmbh(),
                &booking(
                    "bk_pp_net",
                    "net",
                    customer_b2b_de(),
                    net_b2b_items(),
                    reference,
                    None,
                ),
                "RE-2026-00122",
            ),
            "250.00",
        ),
    ));
    cases.push(case(
        "prepaid-reverse-charge",
        with_credit(issue(&gmbh(), &rc_body, "RE-2026-00123"), "1000.00"),
    ));
    cases.push(case(
        "prepaid-small-business",
        with_credit(
            issue(
                &kleinunternehmer_with_vat_id(),
                &booking(
                    "bk_pp_ku",
                    "net",
                    customer_de(),
                    vec![item("Einzelcoaching (90 Minuten)", "3", "120.00", "19")],
                    reference,
                    None,
                ),
                "2026-0103",
            ),
            "120.00",
        ),
    ));
    (cases, chains)
}

/// Which of the product's forms a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    CiiFacturX,
    CiiXRechnung,
    UblEn16931,
    UblXRechnung,
}

impl Form {
    fn xrechnung(self) -> bool {
        matches!(self, Form::CiiXRechnung | Form::UblXRechnung)
    }
    fn ubl(self) -> bool {
        matches!(self, Form::UblEn16931 | Form::UblXRechnung)
    }
}

/// The document-level figures and references read back from one XML.
#[derive(Debug, Default, PartialEq, Eq)]
struct ReadBack {
    root: String,
    type_code: Option<String>,
    line_net: Option<String>,
    tax_exclusive: Option<String>,
    vat: Option<String>,
    tax_inclusive: Option<String>,
    prepaid: Option<String>,
    rounding: Option<String>,
    amount_due: Option<String>,
    preceding_number: Option<String>,
    preceding_date: Option<String>,
    guideline: Option<String>,
}

fn one(els: &[Element], path: &str) -> Option<String> {
    inspect::text(els, path).map(str::to_string)
}

fn read_back(xml: &str, ubl: bool) -> ReadBack {
    let els = inspect::elements(xml).expect("well-formed");
    let root = els[0].name().to_string();
    if ubl {
        let total = |n: &str| one(&els, &format!("{root}/cac:LegalMonetaryTotal/cbc:{n}"));
        let type_code = if root == "CreditNote" {
            "cbc:CreditNoteTypeCode"
        } else {
            "cbc:InvoiceTypeCode"
        };
        let reference = format!("{root}/cac:BillingReference/cac:InvoiceDocumentReference");
        ReadBack {
            type_code: one(&els, &format!("{root}/{type_code}")),
            line_net: total("LineExtensionAmount"),
            tax_exclusive: total("TaxExclusiveAmount"),
            vat: one(&els, &format!("{root}/cac:TaxTotal/cbc:TaxAmount")),
            tax_inclusive: total("TaxInclusiveAmount"),
            prepaid: total("PrepaidAmount"),
            rounding: total("PayableRoundingAmount"),
            amount_due: total("PayableAmount"),
            preceding_number: one(&els, &format!("{reference}/cbc:ID")),
            preceding_date: one(&els, &format!("{reference}/cbc:IssueDate")),
            guideline: one(&els, &format!("{root}/cbc:CustomizationID")),
            root,
        }
    } else {
        let settle = format!("{CII_TX}/ram:ApplicableHeaderTradeSettlement");
        let sum = |n: &str| {
            one(
                &els,
                &format!("{settle}/ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{n}"),
            )
        };
        let reference = format!("{settle}/ram:InvoiceReferencedDocument");
        ReadBack {
            type_code: one(
                &els,
                "rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode",
            ),
            line_net: sum("LineTotalAmount"),
            tax_exclusive: sum("TaxBasisTotalAmount"),
            vat: sum("TaxTotalAmount"),
            tax_inclusive: sum("GrandTotalAmount"),
            prepaid: sum("TotalPrepaidAmount"),
            rounding: sum("RoundingAmount"),
            amount_due: sum("DuePayableAmount"),
            preceding_number: one(&els, &format!("{reference}/ram:IssuerAssignedID")),
            preceding_date: one(
                &els,
                &format!("{reference}/ram:FormattedIssueDateTime/qdt:DateTimeString"),
            ),
            guideline: one(
                &els,
                "rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID",
            ),
            root,
        }
    }
}

fn dec(s: &Option<String>) -> Decimal {
    s.as_deref().map_or(Decimal::ZERO, |s| s.parse().unwrap())
}

/// What the XML must say about the document, beyond the official rules.
fn check_read_back(name: &str, form: Form, inv: &Invoice, xml: &str, problems: &mut Vec<String>) {
    let r = read_back(xml, form.ubl());
    let mut fail = |what: String| problems.push(format!("{name}: {what}"));
    let t = &inv.totals;
    let s = |a: Amount| Some(a.to_string());
    let nonzero = |a: Amount| (!a.is_zero()).then(|| a.to_string());
    let is_credit = inv.kind == DocumentKind::CreditNote;
    let want_code = if is_credit { "381" } else { "380" };
    if r.type_code.as_deref() != Some(want_code) {
        fail(format!("BT-3 is {:?}, not {want_code}", r.type_code));
    }
    if form.ubl() {
        let want_root = if is_credit { "CreditNote" } else { "Invoice" };
        if r.root != want_root {
            fail(format!("UBL root {}, not {want_root}", r.root));
        }
    }
    let want_guideline = if form.xrechnung() {
        XRECHNUNG_3_ID
    } else {
        FACTURX_EN16931_ID
    };
    if r.guideline.as_deref() != Some(want_guideline) {
        fail(format!("BT-24 {:?}", r.guideline));
    }
    for (bt, got, want) in [
        ("BT-106", &r.line_net, s(t.line_net)),
        ("BT-109", &r.tax_exclusive, s(t.tax_exclusive)),
        ("BT-110", &r.vat, s(t.vat)),
        ("BT-112", &r.tax_inclusive, s(t.tax_inclusive)),
        ("BT-113", &r.prepaid, nonzero(t.prepaid)),
        ("BT-114", &r.rounding, nonzero(t.rounding)),
        ("BT-115", &r.amount_due, s(t.amount_due)),
    ] {
        if *got != want {
            fail(format!("{bt} is {got:?}, the document says {want:?}"));
        }
    }
    // BR-CO-16 on what the XML says.
    let due = dec(&r.tax_inclusive) - dec(&r.prepaid) + dec(&r.rounding);
    if dec(&r.amount_due) != due {
        fail(format!(
            "BR-CO-16: BT-115 {:?} ≠ BT-112 − BT-113 + BT-114 = {due}",
            r.amount_due
        ));
    }
    if is_credit {
        // EN 16931: a credit note states positive amounts; 381 says which way they go.
        for (bt, v) in [
            ("BT-106", &r.line_net),
            ("BT-109", &r.tax_exclusive),
            ("BT-110", &r.vat),
            ("BT-112", &r.tax_inclusive),
            ("BT-115", &r.amount_due),
        ] {
            if dec(v).is_sign_negative() && !dec(v).is_zero() {
                fail(format!("{bt} {v:?} is negative on a credit note"));
            }
        }
        let p = inv
            .preceding
            .as_ref()
            .expect("a credit note has its invoice");
        let want_date = if form.ubl() {
            p.issue_date.format("%Y-%m-%d").to_string()
        } else {
            p.issue_date.format("%Y%m%d").to_string()
        };
        if r.preceding_number.as_deref() != Some(p.number.as_str())
            || r.preceding_date.as_deref() != Some(want_date.as_str())
        {
            fail(format!(
                "BG-3 is {:?} {:?}, not {} {want_date}",
                r.preceding_number, r.preceding_date, p.number
            ));
        }
        if xml.contains("Gutschrift") {
            fail("a credit note is no Gutschrift (§14 Abs. 2 UStG: self-billing)".into());
        }
    } else if r.preceding_number.is_some() {
        // A final invoice follows a proforma, which is no invoice: BG-3 names invoices only.
        fail(format!(
            "BG-3 {:?} on an invoice (its preceding document is a {:?})",
            r.preceding_number,
            inv.preceding.as_ref().map(|p| p.kind)
        ));
    }
}

#[test]
fn credit_notes_and_prepaid_invoices_pass_the_official_rules_in_every_form() {
    let started = std::time::Instant::now();
    let (cases, chains) = cases();
    let encoder = EInvoiceXml;
    let mut problems = Vec::new();

    // The credit notes of an invoice add up to what it charged, to the cent.
    for Chain {
        name,
        original,
        notes,
    } in &chains
    {
        let charged = original.totals.tax_inclusive + original.totals.rounding;
        let credited: Amount = notes
            .iter()
            .map(|n| n.totals.tax_inclusive + n.totals.rounding)
            .sum();
        if charged != credited {
            problems.push(format!(
                "{name}: the credit notes take back {credited}, the invoice charged {charged}"
            ));
        }
        let due: Amount = notes.iter().map(|n| n.totals.amount_due).sum();
        if due != credited {
            problems.push(format!(
                "{name}: credit notes' BT-115 sum {due} ≠ {credited}"
            ));
        }
    }
    let rounded = cases
        .iter()
        .filter(|c| {
            c.invoice.kind == DocumentKind::CreditNote && !c.invoice.totals.rounding.is_zero()
        })
        .count();
    assert!(
        rounded >= 1,
        "a credit note with a rounding amount is in the set"
    );
    let full = cases
        .iter()
        .filter(|c| !c.invoice.totals.prepaid.is_zero() && c.invoice.totals.amount_due.is_zero())
        .count();
    assert!(full >= 2, "invoices prepaid in full are in the set");

    let dir = tempfile::tempdir().unwrap();
    let out = std::env::var_os("EINVOICE_OUT").map(PathBuf::from);
    let dir_path = match &out {
        Some(d) => {
            std::fs::create_dir_all(d).unwrap();
            d.clone()
        }
        None => dir.path().to_path_buf(),
    };
    let mut files: Vec<(PathBuf, String, Form)> = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        for format in [EInvoiceFormat::Zugferd, EInvoiceFormat::Xrechnung] {
            let mut inv = c.invoice.clone();
            inv.einvoice = format;
            let refused = encoder.problems(&inv);
            if !refused.is_empty() {
                problems.push(format!(
                    "{}: the product would not issue it as {}: {refused:?}",
                    c.name,
                    format.as_str()
                ));
            }
            let forms = if format == EInvoiceFormat::Xrechnung {
                [
                    (XmlSyntax::Cii, Form::CiiXRechnung, "cii-xrechnung"),
                    (XmlSyntax::Ubl, Form::UblXRechnung, "ubl-xrechnung"),
                ]
            } else {
                [
                    (XmlSyntax::Cii, Form::CiiFacturX, "cii-facturx"),
                    (XmlSyntax::Ubl, Form::UblEn16931, "ubl-en16931"),
                ]
            };
            for (syntax, form, suffix) in forms {
                let xml = String::from_utf8(encoder.xml(&inv, syntax)).unwrap();
                let name = format!("{i:02}-{}-{suffix}.xml", c.name);
                check_read_back(&name, form, &inv, &xml, &mut problems);
                let path = dir_path.join(&name);
                std::fs::write(&path, xml).unwrap();
                files.push((path, name, form));
            }
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|(p, _, _)| p.clone()).collect();
    let (verdicts, elapsed) = support::validate(&paths);
    assert_eq!(verdicts.len(), files.len(), "one verdict per file");
    let kosit = verdicts.iter().all(|v| v.kosit);
    for ((path, name, form), v) in files.iter().zip(&verdicts) {
        assert_eq!(v.file, path.to_string_lossy(), "verdicts in file order");
        let want = if form.ubl() { "ubl" } else { "cii" };
        if v.syntax.as_deref() != Some(want) {
            problems.push(format!("{name}: detected as {:?}", v.syntax));
        }
        if v.xsd_ok != Some(true) {
            problems.push(format!("{name}: XSD: {:?}", v.xsd_error));
        }
        if form.xrechnung() && kosit && !v.rule_sets.iter().any(|r| r.starts_with("kosit")) {
            problems.push(format!("{name}: KoSIT's rules did not run"));
        }
        for (id, text) in &v.errors {
            problems.push(format!("{name}: [{id}] {text}"));
        }
    }
    eprintln!(
        "credit notes and prepaid invoices: {} documents ({} credit notes) × 4 forms = {} files validated in {:.1} s (KoSIT rules {}); test {:.1} s",
        cases.len(),
        cases
            .iter()
            .filter(|c| c.invoice.kind == DocumentKind::CreditNote)
            .count(),
        files.len(),
        elapsed.as_secs_f64(),
        if kosit { "applied" } else { "NOT AVAILABLE" },
        started.elapsed().as_secs_f64(),
    );
    if !problems.is_empty() {
        let kept = dir.keep();
        panic!(
            "{} problems (files kept in {}):\n{}",
            problems.len(),
            kept.display(),
            problems.join("\n")
        );
    }
}
