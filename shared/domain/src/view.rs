//! The document view: an invoice as the PDF template sees it. Every string is already
//! localized and formatted, so the template only lays out text; it does no arithmetic.
//! The renderer hands this to typst as data (a JSON file), never as markup.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::i18n;
use crate::model::{Invoice, PostalAddress, PriceBasis, VatCategory};
use crate::money::Amount;
use crate::payment_codes;
use crate::values::Language;

#[derive(Debug, Clone, Serialize)]
pub struct DocumentView {
    pub lang: &'static str,
    pub kind: &'static str,
    pub labels: BTreeMap<&'static str, &'static str>,
    pub number: String,
    pub issue_date: String,
    /// The issue date as YYYY-MM-DD: the PDF's creation date, so output stays reproducible.
    pub issue_date_iso: String,
    pub due_date: String,
    pub service_period: Option<String>,
    pub customer_number: Option<String>,
    pub buyer_reference: Option<String>,
    pub seller: SellerView,
    pub buyer: BuyerView,
    pub lines: Vec<LineView>,
    pub vat_breakdown: Vec<VatView>,
    pub totals: TotalsView,
    pub notes: Vec<String>,
    pub payment: Option<PaymentView>,
    /// A reminder letter's own text, open items and sums.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub letter: Option<LetterView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LetterView {
    /// The letter's own labels (its table and sums).
    pub labels: BTreeMap<&'static str, &'static str>,
    pub salutation: String,
    pub intro: String,
    pub closing: String,
    pub items: Vec<OpenItemView>,
    pub open_total: String,
    pub charges: Option<String>,
    pub total: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenItemView {
    pub number: String,
    pub issue_date: String,
    pub due_date: String,
    pub payable: String,
    pub settled: String,
    pub open: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SellerView {
    pub name: String,
    pub address_lines: Vec<String>,
    pub sender_line: String,
    pub email: String,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub vat_id: Option<String>,
    pub tax_number: Option<String>,
    pub register: Option<String>,
    pub managing_directors: Option<String>,
    pub bank: Option<BankView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BankView {
    pub account_holder: String,
    pub iban: String,
    pub bic: Option<String>,
    pub bank_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuyerView {
    pub address_lines: Vec<String>,
    pub vat_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineView {
    pub position: String,
    pub description: String,
    pub service_date: Option<String>,
    pub quantity: String,
    pub unit: String,
    pub unit_price: String,
    pub vat_rate: String,
    pub net_amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VatView {
    pub label: String,
    pub base: String,
    pub vat: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TotalsView {
    pub net: String,
    pub vat: String,
    pub gross: String,
    pub prepaid: Option<String>,
    pub rounding: Option<String>,
    pub amount_due: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentView {
    pub terms: String,
    pub reference: Option<String>,
    /// The EPC QR code's text (GiroCode); the renderer draws the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    /// The payment link, printed in full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

fn period_text(lang: Language, start: chrono::NaiveDate, end: chrono::NaiveDate) -> String {
    if start == end {
        i18n::date(lang, start)
    } else {
        format!("{} – {}", i18n::date(lang, start), i18n::date(lang, end))
    }
}

/// Postal lines as printed in an address block: the country only when it differs from `home`.
fn address_lines(
    lang: Language,
    address: &PostalAddress,
    home: Option<crate::values::CountryCode>,
) -> Vec<String> {
    let mut lines = vec![address.line1.clone()];
    lines.extend(address.line2.clone());
    lines.push(format!("{} {}", address.postal_code, address.city));
    if home != Some(address.country) {
        lines.push(i18n::country_name(lang, address.country));
    }
    lines
}

impl DocumentView {
    pub fn from_invoice(inv: &Invoice) -> DocumentView {
        let lang = inv.language;
        let cur = inv.currency;
        let money = |a| i18n::money(lang, a, cur);
        let s = &inv.seller;

        let seller_lines = address_lines(lang, &s.address, None);
        let sender_line = std::iter::once(s.legal_name.clone())
            .chain(address_lines(lang, &s.address, Some(s.address.country)))
            .collect::<Vec<_>>()
            .join(" · ");

        let mut buyer_lines = Vec::new();
        if let Some(company) = &inv.buyer.company {
            buyer_lines.push(company.clone());
        }
        buyer_lines.push(inv.buyer.name.clone());
        buyer_lines.extend(address_lines(
            lang,
            &inv.buyer.address,
            Some(s.address.country),
        ));

        let gross_prices = inv.price_basis == PriceBasis::Gross;
        let mut labels: BTreeMap<&'static str, &'static str> =
            i18n::labels(lang).into_iter().collect();
        for (key, text) in i18n::document_labels(lang, inv.kind, inv.cancels_fully) {
            labels.insert(key, text);
        }
        labels.insert("prepaid", i18n::prepaid_label(lang));
        if let Some(facts) = &inv.reminder {
            labels.insert("title", i18n::reminder_title(lang, facts.level));
            for (key, text) in i18n::reminder_labels(lang) {
                if matches!(key, "due_date" | "amount_due") {
                    labels.insert(key, text);
                }
            }
        }
        if gross_prices {
            for (key, text) in i18n::gross_price_labels(lang) {
                labels.insert(key, text);
            }
        }
        let multi_day_lines = inv.lines.iter().any(|l| !l.service.is_single_day());
        let distinct_dates = inv
            .lines
            .iter()
            .map(|l| l.service)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let lines = inv
            .lines
            .iter()
            .map(|l| LineView {
                position: l.position.to_string(),
                description: l.description.clone(),
                // Per-line dates only where lines differ; one date is shown in the header.
                service_date: (distinct_dates > 1 || multi_day_lines)
                    .then(|| period_text(lang, l.service.start, l.service.end)),
                quantity: i18n::number(lang, l.quantity, 0, 4),
                unit: i18n::unit(lang, &l.unit_code),
                // Prices quoted gross are shown as quoted; the VAT breakdown carries the nets.
                unit_price: match (gross_prices, l.unit_price_gross) {
                    (true, Some(p)) => i18n::unit_price(lang, p, cur),
                    _ => i18n::unit_price(lang, l.unit_price_net, cur),
                },
                vat_rate: i18n::percent(lang, l.vat_rate),
                net_amount: match (gross_prices, l.unit_price_gross) {
                    (true, Some(p)) => money(Amount::round(l.quantity * p)),
                    _ => money(l.net_amount),
                },
            })
            .collect();

        let vat_breakdown = inv
            .vat_breakdown
            .iter()
            .map(|b| {
                let rate = i18n::percent(lang, b.rate);
                let label = match (b.category, lang) {
                    (VatCategory::S, Language::De) => format!("{rate} USt."),
                    (VatCategory::S, Language::En) => format!("{rate} VAT"),
                    (cat, _) => format!(
                        "{rate} ({})",
                        b.exemption_reason.as_deref().unwrap_or(cat.code())
                    ),
                };
                VatView {
                    label,
                    base: money(b.taxable),
                    vat: money(b.vat),
                }
            })
            .collect();

        let t = &inv.totals;
        let request = payment_codes::PaymentRequest::of(inv);
        DocumentView {
            lang: lang.as_str(),
            kind: inv.kind.as_str(),
            labels,
            number: inv.number.as_str().to_string(),
            issue_date: i18n::date(lang, inv.issue_date),
            issue_date_iso: inv.issue_date.format("%Y-%m-%d").to_string(),
            due_date: i18n::date(lang, inv.due_date),
            // A letter's charges are no service: no service date in its header.
            service_period: inv
                .service_period()
                .filter(|_| inv.reminder.is_none())
                .map(|p| period_text(lang, p.start, p.end)),
            customer_number: inv.buyer.customer_number.clone(),
            buyer_reference: inv.buyer_reference.clone(),
            seller: SellerView {
                name: s.legal_name.clone(),
                address_lines: seller_lines,
                sender_line,
                email: s.email.as_str().to_string(),
                phone: s.phone.clone(),
                website: s.website.clone(),
                vat_id: s.vat_id.as_ref().map(|v| v.as_str().to_string()),
                tax_number: s.tax_number.clone(),
                register: s.register.clone(),
                managing_directors: s.managing_directors.clone(),
                bank: s.bank.as_ref().map(|b| BankView {
                    account_holder: b.account_holder.clone(),
                    iban: b.iban.clone(),
                    bic: b.bic.clone(),
                    bank_name: b.bank_name.clone(),
                }),
            },
            buyer: BuyerView {
                address_lines: buyer_lines,
                vat_id: inv.buyer.vat_id.as_ref().map(|v| v.as_str().to_string()),
            },
            lines,
            vat_breakdown,
            totals: TotalsView {
                net: money(t.tax_exclusive),
                vat: money(t.vat),
                gross: money(t.tax_inclusive),
                prepaid: (!t.prepaid.is_zero()).then(|| money(t.prepaid)),
                rounding: (!t.rounding.is_zero()).then(|| money(t.rounding)),
                amount_due: money(t.amount_due),
            },
            notes: inv.notes.clone(),
            letter: inv.reminder.as_ref().map(|f| {
                let numbers = f
                    .items
                    .iter()
                    .map(|i| i.number.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let open_total = f.items.iter().fold(Amount::ZERO, |sum, i| sum + i.open);
                LetterView {
                    labels: i18n::reminder_labels(lang)
                        .into_iter()
                        .filter(|(k, _)| !matches!(*k, "due_date" | "amount_due"))
                        .collect(),
                    salutation: i18n::salutation(lang, &inv.buyer.name),
                    intro: i18n::reminder_intro(lang, f.level, &numbers, inv.due_date),
                    closing: i18n::reminder_closing(lang, f.last),
                    items: f
                        .items
                        .iter()
                        .map(|i| OpenItemView {
                            number: i.number.clone(),
                            issue_date: i18n::date(lang, i.issue_date),
                            due_date: i18n::date(lang, i.due_date),
                            payable: money(i.payable),
                            settled: money(i.settled),
                            open: money(i.open),
                        })
                        .collect(),
                    open_total: money(open_total),
                    charges: (!f.charges.is_zero()).then(|| money(f.charges)),
                    total: money(f.total),
                }
            }),
            // A credit note asks for no payment: its terms say how the amount is settled.
            // A reminder's payment goes to its invoice: the invoice's reference is the one the
            // bank transfer must carry.
            payment: Some(PaymentView {
                terms: inv.payment_terms.clone(),
                reference: request.as_ref().map(|r| r.remittance.printed()),
                qr: request
                    .as_ref()
                    .zip(s.bank.as_ref())
                    .and_then(|(r, bank)| payment_codes::epc_qr_payload(bank, r)),
                link: request.as_ref().and(inv.payment_link.clone()),
            }),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Plain strings, maps and vectors: serialization cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The contract of a booking as its template sees it (data only; every text formatted).
#[derive(Debug, Clone, Serialize)]
pub struct ContractView {
    pub lang: &'static str,
    pub labels: BTreeMap<&'static str, &'static str>,
    pub date: String,
    /// YYYY-MM-DD, the PDF's creation date.
    pub date_iso: String,
    pub seller: SellerView,
    pub customer: BuyerView,
    pub customer_email: String,
    pub booking_id: String,
    pub booking_reference: Option<String>,
    pub booked_at: String,
    pub items: Vec<ContractItemView>,
    pub total: String,
    pub invoice_number: String,
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContractItemView {
    pub description: String,
    pub quantity: String,
    pub unit: String,
    pub service: Option<String>,
    pub price: String,
}

impl ContractView {
    /// The contract for the booking billed by `invoice` (its final invoice), with the tenant's
    /// `terms`.
    pub fn new(
        invoice: &Invoice,
        booking_id: &str,
        booked_on: chrono::NaiveDate,
        terms: &[String],
    ) -> ContractView {
        let doc = DocumentView::from_invoice(invoice);
        let lang = invoice.language;
        let items = doc
            .lines
            .iter()
            .zip(&invoice.lines)
            .map(|(v, l)| ContractItemView {
                description: v.description.clone(),
                quantity: v.quantity.clone(),
                unit: v.unit.clone(),
                service: Some(period_text(lang, l.service.start, l.service.end)),
                price: v.net_amount.clone(),
            })
            .collect();
        ContractView {
            lang: lang.as_str(),
            labels: i18n::contract_labels(lang).into_iter().collect(),
            date: doc.issue_date.clone(),
            date_iso: doc.issue_date_iso.clone(),
            seller: doc.seller.clone(),
            customer: doc.buyer.clone(),
            customer_email: invoice.buyer.email.as_str().to_string(),
            booking_id: booking_id.to_string(),
            booking_reference: invoice
                .order_reference
                .clone()
                .or(invoice.buyer_reference.clone()),
            booked_at: i18n::date(lang, booked_on),
            items,
            total: doc.totals.gross.clone(),
            invoice_number: invoice.number.as_str().to_string(),
            terms: terms.to_vec(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
