//! Everything language-dependent: number, money and date formats, labels, legal notes,
//! payment terms and the email text. German and English.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::money::{Amount, Currency, VatRate};
use crate::values::{CountryCode, Language};

/// Groups the integer digits of a plain decimal string with `sep`.
fn group_thousands(int_part: &str, sep: char) -> String {
    let (sign, digits) = match int_part.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", int_part),
    };
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(ch);
    }
    format!("{sign}{out}")
}

/// Formats a decimal with at least `min_dp` and at most `max_dp` decimals.
pub fn number(lang: Language, value: Decimal, min_dp: u32, max_dp: u32) -> String {
    let mut v = value.round_dp(max_dp).normalize();
    if v.scale() < min_dp {
        v.rescale(min_dp);
    }
    let text = v.to_string();
    let (int_part, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (text.clone(), None),
    };
    let (thousands, decimal) = match lang {
        Language::De => ('.', ','),
        Language::En => (',', '.'),
    };
    let mut out = group_thousands(&int_part, thousands);
    if let Some(f) = frac {
        out.push(decimal);
        out.push_str(&f);
    }
    out
}

pub fn money(lang: Language, amount: Amount, currency: Currency) -> String {
    let n = number(lang, amount.value(), 2, 2);
    let symbol = currency.symbol();
    match lang {
        Language::De => format!("{n} {symbol}"),
        Language::En if symbol.len() == 3 && symbol.is_ascii() => format!("{symbol} {n}"),
        Language::En => match n.strip_prefix('-') {
            Some(abs) => format!("-{symbol}{abs}"),
            None => format!("{symbol}{n}"),
        },
    }
}

/// A unit price: two decimals, or up to four where the price has them.
pub fn unit_price(lang: Language, price: Decimal, currency: Currency) -> String {
    let n = number(lang, price, 2, 4);
    let symbol = currency.symbol();
    match lang {
        Language::De => format!("{n} {symbol}"),
        Language::En if symbol.len() == 3 && symbol.is_ascii() => format!("{symbol} {n}"),
        Language::En => format!("{symbol}{n}"),
    }
}

