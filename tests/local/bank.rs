//! Bank statements through the local server, as the owner uses them: `POST
//! /v1/bank-statements` with a CAMT.053 file pays the invoices it names (the invoice is paid,
//! its dunning stops), the same file again records nothing, the review list holds what was not
//! sure and an assignment pays it; bad files and requests get our error format.

use faktura_domain::payment_codes::CreditorReference;
use faktura_tests::bank::{Entry, camt053};
use faktura_tests::local::{DEMO, DEMO_KEY, DEMO_SECRET, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

fn booking(id: &str, customer: &str, name: &str, price: &str) -> String {
    json!({ "type": "booking.created", "data": {
        "id": id, "booked_at": "2026-12-01T07:00:00Z", "currency": "EUR", "prices": "gross",
        "customer": { "id": customer, "name": name,
                      "email": format!("{customer}@example.org"), "language": "de",
                      "address": { "line1": "Hauptstr. 5", "postal_code": "10115",
                                   "city": "Berlin", "country": "DE" } },
        "items": [{ "description": "Yoga-Kurs Winter", "quantity": "1",
                    "unit_price": price, "vat_rate": "19" }] } })
    .to_string()
}

async fn post_statement(t: &TestApp, body: Vec<u8>) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/v1/bank-statements", t.base))
        .bearer_auth(DEMO_KEY)
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statement_pays_two_invoices_and_leaves_one_transaction_for_review() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let mut ids = Vec::new();
    for (b, c, name, price) in [
        ("bk_bank_1", "cus_bank_1", "Erika Mustermann", "119.00"),
        ("bk_bank_2", "cus_bank_2", "Max Muster", "80.00"),
        ("bk_bank_3", "cus_bank_3", "Jana Beispiel", "60.00"),
    ] {
        let a = t
            .post_signed(DEMO, DEMO_SECRET, &booking(b, c, name, price))
            .await;
        assert_eq!(a.status, 202, "{}", a.json);
        ids.push(a.json["invoice_id"].as_str().unwrap().to_string());
    }
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let mut numbers = Vec::new();
    for id in &ids {
        numbers.push(
            t.get_ok(&format!("/v1/invoices/{id}")).await["number"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let rf = CreditorReference::for_number(&numbers[0].parse().unwrap()).unwrap();
    let mut scanned = Entry::credit("B-1", "119.00", "ERIKA MUSTERMANN", "");
    scanned.creditor_reference = Some(rf.as_str().to_string());
    let file = camt053(
        "STMT-1",
        &[
            scanned,
            Entry::credit(
                "B-2",
                "80.00",
                "Max Muster",
                &format!("Rg. {}", numbers[1].to_lowercase()),
            ),
            Entry::credit("B-3", "59.00", "J. Beispiel", "Yoga Dezember"),
        ],
    );
    let (status, answer) = post_statement(&t, file.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (
            answer["imported"].as_u64(),
            answer["matched"].as_u64(),
            answer["unmatched"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{answer}"
    );
    assert_eq!(answer["transactions"][0]["rule"], "creditor_reference");
    assert_eq!(answer["transactions"][1]["rule"], "number_in_text");
    assert_eq!(
        answer["transactions"][0]["allocations"][0]["invoice_id"],
        ids[0].as_str()
    );
    for id in &ids[..2] {
        let doc = t.get_ok(&format!("/v1/invoices/{id}")).await;
        assert_eq!(doc["payment"]["state"], "paid", "{doc}");
        assert!(doc["pay"].is_null(), "nothing left to pay: {}", doc["pay"]);
    }

    // The same file again: nothing new, nothing paid twice.
    let (status, again) = post_statement(&t, file).await;
    assert_eq!(status, 200);
    assert_eq!(
        (again["imported"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(3))
    );

    // The review list, then the owner's assignment (59.00 of 60.00).
    let review = t.get_ok("/v1/bank-transactions?state=unmatched").await;
    let list = review["transactions"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{review}");
    let tx = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["counterparty_name"], "J. Beispiel");
    assert!(list[0]["reason"].as_str().unwrap().len() > 5);
    let (status, assigned) = t
        .call(
            Method::POST,
            &format!("/v1/bank-transactions/{tx}/assign"),
            Some(json!({ "invoice_id": ids[2] })),
        )
        .await;
    assert_eq!(status, 200, "{assigned}");
    assert_eq!(assigned["state"], "matched");
    assert_eq!(assigned["rule"], "assigned");
    let third = t.get_ok(&format!("/v1/invoices/{}", ids[2])).await;
    assert_eq!(third["payment"]["state"], "partially_paid");
    assert_eq!(third["payment"]["open"], "1.00");
    let (status, body) = t
        .call(
            Method::POST,
            &format!("/v1/bank-transactions/{tx}/assign"),
            Some(json!({ "invoice_id": ids[2] })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "bank_transaction_matched");
    assert!(
        t.get_ok("/v1/bank-transactions?state=unmatched").await["transactions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.get_ok("/v1/bank-transactions").await["transactions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A transfer for several invoices: the owner spreads it (at most what came in).
    let (status, _) = post_statement(
        &t,
        camt053(
            "STMT-2",
            &[Entry::credit(
                "B-4",
                "5.00",
                "Jana Beispiel",
                "Rest und Trinkgeld",
            )],
        ),
    )
    .await;
    assert_eq!(status, 200);
    let review = t.get_ok("/v1/bank-transactions?state=unmatched").await;
    let tx = review["transactions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/bank-transactions/{tx}/assign");
    let (status, body) = t
        .call(Method::POST, &path, Some(json!({ "allocations": [
            { "invoice_id": ids[2], "amount": "0.50" }, { "invoice_id": ids[1], "amount": "4.51" } ] })))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "allocations[1].amount", "{body}");
    let (status, body) = t
        .call(
            Method::POST,
            &path,
            Some(json!({ "invoice_id": ids[2], "allocations": [] })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, spread) = t
        .call(Method::POST, &path, Some(json!({ "allocations": [
            { "invoice_id": ids[2], "amount": "0.50" }, { "invoice_id": ids[1], "amount": "4.50" } ] })))
        .await;
    assert_eq!(status, 200, "{spread}");
    assert_eq!(spread["allocations"].as_array().unwrap().len(), 2);
    let third = t.get_ok(&format!("/v1/invoices/{}", ids[2])).await;
    assert_eq!(third["payment"]["open"], "0.50", "{third}");
    let second = t.get_ok(&format!("/v1/invoices/{}", ids[1])).await;
    assert_eq!(second["payment"]["state"], "overpaid", "{second}");

    // Paid invoices are not chased: 8 days after the due date only the third (0.50 open)
    // has a reminder.
    let due = t.get_ok(&format!("/v1/invoices/{}", ids[0])).await["due_date"]
        .as_str()
        .unwrap()
        .to_string();
    let due: chrono::NaiveDate = due.parse().unwrap();
    t.move_clock(json!({ "to": format!("{}T08:00:00+01:00", due + chrono::Days::new(8)) }))
        .await;
    for (id, reminded) in [(&ids[0], false), (&ids[1], false), (&ids[2], true)] {
        let doc = t.get_ok(&format!("/v1/invoices/{id}")).await;
        assert_eq!(
            !doc["dunning"]["reminders"].as_array().unwrap().is_empty(),
            reminded,
            "{}",
            doc["dunning"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_statements_and_requests_get_clear_errors() {
    let t = TestApp::start().await;
    for (body, says) in [
        (b"hello".to_vec(), "not a bank statement"),
        (b"<Document><BkToCstmrStmt><Stmt><Id>1</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id></Acct><Ntry><Amt Ccy=\"EUR\">1.001</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-12-01</Dt></BookgDt></Ntry></Stmt></BkToCstmrStmt></Document>".to_vec(), "Amt"),
    ] {
        let (status, answer) = post_statement(&t, body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_statement");
        assert_eq!(answer["error"]["field"], "body");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{answer}");
    }
    let (status, body) = t
        .call(Method::GET, "/v1/bank-transactions?state=lost", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "state");
    let (status, body) = t
        .call(Method::GET, "/v1/bank-transactions/btx_nope", None)
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = t
        .call(
            Method::POST,
            "/v1/bank-transactions/btx_nope/assign",
            Some(json!({ "invoice_id": "inv_x", "amount": "1.001" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "amount");
    let res = reqwest::Client::new()
        .post(format!("{}/v1/bank-statements", t.base))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}
