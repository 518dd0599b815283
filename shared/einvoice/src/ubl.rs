//! OASIS UBL 2.1 Invoice (or CreditNote for type code 381), element order of the UBL 2.1 XSD,
//! business terms bound as in EN 16931-3-2 and XRechnung 3.0.

use faktura_domain::model::{Invoice, InvoiceLine, PostalAddress};

use crate::common::{self, amount, date_iso, percent};
use crate::xml::XmlOut;
use crate::{Options, TypeCode};

const INVOICE_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
const CREDIT_NOTE_NS: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
const CAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
const CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

/// Element names that differ between the Invoice and CreditNote documents.
struct Names {
    root: &'static str,
    ns: &'static str,
    type_code: &'static str,
    line: &'static str,
    quantity: &'static str,
}

const INVOICE: Names = Names {
    root: "Invoice",
    ns: INVOICE_NS,
    type_code: "cbc:InvoiceTypeCode",
    line: "cac:InvoiceLine",
    quantity: "cbc:InvoicedQuantity",
};

const CREDIT_NOTE: Names = Names {
    root: "CreditNote",
    ns: CREDIT_NOTE_NS,
    type_code: "cbc:CreditNoteTypeCode",
    line: "cac:CreditNoteLine",
    quantity: "cbc:CreditedQuantity",
};

fn money(x: &mut XmlOut, name: &str, currency: &str, value: faktura_domain::money::Amount) {
    x.leaf_with(name, &[("currencyID", currency)], &amount(value));
}

fn address(x: &mut XmlOut, a: &PostalAddress) {
    address_as(x, "cac:PostalAddress", a);
}

fn address_as(x: &mut XmlOut, element: &str, a: &PostalAddress) {
    x.group(element, |x| {
        x.leaf_opt("cbc:StreetName", common::non_empty(Some(&a.line1))); // BT-35 / BT-50
        x.leaf_opt(
            "cbc:AdditionalStreetName",
            common::non_empty(a.line2.as_deref()),
        ); // BT-36 / BT-51
        x.leaf_opt("cbc:CityName", common::non_empty(Some(&a.city))); // BT-37 / BT-52
        x.leaf_opt("cbc:PostalZone", common::non_empty(Some(&a.postal_code))); // BT-38 / BT-53
        x.group("cac:Country", |x| {
            x.leaf("cbc:IdentificationCode", a.country.as_str()); // BT-40 / BT-55
        });
    });
}

fn tax_scheme(x: &mut XmlOut, company_id: &str, scheme: &str) {
    x.group("cac:PartyTaxScheme", |x| {
        x.leaf("cbc:CompanyID", company_id);
        x.group("cac:TaxScheme", |x| x.leaf("cbc:ID", scheme));
    });
}

fn seller(x: &mut XmlOut, invoice: &Invoice) {
    let s = &invoice.seller;
    x.group("cac:AccountingSupplierParty", |x| {
        x.group("cac:Party", |x| {
            x.leaf_with("cbc:EndpointID", &[("schemeID", "EM")], s.email.as_str()); // BT-34
            address(x, &s.address); // BG-5
            if let Some(vat_id) = s
                .vat_id
                .as_ref()
                .filter(|_| common::writes_vat_ids(invoice))
            {
                tax_scheme(x, vat_id.as_str(), "VAT"); // BT-31
            }
            if let Some(tax_number) = common::non_empty(s.tax_number.as_deref()) {
                tax_scheme(x, tax_number, "FC"); // BT-32
            }
            x.group("cac:PartyLegalEntity", |x| {
                x.leaf("cbc:RegistrationName", &s.legal_name); // BT-27
                x.leaf_opt("cbc:CompanyID", common::non_empty(s.register.as_deref())); // BT-30
            });
            x.group("cac:Contact", |x| {
                // BG-6
                x.leaf_opt("cbc:Name", common::non_empty(s.contact_name.as_deref())); // BT-41
                x.leaf_opt("cbc:Telephone", common::non_empty(s.phone.as_deref())); // BT-42
                x.leaf("cbc:ElectronicMail", s.email.as_str()); // BT-43
            });
        });
    });
}

