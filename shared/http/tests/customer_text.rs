//! Customer text of any kind, in every field a booking carries, through everything done with
//! text: parsing the webhook body (HTTP layer), planning, the document view, the mail (headers
//! and body), document keys and file names. Nothing may panic (outside testing found a byte
//! slice inside a multi-byte character once); input that is refused is refused with a field.

use chrono::{TimeZone, Utc};
use faktura_domain::booking::BookingEvent;
use faktura_domain::invoicing::plan_document;
use faktura_domain::mail::{Attachment, document_mail};
use faktura_domain::model::{DocumentKind, Tenant};
use faktura_domain::service::{pdf_file_name, pdf_key, xml_file_name, xml_key};
use faktura_domain::values::{Id, InvoiceNumber};
use faktura_domain::view::DocumentView;
use faktura_http::dto::booking::parse_booking_event;
use proptest::prelude::*;
use serde_json::{Value, json};

fn tenant() -> Tenant {
    serde_json::from_value(json!({
        "id": "demo",
        "seller": {
            "legal_name": "Yogastudio Sonnenschein GmbH",
            "address": { "line1": "Lindenallee 12", "line2": null, "postal_code": "10405",
                         "city": "Berlin", "country": "DE" },
            "vat_id": "DE123456789", "tax_number": "27/123/45678",
            "email": "rechnung@yoga-sonnenschein.example", "phone": "+49 30 1234567",
            "contact_name": "Anna Beispiel", "website": null, "register": null,
            "managing_directors": null,
            "bank": { "account_holder": "Yogastudio Sonnenschein GmbH",
                      "iban": "DE02 1203 0000 0000 2020 51", "bic": "BYLADEM1001", "bank_name": null }
        },
        "settings": {
            "small_business": false, "default_vat_rate": "19", "default_prices": "gross",
            "payment_terms_days": 14, "language": "de",
            "invoice_numbering": { "pattern": "RE-{yyyy}-{seq:5}", "yearly_reset": true }
        }
    }))
    .expect("tenant")
}

/// Text the way customers type it, and the way attackers do.
fn customer_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[\\u{0300}-\\u{036f}\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{3000}a-zé€ß🙂]{0,40}",
        Just("É".repeat(300)),
        Just("🧾".repeat(99)),
        Just("=?utf-8?q?=0d=0aBcc:_x@y.z?=".to_string()),
        Just("Name\r\nBcc: mallory@example.org".to_string()),
        Just("\u{feff}\u{fffe}\u{ffff}".to_string()),
        Just("a\u{0}b".to_string()),
    ]
}

fn booking(fields: &[String]) -> String {
    let f = |i: usize| Value::String(fields[i % fields.len()].clone());
    json!({ "type": "booking.created",
            "data": { "id": "bk_text", "booked_at": "2026-11-20T10:15:00Z", "currency": "EUR",
                      "customer": { "id": "cus_1", "name": f(0), "company": f(1),
                                    "email": "erika@example.org", "vat_id": f(2),
                                    "address": { "line1": f(3), "line2": f(4), "postal_code": f(5),
                                                 "city": f(6), "country": "DE" } },
                      "items": [ { "description": f(7), "quantity": "1", "unit_price": "10.00" },
                                 { "description": f(8), "quantity": "2", "unit_price": "5.00" } ],
                      "reference": f(9), "note": f(10) } })
    .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_customer_text_panics_anywhere(fields in proptest::collection::vec(customer_text(), 11)) {
        let body = booking(&fields);
        let booking = match parse_booking_event(body.as_bytes()) {
            Ok(BookingEvent::Created { booking, .. }) => booking,
            Ok(other) => {
                prop_assert!(false, "a booking.created body parsed as {}", other.type_name());
                return Ok(());
            }
            Err(e) => {
                prop_assert!(e.field.is_some(), "refused without a field: {e}");
                return Ok(());
            }
        };
        let tenant = tenant();
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        let id: Id = "inv_text".parse().unwrap();
        let planned =
            plan_document(&tenant, &booking, DocumentKind::Invoice, &id, at.date_naive(), at);
        let mut invoice = match planned {
            Ok(plan) => plan.invoice,
            Err(e) => {
                prop_assert!(e.field.is_some() || e.code.starts_with("seller"), "{e}");
                return Ok(());
            }
        };
        invoice.number = "RE-2026-00001".parse::<InvoiceNumber>().unwrap();
        let view = DocumentView::from_invoice(&invoice);
        prop_assert!(!view.to_json().is_empty());
        let pdf = Attachment::new("application/pdf", pdf_file_name(&invoice), b"%PDF-1.7".to_vec());
        let xml = Attachment::new("application/xml", xml_file_name(&invoice), b"<x/>".to_vec());
        let mail = document_mail(&invoice, &[xml, pdf], at, &[], false, 1).expect("a mail");
        // Customer text never makes a header line of its own.
        let raw = String::from_utf8_lossy(&mail.raw);
        let head = raw.split("\r\n\r\n").next().unwrap_or("");
        prop_assert!(!head.lines().any(|l| l.starts_with("Bcc:")), "{head}");
        prop_assert!(pdf_key(&invoice).starts_with("tenants/demo/invoices/inv_text/"));
        prop_assert!(xml_key(&invoice).ends_with(".xml"));
    }
}