pub fn percent(lang: Language, rate: VatRate) -> String {
    let n = number(lang, rate.percent(), 0, 2);
    match lang {
        Language::De => format!("{n} %"),
        Language::En => format!("{n}%"),
    }
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

pub fn date(lang: Language, d: NaiveDate) -> String {
    match lang {
        Language::De => d.format("%d.%m.%Y").to_string(),
        Language::En => format!(
            "{} {} {}",
            d.day(),
            MONTHS_EN[d.month0() as usize],
            d.year()
        ),
    }
}

pub fn unit(lang: Language, code: &str) -> String {
    let (de, en) = match code {
        "C62" | "H87" | "XPP" => ("Stk.", "pcs"),
        "HUR" => ("Std.", "h"),
        "DAY" => ("Tage", "days"),
        "WEE" => ("Wochen", "weeks"),
        "MON" => ("Monate", "months"),
        "ANN" => ("Jahre", "years"),
        "MIN" => ("Min.", "min"),
        "KGM" => ("kg", "kg"),
        "MTR" => ("m", "m"),
        "LTR" => ("l", "l"),
        "E48" => ("Leistung", "service"),
        "LS" => ("pauschal", "lump sum"),
        other => return other.to_string(),
    };
    match lang {
        Language::De => de.into(),
        Language::En => en.into(),
    }
}

pub fn country_name(lang: Language, country: CountryCode) -> String {
    const NAMES: &[(&str, &str, &str)] = &[
        ("AT", "Österreich", "Austria"),
        ("BE", "Belgien", "Belgium"),
        ("BG", "Bulgarien", "Bulgaria"),
        ("CH", "Schweiz", "Switzerland"),
        ("CY", "Zypern", "Cyprus"),
        ("CZ", "Tschechien", "Czechia"),
        ("DE", "Deutschland", "Germany"),
        ("DK", "Dänemark", "Denmark"),
        ("EE", "Estland", "Estonia"),
        ("ES", "Spanien", "Spain"),
        ("FI", "Finnland", "Finland"),
        ("FR", "Frankreich", "France"),
        ("GB", "Vereinigtes Königreich", "United Kingdom"),
        ("GR", "Griechenland", "Greece"),
        ("HR", "Kroatien", "Croatia"),
        ("HU", "Ungarn", "Hungary"),
        ("IE", "Irland", "Ireland"),
        ("IS", "Island", "Iceland"),
        ("IT", "Italien", "Italy"),
        ("LI", "Liechtenstein", "Liechtenstein"),
        ("LT", "Litauen", "Lithuania"),
        ("LU", "Luxemburg", "Luxembourg"),
        ("LV", "Lettland", "Latvia"),
        ("MT", "Malta", "Malta"),
        ("NL", "Niederlande", "Netherlands"),
        ("NO", "Norwegen", "Norway"),
        ("PL", "Polen", "Poland"),
        ("PT", "Portugal", "Portugal"),
        ("RO", "Rumänien", "Romania"),
        ("SE", "Schweden", "Sweden"),
        ("SI", "Slowenien", "Slovenia"),
        ("SK", "Slowakei", "Slovakia"),
        ("US", "Vereinigte Staaten", "United States"),
    ];
    NAMES
        .iter()
        .find(|(code, _, _)| *code == country.as_str())
        .map(|(_, de, en)| match lang {
            Language::De => de.to_string(),
            Language::En => en.to_string(),
        })
        .unwrap_or_else(|| country.as_str().to_string())
}

/// Document labels, keyed as in the renderer's document view contract.
pub fn labels(lang: Language) -> Vec<(&'static str, &'static str)> {
    let de = lang == Language::De;
    let pick = |d: &'static str, e: &'static str| if de { d } else { e };
    vec![
        ("title", pick("Rechnung", "Invoice")),
        ("number", pick("Rechnungsnummer", "Invoice number")),
        ("issue_date", pick("Rechnungsdatum", "Invoice date")),
        ("due_date", pick("Fällig am", "Due date")),
        ("service_date", pick("Leistungsdatum", "Date of service")),
        ("customer_number", pick("Kundennummer", "Customer number")),
        ("buyer_reference", pick("Ihre Referenz", "Your reference")),
        ("position", pick("Pos.", "No.")),
        ("description", pick("Beschreibung", "Description")),
        ("quantity", pick("Menge", "Quantity")),
        ("unit_price", pick("Einzelpreis", "Unit price")),
        ("vat_rate", pick("USt.", "VAT")),
        ("net_amount", pick("Netto", "Net")),
        ("net_total", pick("Summe netto", "Total net")),
        ("vat_total", pick("Umsatzsteuer", "VAT")),
        ("gross_total", pick("Gesamtbetrag", "Total")),
        ("amount_due", pick("Zu zahlen", "Amount due")),
        ("rounding", pick("Rundung", "Rounding")),
        (
            "vat_breakdown",
            pick("Umsatzsteuer nach Steuersätzen", "VAT breakdown"),
        ),
        ("vat_base", pick("Nettobetrag", "Net amount")),
        ("vat_amount", pick("Steuerbetrag", "VAT amount")),
        ("payment", pick("Zahlung", "Payment")),
        ("bank", pick("Bankverbindung", "Bank details")),
        ("account_holder", pick("Kontoinhaber", "Account holder")),
        ("iban", "IBAN"),
        ("bic", "BIC"),
        (
            "payment_reference",
            pick("Verwendungszweck", "Payment reference"),
        ),
        ("vat_id", pick("USt-IdNr.", "VAT ID")),
        ("tax_number", pick("Steuernummer", "Tax number")),
        ("page", pick("Seite", "Page")),
        ("of", pick("von", "of")),
        (
            "buyer_vat_id",
            pick("USt-IdNr. des Leistungsempfängers", "Customer VAT ID"),
        ),
        ("continued", pick("Fortsetzung", "continued")),
        ("notes", pick("Hinweise", "Notes")),
        ("contact", pick("Kontakt", "Contact")),
        ("pay_online", pick("Online bezahlen", "Pay online")),
        (
            "qr_caption",
            pick("Mit der Banking-App scannen", "Scan with your banking app"),
        ),
    ]
}

/// The captions of a mail's payment details.
pub struct PaymentMailLabels {
    pub heading: &'static str,
    /// The heading when only the link says how to pay (no bank account).
    pub heading_online: &'static str,
    pub payee: &'static str,
    pub amount: &'static str,
    pub reference: &'static str,
    pub pay_online: &'static str,
}

pub fn payment_mail_labels(lang: Language) -> PaymentMailLabels {
    match lang {
        Language::De => PaymentMailLabels {
            heading: "Zahlung per Überweisung",
            heading_online: "Zahlung",
            payee: "Empfänger",
            amount: "Betrag",
            reference: "Verwendungszweck",
            pay_online: "Jetzt online bezahlen",
        },
        Language::En => PaymentMailLabels {
            heading: "Payment by bank transfer",
            heading_online: "Payment",
            payee: "Payee",
            amount: "Amount",
            reference: "Payment reference",
            pay_online: "Pay online now",
        },
    }
}

/// Column captions for documents whose prices were quoted including VAT.
pub fn gross_price_labels(lang: Language) -> [(&'static str, &'static str); 2] {
    match lang {
        Language::De => [
            ("unit_price", "Einzelpreis brutto"),
            ("net_amount", "Brutto"),
        ],
        Language::En => [
            ("unit_price", "Unit price incl. VAT"),
            ("net_amount", "Gross"),
        ],
    }
}

pub fn small_business_note(lang: Language) -> &'static str {
    match lang {
        Language::De => "Gemäß § 19 UStG wird keine Umsatzsteuer berechnet.",
        Language::En => {
            "No VAT is charged: small business exemption under section 19 of the German VAT Act (§ 19 UStG)."
        }
    }
}

