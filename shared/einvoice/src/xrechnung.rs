//! The XRechnung 3.0 rules BR-DE-* (KoSIT schematron for XRechnung 3.0, CII and UBL), decided
//! on the invoice model before a document is written.
//!
//! Rules that the writers satisfy by construction are noted instead of checked; rules about
//! data the model does not have (delivery address, card payment, direct debit, attachments,
//! tax representative) cannot fire. See `docs/EINVOICE.md` for the full table.

use std::fmt;

use faktura_domain::model::{Invoice, VatCategory};

use crate::common;
use crate::{Options, TypeCode};

/// One XRechnung rule the invoice does not satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The rule id, as KoSIT's validator reports it (e.g. `BR-DE-15`).
    pub rule: &'static str,
    pub message: String,
    /// Where in the model the missing or wrong data lives (e.g. `buyer_reference`,
    /// `seller.contact_name`), when it is one field.
    pub field: Option<&'static str>,
}

/// How KoSIT's schematron flags the rule: an error rejects the invoice, a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// Rules the XRechnung 3.0 schematron flags as `warning` (all other BR-DE rules are `fatal`).
const WARNING_RULES: [&str; 7] = [
    "BR-DE-17", "BR-DE-19", "BR-DE-20", "BR-DE-21", "BR-DE-26", "BR-DE-27", "BR-DE-28",
];

impl Problem {
    pub fn severity(&self) -> Severity {
        if WARNING_RULES.contains(&self.rule) {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.message)?;
        if let Some(field) = self.field {
            write!(f, " (field: {field})")?;
        }
        Ok(())
    }
}

fn blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim().is_empty())
}

/// The XRechnung 3.0 problems of an invoice written as a plain invoice (380).
pub fn xrechnung_problems(invoice: &Invoice) -> Vec<Problem> {
    xrechnung_problems_with(invoice, &Options::default())
}