fn buyer(x: &mut XmlOut, invoice: &Invoice) {
    let b = &invoice.buyer;
    x.group("cac:AccountingCustomerParty", |x| {
        x.group("cac:Party", |x| {
            x.leaf_with("cbc:EndpointID", &[("schemeID", "EM")], b.email.as_str()); // BT-49
            address(x, &b.address); // BG-8
            if let Some(vat_id) = b
                .vat_id
                .as_ref()
                .filter(|_| common::writes_vat_ids(invoice))
            {
                tax_scheme(x, vat_id.as_str(), "VAT"); // BT-48
            }
            x.group("cac:PartyLegalEntity", |x| {
                x.leaf("cbc:RegistrationName", b.legal_name()); // BT-44
            });
            x.group("cac:Contact", |x| {
                // BG-9
                if b.company.is_some() {
                    x.leaf("cbc:Name", &b.name); // BT-56
                }
                x.leaf("cbc:ElectronicMail", b.email.as_str()); // BT-58
            });
        });
    });
}

fn line(x: &mut XmlOut, names: &Names, currency: &str, l: &InvoiceLine) {
    let (qty, price) = common::quantity_and_price(l);
    x.group(names.line, |x| {
        x.leaf("cbc:ID", &l.position.to_string()); // BT-126
        x.leaf_with(
            names.quantity,
            &[("unitCode", l.unit_code.as_str())], // BT-130
            &common::quantity(qty),                // BT-129
        );
        money(x, "cbc:LineExtensionAmount", currency, l.net_amount); // BT-131
        x.group("cac:InvoicePeriod", |x| {
            // BG-26
            x.leaf("cbc:StartDate", &date_iso(l.service.start)); // BT-134
            x.leaf("cbc:EndDate", &date_iso(l.service.end)); // BT-135
        });
        x.group("cac:Item", |x| {
            x.leaf("cbc:Name", &l.description); // BT-153
            x.group("cac:ClassifiedTaxCategory", |x| {
                x.leaf("cbc:ID", l.vat_category.code()); // BT-151
                if let Some(rate) = common::line_rate(l.vat_category, l.vat_rate) {
                    x.leaf("cbc:Percent", &rate); // BT-152
                }
                x.group("cac:TaxScheme", |x| x.leaf("cbc:ID", "VAT"));
            });
        });
        x.group("cac:Price", |x| {
            x.leaf_with(
                "cbc:PriceAmount",
                &[("currencyID", currency)],
                &common::price(price),
            ); // BT-146
        });
    });
}

