//! Paying is one scan or one click, checked the way the customer meets it: the EPC QR code
//! read from the rendered PDF page by zxing-cpp (every field, the IBAN and BIC by schwifty,
//! the RF reference's check digits by an independent computation), the reference in the
//! e-invoice (BT-83), the payment link and the mail's HTML part; and a reminder's code for
//! the open amount of its invoice.

use faktura_domain::payment_codes::CreditorReference;
use faktura_tests::local::{DEMO, DEMO_KEY, DEMO_SECRET, TestApp};
use faktura_tests::pdf;
use serde_json::{Value, json};

fn booking(id: &str, customer: &str, price: &str) -> String {
    json!({ "type": "booking.created", "data": {
        "id": id, "booked_at": "2026-12-01T07:00:00Z", "currency": "EUR", "prices": "gross",
        "customer": { "id": customer, "name": "Erika <b>Mustermann</b>",
                      "email": format!("{customer}@example.org"), "language": "de",
                      "address": { "line1": "Hauptstr. 5", "postal_code": "10115",
                                   "city": "Berlin", "country": "DE" } },
        "items": [{ "description": "Yoga-Kurs Winter", "quantity": "1",
                    "unit_price": price, "vat_rate": "19" }] } })
    .to_string()
}

async fn bytes(t: &TestApp, path: &str) -> Vec<u8> {
    let (status, _, body) = t.get(path, Some(DEMO_KEY)).await;
    assert_eq!(status, 200, "GET {path}");
    body
}

/// The one EPC code on the first page of the document's PDF.
async fn epc_of(t: &TestApp, id: &str) -> Value {
    let codes = pdf::payment_codes(&bytes(t, &format!("/v1/invoices/{id}/pdf")).await);
    let codes = codes.as_array().expect("a list");
    assert_eq!(codes.len(), 1, "one QR code: {codes:?}");
    assert_eq!(codes[0]["page"], 1);
    assert_eq!(codes[0]["ec_level"], "M", "error correction M (EPC069-12)");
    codes[0]["epc"].clone()
}

