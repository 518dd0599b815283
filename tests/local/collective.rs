//! Collective invoices through the local server on its simulated clock: bookings with
//! `"billing": "collect"` and usage items from the API wait for the month's end, become one
//! draft, change while it is a draft, and are issued and mailed on the send date; drafts
//! without a send date wait for the owner (pending list, digest mail) and are approved.

use faktura_tests::local::{DEMO, DEMO_SECRET, TestApp, decimal};
use faktura_tests::pdf;
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const OWNER: &str = "rechnung@yoga-sonnenschein.example";

fn collected_booking(id: &str, customer: &str) -> String {
    json!({ "type": "booking.created", "data": {
        "id": id, "booked_at": "2026-11-20T09:00:00Z", "currency": "EUR", "prices": "gross",
        "billing": "collect",
        "customer": { "id": customer, "name": "Erika Mustermann",
                      "email": format!("{customer}@example.org"), "language": "de",
                      "address": { "line1": "Hauptstr. 5", "postal_code": "10115",
                                   "city": "Berlin", "country": "DE" } },
        "items": [
            { "description": "Einzelstunde 18.11.", "quantity": "1", "unit_price": "25.00",
              "vat_rate": "19", "service_date": "2026-11-18" },
            { "description": "Einzelstunde 19.11.", "quantity": "1", "unit_price": "25.00",
              "vat_rate": "19", "service_date": "2026-11-19" }
        ] } })
    .to_string()
}

fn usage(reference: &str) -> Value {
    json!({ "currency": "EUR", "reference": reference,
            "items": [{ "description": "Raummiete", "quantity": "3", "unit": "HUR",
                        "unit_price": "10.00", "service_date": "2026-11-25" }] })
}

