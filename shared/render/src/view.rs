//! The document view contract (see the crate docs), as Rust types.
//!
//! Rendering deserializes the caller's JSON into these types, which checks the
//! shape and names the offending path on error, and serializes them back: the
//! template only ever sees a complete, well-typed view (every key present,
//! nulls where allowed, unknown keys dropped).

use serde::{Deserialize, Serialize};

/// The most a QR code's text may hold here (an EPC code holds at most 331 bytes).
const MAX_QR_BYTES: usize = 1000;

/// A validated document view, ready for the template.
pub(crate) struct Normalized {
    /// The normalized JSON served to the template as `/data.json`.
    pub(crate) json: Vec<u8>,
    /// `issue_date_iso` as (year, month, day), if given.
    pub(crate) issue_date: Option<(i32, u8, u8)>,
    /// The QR code's text (`payment.qr`), if given.
    pub(crate) qr: Option<String>,
}

/// An attachment the template embeds into the PDF (set by the renderer, never
/// by callers: the key is not read from the caller's JSON).
#[derive(Debug, Serialize)]
pub(crate) struct Attachment {
    /// The file name inside the PDF, e.g. `factur-x.xml`.
    pub(crate) name: &'static str,
    /// The human-readable description PDF/A-3 requires for every embedded file.
    pub(crate) description: String,
    /// The MIME type, e.g. `text/xml`.
    pub(crate) mime_type: &'static str,
    /// The relationship to the document (PDF `/AFRelationship`), in typst's
    /// spelling: `"alternative"`, `"data"`, `"source"` or `"supplement"`.
    pub(crate) relationship: &'static str,
}

/// Validates `json` against the contract and normalizes it. `attachment` is
/// added to the normalized view as `"attachment"` (or `null`): the template
/// embeds the file the world serves at [`crate::world::XML_PATH`] only then.
pub(crate) fn normalize(json: &[u8], attachment: Option<Attachment>) -> Result<Normalized, String> {
    let deserializer = &mut serde_json::Deserializer::from_slice(json);
    let mut view: DocumentView = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })?;
    view.check()?;
    let issue_date = view
        .issue_date_iso
        .as_deref()
        .map(parse_iso_date)
        .transpose()?;
    view.attachment = attachment;
    let qr = view.payment.as_ref().and_then(|p| p.qr.clone());
    let json = serde_json::to_vec(&view).map_err(|err| err.to_string())?;
    Ok(Normalized {
        json,
        issue_date,
        qr,
    })
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_iso_date(text: &str) -> Result<(i32, u8, u8), String> {
    let invalid = || format!("issue_date_iso: {text:?} is not a date of the form YYYY-MM-DD");
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return Err(invalid());
    }
    let year = y.parse::<i32>().map_err(|_| invalid())?;
    let month = m.parse::<u8>().map_err(|_| invalid())?;
    let day = d.parse::<u8>().map_err(|_| invalid())?;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err(invalid()),
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(invalid());
    }
    Ok((year, month, day))
}

