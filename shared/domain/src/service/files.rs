//! Where a document's files are stored, and their names.

use crate::model::Invoice;

fn base(invoice: &Invoice) -> String {
    invoice.number.as_str().replace('/', "-")
}

/// `tenants/{tenant}/invoices/{id}/{number}.pdf` (the prefix predates other kinds; it stays
/// so stored files keep their keys).
pub fn pdf_key(invoice: &Invoice) -> String {
    format!(
        "tenants/{}/invoices/{}/{}",
        invoice.tenant_id,
        invoice.id,
        pdf_file_name(invoice)
    )
}

pub fn pdf_file_name(invoice: &Invoice) -> String {
    format!("{}.pdf", base(invoice))
}

/// The e-invoice XML (the legal original of ZUGFeRD and XRechnung documents).
pub fn xml_key(invoice: &Invoice) -> String {
    format!(
        "tenants/{}/invoices/{}/{}",
        invoice.tenant_id,
        invoice.id,
        xml_file_name(invoice)
    )
}

pub fn xml_file_name(invoice: &Invoice) -> String {
    format!("{}.xml", base(invoice))
}

/// The contract sent with a final invoice.
pub fn contract_key(invoice: &Invoice) -> String {
    format!(
        "tenants/{}/invoices/{}/{}",
        invoice.tenant_id,
        invoice.id,
        contract_file_name(invoice)
    )
}

pub fn contract_file_name(invoice: &Invoice) -> String {
    format!("{}-contract.pdf", base(invoice))
}