pub fn reverse_charge_note(lang: Language) -> &'static str {
    match lang {
        Language::De => "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge).",
        Language::En => {
            "Reverse charge: VAT is payable by the recipient of the service (Steuerschuldnerschaft des Leistungsempfängers)."
        }
    }
}

pub fn intra_community_note(lang: Language) -> &'static str {
    match lang {
        Language::De => "Steuerfreie innergemeinschaftliche Lieferung.",
        Language::En => "VAT exempt intra-community supply.",
    }
}

pub fn export_note(lang: Language) -> &'static str {
    match lang {
        Language::De => "Steuerfreie Ausfuhrlieferung.",
        Language::En => "VAT exempt export supply.",
    }
}

pub fn exempt_note(lang: Language) -> &'static str {
    match lang {
        Language::De => "Steuerfreie Leistung.",
        Language::En => "VAT exempt supply.",
    }
}

pub fn outside_scope_note(lang: Language) -> &'static str {
    match lang {
        Language::De => "Nicht im Inland steuerbare Leistung.",
        Language::En => "Supply outside the scope of VAT.",
    }
}

pub fn service_date_is_issue_date(lang: Language) -> &'static str {
    match lang {
        Language::De => "Das Leistungsdatum entspricht dem Rechnungsdatum.",
        Language::En => "The date of service is the invoice date.",
    }
}

/// "Rate 3 von 10": the label of instalment `n` (1-based) of `count`.
/// The note of a collective invoice: what it combines.
pub fn collective_note(lang: Language, from: NaiveDate, to: NaiveDate) -> String {
    match (lang, from == to) {
        (Language::De, true) => format!(
            "Sammelrechnung über die Leistungen vom {}.",
            date(lang, from)
        ),
        (Language::De, false) => format!(
            "Sammelrechnung über die Leistungen vom {} bis {}.",
            date(lang, from),
            date(lang, to)
        ),
        (Language::En, true) => format!(
            "Collective invoice for the services of {}.",
            date(lang, from)
        ),
        (Language::En, false) => format!(
            "Collective invoice for the services from {} to {}.",
            date(lang, from),
            date(lang, to)
        ),
    }
}

pub fn instalment_label(lang: Language, n: u32, count: u32) -> String {
    match lang {
        Language::De => format!("Rate {n} von {count}"),
        Language::En => format!("Instalment {n} of {count}"),
    }
}

