//! UN/CEFACT Cross Industry Invoice (D16B), in the element order of the Factur-X EN16931 XSD
//! (a subset of the full CII schema, so the same document is valid XRechnung CII).

use faktura_domain::model::{Invoice, PostalAddress, ServicePeriod};

use crate::common::{self, amount, date_102, percent};
use crate::xml::XmlOut;
use crate::{CiiProfile, Options};

const RSM: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100";
const RAM: &str =
    "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100";
const QDT: &str = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100";
const UDT: &str = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100";

fn date_time(x: &mut XmlOut, name: &str, date: chrono::NaiveDate) {
    x.group(name, |x| {
        x.leaf_with("udt:DateTimeString", &[("format", "102")], &date_102(date));
    });
}

fn period(x: &mut XmlOut, p: ServicePeriod) {
    x.group("ram:BillingSpecifiedPeriod", |x| {
        date_time(x, "ram:StartDateTime", p.start);
        date_time(x, "ram:EndDateTime", p.end);
    });
}

fn address(x: &mut XmlOut, a: &PostalAddress) {
    x.group("ram:PostalTradeAddress", |x| {
        x.leaf_opt("ram:PostcodeCode", common::non_empty(Some(&a.postal_code)));
        x.leaf_opt("ram:LineOne", common::non_empty(Some(&a.line1)));
        x.leaf_opt("ram:LineTwo", common::non_empty(a.line2.as_deref()));
        x.leaf_opt("ram:CityName", common::non_empty(Some(&a.city)));
        x.leaf("ram:CountryID", a.country.as_str());
    });
}

pub(crate) fn has_intra_community_supply(invoice: &Invoice) -> bool {
    invoice
        .vat_breakdown
        .iter()
        .any(|b| b.category == faktura_domain::model::VatCategory::K)
}

fn electronic_address(x: &mut XmlOut, email: &str) {
    x.group("ram:URIUniversalCommunication", |x| {
        x.leaf_with("ram:URIID", &[("schemeID", "EM")], email);
    });
}

fn tax_registration(x: &mut XmlOut, scheme: &str, id: &str) {
    x.group("ram:SpecifiedTaxRegistration", |x| {
        x.leaf_with("ram:ID", &[("schemeID", scheme)], id);
    });
}

fn seller(x: &mut XmlOut, invoice: &Invoice) {
    let s = &invoice.seller;
    x.group("ram:SellerTradeParty", |x| {
        x.leaf("ram:Name", &s.legal_name); // BT-27
        if let Some(register) = common::non_empty(s.register.as_deref()) {
            x.group("ram:SpecifiedLegalOrganization", |x| {
                x.leaf("ram:ID", register)
            }); // BT-30
        }
        x.group("ram:DefinedTradeContact", |x| {
            // BG-6
            x.leaf_opt(
                "ram:PersonName",
                common::non_empty(s.contact_name.as_deref()),
            ); // BT-41
            if let Some(phone) = common::non_empty(s.phone.as_deref()) {
                x.group("ram:TelephoneUniversalCommunication", |x| {
                    x.leaf("ram:CompleteNumber", phone); // BT-42
                });
            }
            x.group("ram:EmailURIUniversalCommunication", |x| {
                x.leaf("ram:URIID", s.email.as_str()); // BT-43
            });
        });
        address(x, &s.address); // BG-5
        electronic_address(x, s.email.as_str()); // BT-34
        if let Some(vat_id) = s
            .vat_id
            .as_ref()
            .filter(|_| common::writes_vat_ids(invoice))
        {
            tax_registration(x, "VA", vat_id.as_str()); // BT-31
        }
        if let Some(tax_number) = common::non_empty(s.tax_number.as_deref()) {
            tax_registration(x, "FC", tax_number); // BT-32
        }
    });
}

fn buyer(x: &mut XmlOut, invoice: &Invoice) {
    let b = &invoice.buyer;
    x.group("ram:BuyerTradeParty", |x| {
        x.leaf("ram:Name", b.legal_name()); // BT-44
        x.group("ram:DefinedTradeContact", |x| {
            // BG-9: the person when the buyer is a company (BT-56), and the email (BT-58).
            if b.company.is_some() {
                x.leaf("ram:PersonName", &b.name);
            }
            x.group("ram:EmailURIUniversalCommunication", |x| {
                x.leaf("ram:URIID", b.email.as_str());
            });
        });
        address(x, &b.address); // BG-8
        electronic_address(x, b.email.as_str()); // BT-49
        if let Some(vat_id) = b
            .vat_id
            .as_ref()
            .filter(|_| common::writes_vat_ids(invoice))
        {
            tax_registration(x, "VA", vat_id.as_str()); // BT-48
        }
    });
}