/// The XRechnung 3.0 problems of an invoice written with these options (type code, BG-3).
pub fn xrechnung_problems_with(invoice: &Invoice, options: &Options) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |rule: &'static str, field: Option<&'static str>, message: String| {
        out.push(Problem {
            rule,
            message,
            field,
        });
    };
    let seller = &invoice.seller;
    let buyer = &invoice.buyer;

    // BR-DE-1: BG-16 payment instructions. The model's only payment means is the seller's
    // bank account (SEPA credit transfer, code 58).
    let bank = common::credit_transfer(invoice);
    if bank.is_none() {
        problem(
            "BR-DE-1",
            Some("seller.bank"),
            "an XRechnung needs payment instructions (BG-16); the seller has no bank account \
             for a SEPA credit transfer"
                .into(),
        );
    }
    // BR-DE-2: BG-6 seller contact is always written (it carries the seller email, BT-43).
    if blank(Some(&seller.address.city)) {
        problem(
            "BR-DE-3",
            Some("seller.address.city"),
            "the seller city (BT-37) is missing".into(),
        );
    }
    if blank(Some(&seller.address.postal_code)) {
        problem(
            "BR-DE-4",
            Some("seller.address.postal_code"),
            "the seller post code (BT-38) is missing".into(),
        );
    }
    if blank(seller.contact_name.as_deref()) {
        problem(
            "BR-DE-5",
            Some("seller.contact_name"),
            "the seller contact point (BT-41, a person or department) is missing".into(),
        );
    }
    if blank(seller.phone.as_deref()) {
        problem(
            "BR-DE-6",
            Some("seller.phone"),
            "the seller contact telephone number (BT-42) is missing".into(),
        );
    }
    // BR-DE-7: the seller contact email (BT-43) is the seller email, which the model requires.
    if blank(Some(&buyer.address.city)) {
        problem(
            "BR-DE-8",
            Some("buyer.address.city"),
            "the buyer city (BT-52) is missing".into(),
        );
    }
    if blank(Some(&buyer.address.postal_code)) {
        problem(
            "BR-DE-9",
            Some("buyer.address.postal_code"),
            "the buyer post code (BT-53) is missing".into(),
        );
    }
    // BR-DE-10 / BR-DE-11: the model has no deliver-to address (BG-15), none is written.
    // BR-DE-14: every VAT breakdown is written with its rate (BT-119), 0 for exempt categories.
    if blank(invoice.buyer_reference.as_deref()) {
        problem(
            "BR-DE-15",
            Some("buyer_reference"),
            "the buyer reference (BT-10) is missing; public buyers give their Leitweg-ID here, \
             others an order or cost-centre reference"
                .into(),
        );
    }
    // BR-DE-16: categories S, Z, E, AE, K, G (L and M are not in the model) need the seller's
    // VAT ID (BT-31) or tax number (BT-32); a tax representative (BG-11) is not modelled.
    let needs_tax_id = invoice.lines.iter().any(|l| {
        matches!(
            l.vat_category,
            VatCategory::S
                | VatCategory::Z
                | VatCategory::E
                | VatCategory::AE
                | VatCategory::K
                | VatCategory::G
        )
    });
    if needs_tax_id && seller.vat_id.is_none() && blank(seller.tax_number.as_deref()) {
        problem(
            "BR-DE-16",
            Some("seller.vat_id"),
            "the seller needs a VAT ID (BT-31) or a tax number (BT-32) for VAT categories \
             S, Z, E, AE, K, G"
                .into(),
        );
    }
    let type_code = common::type_code(invoice, options);
    const ALLOWED_TYPES: [&str; 8] = ["326", "380", "384", "389", "381", "875", "876", "877"];
    if !ALLOWED_TYPES.contains(&type_code.code()) {
        problem(
            "BR-DE-17",
            None,
            format!(
                "invoice type code {} is not one XRechnung accepts",
                type_code.code()
            ),
        );
    }
    if let Some(message) = skonto_problem(&invoice.payment_terms) {
        problem("BR-DE-18", Some("payment_terms"), message);
    }
    if let Some(bank) = bank
        && !is_valid_iban(&bank.iban)
    {
        problem(
            "BR-DE-19",
            Some("seller.bank.iban"),
            format!("'{}' is not a valid IBAN (BT-84)", bank.iban),
        );
    }
    // BR-DE-20 (direct debit IBAN), BR-DE-23-b, BR-DE-24-*, BR-DE-25-*: the model has no
    // direct debit (BG-19) or card (BG-18). BR-DE-23-a: code 58 is only written with BG-17.
    // BR-DE-21: the writers put the XRechnung 3.0 identifier in BT-24 (to_ubl, and to_cii with
    // CiiProfile::XRechnung3).
    // BR-DE-22: no attachments (BG-24) are written, so file names cannot collide.
    if type_code == TypeCode::Corrected && common::preceding(invoice, options).is_none() {
        problem(
            "BR-DE-26",
            None,
            "a corrected invoice (384) should name the invoice it corrects (BG-3)".into(),
        );
    }
    let phone = seller.phone.as_deref().unwrap_or("");
    if phone.chars().filter(char::is_ascii_digit).count() < 3 {
        problem(
            "BR-DE-27",
            Some("seller.phone"),
            format!(
                "the seller telephone number (BT-42) '{phone}' should have at least three digits"
            ),
        );
    }
    if !is_plausible_email(seller.email.as_str()) {
        problem(
            "BR-DE-28",
            Some("seller.email"),
            format!(
                "the seller contact email (BT-43) '{}' does not have the form XRechnung expects \
                 (ASCII local part and domain)",
                seller.email
            ),
        );
    }
    out
}

/// XPath `normalize-space`: trimmed, inner whitespace runs collapsed to one space.
fn normalize_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn digits(s: &str) -> Option<&str> {
    let rest = s.trim_start_matches(|c: char| c.is_ascii_digit());
    (rest.len() < s.len()).then_some(rest)
}

/// `[0-9]+\.[0-9]{2}` at the start of `s`; returns the rest.
fn decimal_2(s: &str) -> Option<&str> {
    let rest = digits(s)?.strip_prefix('.')?;
    let two = rest.get(..2)?;
    if two.chars().all(|c| c.is_ascii_digit()) {
        rest.get(2..)
    } else {
        None
    }
}

/// `#SKONTO#TAGE=n#PROZENT=n.nn(#BASISBETRAG=-?n.nn)?#` exactly (XR-SKONTO-REGEX).
fn is_skonto_line(line: &str) -> bool {
    let check = || -> Option<()> {
        let rest = line.strip_prefix("#SKONTO#TAGE=")?;
        let rest = digits(rest)?.strip_prefix("#PROZENT=")?;
        let mut rest = decimal_2(rest)?;
        if let Some(base) = rest.strip_prefix("#BASISBETRAG=") {
            rest = decimal_2(base.strip_prefix('-').unwrap_or(base))?;
        }
        (rest == "#").then_some(())
    };
    check().is_some()
}