pub fn payment_terms(lang: Language, days: u16, due: NaiveDate) -> String {
    let due = date(lang, due);
    match (lang, days) {
        (Language::De, 0) => format!("Zahlbar sofort ohne Abzug (bis {due})."),
        (Language::De, _) => format!("Zahlbar bis {due} ohne Abzug."),
        (Language::En, 0) => format!("Payable immediately without deduction (by {due})."),
        (Language::En, _) => format!("Payable by {due} without deduction."),
    }
}

/// The title and number caption of a document of `kind`. A credit note is a
/// "Stornorechnung" when it cancels the whole invoice and a "Rechnungskorrektur" otherwise —
/// never "Gutschrift", which in §14 Abs. 2 UStG means self-billing by the buyer.
pub fn document_labels(
    lang: Language,
    kind: crate::model::DocumentKind,
    cancels_fully: bool,
) -> [(&'static str, &'static str); 4] {
    use crate::model::DocumentKind;
    let de = lang == Language::De;
    let pick = |d: &'static str, e: &'static str| if de { d } else { e };
    match kind {
        DocumentKind::Invoice => [
            ("title", pick("Rechnung", "Invoice")),
            ("number", pick("Rechnungsnummer", "Invoice number")),
            ("issue_date", pick("Rechnungsdatum", "Invoice date")),
            ("amount_due", pick("Zu zahlen", "Amount due")),
        ],
        DocumentKind::Proforma => [
            ("title", pick("Proforma-Rechnung", "Proforma invoice")),
            ("number", pick("Proforma-Nummer", "Proforma number")),
            ("issue_date", pick("Datum", "Date")),
            ("amount_due", pick("Zu zahlen", "Amount due")),
        ],
        // The amount of a credit note is owed to the customer, not by them.
        DocumentKind::CreditNote if cancels_fully => [
            ("title", pick("Stornorechnung", "Cancellation invoice")),
            ("number", pick("Nummer", "Number")),
            ("issue_date", pick("Datum", "Date")),
            ("amount_due", pick("Korrekturbetrag", "Amount credited")),
        ],
        DocumentKind::CreditNote => [
            ("title", pick("Rechnungskorrektur", "Corrected invoice")),
            ("number", pick("Nummer", "Number")),
            ("issue_date", pick("Datum", "Date")),
            ("amount_due", pick("Korrekturbetrag", "Amount credited")),
        ],
        DocumentKind::Reminder => [
            ("title", pick("Mahnung", "Reminder")),
            ("number", pick("Nummer", "Number")),
            ("issue_date", pick("Datum", "Date")),
            ("amount_due", pick("Zu zahlen", "Amount due")),
        ],
    }
}

/// The greeting of a letter ("Guten Tag Erika Mustermann,").
pub fn salutation(lang: Language, name: &str) -> String {
    match lang {
        Language::De => format!("Guten Tag {name},"),
        Language::En => format!("Hello {name},"),
    }
}

/// The title of dunning level `level` (1: the payment reminder).
pub fn reminder_title(lang: Language, level: u8) -> &'static str {
    match (lang, level) {
        (Language::De, 0 | 1) => "Zahlungserinnerung",
        (Language::De, 2) => "1. Mahnung",
        (Language::De, 3) => "2. Mahnung",
        (Language::De, 4) => "3. Mahnung",
        (Language::De, _) => "Mahnung",
        (Language::En, 0 | 1) => "Payment reminder",
        (Language::En, 2) => "First dunning notice",
        (Language::En, 3) => "Second dunning notice",
        (Language::En, 4) => "Third dunning notice",
        (Language::En, _) => "Dunning notice",
    }
}

/// Labels of a reminder letter (its table of open items and its sums).
pub fn reminder_labels(lang: Language) -> [(&'static str, &'static str); 10] {
    let de = lang == Language::De;
    let pick = |d: &'static str, e: &'static str| if de { d } else { e };
    [
        ("due_date", pick("Zahlbar bis", "Pay by")),
        ("item_invoice", pick("Rechnung", "Invoice")),
        ("item_date", pick("Datum", "Date")),
        ("item_due", pick("Fällig seit", "Due since")),
        ("item_amount", pick("Betrag", "Amount")),
        ("item_settled", pick("Bezahlt", "Paid")),
        ("item_open", pick("Offen", "Open")),
        ("charges", pick("Gebühren und Zinsen", "Fees and interest")),
        (
            "open_total",
            pick("Offene Rechnungsbeträge", "Open invoice amounts"),
        ),
        ("amount_due", pick("Gesamtbetrag", "Total due")),
    ]
}