pub fn write(invoice: &Invoice, options: &Options) -> String {
    let type_code = common::type_code(invoice, options);
    let names = if type_code == TypeCode::CreditNote {
        &CREDIT_NOTE
    } else {
        &INVOICE
    };
    let currency = invoice.currency.as_str();
    let credit_note = common::is_credit_note(invoice);
    let bank = common::credit_transfer(invoice).filter(|_| !credit_note);
    let mut x = XmlOut::new();
    x.open(
        names.root,
        &[("xmlns", names.ns), ("xmlns:cac", CAC), ("xmlns:cbc", CBC)],
    );
    // A document claims only what it meets: XRechnung (with the Peppol billing process) for
    // invoices issued as XRechnung, which are checked against its rules at intake; plain
    // EN 16931 for every other invoice.
    let profile = crate::UblProfile::of(invoice);
    x.leaf("cbc:CustomizationID", profile.customization_id()); // BT-24
    x.leaf_opt("cbc:ProfileID", profile.business_process()); // BT-23
    x.leaf("cbc:ID", invoice.number.as_str()); // BT-1
    x.leaf("cbc:IssueDate", &date_iso(invoice.issue_date)); // BT-2
    if names.root == "Invoice" {
        x.leaf("cbc:DueDate", &date_iso(invoice.due_date)); // BT-9
    }
    x.leaf(names.type_code, type_code.code()); // BT-3
    for note in common::notes(invoice) {
        // BT-21 + BT-22: UBL has no subject code element; XRechnung puts it first as #CODE#.
        x.leaf("cbc:Note", &format!("#{}#{}", note.subject, note.text));
    }
    x.leaf("cbc:DocumentCurrencyCode", currency); // BT-5
    x.leaf_opt(
        "cbc:BuyerReference",
        common::non_empty(invoice.buyer_reference.as_deref()),
    ); // BT-10
    if let Some(p) = invoice.service_period() {
        x.group("cac:InvoicePeriod", |x| {
            // BG-14
            x.leaf("cbc:StartDate", &date_iso(p.start)); // BT-73
            x.leaf("cbc:EndDate", &date_iso(p.end)); // BT-74
        });
    }
    if let Some(order) = common::non_empty(invoice.order_reference.as_deref()) {
        x.group("cac:OrderReference", |x| x.leaf("cbc:ID", order)); // BT-13
    }
    if let Some(p) = &common::preceding(invoice, options) {
        x.group("cac:BillingReference", |x| {
            x.group("cac:InvoiceDocumentReference", |x| {
                // BG-3
                x.leaf("cbc:ID", &p.number); // BT-25
                x.leaf("cbc:IssueDate", &date_iso(p.issue_date)); // BT-26
            });
        });
    }
    seller(&mut x, invoice);
    buyer(&mut x, invoice);
    if crate::cii::has_intra_community_supply(invoice) {
        // BG-15 deliver-to address (BR-IC-12): the buyer's address.
        x.group("cac:Delivery", |x| {
            x.group("cac:DeliveryLocation", |x| {
                address_as(x, "cac:Address", &invoice.buyer.address)
            });
        });
    }
    if credit_note {
        x.group("cac:PaymentMeans", |x| {
            // BG-16: settled between the parties, no seller account to pay into.
            x.leaf("cbc:PaymentMeansCode", common::CLEARING_BETWEEN_PARTNERS); // BT-81
            if names.root == "CreditNote" {
                x.leaf("cbc:PaymentDueDate", &date_iso(invoice.due_date)); // BT-9
            }
        });
    }
    if let Some(bank) = bank {
        x.group("cac:PaymentMeans", |x| {
            // BG-16
            x.leaf("cbc:PaymentMeansCode", common::SEPA_CREDIT_TRANSFER); // BT-81
            if names.root == "CreditNote" {
                x.leaf("cbc:PaymentDueDate", &date_iso(invoice.due_date)); // BT-9
            }
            x.leaf("cbc:PaymentID", &common::remittance(invoice)); // BT-83
            x.group("cac:PayeeFinancialAccount", |x| {
                x.leaf("cbc:ID", &common::compact_iban(&bank.iban)); // BT-84
                x.leaf_opt("cbc:Name", common::non_empty(Some(&bank.account_holder))); // BT-85
                if let Some(bic) = common::non_empty(bank.bic.as_deref()) {
                    x.group("cac:FinancialInstitutionBranch", |x| x.leaf("cbc:ID", bic)); // BT-86
                }
            });
        });
    }
    if let Some(terms) = common::non_empty(Some(&invoice.payment_terms)) {
        x.group("cac:PaymentTerms", |x| x.leaf("cbc:Note", terms)); // BT-20
    }
    let t = &invoice.totals;
    x.group("cac:TaxTotal", |x| {
        money(x, "cbc:TaxAmount", currency, t.vat); // BT-110
        for b in &invoice.vat_breakdown {
            x.group("cac:TaxSubtotal", |x| {
                // BG-23
                money(x, "cbc:TaxableAmount", currency, b.taxable); // BT-116
                money(x, "cbc:TaxAmount", currency, b.vat); // BT-117
                x.group("cac:TaxCategory", |x| {
                    x.leaf("cbc:ID", b.category.code()); // BT-118
                    x.leaf("cbc:Percent", &percent(b.rate)); // BT-119
                    x.leaf_opt("cbc:TaxExemptionReasonCode", b.exemption_code.as_deref()); // BT-121
                    x.leaf_opt("cbc:TaxExemptionReason", b.exemption_reason.as_deref()); // BT-120
                    x.group("cac:TaxScheme", |x| x.leaf("cbc:ID", "VAT"));
                });
            });
        }
    });
    x.group("cac:LegalMonetaryTotal", |x| {
        // BG-22
        money(x, "cbc:LineExtensionAmount", currency, t.line_net); // BT-106
        money(x, "cbc:TaxExclusiveAmount", currency, t.tax_exclusive); // BT-109
        money(x, "cbc:TaxInclusiveAmount", currency, t.tax_inclusive); // BT-112
        if !t.prepaid.is_zero() {
            money(x, "cbc:PrepaidAmount", currency, t.prepaid); // BT-113
        }
        if !t.rounding.is_zero() {
            money(x, "cbc:PayableRoundingAmount", currency, t.rounding); // BT-114
        }
        money(x, "cbc:PayableAmount", currency, t.amount_due); // BT-115
    });
    for l in &invoice.lines {
        line(&mut x, names, currency, l); // BG-25
    }
    x.close(names.root);
    x.finish()
}
