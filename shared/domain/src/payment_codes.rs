//! How a customer is asked to pay: the structured creditor reference (ISO 11649 "RF") that
//! lets a bank transfer find its invoice, the EPC QR code's payload (GiroCode, EPC069-12
//! version 002) and the tenant's payment link.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::{BankAccount, DocumentKind, Invoice};
use crate::money::{Amount, Currency};
use crate::values::{Id, InvoiceNumber};

/// At most 21 characters follow `RF` and the check digits (ISO 11649).
const MAX_REFERENCE_BODY: usize = 21;

/// An ISO 11649 structured creditor reference: `RF`, two check digits (mod 97), then up to 21
/// letters or digits. Stored and compared in its electronic form (upper case, no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreditorReference(String);

impl CreditorReference {
    /// The reference of a document number: its letters and digits (upper case), so
    /// `RE-2026-00001` becomes `RF..RE202600001`. None when the number has more than 21 of
    /// them (the payment then carries the number as text).
    pub fn for_number(number: &InvoiceNumber) -> Option<CreditorReference> {
        let body: String = number
            .as_str()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if body.is_empty() || body.len() > MAX_REFERENCE_BODY {
            return None;
        }
        let check = 98 - mod97(body.chars().chain("RF00".chars()))?;
        Some(CreditorReference(format!("RF{check:02}{body}")))
    }

    /// Finds a reference in free text as people type it: any case, with spaces, and checks
    /// the digits. `text` is the reference itself (not a sentence holding it).
    pub fn parse_loose(text: &str) -> Option<CreditorReference> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        compact.parse().ok()
    }

    /// The electronic form (`RF18539007547034`), as the QR code and the e-invoice carry it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The letters and digits after `RF` and the check digits.
    pub fn body(&self) -> &str {
        self.0.get(4..).unwrap_or_default()
    }

    /// The print form in groups of four (`RF18 5390 0754 7034`), as the PDF shows it.
    pub fn print_form(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars
            .chunks(4)
            .map(|group| group.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl FromStr for CreditorReference {
    type Err = String;

    /// Accepts only the electronic form with correct check digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let shape = bytes.len() >= 5
            && bytes.len() <= 4 + MAX_REFERENCE_BODY
            && s.starts_with("RF")
            && bytes
                .get(2..4)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && bytes.get(4..).is_some_and(|b| {
                b.iter()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            });
        if !shape {
            return Err(format!("'{s}' is not an RF creditor reference"));
        }
        let rotated = s.chars().skip(4).chain(s.chars().take(4));
        if mod97(rotated) == Some(1) {
            Ok(CreditorReference(s.to_string()))
        } else {
            Err(format!("'{s}' has wrong check digits"))
        }
    }
}

impl fmt::Display for CreditorReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// ISO 7064 mod 97-10 over letters (A = 10 … Z = 35) and digits; None for other characters.
fn mod97(chars: impl Iterator<Item = char>) -> Option<u32> {
    let mut rem: u32 = 0;
    for c in chars {
        let value = c.to_digit(36)?;
        rem = if value >= 10 {
            (rem * 100 + value) % 97
        } else {
            (rem * 10 + value) % 97
        };
    }
    Some(rem)
}

/// What a transfer must carry so it finds its invoice: the RF reference where the number
/// allows one, else the number itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remittance {
    Structured(CreditorReference),
    Number(String),
}

impl Remittance {
    pub fn for_number(number: &InvoiceNumber) -> Remittance {
        CreditorReference::for_number(number).map_or_else(
            || Remittance::Number(number.as_str().to_string()),
            Remittance::Structured,
        )
    }

    /// As printed on the PDF and in the mail.
    pub fn printed(&self) -> String {
        match self {
            Remittance::Structured(r) => r.print_form(),
            Remittance::Number(n) => n.clone(),
        }
    }

    /// As a machine reads it (BT-83, the QR code).
    pub fn electronic(&self) -> &str {
        match self {
            Remittance::Structured(r) => r.as_str(),
            Remittance::Number(n) => n,
        }
    }
}

/// What one document asks to be paid, and where to: the invoice the money goes to (a
/// reminder's payment goes to its invoice), the amount, the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub number: InvoiceNumber,
    pub amount: Amount,
    pub currency: Currency,
    pub remittance: Remittance,
}