/// The opening of a reminder letter of `level` (of `last` levels) about `invoices`.
pub fn reminder_intro(lang: Language, level: u8, invoices: &str, deadline: NaiveDate) -> String {
    let deadline = date(lang, deadline);
    match (lang, level) {
        (Language::De, 0 | 1) => format!(
            "sicher ist es Ihrer Aufmerksamkeit entgangen: Für die Rechnung {invoices} konnten wir bis heute keinen vollständigen Zahlungseingang feststellen. Bitte überweisen Sie den offenen Betrag bis zum {deadline}."
        ),
        (Language::De, _) => format!(
            "trotz unserer Erinnerung ist die Rechnung {invoices} weiterhin nicht vollständig bezahlt. Bitte überweisen Sie den unten genannten Gesamtbetrag bis zum {deadline}."
        ),
        (Language::En, 0 | 1) => format!(
            "perhaps this has escaped your attention: we have not yet received full payment of invoice {invoices}. Please transfer the open amount by {deadline}."
        ),
        (Language::En, _) => format!(
            "despite our reminder, invoice {invoices} is still not paid in full. Please transfer the total shown below by {deadline}."
        ),
    }
}

/// The closing of a reminder letter (the last level says what follows).
pub fn reminder_closing(lang: Language, last: bool) -> String {
    let paid = match lang {
        Language::De => {
            "Sollten Sie die Zahlung inzwischen veranlasst haben, betrachten Sie dieses Schreiben bitte als gegenstandslos."
        }
        Language::En => "If you have paid in the meantime, please disregard this letter.",
    };
    let next = match (lang, last) {
        (_, false) => "",
        (Language::De, true) => {
            " Geht die Zahlung nicht fristgerecht ein, behalten wir uns weitere Schritte ohne erneute Ankündigung vor."
        }
        (Language::En, true) => {
            " If payment is not received by then, we reserve the right to take further steps without further notice."
        }
    };
    format!("{paid}{next}")
}

pub fn dunning_fee_line(lang: Language, title: &str) -> String {
    match lang {
        Language::De => format!("Mahngebühr ({title})"),
        Language::En => format!("Dunning fee ({title})"),
    }
}

/// The interest line's base when payments changed the open amount during default.
pub fn open_each_day(lang: Language) -> &'static str {
    match lang {
        Language::De => "den jeweils offenen Betrag",
        Language::En => "the amount open on each day",
    }
}

pub fn flat_fee_line(lang: Language) -> &'static str {
    match lang {
        Language::De => "Verzugspauschale nach § 288 Abs. 5 BGB (Mahngebühren darauf angerechnet)",
        Language::En => "Flat-rate default charge (§ 288(5) BGB; dunning fees counted against it)",
    }
}

/// "Verzugszinsen 10,27 % p. a. auf 119,00 € vom 18.01.2027 bis 31.01.2027 (14 Tage)".
pub fn interest_line(
    lang: Language,
    rates: &str,
    open: &str,
    from: NaiveDate,
    to: NaiveDate,
    days: i64,
) -> String {
    let (from, to) = (date(lang, from), date(lang, to));
    let days = match (lang, days) {
        (Language::De, 1) => "1 Tag".to_string(),
        (Language::De, n) => format!("{n} Tage"),
        (Language::En, 1) => "1 day".to_string(),
        (Language::En, n) => format!("{n} days"),
    };
    match lang {
        Language::De => {
            format!("Verzugszinsen {rates} p. a. auf {open} vom {from} bis {to} ({days})")
        }
        Language::En => {
            format!("Default interest at {rates} p.a. on {open} from {from} to {to} ({days})")
        }
    }
}