/// BR-DE-18: lines of the payment terms (BT-20) that start with `#` must be Skonto entries,
/// and the last `#…#` entry must be followed by a line break.
fn skonto_problem(terms: &str) -> Option<String> {
    let lines: Vec<&str> = terms.split('\n').collect();
    let coded: Vec<String> = lines
        .iter()
        .map(|l| normalize_space(l))
        .filter(|l| l.starts_with('#'))
        .collect();
    if coded.is_empty() {
        return None;
    }
    if let Some(bad) = coded.iter().find(|l| !is_skonto_line(l)) {
        return Some(format!(
            "payment terms line '{bad}' starts with '#' but is not a Skonto entry of the form \
             #SKONTO#TAGE=n#PROZENT=n.nn# (optionally #BASISBETRAG=n.nn before the last #)"
        ));
    }
    // The text after the last `#…#` on any line must begin with whitespace containing a line
    // break (`tokenize(., '#.+#')[last()]` matches `^\s*\n`).
    let last_entry_end = terms
        .split_inclusive('\n')
        .scan(0usize, |offset, line| {
            let start = *offset;
            *offset += line.len();
            Some((start, line))
        })
        .filter(|(_, line)| line.matches('#').count() >= 2)
        .last()
        .map(|(start, line)| start + line.rfind('#').unwrap_or(0) + 1);
    let rest = last_entry_end
        .and_then(|end| terms.get(end..))
        .unwrap_or("");
    let leading = rest
        .get(..rest.len() - rest.trim_start().len())
        .unwrap_or("");
    if !leading.contains('\n') {
        return Some(
            "the last Skonto entry in the payment terms must end with a line break".into(),
        );
    }
    None
}

/// BR-DE-19: a valid ISO 13616 IBAN (check digits and the country's format, checked by the
/// `iban_validate` crate). Spaces are ignored.
pub fn is_valid_iban(iban: &str) -> bool {
    faktura_domain::payment_codes::electronic_iban(iban).is_some()
}

/// BR-DE-28: KoSIT's XR-EMAIL-REGEX — dot-separated atoms of
/// ``[a-zA-Z0-9!#$%&"*+/=?^_`{|}~-]``, `@`, then at least two dot-separated labels of ASCII
/// letters, digits and inner hyphens.
pub fn is_plausible_email(email: &str) -> bool {
    let email = normalize_space(email);
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&\"*+/=?^_`{|}~-".contains(c);
    let local_ok = local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atom_char));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans() {
        assert!(is_valid_iban("DE02 1203 0000 0000 2020 51"));
        assert!(is_valid_iban("DE89370400440532013000"));
        assert!(is_valid_iban("AT611904300234573201"));
        assert!(!is_valid_iban("DE89370400440532013001"));
        assert!(!is_valid_iban("DE8937040044053201300"));
        assert!(!is_valid_iban("1234"));
        assert!(!is_valid_iban(""));
    }

    #[test]
    fn emails() {
        assert!(is_plausible_email("rechnung@yoga-sonnenschein.example"));
        assert!(is_plausible_email("a.b+c@x.y.de"));
        assert!(!is_plausible_email("müller@bücher.de"));
        assert!(!is_plausible_email("a..b@x.de"));
        assert!(!is_plausible_email("a@localhost"));
        assert!(!is_plausible_email("a@-x.de"));
    }

    #[test]
    fn skonto() {
        assert_eq!(skonto_problem("Zahlbar bis 01.12.2026 ohne Abzug."), None);
        assert_eq!(
            skonto_problem("#SKONTO#TAGE=7#PROZENT=2.00#\nSonst 30 Tage netto."),
            None
        );
        assert_eq!(
            skonto_problem("#SKONTO#TAGE=7#PROZENT=2.00#BASISBETRAG=-10.50#\n"),
            None
        );
        assert!(
            skonto_problem("#SKONTO#TAGE=7#PROZENT=2.00#").is_some(),
            "no line break"
        );
        assert!(skonto_problem("#SKONTO#TAGE=7#PROZENT=2#\n").is_some());
        assert!(skonto_problem("#skonto#TAGE=7#PROZENT=2.00#\n").is_some());
        assert!(skonto_problem("#Ticket 5\n").is_some());
    }
}