fn line(x: &mut XmlOut, l: &faktura_domain::model::InvoiceLine) {
    let (qty, price) = common::quantity_and_price(l);
    x.group("ram:IncludedSupplyChainTradeLineItem", |x| {
        x.group("ram:AssociatedDocumentLineDocument", |x| {
            x.leaf("ram:LineID", &l.position.to_string()); // BT-126
        });
        x.group("ram:SpecifiedTradeProduct", |x| {
            x.leaf("ram:Name", &l.description); // BT-153
        });
        x.group("ram:SpecifiedLineTradeAgreement", |x| {
            x.group("ram:NetPriceProductTradePrice", |x| {
                x.leaf("ram:ChargeAmount", &common::price(price)); // BT-146
            });
        });
        x.group("ram:SpecifiedLineTradeDelivery", |x| {
            x.leaf_with(
                "ram:BilledQuantity",
                &[("unitCode", l.unit_code.as_str())], // BT-130
                &common::quantity(qty),                // BT-129
            );
        });
        x.group("ram:SpecifiedLineTradeSettlement", |x| {
            x.group("ram:ApplicableTradeTax", |x| {
                x.leaf("ram:TypeCode", "VAT");
                x.leaf("ram:CategoryCode", l.vat_category.code()); // BT-151
                if let Some(rate) = common::line_rate(l.vat_category, l.vat_rate) {
                    x.leaf("ram:RateApplicablePercent", &rate); // BT-152
                }
            });
            period(x, l.service); // BG-26
            x.group("ram:SpecifiedTradeSettlementLineMonetarySummation", |x| {
                x.leaf("ram:LineTotalAmount", &amount(l.net_amount)); // BT-131
            });
        });
    });
}

fn settlement(x: &mut XmlOut, invoice: &Invoice, options: &Options) {
    let currency = invoice.currency.as_str();
    let credit_note = common::is_credit_note(invoice);
    let bank = common::credit_transfer(invoice).filter(|_| !credit_note);
    x.group("ram:ApplicableHeaderTradeSettlement", |x| {
        if bank.is_some() {
            x.leaf("ram:PaymentReference", &common::remittance(invoice)); // BT-83
        }
        x.leaf("ram:InvoiceCurrencyCode", currency); // BT-5
        if credit_note {
            x.group("ram:SpecifiedTradeSettlementPaymentMeans", |x| {
                // BG-16: settled between the parties, no seller account to pay into.
                x.leaf("ram:TypeCode", common::CLEARING_BETWEEN_PARTNERS); // BT-81
            });
        }
        if let Some(bank) = bank {
            x.group("ram:SpecifiedTradeSettlementPaymentMeans", |x| {
                // BG-16
                x.leaf("ram:TypeCode", common::SEPA_CREDIT_TRANSFER); // BT-81
                x.group("ram:PayeePartyCreditorFinancialAccount", |x| {
                    x.leaf("ram:IBANID", &common::compact_iban(&bank.iban)); // BT-84
                    x.leaf_opt(
                        "ram:AccountName",
                        common::non_empty(Some(&bank.account_holder)),
                    ); // BT-85
                });
                if let Some(bic) = common::non_empty(bank.bic.as_deref()) {
                    x.group("ram:PayeeSpecifiedCreditorFinancialInstitution", |x| {
                        x.leaf("ram:BICID", bic); // BT-86
                    });
                }
            });
        }
        for b in &invoice.vat_breakdown {
            x.group("ram:ApplicableTradeTax", |x| {
                // BG-23
                x.leaf("ram:CalculatedAmount", &amount(b.vat)); // BT-117
                x.leaf("ram:TypeCode", "VAT");
                x.leaf_opt("ram:ExemptionReason", b.exemption_reason.as_deref()); // BT-120
                x.leaf("ram:BasisAmount", &amount(b.taxable)); // BT-116
                x.leaf("ram:CategoryCode", b.category.code()); // BT-118
                x.leaf_opt("ram:ExemptionReasonCode", b.exemption_code.as_deref()); // BT-121
                x.leaf("ram:RateApplicablePercent", &percent(b.rate)); // BT-119
            });
        }
        if let Some(p) = invoice.service_period() {
            period(x, p); // BG-14
        }
        x.group("ram:SpecifiedTradePaymentTerms", |x| {
            x.leaf_opt(
                "ram:Description",
                common::non_empty(Some(&invoice.payment_terms)),
            ); // BT-20
            date_time(x, "ram:DueDateDateTime", invoice.due_date); // BT-9
        });
        let t = &invoice.totals;
        x.group("ram:SpecifiedTradeSettlementHeaderMonetarySummation", |x| {
            // BG-22
            x.leaf("ram:LineTotalAmount", &amount(t.line_net)); // BT-106
            x.leaf("ram:TaxBasisTotalAmount", &amount(t.tax_exclusive)); // BT-109
            x.leaf_with(
                "ram:TaxTotalAmount",
                &[("currencyID", currency)],
                &amount(t.vat),
            ); // BT-110
            if !t.rounding.is_zero() {
                x.leaf("ram:RoundingAmount", &amount(t.rounding)); // BT-114
            }
            x.leaf("ram:GrandTotalAmount", &amount(t.tax_inclusive)); // BT-112
            if !t.prepaid.is_zero() {
                x.leaf("ram:TotalPrepaidAmount", &amount(t.prepaid)); // BT-113
            }
            x.leaf("ram:DuePayableAmount", &amount(t.amount_due)); // BT-115
        });
        if let Some(p) = &common::preceding(invoice, options) {
            x.group("ram:InvoiceReferencedDocument", |x| {
                // BG-3
                x.leaf("ram:IssuerAssignedID", &p.number); // BT-25
                x.group("ram:FormattedIssueDateTime", |x| {
                    x.leaf_with(
                        "qdt:DateTimeString",
                        &[("format", "102")],
                        &date_102(p.issue_date),
                    ); // BT-26
                });
            });
        }
    });
}