/// The VAT note of a reminder's charges (damages, not a supply: outside the scope of VAT).
pub fn charges_not_taxable(lang: Language) -> &'static str {
    match lang {
        Language::De => "Nicht umsatzsteuerbar (Schadensersatz)",
        Language::En => "Not subject to VAT (damages)",
    }
}

pub fn not_a_tax_invoice(lang: Language) -> &'static str {
    match lang {
        Language::De => "Dieses Schreiben ist keine Rechnung im Sinne des Umsatzsteuergesetzes.",
        Language::En => "This letter is not a VAT invoice.",
    }
}

/// §286 Abs. 3 BGB: a consumer is in default 30 days after due date and receipt only if the
/// invoice says so.
pub fn default_notice(lang: Language) -> &'static str {
    match lang {
        Language::De => {
            "Hinweis nach § 286 Abs. 3 BGB: Sie geraten spätestens in Verzug, wenn Sie nicht innerhalb von 30 Tagen nach Fälligkeit und Zugang dieser Rechnung zahlen."
        }
        Language::En => {
            "Notice under § 286(3) BGB: you will be in default at the latest if you do not pay within 30 days of the due date and receipt of this invoice."
        }
    }
}

/// The mail that carries a reminder letter and the invoice again.
#[allow(clippy::too_many_arguments)]
pub fn reminder_mail(
    lang: Language,
    title: &str,
    number: &str,
    buyer_name: &str,
    seller_name: &str,
    invoices: &str,
    total: &str,
    deadline: NaiveDate,
) -> MailText {
    let deadline = date(lang, deadline);
    match lang {
        Language::De => MailText {
            subject: format!("{title} {number} zur Rechnung {invoices} von {seller_name}"),
            body: format!(
                "Guten Tag {buyer_name},\r\n\r\nfür die Rechnung {invoices} ist noch ein Betrag offen. Anbei erhalten Sie unser Schreiben ({title} {number}) und die Rechnung noch einmal. Bitte überweisen Sie {total} bis zum {deadline}.\r\n\r\nSollten Sie inzwischen gezahlt haben, betrachten Sie diese E-Mail bitte als gegenstandslos. Bei Fragen antworten Sie einfach auf diese E-Mail.\r\n\r\nMit freundlichen Grüßen\r\n{seller_name}\r\n"
            ),
        },
        Language::En => MailText {
            subject: format!("{title} {number} for invoice {invoices} from {seller_name}"),
            body: format!(
                "Hello {buyer_name},\r\n\r\nan amount of invoice {invoices} is still open. Please find attached our letter ({title} {number}) and the invoice again. Please transfer {total} by {deadline}.\r\n\r\nIf you have paid in the meantime, please disregard this email. If you have any questions, just reply to this email.\r\n\r\nKind regards\r\n{seller_name}\r\n"
            ),
        },
    }
}

/// The name of a document kind in running text ("Rechnung RE-2026-00001").
pub fn kind_name(
    lang: Language,
    kind: crate::model::DocumentKind,
    cancels_fully: bool,
) -> &'static str {
    document_labels(lang, kind, cancels_fully)[0].1
}

pub fn proforma_note(lang: Language) -> &'static str {
    match lang {
        Language::De => {
            "Dies ist eine Proforma-Rechnung und keine Rechnung im Sinne des § 14 UStG. Die Rechnung erhalten Sie nach Zahlungseingang."
        }
        Language::En => {
            "This is a proforma invoice, not a tax invoice. You will receive the invoice once your payment has arrived."
        }
    }
}

/// BG-3 in words: which invoice a credit note corrects.
pub fn corrects_note(lang: Language, number: &str, issued: NaiveDate, fully: bool) -> String {
    let issued = date(lang, issued);
    match (lang, fully) {
        (Language::De, true) => {
            format!("Storniert die Rechnung {number} vom {issued} vollständig.")
        }
        (Language::De, false) => format!("Korrektur der Rechnung {number} vom {issued}."),
        (Language::En, true) => format!("Cancels invoice {number} of {issued} in full."),
        (Language::En, false) => format!("Corrects invoice {number} of {issued}."),
    }
}

