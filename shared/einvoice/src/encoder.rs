//! The domain's `EInvoiceEncoder` port, implemented with this crate's writers.

use faktura_domain::model::{EInvoiceFormat, Invoice};
use faktura_domain::ports::{EInvoiceEncoder, EInvoiceProblem, XmlSyntax};

use crate::{CiiProfile, Severity};

/// The EN 16931 writers behind the domain's port.
pub struct EInvoiceXml;

impl EInvoiceEncoder for EInvoiceXml {
    fn problems(&self, invoice: &Invoice) -> Vec<EInvoiceProblem> {
        let mut problems = Vec::new();
        if !invoice.einvoice.has_xml() || !invoice.kind.is_tax_document() {
            return problems;
        }
        // BR-CO-26: the buyer must be able to identify the seller; of BT-29/30/31 we carry
        // the VAT ID (a tax number alone, BT-32, does not count).
        if invoice.seller.vat_id.is_none() {
            problems.push(EInvoiceProblem {
                rule: "BR-CO-26".into(),
                message: "the seller needs a VAT ID on e-invoices; add it to the tenant or issue PDFs only (einvoice = \"pdf\")".into(),
                field: Some("seller.vat_id".into()),
            });
        }
        if invoice.einvoice != EInvoiceFormat::Xrechnung {
            return problems;
        }
        problems.extend(
            crate::xrechnung_problems(invoice)
                .into_iter()
                .filter(|p| p.severity() == Severity::Error)
                .map(|p| EInvoiceProblem {
                    rule: p.rule.to_string(),
                    message: p.message,
                    field: p.field.map(str::to_string),
                }),
        );
        problems
    }

    fn xml(&self, invoice: &Invoice, syntax: XmlSyntax) -> Vec<u8> {
        let xml = match syntax {
            XmlSyntax::Cii => {
                let profile = match invoice.einvoice {
                    EInvoiceFormat::Xrechnung => CiiProfile::XRechnung3,
                    EInvoiceFormat::Zugferd | EInvoiceFormat::Pdf => CiiProfile::FacturXEn16931,
                };
                crate::to_cii(invoice, profile)
            }
            XmlSyntax::Ubl => crate::to_ubl(invoice),
        };
        xml.into_bytes()
    }
}
