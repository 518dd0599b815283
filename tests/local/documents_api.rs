//! The life of documents through the local server, as a booking platform and an API user see
//! it: booking events beyond `booking.created` (paid, cancelled, updated; early and duplicate
//! deliveries), payments and customer balances, and the write API with idempotency keys.

use std::time::{Duration, Instant};

use faktura_tests::local::{DEMO, DEMO_KEY, DEMO_SECRET, TestApp, load_tenants, sample_with};
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);

fn life_event(name: &str) -> String {
    let path = faktura_local::demo::default_events_dir()
        .join("life/demo")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn paid(booking: &str, amount: &str, currency: &str, reference: &str) -> String {
    json!({ "type": "booking.paid", "data": {
        "id": booking, "paid_at": "2026-11-24T14:05:00Z", "amount": amount,
        "currency": currency, "method": "bank_transfer", "reference": reference } })
    .to_string()
}

fn cancelled(booking: &str) -> String {
    json!({ "type": "booking.cancelled", "data": {
        "id": booking, "cancelled_at": "2026-11-27T09:00:00Z", "reason": "Termin entfällt" } })
    .to_string()
}

/// `booking.updated` with the sample's content and another price.
fn updated(booking: &str, price: &str) -> String {
    sample_with(booking, &[("\"119.00\"", &format!("\"{price}\""))]).replacen(
        "booking.created",
        "booking.updated",
        1,
    )
}

async fn signed(t: &TestApp, body: &str) -> Value {
    let a = t.post_signed(DEMO, DEMO_SECRET, body).await;
    assert_eq!(a.status, 202, "{}", a.json);
    a.json
}

async fn get(t: &TestApp, path: &str) -> Value {
    let a = t.get_json(path, Some(DEMO_KEY)).await;
    assert_eq!(a.status, 200, "GET {path}: {}", a.json);
    a.json
}

/// Polls `path` until `done` holds for its JSON; panics with the last answer after [`WAIT`].
async fn wait_for(t: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let a = t.get_json(path, Some(DEMO_KEY)).await;
        if a.status == 200 && done(&a.json) {
            return a.json;
        }
        assert!(
            started.elapsed() < WAIT,
            "{path} did not get there within {WAIT:?}: {}",
            a.json
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until every event of the booking is applied or rejected (or held, while the booking
/// is not created).
async fn settled_booking(t: &TestApp, booking: &str) -> Value {
    wait_for(t, &format!("/v1/bookings/{booking}"), |b| {
        let waiting = if b["created"] == true {
            &["pending", "held"][..]
        } else {
            &["pending"][..]
        };
        b["events"]
            .as_array()
            .is_some_and(|es| es.iter().all(|e| !waiting.iter().any(|w| e["state"] == *w)))
    })
    .await
}

/// Sends an API request with the demo key; returns status, body and whether it was a replay.
async fn call(
    t: &TestApp,
    method: Method,
    path: &str,
    idempotency_key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, bool) {
    let body = body.map(|b| b.to_string());
    let (a, headers) = t
        .api(
            method,
            path,
            Some(DEMO_KEY),
            idempotency_key,
            body.as_deref(),
        )
        .await;
    let replayed = headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (a.status, a.json, replayed)
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// The mails in the outbox: (recipients, PDF attachment names).
fn mails(t: &TestApp) -> Vec<(Vec<String>, Vec<String>)> {
    t.outbox()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let raw = std::fs::read(p).unwrap();
            let msg = MessageParser::default().parse(&raw).expect("a mail");
            let to = msg
                .to()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.address().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let pdfs = msg
                .attachments()
                .filter(|a| a.content_type().is_some_and(|c| c.subtype() == Some("pdf")))
                .map(|a| a.attachment_name().unwrap_or("").to_string())
                .collect();
            (to, pdfs)
        })
        .collect()
}

fn mails_with(t: &TestApp, number: &str) -> Vec<(Vec<String>, Vec<String>)> {
    mails(t)
        .into_iter()
        .filter(|(_, pdfs)| pdfs.iter().any(|n| n.contains(number)))
        .collect()
}

fn customer(id: &str, email: &str) -> Value {
    json!({ "id": id, "name": "Jonas Weber", "email": email, "language": "de",
            "address": { "line1": "Lindenweg 2", "postal_code": "04109", "city": "Leipzig",
                         "country": "DE" } })
}

fn invoice_request(customer_id: &str, price: &str, draft: bool) -> Value {
    json!({ "currency": "EUR", "prices": "gross", "draft": draft,
            "customer": customer(customer_id, "jonas@example.org"),
            "items": [ { "description": "Coaching, 3 sessions", "quantity": "3",
                         "unit_price": price, "vat_rate": "19" } ] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_proforma_becomes_the_final_invoice_mailed_with_the_contract() {
    let t = TestApp::start().await;
    let created = signed(&t, &life_event("01-proforma-course.json")).await;
    assert_eq!(created["document_kind"], "proforma", "{created}");
    let proforma_id = created["document_id"].as_str().unwrap().to_string();
    let proforma = t.wait_sent(DEMO, &proforma_id, WAIT).await;
    assert_eq!(proforma["type_code"], "325");
    assert!(
        proforma["xml"].is_null(),
        "a proforma has no e-invoice: {proforma}"
    );
    let proforma_number = proforma["number"].as_str().unwrap().to_string();
    assert!(
        !proforma_number.starts_with("RE-"),
        "own series: {proforma_number}"
    );
    assert_eq!(mails_with(&t, &proforma_number).len(), 1);

    let payment = life_event("02-proforma-paid.json");
    let answer = signed(&t, &payment).await;
    assert_eq!(answer["document_kind"], "invoice", "{answer}");
    let invoice_id = answer["document_id"].as_str().unwrap().to_string();
    let invoice = t.wait_sent(DEMO, &invoice_id, WAIT).await;
    assert_eq!(invoice["preceding"]["number"], proforma_number.as_str());
    assert_eq!(invoice["payment"]["state"], "paid", "{invoice}");
    assert_eq!(invoice["totals"]["amount_due"], "0.00");
    let number = invoice["number"].as_str().unwrap().to_string();

    // One mail with the invoice and the contract.
    let sent = mails_with(&t, &number);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, vec!["lena.vogel@example.org".to_string()]);
    assert_eq!(sent[0].1.len(), 2, "invoice and contract: {:?}", sent[0].1);
    let contract_path = invoice["contract"]
        .as_str()
        .expect("a contract link")
        .to_string();
    let (status, headers, pdf) = t.get(&contract_path, Some(DEMO_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pdf");
    let text = faktura_tests::pdf::flat_text(&pdf);
    for want in ["Lena Vogel", "Ausbildung Yogalehrerin", &number] {
        assert!(text.contains(want), "the contract names {want}:\n{text}");
    }

    // The trail names the webhook delivery that caused the invoice.
    let trail = get(&t, &format!("/v1/invoices/{invoice_id}/events")).await;
    let cause = &trail["events"][0]["cause"];
    assert_eq!(cause["by"], "webhook", "{trail}");
    assert_eq!(cause["event"], "booking.paid", "{trail}");
    let delivery = cause["delivery_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let booking = get(&t, "/v1/bookings/bk_3001").await;
    assert_eq!(
        booking["events"][1]["delivery_id"],
        delivery.as_str(),
        "{booking}"
    );

    // The proforma is converted; the booking shows both.
    let proforma = get(&t, &format!("/v1/invoices/{proforma_id}")).await;
    assert_eq!(proforma["lifecycle"], "converted", "{proforma}");
    let booking = settled_booking(&t, "bk_3001").await;
    assert_eq!(booking["proforma"], proforma_id.as_str(), "{booking}");
    assert_eq!(booking["invoice"], invoice_id.as_str(), "{booking}");

    // The platform reports the same payment again (a new delivery of the same fact): it is
    // the same payment, no second invoice, no second mail.
    let again = signed(&t, &payment).await;
    assert_eq!(again["document_id"], invoice_id.as_str(), "{again}");
    let booking = settled_booking(&t, "bk_3001").await;
    assert_eq!(
        booking["invoices"].as_array().unwrap().len(),
        1,
        "{booking}"
    );
    let account = get(&t, "/v1/customers/ext:cus_51").await;
    let payments = account["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "payment")
        .count();
    assert_eq!(payments, 1, "{account}");
    assert_eq!(account["balance"], "0.00", "{account}");
    assert_eq!(mails_with(&t, &number).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_before_its_booking_is_held_and_applied_after_it() {
    let t = TestApp::start().await;
    // The payment overtakes booking.created: held, nothing else made.
    let early = signed(&t, &paid("bk_4001", "119.00", "EUR", "SEPA-1")).await;
    assert_eq!(early["status"], "held", "{early}");
    assert!(early["document_id"].is_null(), "{early}");
    let booking = get(&t, "/v1/bookings/bk_4001").await;
    assert_eq!(booking["created"], false, "{booking}");
    assert_eq!(booking["events"][0]["state"], "held", "{booking}");
    // A second early payment in another currency: held too (there is nothing to check it
    // against yet).
    let wrong = signed(&t, &paid("bk_4001", "20.00", "USD", "SEPA-2")).await;
    assert_eq!(wrong["status"], "held", "{wrong}");

    let created = signed(&t, &sample_with("bk_4001", &[])).await;
    let invoice_id = created["invoice_id"].as_str().unwrap().to_string();
    let booking = settled_booking(&t, "bk_4001").await;
    let states: Vec<&str> = booking["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["applied", "rejected", "applied"], "{booking}");
    let rejected = &booking["events"][1];
    assert!(
        rejected["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("currency_mismatch")),
        "{booking}"
    );
    let invoice = t.wait_sent(DEMO, &invoice_id, WAIT).await;
    assert_eq!(invoice["payment"]["state"], "paid", "{invoice}");
    assert_eq!(invoice["payment"]["paid"], "119.00", "{invoice}");

    // Once the booking exists, a payment in another currency is refused at once.
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &paid("bk_4001", "5.00", "USD", "SEPA-3"))
        .await;
    assert_error(a.status, &a.json, 422, "currency_mismatch");
    assert_eq!(a.json["error"]["field"], "data.currency");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_updated_booking_is_credited_and_invoiced_anew() {
    let t = TestApp::start().await;
    let created = signed(&t, &sample_with("bk_5001", &[])).await;
    let first_id = created["invoice_id"].as_str().unwrap().to_string();
    let first = t.wait_sent(DEMO, &first_id, WAIT).await;

    // booking.created with other content stays a conflict.
    let a = t
        .post_signed(
            DEMO,
            DEMO_SECRET,
            &sample_with("bk_5001", &[("\"119.00\"", "\"129.00\"")]),
        )
        .await;
    assert_error(a.status, &a.json, 409, "booking_conflict");

    // An update with the content the booking has: unchanged, nothing made.
    let same = signed(&t, &updated("bk_5001", "119.00")).await;
    assert_eq!(same["status"], "unchanged", "{same}");
    assert!(same["document_id"].is_null(), "{same}");

    let update = updated("bk_5001", "149.00");
    let answer = signed(&t, &update).await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let booking = settled_booking(&t, "bk_5001").await;
    assert_eq!(booking["events"][1]["state"], "applied", "{booking}");
    let invoices = booking["invoices"].as_array().unwrap();
    let credit_notes = booking["credit_notes"].as_array().unwrap();
    assert_eq!((invoices.len(), credit_notes.len()), (2, 1), "{booking}");
    let second_id = booking["invoice"].as_str().unwrap().to_string();
    assert_ne!(second_id, first_id);

    let credit = t
        .wait_sent(DEMO, credit_notes[0].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(credit["preceding"]["id"], first_id.as_str(), "{credit}");
    assert_eq!(
        credit["totals"]["gross"], first["totals"]["gross"],
        "{credit}"
    );
    let second = t.wait_sent(DEMO, &second_id, WAIT).await;
    assert_eq!(second["totals"]["gross"], "149.00", "{second}");
    let old = get(&t, &format!("/v1/invoices/{first_id}")).await;
    assert_eq!(old["lifecycle"], "cancelled", "{old}");
    let links = |doc: &Value| -> Vec<(String, String)> {
        doc["related"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap().to_string(),
                    r["document_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(
        links(&old).contains(&("replaced_by".into(), second_id.clone())),
        "{old}"
    );
    assert!(
        links(&second).contains(&("replaces".into(), first_id.clone())),
        "{second}"
    );
    // The issued invoice kept its content.
    assert_eq!(old["totals"], first["totals"]);
    assert_eq!(old["number"], first["number"]);

    // The same update again (a new delivery of the same fact): the first answer, nothing new.
    let again = signed(&t, &update).await;
    assert_eq!(again, answer);
    let booking = settled_booking(&t, "bk_5001").await;
    assert_eq!(
        booking["invoices"].as_array().unwrap().len(),
        2,
        "{booking}"
    );

    // After a cancellation there is nothing to update.
    signed(&t, &cancelled("bk_5001")).await;
    settled_booking(&t, "bk_5001").await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &updated("bk_5001", "99.00"))
        .await;
    assert_error(a.status, &a.json, 422, "document_cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_paid_invoice_leaves_a_balance_owed_to_the_customer() {
    let t = TestApp::start().await;
    let created = signed(&t, &sample_with("bk_6001", &[])).await;
    let invoice_id = created["invoice_id"].as_str().unwrap().to_string();
    t.wait_sent(DEMO, &invoice_id, WAIT).await;
    signed(&t, &paid("bk_6001", "119.00", "EUR", "SEPA-61")).await;
    settled_booking(&t, "bk_6001").await;
    let cancel = signed(&t, &cancelled("bk_6001")).await;
    assert_eq!(cancel["document_kind"], "credit_note", "{cancel}");
    let credit = t
        .wait_sent(DEMO, cancel["document_id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(credit["type_code"], "381");
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(invoice["lifecycle"], "cancelled", "{invoice}");
    assert_eq!(invoice["payment"]["open"], "-119.00", "{invoice}");

    let account = get(&t, "/v1/customers/ext:cus_42").await;
    assert_eq!(
        account["balance"], "-119.00",
        "owed to the customer: {account}"
    );
    let sum: rust_decimal::Decimal = account["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["signed_amount"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(sum.to_string(), "-119.00", "balance = sum of the ledger");

    // A payment on the cancelled invoice is refused, by the webhook and by the API.
    let a = t
        .post_signed(
            DEMO,
            DEMO_SECRET,
            &paid("bk_6001", "10.00", "EUR", "SEPA-62"),
        )
        .await;
    assert_error(a.status, &a.json, 422, "document_cancelled");
    let (status, body, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{invoice_id}/payments"),
        None,
        Some(json!({ "amount": "10.00", "currency": "EUR" })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // The money can go back: a refund of the credit.
    let (status, body, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{invoice_id}/refunds"),
        Some("refund-61"),
        Some(json!({ "amount": "119.00", "reference": "refund SEPA-61" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let account = get(&t, "/v1/customers/ext:cus_42").await;
    assert_eq!(account["balance"], "0.00", "{account}");
    let (status, body, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{invoice_id}/refunds"),
        Some("refund-62"),
        Some(json!({ "amount": "0.01" })),
    )
    .await;
    assert_error(status, &body, 422, "refund_exceeds_credit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_are_changed_then_issued_and_writes_replay_by_idempotency_key() {
    let t = TestApp::start().await;
    let (status, draft, _) = call(
        &t,
        Method::POST,
        "/v1/invoices",
        Some("draft-1"),
        Some(invoice_request("cus_api_1", "80.00", true)),
    )
    .await;
    assert_eq!(status, 201, "{draft}");
    assert!(draft["number"].is_null(), "a draft has no number: {draft}");
    assert_eq!(draft["lifecycle"], "draft");
    let id = draft["id"].as_str().unwrap().to_string();
    // Bad input names its field as the request spells it, and stores nothing.
    let mut bad = invoice_request("cus_api_1", "80.00", false);
    bad["customer"]["address"]["line1"] = json!("   ");
    let (status, body, _) = call(&t, Method::POST, "/v1/invoices", Some("bad-1"), Some(bad)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "customer.address.line1", "{body}");
    let mut bad = invoice_request("cus_api_1", "80.00", false);
    bad["items"][0]["unit_price"] = json!("19.990000000000000000000000000001");
    let (status, body, _) = call(&t, Method::POST, "/v1/invoices", Some("bad-2"), Some(bad)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "items[0].unit_price", "{body}");
    let all = get(&t, "/v1/invoices").await;
    assert_eq!(
        all["invoices"].as_array().unwrap().len(),
        1,
        "only the draft: {all}"
    );

    // Drafts are not mailed and have no e-invoice.
    let (status, _, _) = t
        .get(&format!("/v1/invoices/{id}/xml"), Some(DEMO_KEY))
        .await;
    assert_eq!(status, 404);

    // The same key and body: the first answer again, marked as a replay.
    let (status, replay, replayed) = call(
        &t,
        Method::POST,
        "/v1/invoices",
        Some("draft-1"),
        Some(invoice_request("cus_api_1", "80.00", true)),
    )
    .await;
    assert_eq!((status, replayed), (201, true), "{replay}");
    assert_eq!(replay["id"], draft["id"]);
    // The same key with another body: 409.
    let (status, body, _) = call(
        &t,
        Method::POST,
        "/v1/invoices",
        Some("draft-1"),
        Some(invoice_request("cus_api_1", "90.00", true)),
    )
    .await;
    assert_error(status, &body, 409, "idempotency_key_reused");

    let (status, changed, _) = call(
        &t,
        Method::PATCH,
        &format!("/v1/invoices/{id}"),
        Some("draft-1-change"),
        Some(invoice_request("cus_api_1", "100.00", false)),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["totals"]["gross"], "300.00", "{changed}");
    assert!(changed["number"].is_null());

    let (status, issued, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{id}/issue"),
        Some("draft-1-issue"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    let number = issued["number"].as_str().expect("a number").to_string();
    let sent = t.wait_sent(DEMO, &id, WAIT).await;
    assert_eq!(sent["totals"]["gross"], "300.00");
    assert_eq!(mails_with(&t, &number).len(), 1);

    // Issued content never changes; issuing twice is refused.
    let (status, body, _) = call(
        &t,
        Method::PATCH,
        &format!("/v1/invoices/{id}"),
        Some("draft-1-late-change"),
        Some(invoice_request("cus_api_1", "1.00", false)),
    )
    .await;
    assert!(matches!(status, 409 | 422), "{status} {body}");
    assert_eq!(body["error"]["code"], "document_issued", "{body}");
    let (status, body, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{id}/issue"),
        Some("draft-1-issue-again"),
        None,
    )
    .await;
    assert!(matches!(status, 409 | 422), "{status} {body}");
    let after = get(&t, &format!("/v1/invoices/{id}")).await;
    assert_eq!(after["totals"], sent["totals"]);
    assert_eq!(after["number"], sent["number"]);

    // An invoice issued at once takes the next number of the same series.
    let (status, next, _) = call(
        &t,
        Method::POST,
        "/v1/invoices",
        Some("invoice-2"),
        Some(invoice_request("cus_api_1", "10.00", false)),
    )
    .await;
    assert_eq!(status, 201, "{next}");
    let seq = |n: &str| n.rsplit('-').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(seq(next["number"].as_str().unwrap()), seq(&number) + 1);

    // The trail names the API key by its id, never the key.
    let trail = get(&t, &format!("/v1/invoices/{id}/events")).await;
    let events: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.len() >= 3, "{trail}");
    let first = &trail["events"][0];
    assert_eq!(first["cause"]["by"], "api_key", "{trail}");
    assert!(
        first["cause"]["key_id"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    assert!(!trail.to_string().contains(DEMO_KEY), "the key never shows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_credit_notes_and_resends_through_the_api() {
    let t = TestApp::start().await;
    let (status, invoice, _) = call(
        &t,
        Method::POST,
        "/v1/invoices",
        Some("pay-1"),
        Some(invoice_request("cus_api_2", "100.00", false)),
    )
    .await;
    assert_eq!(status, 201, "{invoice}");
    let id = invoice["id"].as_str().unwrap().to_string();
    t.wait_sent(DEMO, &id, WAIT).await;
    let pay = |key: &'static str, amount: &'static str, currency: &'static str| {
        let path = format!("/v1/invoices/{id}/payments");
        let t = &t;
        async move {
            call(
                t,
                Method::POST,
                &path,
                Some(key),
                Some(json!({ "amount": amount, "currency": currency, "reference": key })),
            )
            .await
        }
    };

    let (status, doc, _) = pay("p-1", "100.00", "EUR").await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["payment"]["state"], "partially_paid");
    assert_eq!(doc["payment"]["open"], "200.00");
    let (status, body, _) = pay("p-2", "50.00", "CHF").await;
    assert_error(status, &body, 422, "currency_mismatch");
    let (status, body, _) = pay("p-3", "10.001", "EUR").await;
    assert_eq!(status, 422, "not representable in cents: {body}");
    assert_eq!(body["error"]["field"], "amount", "{body}");
    let (status, doc, replayed) = pay("p-1", "100.00", "EUR").await;
    assert_eq!((status, replayed), (201, true), "{doc}");
    let (status, doc, _) = pay("p-4", "250.00", "EUR").await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["payment"]["state"], "overpaid", "{doc}");
    assert_eq!(doc["payment"]["open"], "-50.00");
    let account = get(&t, "/v1/customers/ext:cus_api_2").await;
    assert_eq!(
        account["balance"], "-50.00",
        "the surplus is the customer's: {account}"
    );

    // A credit note for one of the three sessions; more than was invoiced is refused.
    let credit_path = format!("/v1/invoices/{id}/credit-notes");
    let (status, body, _) = call(
        &t,
        Method::POST,
        &credit_path,
        Some("cn-too-much"),
        Some(json!({ "items": [ { "position": 1, "quantity": "4" } ] })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, credit, _) = call(
        &t,
        Method::POST,
        &credit_path,
        Some("cn-1"),
        Some(json!({ "items": [ { "position": 1, "quantity": "1" } ], "reason": "one session missed" })),
    )
    .await;
    assert_eq!(status, 201, "{credit}");
    assert_eq!(credit["kind"], "credit_note");
    assert_eq!(credit["totals"]["gross"], "100.00", "{credit}");
    let after = get(&t, &format!("/v1/invoices/{id}")).await;
    assert_eq!(after["lifecycle"], "partially_credited", "{after}");
    let account = get(&t, "/v1/customers/ext:cus_api_2").await;
    assert_eq!(account["balance"], "-150.00", "{account}");

    // Lists and filters.
    let notes = get(&t, "/v1/credit-notes").await;
    assert_eq!(
        notes["credit_notes"].as_array().unwrap().len(),
        1,
        "{notes}"
    );
    assert_eq!(notes["credit_notes"][0]["id"], credit["id"]);
    let by_kind = get(&t, "/v1/invoices?kind=credit_note").await;
    assert_eq!(by_kind["invoices"].as_array().unwrap().len(), 1);
    let overpaid = get(&t, "/v1/invoices?payment=overpaid").await;
    let ids: Vec<&Value> = overpaid["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["id"])
        .collect();
    assert_eq!(ids, vec![&json!(id)], "{overpaid}");
    let overdue = get(&t, "/v1/invoices?overdue=true").await;
    assert!(
        overdue["invoices"].as_array().unwrap().is_empty(),
        "nothing is due yet"
    );
    let customers = get(&t, "/v1/customers").await;
    assert!(
        customers["customers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "ext:cus_api_2"),
        "{customers}"
    );

    // Send again, to the bookkeeper: one more mail, to that address only.
    let number = after["number"].as_str().unwrap().to_string();
    let (status, job, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{id}/send"),
        Some("resend-1"),
        Some(json!({ "to": ["buchhaltung@example.org"] })),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    wait_for(&t, &format!("/v1/invoices/{id}"), |d| {
        d["delivery"]["sends"] == 2
    })
    .await;
    let sent = mails_with(&t, &number);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .any(|(to, _)| to == &vec!["buchhaltung@example.org".to_string()]),
        "{sent:?}"
    );
    let (status, body, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{id}/send"),
        Some("resend-bad"),
        Some(json!({ "to": ["not an address"] })),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // Cancel the rest: a credit note for what is left; then nothing is left to cancel.
    let (status, last, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{id}/cancel"),
        Some("cancel-1"),
        Some(json!({ "reason": "course cancelled" })),
    )
    .await;
    assert_eq!(status, 201, "{last}");
    assert_eq!(last["totals"]["gross"], "200.00", "{last}");
    let (status, body, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{id}/cancel"),
        Some("cancel-2"),
        None,
    )
    .await;
    assert!(matches!(status, 409 | 422), "{status} {body}");
    let (status, body, _) = pay("p-5", "1.00", "EUR").await;
    assert_eq!(status, 422, "{body}");
    let account = get(&t, "/v1/customers/ext:cus_api_2").await;
    assert_eq!(
        account["balance"], "-350.00",
        "paid 350, nothing owed: {account}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_change_applies_to_future_documents_only() {
    let t = TestApp::start().await;
    let created = signed(&t, &sample_with("bk_7001", &[])).await;
    let first_id = created["invoice_id"].as_str().unwrap().to_string();
    let first = t.wait_sent(DEMO, &first_id, WAIT).await;
    assert_eq!(first["customer"]["address"]["line1"], "Hauptstr. 5");

    let (status, body, _) = call(
        &t,
        Method::PUT,
        "/v1/customers/ext:cus_42",
        Some("move-1"),
        Some(
            json!({ "name": "Erika Mustermann", "email": "erika@example.org",
                     "language": "de",
                     "address": { "line1": "Neue Str. 9", "postal_code": "80331",
                                  "city": "München", "country": "DE" } }),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let account = get(&t, "/v1/customers/ext:cus_42").await;
    assert_eq!(account["address"]["city"], "München", "{account}");
    let (status, body, _) = call(
        &t,
        Method::PUT,
        "/v1/customers/ext:nobody",
        Some("move-2"),
        Some(json!({ "name": "N", "email": "n@example.org",
                     "address": { "line1": "x", "postal_code": "1", "city": "y", "country": "DE" } })),
    )
    .await;
    assert_error(status, &body, 404, "customer_not_found");

    // The issued invoice keeps the address it was issued with, PDF included.
    let old = get(&t, &format!("/v1/invoices/{first_id}")).await;
    assert_eq!(old["customer"], first["customer"]);
    let (_, _, pdf) = t
        .get(&format!("/v1/invoices/{first_id}/pdf"), Some(DEMO_KEY))
        .await;
    assert!(faktura_tests::pdf::flat_text(&pdf).contains("Hauptstr. 5"));

    // A document made from now on for this customer through the API uses the new data.
    let mut request = invoice_request("cus_42", "10.00", false);
    request["customer"] = json!({ "id": "cus_42", "name": "Erika Mustermann",
        "email": "erika@example.org",
        "address": { "line1": "Neue Str. 9", "postal_code": "80331", "city": "München",
                     "country": "DE" } });
    let (status, next, _) = call(
        &t,
        Method::POST,
        "/v1/invoices",
        Some("after-move"),
        Some(request),
    )
    .await;
    assert_eq!(status, 201, "{next}");
    assert_eq!(next["customer"]["address"]["city"], "München");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_applies_credit_takes_it_into_the_next_invoice_as_prepaid() {
    let mut tenants = load_tenants();
    for t in &mut tenants {
        t.record.tenant.settings.apply_credit = true;
    }
    let t = TestApp::start_with(tenants).await;
    let created = signed(&t, &sample_with("bk_8001", &[])).await;
    let first_id = created["invoice_id"].as_str().unwrap().to_string();
    t.wait_sent(DEMO, &first_id, WAIT).await;
    // Paid 150.00 on 119.00: 31.00 credit.
    signed(&t, &paid("bk_8001", "150.00", "EUR", "SEPA-81")).await;
    settled_booking(&t, "bk_8001").await;
    let account = get(&t, "/v1/customers/ext:cus_42").await;
    assert_eq!(account["balance"], "-31.00", "{account}");

    let created = signed(&t, &sample_with("bk_8002", &[])).await;
    let second_id = created["invoice_id"].as_str().unwrap().to_string();
    let second = t.wait_sent(DEMO, &second_id, WAIT).await;
    assert_eq!(second["totals"]["prepaid"], "31.00", "{second}");
    assert_eq!(second["totals"]["amount_due"], "88.00", "{second}");
    assert_eq!(second["payment"]["credit_applied"], "31.00", "{second}");
    assert_eq!(second["payment"]["open"], "88.00", "{second}");
    let first = get(&t, &format!("/v1/invoices/{first_id}")).await;
    assert_eq!(first["payment"]["credit_used"], "31.00", "{first}");
    assert_eq!(first["payment"]["open"], "0.00", "{first}");
    let account = get(&t, "/v1/customers/ext:cus_42").await;
    assert_eq!(account["balance"], "88.00", "{account}");

    // The e-invoice shows the credit as prepaid amount and stays valid (CII and UBL).
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (syntax, query) in [("cii", ""), ("ubl", "?syntax=ubl")] {
        let (status, _, xml) = t
            .get(
                &format!("/v1/invoices/{second_id}/xml{query}"),
                Some(DEMO_KEY),
            )
            .await;
        assert_eq!(status, 200);
        let text = String::from_utf8(xml.clone()).unwrap();
        assert!(text.contains("31.00"), "{syntax}: BT-113 31.00");
        let path = dir.path().join(format!("credit-applied.{syntax}.xml"));
        std::fs::write(&path, xml).unwrap();
        files.push(path);
    }
    for report in crate::einvoice::validate(&files) {
        let errors = crate::einvoice::rule_errors(&report);
        assert!(errors.is_empty(), "{report}");
    }
}

/// A document is dated in its tenant's time zone: at 23:15 UTC on 31 December it is already
/// New Year in Berlin, so a Berlin tenant's invoice is dated 1 January and numbered in the new
/// year's series; a tenant on UTC still issues in the old year.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_dated_in_the_tenants_time_zone() {
    use chrono::TimeZone as _;
    use faktura_domain::audit::Cause;
    use faktura_domain::model::DocumentKind;
    use faktura_domain::ports::{Stores, TenantRecord};
    use faktura_domain::service::commands::{Answered, Command, Commands, Outcome};
    use faktura_tests::contract::{self, DroppedEvents};
    use std::sync::Arc;

    let at = chrono::Utc
        .with_ymd_and_hms(2026, 12, 31, 23, 15, 0)
        .unwrap();
    for (zone, date, number) in [
        ("Europe/Berlin", "2027-01-01", "RE-2027-00001"),
        ("UTC", "2026-12-31", "RE-2026-00001"),
        ("America/New_York", "2026-12-31", "RE-2026-00001"),
    ] {
        let mut tenant = contract::sample_tenant(&contract::id("tz"));
        tenant.settings.time_zone = zone.parse().unwrap();
        let db = Arc::new(faktura_embedded::SqliteStore::in_memory().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores {
            tenants: Arc::new(faktura_embedded::StaticTenants::new(vec![(
                TenantRecord {
                    tenant: tenant.clone(),
                    webhook_secrets: Vec::new(),
                },
                Vec::new(),
            )])),
            repository: db.clone(),
            jobs: db,
            files: Arc::new(faktura_embedded::FsFileStore::new(dir.path().to_path_buf())),
            events: Arc::new(DroppedEvents),
            clock: Arc::new(faktura_tests::fuzz::FixedClock(at)),
        };
        let commands = Commands::new(stores, Arc::new(faktura_einvoice::EInvoiceXml));
        let cause = Cause::ApiKey {
            key_id: "test".into(),
            request_id: None,
        };
        let answered = commands
            .run(
                &tenant.id,
                Command::Create {
                    kind: DocumentKind::Invoice,
                    content: contract::booking_with("bk_tz", "cus_tz", "1"),
                    draft: false,
                },
                &cause,
                None,
            )
            .await
            .unwrap();
        let Answered::Fresh(outcome) = answered else {
            panic!("fresh")
        };
        let Outcome::Document(doc) = *outcome else {
            panic!("a document")
        };
        assert_eq!(doc.content.issue_date.to_string(), date, "{zone}");
        assert_eq!(doc.content.number.as_str(), number, "{zone}");
        let due = doc.content.issue_date + chrono::Days::new(14);
        assert_eq!(
            doc.content.due_date, due,
            "{zone}: terms count from the local date"
        );
    }
}