pub fn reason_note(lang: Language, reason: &str) -> String {
    match lang {
        Language::De => format!("Grund: {reason}"),
        Language::En => format!("Reason: {reason}"),
    }
}

/// Payment terms of a credit note: nothing is payable by the customer.
pub fn credit_terms(lang: Language) -> &'static str {
    match lang {
        Language::De => "Der Betrag wird mit offenen Forderungen verrechnet oder Ihnen erstattet.",
        Language::En => "The amount is set off against open items or refunded to you.",
    }
}

/// A final invoice after a proforma: the payment received is shown as prepaid.
pub fn follows_proforma_note(lang: Language, number: &str) -> String {
    match lang {
        Language::De => format!(
            "Zur Proforma-Rechnung {number}; erhaltene Zahlungen sind als Anzahlung abgezogen."
        ),
        Language::En => format!(
            "Following proforma invoice {number}; payments received are deducted as prepaid."
        ),
    }
}

pub fn credit_applied_note(lang: Language, amount: &str) -> String {
    match lang {
        Language::De => format!("Ihr Guthaben von {amount} ist als Anzahlung verrechnet."),
        Language::En => format!("Your credit of {amount} is applied as a prepaid amount."),
    }
}

pub fn paid_terms(lang: Language) -> &'static str {
    match lang {
        Language::De => "Der Betrag ist bereits bezahlt.",
        Language::En => "This amount has been paid already.",
    }
}

pub fn prepaid_label(lang: Language) -> &'static str {
    match lang {
        Language::De => "Bereits gezahlt",
        Language::En => "Paid in advance",
    }
}

pub struct MailText {
    pub subject: String,
    pub body: String,
}

/// The mail that delivers a document of any kind.
#[allow(clippy::too_many_arguments)]
pub fn document_mail(
    lang: Language,
    kind: crate::model::DocumentKind,
    cancels_fully: bool,
    buyer_name: &str,
    seller_name: &str,
    number: &str,
    amount: &str,
    due: NaiveDate,
    with_contract: bool,
) -> MailText {
    use crate::model::DocumentKind;
    if kind == DocumentKind::Invoice && !with_contract {
        return invoice_mail(lang, buyer_name, seller_name, number, amount, due);
    }
    let name = kind_name(lang, kind, cancels_fully);
    let due = date(lang, due);
    let (subject, middle) = match (lang, kind) {
        (Language::De, DocumentKind::Invoice) => (
            format!("Ihre Rechnung {number} und Ihr Vertrag von {seller_name}"),
            format!(
                "vielen Dank für Ihre Zahlung. Anbei erhalten Sie Ihre Rechnung {number} über {amount} und Ihren Vertrag."
            ),
        ),
        (Language::En, DocumentKind::Invoice) => (
            format!("Your invoice {number} and contract from {seller_name}"),
            format!(
                "thank you for your payment. Please find attached invoice {number} over {amount} and your contract."
            ),
        ),
        (Language::De, DocumentKind::Proforma) => (
            format!("Ihre Proforma-Rechnung {number} von {seller_name}"),
            format!(
                "vielen Dank für Ihre Buchung. Anbei erhalten Sie die Proforma-Rechnung {number} über {amount}, zahlbar bis {due}. Nach Zahlungseingang senden wir Ihnen die Rechnung."
            ),
        ),
        (Language::En, DocumentKind::Proforma) => (
            format!("Your proforma invoice {number} from {seller_name}"),
            format!(
                "thank you for your booking. Please find attached proforma invoice {number} over {amount}, payable by {due}. We will send the invoice once your payment has arrived."
            ),
        ),
        (Language::De, DocumentKind::CreditNote) => (
            format!("{name} {number} von {seller_name}"),
            format!("anbei erhalten Sie die {name} {number} über {amount}."),
        ),
        (Language::En, DocumentKind::CreditNote) => (
            format!("{name} {number} from {seller_name}"),
            format!(
                "please find attached {} {number} over {amount}.",
                name.to_lowercase()
            ),
        ),
        // Reminders are mailed with `reminder_mail`; this is the plain fallback.
        (Language::De, DocumentKind::Reminder) => (
            format!("{name} {number} von {seller_name}"),
            format!(
                "anbei erhalten Sie unser Schreiben {number}; bitte zahlen Sie {amount} bis {due}."
            ),
        ),
        (Language::En, DocumentKind::Reminder) => (
            format!("{name} {number} from {seller_name}"),
            format!("please find attached our letter {number}; please pay {amount} by {due}."),
        ),
    };
    let body = match lang {
        Language::De => format!(
            "Guten Tag {buyer_name},\r\n\r\n{middle}\r\n\r\nBei Fragen antworten Sie einfach auf diese E-Mail.\r\n\r\nMit freundlichen Grüßen\r\n{seller_name}\r\n"
        ),
        Language::En => format!(
            "Hello {buyer_name},\r\n\r\n{middle}\r\n\r\nIf you have any questions, just reply to this email.\r\n\r\nKind regards\r\n{seller_name}\r\n"
        ),
    };
    MailText { subject, body }
}