async fn pdf_of(t: &TestApp, id: &str) -> String {
    let (status, _, bytes) = t
        .get(
            &format!("/v1/invoices/{id}/pdf"),
            Some(faktura_tests::local::DEMO_KEY),
        )
        .await;
    assert_eq!(status, 200, "the PDF of {id}");
    pdf::flat_text(&bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collected_items_become_one_invoice_sent_on_its_date() {
    let mut tenants = faktura_tests::local::load_tenants();
    tenants[0].record.tenant.settings.collective.send_after_days = Some(2);
    let t = TestApp::start_simulated_with("2026-11-20T10:00:00+01:00", tenants).await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &collected_booking("bk_coll", "cus_coll"))
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    assert!(a.json["invoice_id"].is_null(), "no invoice yet: {}", a.json);
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let items = t.get_ok("/v1/customers/ext:cus_coll/items").await;
    let items = items["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|i| i["state"] == "open" && i["source"] == "booking")
    );
    assert_eq!(items[0]["day"], "2026-11-18");

    // Usage from the API, sent twice with its reference: recorded once.
    let (status, added) = t
        .call(
            Method::POST,
            "/v1/customers/ext:cus_coll/items",
            Some(usage("room-nov")),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let (_, again) = t
        .call(
            Method::POST,
            "/v1/customers/ext:cus_coll/items",
            Some(usage("room-nov")),
        )
        .await;
    assert_eq!(added["items"][0]["id"], again["items"][0]["id"]);
    let room = added["items"][0]["id"].as_str().unwrap().to_string();
    // Money is exact or refused; unknown customers are not found.
    let mut bad = usage("bad");
    bad["items"][0]["unit_price"] = json!("10.00001");
    let (status, body) = t
        .call(Method::POST, "/v1/customers/ext:cus_coll/items", Some(bad))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "items[0].unit_price", "{body}");
    let (status, body) = t
        .call(
            Method::POST,
            "/v1/customers/ext:nobody/items",
            Some(usage("x")),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "customer_not_found");
    let to = "cus_coll@example.org";
    assert!(
        t.mails_to(to).is_empty(),
        "nothing is mailed while collecting"
    );

    // The day after November: one draft with the three items, to be sent in two days.
    t.move_clock(json!({ "to": "2026-12-01T08:00:00+01:00" }))
        .await;
    let list = t.get_ok("/v1/collective-invoices").await;
    let drafts = list["invoices"].as_array().expect("list").clone();
    assert_eq!(drafts.len(), 1, "{list}");
    let draft = &drafts[0];
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(draft["lifecycle"], "draft");
    assert!(
        draft["number"].is_null() || draft["number"] == "",
        "{}",
        draft["number"]
    );
    assert_eq!(draft["collective"]["send_on"], "2026-12-03");
    assert_eq!(draft["collective"]["period_end"], "2026-11-30");
    assert_eq!(draft["collective"]["pending"], false);
    assert_eq!(draft["lines"].as_array().unwrap().len(), 3);
    assert_eq!(
        decimal(&draft["totals"]["amount_due"]),
        Decimal::new(8000, 2)
    );
    assert!(t.mails_to(to).is_empty());

    // While it is a draft its items change: four hours of the room instead of three.
    let (status, body) = t
        .call(
            Method::PATCH,
            &format!("/v1/customers/ext:cus_coll/items/{room}"),
            Some(json!({ "quantity": "4" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let draft = t.get_ok(&format!("/v1/invoices/{id}")).await;
    assert_eq!(
        decimal(&draft["totals"]["amount_due"]),
        Decimal::new(9000, 2)
    );
    // Its content changes only through its items.
    let (status, body) = t
        .call(
            Method::PATCH,
            &format!("/v1/collective-invoices/{id}"),
            Some(json!({ "send_on": "2026-11-02" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "send_on");

    // On its send date it is issued (numbered) and mailed.
    t.move_clock(json!({ "to": "2026-12-03T08:00:00+01:00" }))
        .await;
    let invoice = t.get_ok(&format!("/v1/invoices/{id}")).await;
    assert_eq!(invoice["lifecycle"], "issued", "{invoice}");
    let number = invoice["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("RE-"), "{number}");
    assert_eq!(invoice["issue_date"], "2026-12-03");
    assert_eq!(invoice["source"], "collective");
    let mails = t.mails_to(to);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].subject.contains(&number), "{}", mails[0].subject);
    let text = pdf_of(&t, &id).await;
    for expected in [
        "Sammelrechnung",
        "Einzelstunde 18.11.",
        "Raummiete",
        number.as_str(),
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let items = t
        .get_ok("/v1/customers/ext:cus_coll/items?state=claimed")
        .await;
    assert_eq!(items["items"].as_array().unwrap().len(), 3);
    assert!(
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["document_id"] == id.as_str())
    );
    // Issued, its items are final.
    let (status, body) = t
        .call(
            Method::PATCH,
            &format!("/v1/customers/ext:cus_coll/items/{room}"),
            Some(json!({ "quantity": "5" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "item_billed");

    // The booking's payment goes to the invoice that bills its items.
    let paid = json!({ "type": "booking.paid", "data": {
        "id": "bk_coll", "paid_at": "2026-12-04T09:00:00Z", "amount": "50.00",
        "currency": "EUR", "method": "transfer", "reference": "pay-coll" } })
    .to_string();
    let a = t.post_signed(DEMO, DEMO_SECRET, &paid).await;
    assert_eq!(a.status, 202, "{}", a.json);
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = t.get_ok(&format!("/v1/invoices/{id}")).await;
    assert_eq!(
        invoice["payment"]["state"], "partially_paid",
        "{}",
        invoice["payment"]
    );
    assert_eq!(decimal(&invoice["payment"]["open"]), Decimal::new(4000, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drafts_without_a_send_date_wait_for_the_owner() {
    // Collected on demand only (no period).
    let mut tenants = faktura_tests::local::load_tenants();
    tenants[0].record.tenant.settings.collective.period = None;
    let t = TestApp::start_simulated_with("2026-12-01T09:00:00+01:00", tenants).await;
    // A collected booking makes the customer; a cancellation withdraws its items.
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &collected_booking("bk_wait", "cus_wait"))
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    let cancel = json!({ "type": "booking.cancelled", "data": {
        "id": "bk_wait", "cancelled_at": "2026-12-01T08:30:00Z",
        "items": [{ "item": 1, "quantity": "1" }] } })
    .to_string();
    let a = t.post_signed(DEMO, DEMO_SECRET, &cancel).await;
    assert_eq!(a.status, 202, "{}", a.json);
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let items = t.get_ok("/v1/customers/ext:cus_wait/items").await;
    let states: Vec<&str> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["open", "withdrawn"]);
    let (status, _) = t
        .call(
            Method::POST,
            "/v1/customers/ext:cus_wait/items",
            Some(usage("room")),
        )
        .await;
    assert_eq!(status, 201);

    // On demand, without a send date: a draft that waits for the owner.
    let (status, draft) = t
        .call(
            Method::POST,
            "/v1/collective-invoices",
            Some(json!({ "customer_id": "ext:cus_wait" })),
        )
        .await;
    assert_eq!(status, 201, "{draft}");
    let id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(draft["collective"]["pending"], true);
    assert_eq!(draft["lines"].as_array().unwrap().len(), 2);
    let pending = t.get_ok("/v1/collective-invoices?pending=true").await;
    assert_eq!(pending["invoices"].as_array().unwrap().len(), 1);
    // Nothing left to collect: a second one is refused.
    let (status, body) = t
        .call(
            Method::POST,
            "/v1/collective-invoices",
            Some(json!({ "customer_id": "ext:cus_wait" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "no_open_items");
    // A draft's content is not replaced like other drafts'.
    let (status, body) = t
        .call(
            Method::PATCH,
            &format!("/v1/invoices/{id}"),
            Some(json!({})),
        )
        .await;
    assert!(status == 422 || status == 400, "{status} {body}");

    // The owner's digest lists it.
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let digests: Vec<_> = t
        .mails_to(OWNER)
        .into_iter()
        .filter(|m| m.subject.contains("Sammelrechnung"))
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert!(digests[0].text.contains(&id), "{}", digests[0].text);
    assert!(digests[0].text.contains("Erika Mustermann"));

    // One item off again, then approved: issued and mailed at once.
    let first = draft["collective"]["items"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = t
        .call(
            Method::PATCH,
            &format!("/v1/collective-invoices/{id}"),
            Some(json!({ "items": [first] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"].as_array().unwrap().len(), 1);
    let (status, issued) = t
        .call(Method::POST, &format!("/v1/invoices/{id}/issue"), None)
        .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["lifecycle"], "issued");
    t.move_clock(json!({ "advance": "PT1M" })).await;
    assert_eq!(t.mails_to("cus_wait@example.org").len(), 1);
    let pending = t.get_ok("/v1/collective-invoices?pending=true").await;
    assert!(pending["invoices"].as_array().unwrap().is_empty());
    let open = t
        .get_ok("/v1/customers/ext:cus_wait/items?state=open")
        .await;
    assert_eq!(
        open["items"].as_array().unwrap().len(),
        1,
        "the item taken off"
    );
}

fn held_booking(id: &str, customer: &str) -> String {
    json!({ "type": "booking.created", "data": {
        "id": id, "booked_at": "2026-12-01T18:30:00Z", "currency": "EUR", "prices": "gross",
        "customer": { "id": customer, "name": "Erika Mustermann",
                      "email": format!("{customer}@example.org"), "language": "de",
                      "address": { "line1": "Hauptstr. 5", "postal_code": "10115",
                                   "city": "Berlin", "country": "DE" } },
        "items": [{ "description": "Yoga-Kurs Winter", "quantity": "1",
                    "unit_price": "119.00", "vat_rate": "19" }] } })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_invoices_wait_for_review_until_the_send_time() {
    let mut tenants = faktura_tests::local::load_tenants();
    let settings = &mut tenants[0].record.tenant.settings;
    settings.review = true;
    settings.send_window =
        Some(serde_json::from_value(json!({ "from": "08:00", "to": "18:00" })).expect("a window"));
    let t = TestApp::start_simulated_with("2026-12-01T20:00:00+01:00", tenants).await;
    let mut ids = Vec::new();
    for n in ["a", "b"] {
        let a = t
            .post_signed(
                DEMO,
                DEMO_SECRET,
                &held_booking(&format!("bk_rev_{n}"), &format!("cus_rev_{n}")),
            )
            .await;
        assert_eq!(a.status, 202, "{}", a.json);
        ids.push(a.json["invoice_id"].as_str().expect("an id").to_string());
    }
    t.move_clock(json!({ "advance": "PT1M" })).await;
    // Held: drafts without a number, showing exactly what will be sent and when.
    let held = t.get_ok(&format!("/v1/invoices/{}", ids[0])).await;
    assert_eq!(held["lifecycle"], "draft", "{held}");
    assert!(held["number"].is_null(), "{}", held["number"]);
    assert_eq!(held["review"]["send_on"], "2026-12-02");
    assert_eq!(held["booking_id"], "bk_rev_a");
    assert_eq!(
        decimal(&held["totals"]["amount_due"]),
        Decimal::new(11900, 2)
    );
    // The owner changes A (two places) and approves B.
    let (status, changed) = t
        .call(
            Method::PATCH,
            &format!("/v1/invoices/{}", ids[0]),
            Some(json!({ "currency": "EUR", "prices": "gross",
                "customer": { "id": "cus_rev_a", "name": "Erika Mustermann", "email": "cus_rev_a@example.org",
                              "address": { "line1": "Hauptstr. 5", "postal_code": "10115", "city": "Berlin", "country": "DE" } },
                "items": [{ "description": "Yoga-Kurs Winter", "quantity": "2", "unit_price": "119.00", "vat_rate": "19" }] })),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["booking_id"], "bk_rev_a", "still the booking's");
    assert_eq!(changed["review"]["send_on"], "2026-12-02");
    let (status, approved) = t
        .call(
            Method::POST,
            &format!("/v1/invoices/{}/issue", ids[1]),
            None,
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["number"], "RE-2026-00001");
    assert!(approved["review"].is_null());
    t.move_clock(json!({ "advance": "PT1M" })).await;
    // Outside the window nothing is mailed, not even the approved one.
    assert!(t.mails_to("cus_rev_b@example.org").is_empty());
    assert!(t.mails_to("cus_rev_a@example.org").is_empty());

    // At 08:00: A is issued as changed (the next number) and both are mailed.
    t.move_clock(json!({ "to": "2026-12-02T08:00:00+01:00" }))
        .await;
    let a = t.get_ok(&format!("/v1/invoices/{}", ids[0])).await;
    assert_eq!(a["lifecycle"], "issued", "{a}");
    assert_eq!(a["number"], "RE-2026-00002");
    assert_eq!(a["issue_date"], "2026-12-02");
    assert_eq!(decimal(&a["totals"]["amount_due"]), Decimal::new(23800, 2));
    assert_eq!(t.mails_to("cus_rev_a@example.org").len(), 1);
    assert_eq!(t.mails_to("cus_rev_b@example.org").len(), 1);
}