impl PaymentRequest {
    /// The payment `invoice` asks for; None for a credit note, a document with nothing due,
    /// and a draft without a number.
    pub fn of(invoice: &Invoice) -> Option<PaymentRequest> {
        let (number, amount) = match (invoice.kind, &invoice.reminder, &invoice.preceding) {
            (DocumentKind::CreditNote, ..) => return None,
            // A letter asks for the open amount of its invoice(s); its fees are stated on it.
            (DocumentKind::Reminder, Some(facts), Some(of)) => (
                of.number.clone(),
                facts.items.iter().map(|i| i.open).sum::<Amount>(),
            ),
            _ => (invoice.number.clone(), invoice.totals.amount_due),
        };
        if !number.is_assigned() || amount.is_zero() || amount.is_negative() {
            return None;
        }
        Some(PaymentRequest {
            remittance: Remittance::for_number(&number),
            number,
            amount,
            currency: invoice.currency,
        })
    }
}

/// The largest amount an EPC QR code carries (EPC069-12: 999999999.99).
const EPC_MAX_CENTS: i64 = 99_999_999_999;
/// The largest payload an EPC QR code may hold.
pub const EPC_MAX_BYTES: usize = 331;

/// The text of the EPC QR code (GiroCode) for `request` to `account`: version 002, UTF-8,
/// SEPA credit transfer, BIC where known, the RF reference in the structured field (else the
/// number as text, never both). None when a code cannot be made: not EUR, an amount outside
/// the code's range, an invalid IBAN or no account holder.
pub fn epc_qr_payload(account: &BankAccount, request: &PaymentRequest) -> Option<String> {
    if request.currency != Currency::EUR {
        return None;
    }
    let cents = request.amount.cents();
    if !(1..=EPC_MAX_CENTS).contains(&cents) {
        return None;
    }
    let iban = electronic_iban(&account.iban)?;
    let name = one_line(&account.account_holder, 70);
    if name.is_empty() {
        return None;
    }
    let bic = account
        .bic
        .as_deref()
        .map(|b| {
            b.split_whitespace()
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .filter(|b| matches!(b.len(), 8 | 11) && b.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_default();
    let (structured, text) = match &request.remittance {
        Remittance::Structured(r) => (r.as_str().to_string(), String::new()),
        Remittance::Number(n) => (String::new(), one_line(n, 140)),
    };
    let amount = format!("EUR{}.{:02}", cents / 100, cents % 100);
    let mut lines = vec![
        "BCD",
        "002",
        "1",
        "SCT",
        &bic,
        &name,
        &iban,
        &amount,
        "",
        &structured,
        &text,
    ];
    // Trailing empty fields may be left out.
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let payload = lines.join("\n");
    (payload.len() <= EPC_MAX_BYTES).then_some(payload)
}

/// The IBAN in electronic form when it is valid (ISO 13616, checked by `iban_validate`).
pub fn electronic_iban(text: &str) -> Option<String> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    compact
        .parse::<iban::Iban>()
        .ok()
        .map(|i| iban::IbanLike::electronic_str(&i).to_string())
}

/// `text` on one line (control characters become spaces) and at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

/// A tenant's payment link: a URL template whose placeholders `{number}`, `{amount}`
/// (`119.00`), `{currency}`, `{tenant}` and `{reference}` are filled in (percent-encoded) per
/// document, e.g. a payment provider's hosted page. Checked when the tenant is loaded:
/// https (http only to localhost, for development), known placeholders only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentLink(String);

const PLACEHOLDERS: [&str; 5] = ["number", "amount", "currency", "tenant", "reference"];
/// What a placeholder's value may keep unencoded: RFC 3986's unreserved characters.
const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Links longer than this are refused (they must fit a mail line and a PDF row).
const MAX_LINK: usize = 500;

impl PaymentLink {
    /// The link for one payment request of `tenant`.
    pub fn for_request(&self, tenant: &Id, request: &PaymentRequest) -> String {
        let cents = request.amount.cents();
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        let mut out = String::with_capacity(self.0.len() + 32);
        let mut rest = self.0.as_str();
        while let Some((before, after)) = rest.split_once('{') {
            out.push_str(before);
            let Some((name, tail)) = after.split_once('}') else {
                out.push('{');
                rest = after;
                continue;
            };
            let value = match name {
                "number" => request.number.as_str(),
                "amount" => amount.as_str(),
                "currency" => request.currency.as_str(),
                "tenant" => tenant.as_str(),
                "reference" => request.remittance.electronic(),
                _ => "",
            };
            out.extend(percent_encoding::utf8_percent_encode(value, URL_COMPONENT));
            rest = tail;
        }
        out.push_str(rest);
        out
    }
}

impl TryFrom<String> for PaymentLink {
    type Error = String;

    fn try_from(template: String) -> Result<Self, Self::Error> {
        let lower = template.to_ascii_lowercase();
        // Plain http only to this machine: its authority is exactly localhost or 127.0.0.1,
        // with a port at most (`http://localhost:@evil.example` is not).
        let local = lower.strip_prefix("http://").is_some_and(|rest| {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
            matches!(host, "localhost" | "127.0.0.1")
                && port.chars().all(|c| c.is_ascii_digit())
                && port.len() <= 5
        });
        if !(lower.starts_with("https://") || local) {
            return Err("a payment link must start with https://".into());
        }
        if template.len() > MAX_LINK {
            return Err(format!("a payment link has at most {MAX_LINK} characters"));
        }
        if template
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\'))
        {
            return Err("a payment link holds no spaces, quotes or angle brackets".into());
        }
        let mut rest = template.as_str();
        while let Some((_, after)) = rest.split_once('{') {
            let Some((name, tail)) = after.split_once('}') else {
                return Err("a '{' in a payment link is not closed".into());
            };
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder '{{{name}}}' in the payment link (known: {})",
                    PLACEHOLDERS.join(", ")
                ));
            }
            rest = tail;
        }
        Ok(PaymentLink(template))
    }
}

