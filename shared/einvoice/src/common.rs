//! What CII and UBL share: value formats, notes with subject codes, payment data, lines.

use chrono::NaiveDate;
use faktura_domain::model::{BankAccount, Invoice, InvoiceLine, VatCategory};
use faktura_domain::money::{Amount, VatRate};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::{Options, TypeCode};

/// Amounts: exactly two decimals (`Amount` guarantees the scale).
pub fn amount(a: Amount) -> String {
    a.to_string()
}

/// Unit prices (BT-146): two to four decimals.
pub fn price(p: Decimal) -> String {
    let mut p = p
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    if p.scale() < 2 {
        p.rescale(2);
    }
    p.to_string()
}

/// Quantities (BT-129): as exact as the booking gave them, no exponent, no trailing zeros.
pub fn quantity(q: Decimal) -> String {
    q.normalize().to_string()
}

/// Percentages (BT-119, BT-152) with two decimals.
pub fn percent(rate: VatRate) -> String {
    let mut p = rate.percent();
    p.rescale(2);
    p.to_string()
}

/// CII date format 102 (`CCYYMMDD`).
pub fn date_102(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// UBL dates (`xs:date` without time zone).
pub fn date_iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn type_code(invoice: &Invoice, options: &Options) -> TypeCode {
    use faktura_domain::model::DocumentKind;
    options.type_code.unwrap_or(match invoice.kind {
        // A proforma has no e-invoice of its own; were one written, it would be a commercial
        // invoice's shape (the API refuses to serve one).
        // A reminder is a letter, never written as an e-invoice either.
        DocumentKind::Invoice | DocumentKind::Proforma | DocumentKind::Reminder => {
            TypeCode::Invoice
        }
        DocumentKind::CreditNote => TypeCode::CreditNote,
    })
}

/// BG-3: the options' reference, else (for a credit note) the invoice it corrects.
pub fn preceding(invoice: &Invoice, options: &Options) -> Option<crate::PrecedingInvoice> {
    options.preceding.clone().or_else(|| {
        (invoice.kind == faktura_domain::model::DocumentKind::CreditNote)
            .then_some(invoice.preceding.as_ref())
            .flatten()
            .map(|p| crate::PrecedingInvoice {
                number: p.number.as_str().to_string(),
                issue_date: p.issue_date,
            })
    })
}

/// An IBAN (BT-84) as machines want it: no spaces, upper case.
pub fn compact_iban(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// BT-83, the remittance information a transfer must carry: the invoice's RF creditor
/// reference (ISO 11649), or its number where the number is too long for one.
pub fn remittance(invoice: &Invoice) -> String {
    faktura_domain::payment_codes::Remittance::for_number(&invoice.number)
        .electronic()
        .to_string()
}

/// The seller's account for a SEPA credit transfer, when there is one with an IBAN.
pub fn credit_transfer(invoice: &Invoice) -> Option<&BankAccount> {
    invoice
        .seller
        .bank
        .as_ref()
        .filter(|b| !compact_iban(&b.iban).is_empty())
}

/// BT-81: 58 = SEPA credit transfer (to the seller's account, for invoices).
pub const SEPA_CREDIT_TRANSFER: &str = "58";
/// BT-81: 97 = clearing between partners. A credit note's amount is owed to the buyer: it
/// names no account of the seller to pay into (a buyer's system could pay it otherwise).
pub const CLEARING_BETWEEN_PARTNERS: &str = "97";

/// Whether the document is a credit note (its money flows back to the buyer).
pub fn is_credit_note(invoice: &Invoice) -> bool {
    invoice.kind == faktura_domain::model::DocumentKind::CreditNote
}

/// A BT-22 note with its BT-21 subject code (UNTDID 4451).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub subject: &'static str,
    pub text: String,
}

/// BT-21 codes used: TXD tax declaration (VAT exemption and reverse-charge notes), AAI general
/// information (everything else the invoice says), REG regulatory information (the seller's
/// register entry and managing directors, which German business letters must state).
pub fn notes(invoice: &Invoice) -> Vec<Note> {
    let mut out: Vec<Note> = invoice
        .notes
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            let is_tax_note = invoice
                .vat_breakdown
                .iter()
                .any(|b| b.exemption_reason.as_deref() == Some(n.as_str()));
            Note {
                subject: if is_tax_note { "TXD" } else { "AAI" },
                text: n.clone(),
            }
        })
        .collect();
    let seller = &invoice.seller;
    let legal: Vec<&str> = [
        seller.register.as_deref(),
        seller.managing_directors.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(str::trim)
    .filter(|s| !s.is_empty())
    .collect();
    if !legal.is_empty() {
        out.push(Note {
            subject: "REG",
            text: format!("{}\n{}", seller.legal_name, legal.join("\n")),
        });
    }
    out
}

/// BT-129 and BT-146 of a line. EN 16931 forbids negative prices (BR-27), so a line with a
/// negative price (a discount line) is written as a negative quantity at a positive price;
/// quantity × price and the line net amount (BT-131) are unchanged.
pub fn quantity_and_price(line: &InvoiceLine) -> (Decimal, Decimal) {
    if line.unit_price_net.is_sign_negative() && !line.unit_price_net.is_zero() {
        (-line.quantity, -line.unit_price_net)
    } else {
        (line.quantity, line.unit_price_net)
    }
}

/// BT-152 is written for every category but O (BR-O-05: an item not subject to VAT has no
/// rate).
pub fn line_rate(category: VatCategory, rate: VatRate) -> Option<String> {
    (category != VatCategory::O).then(|| percent(rate))
}

/// Whether the VAT identifiers BT-31 (seller) and BT-48 (buyer) are written. EN 16931 BR-O-02:
/// an invoice with items not subject to VAT (category O) shall not contain them; the seller is
/// then identified by its tax number (BT-32) and legal registration (BT-30).
pub fn writes_vat_ids(invoice: &Invoice) -> bool {
    !invoice
        .lines
        .iter()
        .any(|l| l.vat_category == VatCategory::O)
}

/// A text trimmed, or `None` when there is nothing left: empty elements are never written.
pub fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn formats() {
        assert_eq!(price(d("100")), "100.00");
        assert_eq!(price(d("84.0336")), "84.0336");
        assert_eq!(price(d("4.5000")), "4.50");
        assert_eq!(price(d("0.12345")), "0.1235");
        assert_eq!(quantity(d("8.000")), "8");
        assert_eq!(quantity(d("2.5")), "2.5");
        assert_eq!(percent("19".parse().unwrap()), "19.00");
        assert_eq!(percent("5.5".parse().unwrap()), "5.50");
        assert_eq!(percent(VatRate::ZERO), "0.00");
        assert_eq!(
            date_102(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()),
            "20260105"
        );
        assert_eq!(
            compact_iban("de02 1203 0000 0000 2020 51"),
            "DE02120300000000202051"
        );
    }
}