// `Option<T>` fields must be present in the JSON (nullable), because serde's
// default for a missing `Option` is `None`; `deserialize_with` makes a missing
// key an error while still accepting `null`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// A reminder letter (dunning): what it says beyond the document's lines.
#[derive(Debug, Deserialize, Serialize)]
struct Letter {
    labels: LetterLabels,
    salutation: String,
    intro: String,
    closing: String,
    items: Vec<OpenItem>,
    open_total: String,
    #[serde(deserialize_with = "nullable")]
    charges: Option<String>,
    total: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct LetterLabels {
    item_invoice: String,
    item_date: String,
    item_due: String,
    item_amount: String,
    item_settled: String,
    item_open: String,
    charges: String,
    open_total: String,
}

/// An open invoice as a reminder lists it.
#[derive(Debug, Deserialize, Serialize)]
struct OpenItem {
    number: String,
    issue_date: String,
    due_date: String,
    payable: String,
    settled: String,
    open: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct DocumentView {
    lang: String,
    kind: String,
    labels: Labels,
    number: String,
    issue_date: String,
    /// Optional: the issue date as `YYYY-MM-DD`, used as the PDF's creation
    /// date in its metadata (PDF/A requires one).
    #[serde(default)]
    issue_date_iso: Option<String>,
    #[serde(deserialize_with = "nullable")]
    due_date: Option<String>,
    #[serde(deserialize_with = "nullable")]
    service_period: Option<String>,
    #[serde(deserialize_with = "nullable")]
    customer_number: Option<String>,
    #[serde(deserialize_with = "nullable")]
    buyer_reference: Option<String>,
    seller: Seller,
    buyer: Buyer,
    lines: Vec<Line>,
    vat_breakdown: Vec<VatBreakdown>,
    totals: Totals,
    notes: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    payment: Option<Payment>,
    /// Optional: a reminder letter's text, open items and sums.
    #[serde(default)]
    letter: Option<Letter>,
    /// Set by the renderer only: a caller's `"attachment"` key is ignored like
    /// any unknown key, so a plain render never tries to embed a file.
    #[serde(skip_deserializing)]
    attachment: Option<Attachment>,
}

impl DocumentView {
    fn check(&self) -> Result<(), String> {
        // typst rejects anything but an ISO 639 code here; say so up front.
        let lang_ok = (2..=3).contains(&self.lang.len())
            && self.lang.bytes().all(|b| b.is_ascii_alphabetic());
        if !lang_ok {
            return Err(format!(
                "lang: {:?} is not an ISO 639 language code",
                self.lang
            ));
        }
        if self.number.trim().is_empty() {
            return Err("number: must not be empty".into());
        }
        if let Some(payment) = &self.payment {
            if let Some(link) = &payment.link {
                let lower = link.to_ascii_lowercase();
                if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                    return Err("payment.link: must be an http or https URL".into());
                }
            }
            if payment
                .qr
                .as_ref()
                .is_some_and(|q| q.is_empty() || q.len() > MAX_QR_BYTES)
            {
                return Err(format!("payment.qr: must hold 1 to {MAX_QR_BYTES} bytes"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, Serialize)]
struct Labels {
    title: String,
    number: String,
    issue_date: String,
    due_date: String,
    service_date: String,
    customer_number: String,
    buyer_reference: String,
    position: String,
    description: String,
    quantity: String,
    unit_price: String,
    vat_rate: String,
    net_amount: String,
    net_total: String,
    vat_total: String,
    gross_total: String,
    amount_due: String,
    vat_breakdown: String,
    vat_base: String,
    vat_amount: String,
    payment: String,
    bank: String,
    account_holder: String,
    iban: String,
    bic: String,
    payment_reference: String,
    vat_id: String,
    tax_number: String,
    page: String,
    of: String,
    buyer_vat_id: String,
    continued: String,
    notes: String,
    contact: String,
    /// Optional: the caption for `totals.prepaid`.
    #[serde(default)]
    prepaid: Option<String>,
    /// Optional: the caption for `totals.rounding`.
    #[serde(default)]
    rounding: Option<String>,
    /// Optional: the caption for `payment.link`.
    #[serde(default)]
    pay_online: Option<String>,
    /// Optional: the caption under the QR code.
    #[serde(default)]
    qr_caption: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
struct Seller {
    name: String,
    address_lines: Vec<String>,
    sender_line: String,
    #[serde(deserialize_with = "nullable")]
    email: Option<String>,
    #[serde(deserialize_with = "nullable")]
    phone: Option<String>,
    #[serde(deserialize_with = "nullable")]
    website: Option<String>,
    #[serde(deserialize_with = "nullable")]
    vat_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    tax_number: Option<String>,
    #[serde(deserialize_with = "nullable")]
    register: Option<String>,
    #[serde(deserialize_with = "nullable")]
    managing_directors: Option<String>,
    #[serde(deserialize_with = "nullable")]
    bank: Option<Bank>,
}

#[derive(Debug, Deserialize, Serialize)]
struct Bank {
    account_holder: String,
    iban: String,
    #[serde(default)]
    bic: Option<String>,
    #[serde(default)]
    bank_name: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
struct Buyer {
    address_lines: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    vat_id: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
struct Line {
    position: String,
    description: String,
    #[serde(deserialize_with = "nullable")]
    service_date: Option<String>,
    quantity: String,
    unit: String,
    unit_price: String,
    vat_rate: String,
    net_amount: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct VatBreakdown {
    label: String,
    base: String,
    vat: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct Totals {
    net: String,
    vat: String,
    gross: String,
    #[serde(deserialize_with = "nullable")]
    prepaid: Option<String>,
    /// Optional: the rounding amount (EN 16931 BT-114), when not zero.
    #[serde(default)]
    rounding: Option<String>,
    amount_due: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct Payment {
    terms: String,
    #[serde(default)]
    reference: Option<String>,
    /// Optional: the EPC QR code's text; the renderer draws the code (see `crate::qr`).
    #[serde(default)]
    qr: Option<String>,
    /// Optional: a payment link (http or https), printed and linked.
    #[serde(default)]
    link: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(parse_iso_date("2026-11-20"), Ok((2026, 11, 20)));
        assert_eq!(parse_iso_date("2024-02-29"), Ok((2024, 2, 29)));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "26-11-20",
            "2026/11/20",
            "+026-11-20",
            "",
        ] {
            assert!(parse_iso_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_nullable_key_is_an_error() {
        let err = serde_json::from_str::<Buyer>(r#"{"address_lines": []}"#).unwrap_err();
        assert!(err.to_string().contains("vat_id"), "{err}");
        let ok = serde_json::from_str::<Buyer>(r#"{"address_lines": [], "vat_id": null}"#);
        assert!(ok.unwrap().vat_id.is_none());
    }
}