/// Texts of the contract document (the default template prints them).
pub fn contract_labels(lang: Language) -> Vec<(&'static str, &'static str)> {
    let de = lang == Language::De;
    let pick = |d: &'static str, e: &'static str| if de { d } else { e };
    vec![
        ("title", pick("Vertrag", "Contract")),
        ("between", pick("zwischen", "between")),
        ("and", pick("und", "and")),
        ("booking", pick("Buchung", "Booking")),
        ("booked_at", pick("Gebucht am", "Booked on")),
        ("items", pick("Gebuchte Leistungen", "Booked services")),
        ("price", pick("Preis", "Price")),
        ("total", pick("Gesamtpreis", "Total price")),
        ("invoice", pick("Rechnung", "Invoice")),
        ("terms", pick("Bedingungen", "Terms")),
        ("page", pick("Seite", "Page")),
        ("of", pick("von", "of")),
    ]
}

pub fn invoice_mail(
    lang: Language,
    buyer_name: &str,
    seller_name: &str,
    number: &str,
    amount: &str,
    due: NaiveDate,
) -> MailText {
    let due = date(lang, due);
    match lang {
        Language::De => MailText {
            subject: format!("Ihre Rechnung {number} von {seller_name}"),
            body: format!(
                "Guten Tag {buyer_name},\r\n\r\nvielen Dank für Ihre Buchung. Anbei erhalten Sie Ihre Rechnung \
{number} über {amount}, zahlbar bis {due}.\r\n\r\nBei Fragen antworten Sie einfach auf diese E-Mail.\r\n\r\n\
Mit freundlichen Grüßen\r\n{seller_name}\r\n"
            ),
        },
        Language::En => MailText {
            subject: format!("Your invoice {number} from {seller_name}"),
            body: format!(
                "Hello {buyer_name},\r\n\r\nthank you for your booking. Please find attached invoice {number} \
for {amount}, payable by {due}.\r\n\r\nIf you have any questions, just reply to this email.\r\n\r\n\
Kind regards\r\n{seller_name}\r\n"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn formats_money() {
        let a = Amount::round(dec!(1234567.5));
        assert_eq!(money(Language::De, a, Currency::EUR), "1.234.567,50 €");
        assert_eq!(money(Language::En, a, Currency::EUR), "€1,234,567.50");
        assert_eq!(
            money(Language::En, Amount::round(dec!(-5)), Currency::EUR),
            "-€5.00"
        );
        let chf = "CHF".parse().unwrap();
        assert_eq!(
            money(Language::En, Amount::round(dec!(12)), chf),
            "CHF 12.00"
        );
        assert_eq!(number(Language::De, dec!(2.5), 0, 4), "2,5");
        assert_eq!(
            unit_price(Language::De, dec!(84.0336), Currency::EUR),
            "84,0336 €"
        );
        assert_eq!(
            unit_price(Language::De, dec!(100), Currency::EUR),
            "100,00 €"
        );
        assert_eq!(percent(Language::De, "7".parse().unwrap()), "7 %");
    }

    #[test]
    fn formats_dates() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(date(Language::De, d), "04.03.2026");
        assert_eq!(date(Language::En, d), "4 Mar 2026");
    }
}