impl From<PaymentLink> for String {
    fn from(link: PaymentLink) -> String {
        link.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(s: &str) -> InvoiceNumber {
        s.parse().unwrap()
    }

    #[test]
    fn creditor_references_follow_iso_11649() {
        // The standard's own example.
        assert!("RF18539007547034".parse::<CreditorReference>().is_ok());
        assert!("RF18539007547035".parse::<CreditorReference>().is_err());
        assert!("RF19539007547034".parse::<CreditorReference>().is_err());
        assert_eq!(
            CreditorReference::parse_loose("rf18 5390 0754 7034")
                .unwrap()
                .as_str(),
            "RF18539007547034"
        );
        let r = CreditorReference::for_number(&number("RE-2026-00001")).unwrap();
        assert_eq!(r.body(), "RE202600001");
        assert!(r.as_str().parse::<CreditorReference>().is_ok(), "{r}");
        assert_eq!(r.print_form().replace(' ', ""), r.as_str());
        // Every body gets check digits that verify, and a changed character fails them.
        for n in [
            "1",
            "A",
            "RE-2027-99999",
            "GS/2026/7",
            "X_1.2#3",
            "ZZZZZZZZZZZZZZZZZZZZZ",
        ] {
            let r = CreditorReference::for_number(&number(n)).unwrap();
            assert!(r.as_str().parse::<CreditorReference>().is_ok(), "{n}: {r}");
            let mut bad = r.as_str().to_string();
            let last = bad.pop().unwrap();
            bad.push(if last == '1' { '2' } else { '1' });
            assert!(bad.parse::<CreditorReference>().is_err(), "{bad}");
        }
        assert!(CreditorReference::for_number(&number("RE-2026-1234567890123456789")).is_none());
        assert!(CreditorReference::for_number(&number("---")).is_none());
        for bad in [
            "",
            "RF",
            "RF1",
            "RF18",
            "XX18539007547034",
            "RF18-539",
            "RF185390075470341234567890",
        ] {
            assert!(bad.parse::<CreditorReference>().is_err(), "{bad}");
        }
    }

    fn account() -> BankAccount {
        BankAccount {
            account_holder: "Yogastudio\nSonnenschein GmbH".into(),
            iban: "de02 1203 0000 0000 2020 51".into(),
            bic: Some("BYLADEM1001".into()),
            bank_name: None,
        }
    }

    fn request(n: &str, cents: i64) -> PaymentRequest {
        let number = number(n);
        PaymentRequest {
            remittance: Remittance::for_number(&number),
            number,
            amount: Amount::round(rust_decimal::Decimal::new(cents, 2)),
            currency: Currency::EUR,
        }
    }

    #[test]
    fn epc_payloads_follow_epc069_12() {
        let payload = epc_qr_payload(&account(), &request("RE-2026-00001", 11900)).unwrap();
        let r = CreditorReference::for_number(&number("RE-2026-00001")).unwrap();
        assert_eq!(
            payload,
            format!(
                "BCD\n002\n1\nSCT\nBYLADEM1001\nYogastudio Sonnenschein GmbH\nDE02120300000000202051\nEUR119.00\n\n{r}"
            )
        );
        // A number too long for a reference goes as text.
        let long = epc_qr_payload(&account(), &request("RE-2026-1234567890123456789", 5)).unwrap();
        assert!(
            long.ends_with("EUR0.05\n\n\nRE-2026-1234567890123456789"),
            "{long}"
        );
        // No code for what a code cannot carry.
        assert!(epc_qr_payload(&account(), &request("RE-1", 0)).is_none());
        assert!(epc_qr_payload(&account(), &request("RE-1", 100_000_000_000)).is_none());
        assert!(epc_qr_payload(&account(), &request("RE-1", 99_999_999_999)).is_some());
        let mut chf = request("RE-1", 100);
        chf.currency = "CHF".parse().unwrap();
        assert!(epc_qr_payload(&account(), &chf).is_none());
        let mut bad = account();
        bad.iban = "DE02 1203 0000 0000 2020 52".into();
        assert!(epc_qr_payload(&bad, &request("RE-1", 100)).is_none());
        // Without a usable BIC the field stays empty (optional in version 002).
        let mut no_bic = account();
        no_bic.bic = Some("not a bic".into());
        let p = epc_qr_payload(&no_bic, &request("RE-1", 100)).unwrap();
        assert_eq!(p.lines().nth(4), Some(""));
        // Long names are cut at 70 characters, never a line break in a field.
        let mut long_name = account();
        long_name.account_holder = "Ä".repeat(200);
        let p = epc_qr_payload(&long_name, &request("RE-1", 100)).unwrap();
        assert_eq!(p.lines().nth(5).unwrap().chars().count(), 70);
        assert_eq!(p.lines().count(), 10);
        assert!(p.len() <= EPC_MAX_BYTES);
    }

    #[test]
    fn payment_links_fill_in_encoded_values() {
        let link: PaymentLink =
            "https://pay.example/{tenant}/{number}?amount={amount}&cur={currency}&ref={reference}"
                .to_string()
                .try_into()
                .unwrap();
        let tenant: Id = "yoga-sonnenschein".parse().unwrap();
        let url = link.for_request(&tenant, &request("RE/2026#1", 11950));
        let r = CreditorReference::for_number(&number("RE/2026#1")).unwrap();
        assert_eq!(
            url,
            format!(
                "https://pay.example/yoga-sonnenschein/RE%2F2026%231?amount=119.50&cur=EUR&ref={r}"
            )
        );
        for bad in [
            "http://pay.example/{number}",
            "ftp://x/{number}",
            "https://pay.example/{nummer}",
            "https://pay.example/{number",
            "https://pay.example/ {number}",
            "https://pay.example/\"{number}",
            "javascript:alert(1)",
        ] {
            assert!(PaymentLink::try_from(bad.to_string()).is_err(), "{bad}");
        }
        assert!(PaymentLink::try_from("http://localhost:8080/pay/{number}".to_string()).is_ok());
        assert!(PaymentLink::try_from("http://localhost.evil/pay".to_string()).is_err());
        for bypass in [
            "http://localhost:@evil.example/{number}",
            "http://localhost:80@evil.example/{number}",
            "http://127.0.0.1.evil.example/{number}",
        ] {
            assert!(
                PaymentLink::try_from(bypass.to_string()).is_err(),
                "{bypass}"
            );
        }
        assert!(PaymentLink::try_from("http://127.0.0.1/pay?n={number}".to_string()).is_ok());
    }
}