pub fn write(invoice: &Invoice, profile: CiiProfile, options: &Options) -> String {
    let mut x = XmlOut::new();
    x.open(
        "rsm:CrossIndustryInvoice",
        &[
            ("xmlns:rsm", RSM),
            ("xmlns:ram", RAM),
            ("xmlns:qdt", QDT),
            ("xmlns:udt", UDT),
        ],
    );
    x.group("rsm:ExchangedDocumentContext", |x| {
        if let Some(process) = profile.business_process() {
            x.group(
                "ram:BusinessProcessSpecifiedDocumentContextParameter",
                |x| {
                    x.leaf("ram:ID", process); // BT-23
                },
            );
        }
        x.group("ram:GuidelineSpecifiedDocumentContextParameter", |x| {
            x.leaf("ram:ID", profile.guideline_id()); // BT-24
        });
    });
    x.group("rsm:ExchangedDocument", |x| {
        x.leaf("ram:ID", invoice.number.as_str()); // BT-1
        x.leaf("ram:TypeCode", common::type_code(invoice, options).code()); // BT-3
        date_time(x, "ram:IssueDateTime", invoice.issue_date); // BT-2
        for note in common::notes(invoice) {
            x.group("ram:IncludedNote", |x| {
                x.leaf("ram:Content", &note.text); // BT-22
                x.leaf("ram:SubjectCode", note.subject); // BT-21
            });
        }
    });
    x.group("rsm:SupplyChainTradeTransaction", |x| {
        for l in &invoice.lines {
            line(x, l); // BG-25
        }
        x.group("ram:ApplicableHeaderTradeAgreement", |x| {
            x.leaf_opt(
                "ram:BuyerReference",
                common::non_empty(invoice.buyer_reference.as_deref()),
            ); // BT-10
            seller(x, invoice);
            buyer(x, invoice);
            if let Some(order) = common::non_empty(invoice.order_reference.as_deref()) {
                x.group("ram:BuyerOrderReferencedDocument", |x| {
                    x.leaf("ram:IssuerAssignedID", order); // BT-13
                });
            }
        });
        // BG-13 delivery: the model has no delivery address or date apart from the service
        // periods (BG-14 / BG-26), so the group stays empty.
        x.group("ram:ApplicableHeaderTradeDelivery", |x| {
            // BG-15 deliver-to address: an intra-community supply (K) must name the country
            // the goods go to (BR-IC-12); the model ships to the buyer's address.
            if has_intra_community_supply(invoice) {
                x.group("ram:ShipToTradeParty", |x| {
                    address(x, &invoice.buyer.address)
                });
            }
        });
        settlement(x, invoice, options);
    });
    x.close("rsm:CrossIndustryInvoice");
    x.finish()
}
