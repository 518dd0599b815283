//! Properties of the written documents, read back with quick-xml: totals to the cent,
//! determinism, escaping, identifiers, and the XRechnung BR-DE checks on the model (that they
//! agree with KoSIT's rules on the XML is proven in `validation.rs`).

mod support;

use std::collections::BTreeSet;

use faktura_domain::model::{EInvoiceFormat, Invoice};
use faktura_domain::money::Amount;
use faktura_einvoice::inspect::{self, Element};
use faktura_einvoice::{
    CiiProfile, Options, PrecedingInvoice, Severity, TypeCode, XRECHNUNG_3_ID, to_cii, to_cii_with,
    to_ubl, to_ubl_with, xrechnung_problems, xrechnung_problems_with,
};
use support::{Case, matrix};

const CII_TX: &str = "rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction";

fn cii_sum(els: &[Element], name: &str) -> Option<String> {
    inspect::text(
        els,
        &format!(
            "{CII_TX}/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:{name}"
        ),
    )
    .map(str::to_string)
}

fn amounts(els: &[Element], path: &str) -> Vec<String> {
    inspect::texts(els, path)
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn s(a: Amount) -> String {
    a.to_string()
}

fn check_cii_totals(case: &Case, xml: &str) {
    let inv = &case.invoice;
    let t = &inv.totals;
    let els = inspect::elements(xml).unwrap();
    let name = &case.name;
    assert_eq!(
        cii_sum(&els, "LineTotalAmount"),
        Some(s(t.line_net)),
        "{name} BT-106"
    );
    assert_eq!(
        cii_sum(&els, "TaxBasisTotalAmount"),
        Some(s(t.tax_exclusive)),
        "{name} BT-109"
    );
    assert_eq!(
        cii_sum(&els, "TaxTotalAmount"),
        Some(s(t.vat)),
        "{name} BT-110"
    );
    assert_eq!(
        cii_sum(&els, "GrandTotalAmount"),
        Some(s(t.tax_inclusive)),
        "{name} BT-112"
    );
    let rounding = (!t.rounding.is_zero()).then(|| s(t.rounding));
    assert_eq!(cii_sum(&els, "RoundingAmount"), rounding, "{name} BT-114");
    assert_eq!(
        cii_sum(&els, "DuePayableAmount"),
        Some(s(t.amount_due)),
        "{name} BT-115"
    );
    let tax_total = els
        .iter()
        .find(|e| e.path.ends_with("/ram:TaxTotalAmount"))
        .unwrap();
    assert_eq!(tax_total.attr("currencyID"), Some(inv.currency.as_str()));
    let lines = amounts(
        &els,
        &format!(
            "{CII_TX}/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
        ),
    );
    let want: Vec<String> = inv.lines.iter().map(|l| s(l.net_amount)).collect();
    assert_eq!(lines, want, "{name} BT-131");
    let settle = format!("{CII_TX}/ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax");
    let bases = amounts(&els, &format!("{settle}/ram:BasisAmount"));
    let vats = amounts(&els, &format!("{settle}/ram:CalculatedAmount"));
    let cats = amounts(&els, &format!("{settle}/ram:CategoryCode"));
    for (i, b) in inv.vat_breakdown.iter().enumerate() {
        assert_eq!(bases[i], s(b.taxable), "{name} BT-116");
        assert_eq!(vats[i], s(b.vat), "{name} BT-117");
        assert_eq!(cats[i], b.category.code(), "{name} BT-118");
    }
    assert_eq!(bases.len(), inv.vat_breakdown.len());
}

fn check_ubl_totals(case: &Case, xml: &str) {
    let inv = &case.invoice;
    let t = &inv.totals;
    let els = inspect::elements(xml).unwrap();
    let root = els[0].name().to_string();
    let name = &case.name;
    let total = |n: &str| {
        inspect::text(&els, &format!("{root}/cac:LegalMonetaryTotal/cbc:{n}")).map(str::to_string)
    };
    assert_eq!(
        total("LineExtensionAmount"),
        Some(s(t.line_net)),
        "{name} BT-106"
    );
    assert_eq!(
        total("TaxExclusiveAmount"),
        Some(s(t.tax_exclusive)),
        "{name} BT-109"
    );
    assert_eq!(
        inspect::text(&els, &format!("{root}/cac:TaxTotal/cbc:TaxAmount")),
        Some(s(t.vat).as_str()),
        "{name} BT-110"
    );
    assert_eq!(
        total("TaxInclusiveAmount"),
        Some(s(t.tax_inclusive)),
        "{name} BT-112"
    );
    let rounding = (!t.rounding.is_zero()).then(|| s(t.rounding));
    assert_eq!(total("PayableRoundingAmount"), rounding, "{name} BT-114");
    assert_eq!(
        total("PayableAmount"),
        Some(s(t.amount_due)),
        "{name} BT-115"
    );
    for e in els
        .iter()
        .filter(|e| e.path.ends_with("Amount") && e.attrs.is_empty())
    {
        if e.name().starts_with("cbc:") {
            panic!("{name}: {} has no currencyID", e.path);
        }
    }
    let line = if root == "Invoice" {
        "cac:InvoiceLine"
    } else {
        "cac:CreditNoteLine"
    };
    let lines = amounts(&els, &format!("{root}/{line}/cbc:LineExtensionAmount"));
    let want: Vec<String> = inv.lines.iter().map(|l| s(l.net_amount)).collect();
    assert_eq!(lines, want, "{name} BT-131");
    let sub = format!("{root}/cac:TaxTotal/cac:TaxSubtotal");
    let bases = amounts(&els, &format!("{sub}/cbc:TaxableAmount"));
    let vats = amounts(&els, &format!("{sub}/cbc:TaxAmount"));
    let want_bases: Vec<String> = inv.vat_breakdown.iter().map(|b| s(b.taxable)).collect();
    let want_vats: Vec<String> = inv.vat_breakdown.iter().map(|b| s(b.vat)).collect();
    assert_eq!(bases, want_bases, "{name} BT-116");
    assert_eq!(vats, want_vats, "{name} BT-117");
}

#[test]
fn totals_in_the_xml_equal_the_invoice_to_the_cent() {
    let cases = matrix();
    let mut rounding_cases = 0;
    for case in &cases {
        for profile in [CiiProfile::FacturXEn16931, CiiProfile::XRechnung3] {
            check_cii_totals(case, &to_cii_with(&case.invoice, profile, &case.options));
        }
        check_ubl_totals(case, &to_ubl_with(&case.invoice, &case.options));
        rounding_cases += usize::from(!case.invoice.totals.rounding.is_zero());
    }
    assert!(rounding_cases >= 1, "the matrix has a rounding amount");
}

#[test]
fn output_is_deterministic() {
    for case in matrix() {
        let copy: Invoice = case.invoice.clone();
        assert_eq!(
            to_cii(&case.invoice, CiiProfile::XRechnung3),
            to_cii(&copy, CiiProfile::XRechnung3)
        );
        assert_eq!(
            to_cii(&case.invoice, CiiProfile::FacturXEn16931),
            to_cii(&copy, CiiProfile::FacturXEn16931)
        );
        assert_eq!(to_ubl(&case.invoice), to_ubl(&copy));
    }
    // And independent of when it runs: no clock, no random ids in the output.
    let case = matrix().remove(0);
    let xml = to_ubl(&case.invoice);
    assert!(!xml.contains(&case.invoice.id.to_string()));
}

#[test]
fn hostile_text_is_escaped_and_survives_the_round_trip() {
    let case = matrix()
        .into_iter()
        .find(|c| c.name == "hostile-text")
        .unwrap();
    let inv = &case.invoice;
    for xml in [
        to_cii(inv, CiiProfile::FacturXEn16931),
        to_cii(inv, CiiProfile::XRechnung3),
        to_ubl(inv),
    ] {
        assert!(!xml.contains("<script"), "markup must be escaped");
        assert!(!xml.contains("<![CDATA["));
        let els = inspect::elements(&xml).expect("well-formed");
        let all_text: BTreeSet<&str> = els.iter().map(|e| e.text.as_str()).collect();
        assert!(all_text.contains(inv.buyer.legal_name()), "BT-44 exact");
        assert!(all_text.contains(inv.buyer.name.as_str()), "BT-56 exact");
        assert!(
            all_text.contains(inv.buyer.address.line1.as_str()),
            "BT-50 exact"
        );
        assert!(
            all_text.contains(inv.buyer.address.city.as_str()),
            "BT-52 exact"
        );
        assert!(
            all_text.contains(inv.buyer_reference.as_deref().unwrap()),
            "BT-10 exact"
        );
        for line in &inv.lines {
            assert!(all_text.contains(line.description.as_str()), "BT-153 exact");
        }
        let booking_note = inv.notes.last().unwrap();
        assert!(
            all_text.contains(booking_note.as_str())
                || all_text.contains(format!("#AAI#{booking_note}").as_str()),
            "BT-22 exact"
        );
    }
}

#[test]
fn identifiers_and_profiles() {
    let case = matrix().remove(0);
    let inv = &case.invoice;
    let ctx = "rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext";
    let guideline = format!("{ctx}/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID");
    let process = format!("{ctx}/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID");

    let fx = inspect::elements(&to_cii(inv, CiiProfile::FacturXEn16931)).unwrap();
    assert_eq!(
        inspect::text(&fx, &guideline),
        Some("urn:cen.eu:en16931:2017")
    );
    assert_eq!(inspect::text(&fx, &process), None);

    let xr = inspect::elements(&to_cii(inv, CiiProfile::XRechnung3)).unwrap();
    assert_eq!(
        inspect::text(&xr, &guideline),
        Some("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0")
    );
    assert_eq!(
        inspect::text(&xr, &process),
        Some("urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    );
    assert_eq!(
        inspect::text(
            &xr,
            "rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode"
        ),
        Some("380")
    );
    let seller = format!("{CII_TX}/ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty");
    let regs: Vec<(Option<&str>, &str)> = xr
        .iter()
        .filter(|e| e.path == format!("{seller}/ram:SpecifiedTaxRegistration/ram:ID"))
        .map(|e| (e.attr("schemeID"), e.text.as_str()))
        .collect();
    assert_eq!(
        regs,
        vec![(Some("VA"), "DE123456789"), (Some("FC"), "27/123/45678")]
    );
    let settle = format!("{CII_TX}/ram:ApplicableHeaderTradeSettlement");
    assert_eq!(
        inspect::text(
            &xr,
            &format!(
                "{settle}/ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount/ram:IBANID"
            )
        ),
        Some("DE02120300000000202051"),
        "BT-84 without spaces"
    );
    assert_eq!(
        inspect::text(&xr, &format!("{settle}/ram:PaymentReference")),
        faktura_domain::payment_codes::CreditorReference::for_number(&inv.number)
            .as_ref()
            .map(|r| r.as_str()),
        "BT-83 = the invoice's RF creditor reference"
    );

    // UBL claims XRechnung only for an invoice issued as XRechnung, EN 16931 otherwise.
    assert_eq!(inv.einvoice, EInvoiceFormat::Zugferd);
    let plain = inspect::elements(&to_ubl(inv)).unwrap();
    assert_eq!(
        inspect::text(&plain, "Invoice/cbc:CustomizationID"),
        Some("urn:cen.eu:en16931:2017")
    );
    assert_eq!(inspect::text(&plain, "Invoice/cbc:ProfileID"), None);
    let mut xrechnung = inv.clone();
    xrechnung.einvoice = EInvoiceFormat::Xrechnung;
    let ubl = inspect::elements(&to_ubl(&xrechnung)).unwrap();
    assert_eq!(ubl[0].path, "Invoice");
    assert_eq!(
        inspect::text(&ubl, "Invoice/cbc:CustomizationID"),
        Some(XRECHNUNG_3_ID)
    );
    assert_eq!(
        inspect::text(&ubl, "Invoice/cbc:ProfileID"),
        Some("urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    );
    let endpoint = ubl
        .iter()
        .find(|e| e.path == "Invoice/cac:AccountingSupplierParty/cac:Party/cbc:EndpointID")
        .unwrap();
    assert_eq!(endpoint.attr("schemeID"), Some("EM"));
    assert_eq!(endpoint.text, inv.seller.email.as_str());
}

#[test]
fn credit_notes_and_corrections_carry_the_preceding_invoice() {
    let inv = matrix().remove(0).invoice;
    let preceding = PrecedingInvoice {
        number: "RE-2026-00001".into(),
        issue_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
    };
    let credit = Options {
        type_code: Some(TypeCode::CreditNote),
        preceding: Some(preceding.clone()),
    };
    let ubl = inspect::elements(&to_ubl_with(&inv, &credit)).unwrap();
    assert_eq!(ubl[0].path, "CreditNote");
    assert_eq!(
        inspect::text(&ubl, "CreditNote/cbc:CreditNoteTypeCode"),
        Some("381")
    );
    assert_eq!(
        inspect::text(
            &ubl,
            "CreditNote/cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"
        ),
        Some("RE-2026-00001")
    );
    assert_eq!(
        inspect::texts(&ubl, "CreditNote/cac:CreditNoteLine/cbc:CreditedQuantity").len(),
        inv.lines.len()
    );
    let cii = inspect::elements(&to_cii_with(&inv, CiiProfile::XRechnung3, &credit)).unwrap();
    assert_eq!(
        inspect::text(
            &cii,
            "rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode"
        ),
        Some("381")
    );
    let reference =
        format!("{CII_TX}/ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument");
    assert_eq!(
        inspect::text(&cii, &format!("{reference}/ram:IssuerAssignedID")),
        Some("RE-2026-00001")
    );
    assert_eq!(
        inspect::text(
            &cii,
            &format!("{reference}/ram:FormattedIssueDateTime/qdt:DateTimeString")
        ),
        Some("20261102")
    );

    // BR-DE-26: a correction without its preceding invoice is flagged (as a warning).
    let bare = Options {
        type_code: Some(TypeCode::Corrected),
        preceding: None,
    };
    let problems = xrechnung_problems_with(&inv, &bare);
    let p = problems.iter().find(|p| p.rule == "BR-DE-26").unwrap();
    assert_eq!(p.severity(), Severity::Warning);
    let with = Options {
        type_code: Some(TypeCode::Corrected),
        preceding: Some(preceding),
    };
    assert!(xrechnung_problems_with(&inv, &with).is_empty());
}

fn rules(invoice: &Invoice) -> Vec<&'static str> {
    xrechnung_problems(invoice).iter().map(|p| p.rule).collect()
}

#[test]
fn br_de_rules_on_the_model() {
    let complete = matrix().remove(0).invoice;
    assert_eq!(
        xrechnung_problems(&complete),
        vec![],
        "the GmbH B2B invoice is complete"
    );

    let mut inv = complete.clone();
    inv.buyer_reference = None;
    let problems = xrechnung_problems(&inv);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].rule, "BR-DE-15");
    assert_eq!(problems[0].field, Some("buyer_reference"));
    assert_eq!(problems[0].severity(), Severity::Error);
    inv.buyer_reference = Some("   ".into());
    assert_eq!(rules(&inv), vec!["BR-DE-15"]);

    let mut inv = complete.clone();
    inv.seller.bank = None;
    assert_eq!(rules(&inv), vec!["BR-DE-1"]);

    let mut inv = complete.clone();
    inv.seller.contact_name = None;
    inv.seller.phone = None;
    assert_eq!(rules(&inv), vec!["BR-DE-5", "BR-DE-6", "BR-DE-27"]);

    let mut inv = complete.clone();
    inv.seller.phone = Some("call us".into());
    let problems = xrechnung_problems(&inv);
    assert_eq!(
        problems.iter().map(|p| p.rule).collect::<Vec<_>>(),
        vec!["BR-DE-27"]
    );
    assert_eq!(problems[0].severity(), Severity::Warning);

    let mut inv = complete.clone();
    inv.seller.vat_id = None;
    inv.seller.tax_number = None;
    assert_eq!(rules(&inv), vec!["BR-DE-16"]);
    inv.seller.tax_number = Some("27/123/45678".into());
    assert_eq!(rules(&inv), Vec::<&str>::new());

    let mut inv = complete.clone();
    inv.seller.bank.as_mut().unwrap().iban = "DE02 1203 0000 0000 2020 52".into();
    assert_eq!(rules(&inv), vec!["BR-DE-19"]);

    let mut inv = complete.clone();
    inv.seller.address.city = " ".into();
    inv.seller.address.postal_code = String::new();
    inv.buyer.address.city = String::new();
    inv.buyer.address.postal_code = String::new();
    assert_eq!(
        rules(&inv),
        vec!["BR-DE-3", "BR-DE-4", "BR-DE-8", "BR-DE-9"]
    );

    let mut inv = complete.clone();
    inv.payment_terms = "#SKONTO#TAGE=7#PROZENT=2#\n".into();
    assert_eq!(rules(&inv), vec!["BR-DE-18"]);
    inv.payment_terms = "#SKONTO#TAGE=7#PROZENT=2.00#\nZahlbar in 14 Tagen.".into();
    assert_eq!(rules(&inv), Vec::<&str>::new());

    let mut inv = complete.clone();
    inv.seller.email = "müller@bücher.de".parse().unwrap();
    assert_eq!(rules(&inv), vec!["BR-DE-28"]);

    // The demo small business lacks a contact name (BR-DE-5); a B2C booking has no BT-10.
    let ku = matrix()
        .into_iter()
        .find(|c| c.name == "sample-kleinunternehmer-01-small-business")
        .unwrap();
    assert_eq!(rules(&ku.invoice), vec!["BR-DE-5", "BR-DE-15"]);

    let display = xrechnung_problems(&ku.invoice)[0].to_string();
    assert!(display.starts_with("[BR-DE-5] "), "{display}");
    assert!(
        display.ends_with("(field: seller.contact_name)"),
        "{display}"
    );
}

#[test]
fn negative_prices_become_negative_quantities() {
    let case = matrix()
        .into_iter()
        .find(|c| c.name == "mixed-rates-gross")
        .unwrap();
    let voucher = case
        .invoice
        .lines
        .iter()
        .find(|l| l.unit_price_net.is_sign_negative())
        .expect("a discount line");
    let els = inspect::elements(&to_ubl(&case.invoice)).unwrap();
    let prices = inspect::texts(&els, "Invoice/cac:InvoiceLine/cac:Price/cbc:PriceAmount");
    let qtys = inspect::texts(&els, "Invoice/cac:InvoiceLine/cbc:InvoicedQuantity");
    let i = (voucher.position - 1) as usize;
    assert!(!prices[i].starts_with('-'), "BR-27: price {}", prices[i]);
    assert!(qtys[i].starts_with('-'), "quantity {}", qtys[i]);
    assert!(prices.iter().all(|p| !p.starts_with('-')));
}