fn rf(number: &str) -> String {
    CreditorReference::for_number(&number.parse().unwrap())
        .unwrap()
        .as_str()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invoice_is_paid_by_scanning_or_clicking_and_a_reminder_asks_for_the_open_amount() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_qr", "cus_qr", "119.00"))
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    let id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = t.get_ok(&format!("/v1/invoices/{id}")).await;
    let number = invoice["number"].as_str().unwrap().to_string();
    let reference = rf(&number);

    // The API says how to pay.
    let pay = &invoice["pay"];
    assert_eq!(pay["amount"], "119.00");
    assert_eq!(pay["number"], number.as_str());
    assert_eq!(pay["reference"], reference.as_str());
    let link =
        format!("https://pay.example.com/yoga/{number}?amount=119.00&currency=EUR&ref={reference}");
    assert_eq!(pay["link"], link.as_str());

    // The code on the page, read as a banking app reads it.
    let epc = epc_of(&t, &id).await;
    for (field, want) in [
        ("service_tag", "BCD"),
        ("version", "002"),
        ("charset", "1"),
        ("identification", "SCT"),
        ("bic", "BYLADEM1001"),
        ("name", "Yogastudio Sonnenschein GmbH"),
        ("iban", "DE02120300000000202051"),
        ("amount", "EUR119.00"),
        ("purpose", ""),
        ("reference", reference.as_str()),
        ("text", ""),
    ] {
        assert_eq!(epc[field], want, "{field}: {epc}");
    }
    assert_eq!(epc["iban_valid"], true, "schwifty: {epc}");
    assert_eq!(epc["bic_valid"], true, "schwifty: {epc}");
    assert_eq!(epc["rf_valid"], true, "ISO 11649 check digits: {epc}");
    assert_eq!(epc["extra_lines"], 0);
    assert!(epc["bytes"].as_u64().unwrap() <= 331);
    assert_eq!(pay["epc_qr"].as_str().map(|q| q.replace('\n', "|")), {
        let lines = [
            "BCD",
            "002",
            "1",
            "SCT",
            "BYLADEM1001",
            "Yogastudio Sonnenschein GmbH",
            "DE02120300000000202051",
            "EUR119.00",
            "",
            reference.as_str(),
        ];
        Some(lines.join("|"))
    });

    // The PDF prints the reference in groups and the link in full.
    let text = pdf::flat_text(&bytes(&t, &format!("/v1/invoices/{id}/pdf")).await);
    let printed = CreditorReference::for_number(&number.parse().unwrap())
        .unwrap()
        .print_form();
    assert!(
        text.contains(&format!("Verwendungszweck {printed}")),
        "{text}"
    );
    assert!(text.contains("Online bezahlen"), "{text}");
    assert!(text.contains("Mit der Banking-App scannen"), "{text}");

    // The e-invoice carries the same reference (BT-83).
    let xml = String::from_utf8(bytes(&t, &format!("/v1/invoices/{id}/xml")).await).unwrap();
    assert!(
        xml.contains(&format!(
            "<ram:PaymentReference>{reference}</ram:PaymentReference>"
        )),
        "{xml}"
    );

    // The mail: the same payment details in the text and the HTML part, the link clickable,
    // the customer's name escaped, nothing fetched from elsewhere.
    let mails = t.mails_to("cus_qr@example.org");
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    for part in [&mail.text, &mail.html] {
        for want in [
            "DE02 1203 0000 0000 2020 51",
            "119,00 €",
            "Jetzt online bezahlen",
        ] {
            assert!(part.contains(want), "{want} in {part}");
        }
    }
    assert!(
        mail.text.contains(&format!("Verwendungszweck: {printed}")),
        "{}",
        mail.text
    );
    assert!(mail.text.contains(&link), "{}", mail.text);
    assert!(
        mail.html
            .contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))),
        "{}",
        mail.html
    );
    assert!(mail.html.contains("<html lang=\"de\">"), "{}", mail.html);
    assert!(
        mail.html.contains("Erika &lt;b&gt;Mustermann&lt;/b&gt;"),
        "{}",
        mail.html
    );
    for remote in ["<img", "src=", "url(", "<link", "<script"] {
        assert!(!mail.html.contains(remote), "{remote} in {}", mail.html);
    }

    // A part is paid; 7 days after the due date the reminder's code asks for what is open,
    // with the invoice's reference (the payment goes to the invoice).
    let (paid, _) = t
        .api(
            reqwest::Method::POST,
            &format!("/v1/invoices/{id}/payments"),
            Some(DEMO_KEY),
            Some("pay-part-qr"),
            Some(
                &json!({ "amount": "19.00", "currency": "EUR", "reference": "pay-part-qr" })
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(paid.status, 201, "{}", paid.json);
    let due: chrono::NaiveDate = invoice["due_date"].as_str().unwrap().parse().unwrap();
    t.move_clock(json!({ "to": format!("{}T08:00:00+01:00", due + chrono::Days::new(7)) }))
        .await;
    let invoice = t.get_ok(&format!("/v1/invoices/{id}")).await;
    let reminder_id = invoice["dunning"]["reminders"][0]["document_id"]
        .as_str()
        .expect("a reminder")
        .to_string();
    let reminder = t.get_ok(&format!("/v1/invoices/{reminder_id}")).await;
    assert_eq!(reminder["pay"]["amount"], "100.00");
    assert_eq!(reminder["pay"]["number"], number.as_str());
    assert_eq!(reminder["pay"]["reference"], reference.as_str());
    let epc = epc_of(&t, &reminder_id).await;
    assert_eq!(epc["amount"], "EUR100.00", "{epc}");
    assert_eq!(epc["reference"], reference.as_str(), "{epc}");
    assert_eq!(epc["iban_valid"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_code_where_nothing_is_to_be_paid_or_nothing_can_be_paid_by_code() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    // A cancelled invoice's credit note asks for no payment: no code, no link.
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_noqr", "cus_noqr", "50.00"))
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    let id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let (cancel, _) = t
        .api(
            reqwest::Method::POST,
            &format!("/v1/invoices/{id}/cancel"),
            Some(DEMO_KEY),
            Some("cancel-noqr"),
            Some(&json!({ "reason": "Kurs abgesagt" }).to_string()),
        )
        .await;
    assert_eq!(cancel.status, 201, "{}", cancel.json);
    let credit_id = cancel.json["id"]
        .as_str()
        .expect("the credit note")
        .to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let credit = t.get_ok(&format!("/v1/invoices/{credit_id}")).await;
    assert!(credit["pay"].is_null(), "{}", credit["pay"]);
    let codes = pdf::payment_codes(&bytes(&t, &format!("/v1/invoices/{credit_id}/pdf")).await);
    assert_eq!(codes, json!([]), "no code on a credit note");
}
