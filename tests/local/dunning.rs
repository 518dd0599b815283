//! Dunning through the local server on its simulated clock, as the customer and the owner see
//! it: the payment reminder 7 days after the due date, the first dunning letter (fee,
//! interest) at 21 days, the second at 35, then the owner's mail and the invoice marked
//! exhausted; a payment stops it at once; pause and resume per invoice and per customer; and
//! the tenant's send window, which holds every mail (invoices and reminders) until it opens.

use faktura_tests::local::{DEMO, DEMO_KEY, DEMO_SECRET, TestApp};
use faktura_tests::pdf;
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn booking(id: &str, customer: &str) -> String {
    json!({ "type": "booking.created", "data": {
        "id": id, "booked_at": "2026-12-01T07:00:00Z", "currency": "EUR", "prices": "gross",
        "customer": { "id": customer, "name": "Erika Mustermann",
                      "email": format!("{customer}@example.org"), "language": "de",
                      "address": { "line1": "Hauptstr. 5", "postal_code": "10115",
                                   "city": "Berlin", "country": "DE" } },
        "items": [{ "description": "Yoga-Kurs Winter", "quantity": "1",
                    "unit_price": "119.00", "vat_rate": "19" }] } })
    .to_string()
}

async fn call(t: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (a, _) = t
        .api(method, path, Some(DEMO_KEY), None, body.as_deref())
        .await;
    (a.status, a.json)
}

async fn get(t: &TestApp, path: &str) -> Value {
    let (status, body) = call(t, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is no decimal string"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// Moves the simulated clock to 08:00 Berlin time (winter) on `date`.
async fn morning_of(t: &TestApp, date: chrono::NaiveDate) {
    t.move_clock(json!({ "to": format!("{date}T08:00:00+01:00") }))
        .await;
}

fn day(d: &Value) -> chrono::NaiveDate {
    d.as_str().expect("a date").parse().expect("a date")
}

/// A mail as read back: subject, attachment names, text body.
type Mail = (String, Vec<String>, String);

/// The mails in the outbox to `to`, oldest first.
fn mails_to(t: &TestApp, to: &str) -> Vec<Mail> {
    let mut mails: Vec<(String, Mail)> = t
        .outbox()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .filter_map(|p| {
            let raw = std::fs::read(p).unwrap();
            let msg = MessageParser::default().parse(&raw).expect("a mail");
            let addressed = msg
                .to()
                .is_some_and(|a| a.iter().any(|x| x.address() == Some(to)));
            addressed.then(|| {
                let date = msg.date().map(|d| d.to_rfc3339()).unwrap_or_default();
                (
                    format!("{date}{}", p.display()),
                    (
                        msg.subject().unwrap_or_default().to_string(),
                        msg.attachments()
                            .filter_map(|a| a.attachment_name().map(str::to_string))
                            .collect(),
                        msg.body_text(0).unwrap_or_default().to_string(),
                    ),
                )
            })
        })
        .collect();
    mails.sort_by(|a, b| a.0.cmp(&b.0));
    mails.into_iter().map(|(_, m)| m).collect()
}

async fn pdf_of(t: &TestApp, id: &str) -> String {
    let (status, _, bytes) = t
        .get(&format!("/v1/invoices/{id}/pdf"), Some(DEMO_KEY))
        .await;
    assert_eq!(status, 200, "the PDF of {id}");
    pdf::flat_text(&bytes)
}

/// 5 points above the default base rate (1.27 % since 1 July 2025) for a consumer.
fn consumer_interest(open: Decimal, days: i64) -> Decimal {
    (open * Decimal::new(627, 4) * Decimal::from(days) / Decimal::from(365))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unpaid_invoice_is_chased_in_three_steps_then_the_owner_is_told() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_dun", "cus_dun"))
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    let invoice_id = a.json["invoice_id"]
        .as_str()
        .expect("an invoice")
        .to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    let number = invoice["number"].as_str().unwrap().to_string();
    let due = day(&invoice["due_date"]);
    let gross = dec(&invoice["totals"]["amount_due"]);
    // A consumer's invoice says when default begins without a reminder (§286 Abs. 3 BGB).
    assert!(
        invoice["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("§ 286 Abs. 3 BGB")),
        "{}",
        invoice["notes"]
    );
    assert!(pdf_of(&t, &invoice_id).await.contains("§ 286 Abs. 3 BGB"));
    let to = "cus_dun@example.org";
    assert_eq!(mails_to(&t, to).len(), 1, "the invoice");

    // The day before the first level: nothing.
    morning_of(&t, due + chrono::Days::new(6)).await;
    assert_eq!(mails_to(&t, to).len(), 1);
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["state"], "none", "{}", inv["dunning"]);

    // Level 1, 7 days overdue: a payment reminder without fees, with the invoice again.
    morning_of(&t, due + chrono::Days::new(7)).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["state"], "active");
    assert_eq!(inv["dunning"]["level"], 1);
    let first = &inv["dunning"]["reminders"][0];
    assert_eq!(first["level"], 1);
    let r1_id = first["document_id"].as_str().unwrap().to_string();
    let r1 = get(&t, &format!("/v1/invoices/{r1_id}")).await;
    assert_eq!(r1["kind"], "reminder");
    assert!(r1["type_code"].is_null());
    assert_eq!(r1["source"], "dunning");
    assert_eq!(r1["number"], first["number"]);
    assert!(
        r1["number"].as_str().unwrap().starts_with("MA-"),
        "its own series: {}",
        r1["number"]
    );
    assert_eq!(r1["preceding"]["id"], invoice_id.as_str());
    assert_eq!(
        r1["lines"].as_array().unwrap().len(),
        0,
        "the first is free"
    );
    assert_eq!(dec(&r1["totals"]["amount_due"]), gross);
    assert!(r1["xml"].is_null(), "a letter, no e-invoice");
    assert_eq!(r1["due_date"], (due + chrono::Days::new(14)).to_string());
    let text = pdf_of(&t, &r1_id).await;
    for expected in [
        "Zahlungserinnerung",
        number.as_str(),
        "keine Rechnung im Sinne des Umsatzsteuergesetzes",
        "Gesamtbetrag",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let mails = mails_to(&t, to);
    assert_eq!(mails.len(), 2);
    let (subject, files, _) = &mails[1];
    assert!(subject.starts_with("Zahlungserinnerung"), "{subject}");
    assert_eq!(files.len(), 2, "the letter and the invoice: {files:?}");
    assert!(
        files.iter().any(|f| f.contains(number.as_str())),
        "{files:?}"
    );

    // Level 2, 21 days overdue: the first dunning letter with its fee and default interest
    // from the day after the reminder.
    morning_of(&t, due + chrono::Days::new(21)).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["level"], 2);
    assert_eq!(
        inv["dunning"]["default_since"],
        (due + chrono::Days::new(8)).to_string()
    );
    let r2_id = inv["dunning"]["reminders"][1]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r2 = get(&t, &format!("/v1/invoices/{r2_id}")).await;
    let lines = r2["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["description"], "Mahngebühr (1. Mahnung)");
    assert_eq!(dec(&lines[0]["net_amount"]), Decimal::new(250, 2));
    assert_eq!(lines[0]["vat_category"], "O");
    assert!(
        lines[1]["description"]
            .as_str()
            .unwrap()
            .starts_with("Verzugszinsen 6,27 % p. a.")
    );
    let interest = consumer_interest(gross, 14);
    assert_eq!(dec(&lines[1]["net_amount"]), interest);
    assert_eq!(
        dec(&r2["totals"]["amount_due"]),
        gross + Decimal::new(250, 2) + interest
    );
    let text = pdf_of(&t, &r2_id).await;
    assert!(text.contains("1. Mahnung"), "{text}");
    assert!(text.contains("Verzugszinsen"), "{text}");
    assert!(
        !text.contains("Verzugspauschale"),
        "no flat fee from consumers"
    );

    // Level 3, 35 days overdue, then the owner after its deadline.
    morning_of(&t, due + chrono::Days::new(35)).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["level"], 3);
    let r3_id = inv["dunning"]["reminders"][2]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r3 = get(&t, &format!("/v1/invoices/{r3_id}")).await;
    // Every fee so far is stated again (the invoice, and so they, are still unpaid).
    assert_eq!(r3["lines"][0]["description"], "Mahngebühr (1. Mahnung)");
    assert_eq!(r3["lines"][1]["description"], "Mahngebühr (2. Mahnung)");
    assert_eq!(dec(&r3["lines"][1]["net_amount"]), Decimal::new(500, 2));
    let interest = consumer_interest(gross, 28);
    assert_eq!(dec(&r3["lines"][2]["net_amount"]), interest);
    assert_eq!(
        dec(&r3["totals"]["amount_due"]),
        gross + Decimal::new(750, 2) + interest
    );
    assert!(
        pdf_of(&t, &r3_id)
            .await
            .contains("weitere Schritte ohne erneute Ankündigung")
    );
    assert_eq!(mails_to(&t, to).len(), 4);

    let owner = "rechnung@yoga-sonnenschein.example";
    let owner_mails_before = mails_to(&t, owner).len();
    morning_of(&t, due + chrono::Days::new(42)).await;
    assert_eq!(
        mails_to(&t, owner).len(),
        owner_mails_before,
        "the last deadline has not passed"
    );
    morning_of(&t, due + chrono::Days::new(43)).await;
    let owner_mails = mails_to(&t, owner);
    assert_eq!(owner_mails.len(), owner_mails_before + 1);
    let (subject, _, body) = owner_mails.last().unwrap();
    assert!(subject.contains(number.as_str()), "{subject}");
    assert!(body.contains("Erika Mustermann"), "{body}");
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["state"], "exhausted");
    let exhausted = get(&t, "/v1/invoices?dunning=exhausted").await;
    let ids: Vec<&str> = exhausted["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![invoice_id.as_str()]);
    let (status, bad) = call(&t, Method::GET, "/v1/invoices?dunning=maybe", None).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("dunning")),
        "{bad}"
    );

    // Nothing more, ever: no fourth letter, no second owner mail.
    morning_of(&t, due + chrono::Days::new(90)).await;
    assert_eq!(mails_to(&t, to).len(), 4);
    assert_eq!(mails_to(&t, owner).len(), owner_mails_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_stops_dunning_and_a_partial_one_is_shown() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_pay", "cus_pay"))
        .await;
    let invoice_id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    let due = day(&invoice["due_date"]);
    morning_of(&t, due + chrono::Days::new(7)).await;
    let to = "cus_pay@example.org";
    assert_eq!(mails_to(&t, to).len(), 2, "invoice and reminder");

    // Half is paid: the first dunning letter shows it and asks for the rest.
    let (status, paid) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{invoice_id}/payments"),
        Some(json!({ "amount": "59.50", "currency": "EUR" })),
    )
    .await;
    assert_eq!(status, 201, "{paid}");
    morning_of(&t, due + chrono::Days::new(21)).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["level"], 2);
    let r2 = get(
        &t,
        &format!(
            "/v1/invoices/{}",
            inv["dunning"]["reminders"][1]["document_id"]
                .as_str()
                .unwrap()
        ),
    )
    .await;
    let text = pdf_of(&t, r2["id"].as_str().unwrap()).await;
    assert!(text.contains("59,50"), "paid and open shown: {text}");
    // Interest on what was open: the half, from the day after the reminder.
    let interest = &r2["lines"][1];
    assert!(
        interest["description"]
            .as_str()
            .unwrap()
            .contains("auf 59,50 €"),
        "{interest}"
    );
    assert_eq!(
        dec(&interest["net_amount"]),
        consumer_interest(Decimal::new(5950, 2), 14)
    );

    // The rest comes in: nothing further, not at 35 days, not after.
    let (status, _) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{invoice_id}/payments"),
        Some(json!({ "amount": "59.50", "currency": "EUR" })),
    )
    .await;
    assert_eq!(status, 201);
    morning_of(&t, due + chrono::Days::new(60)).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["level"], 2);
    assert_eq!(inv["payment"]["state"], "paid");
    assert_eq!(mails_to(&t, to).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dunning_is_paused_and_resumed_per_invoice() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_hold", "cus_hold"))
        .await;
    let invoice_id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    let due = day(&invoice["due_date"]);
    let path = format!("/v1/invoices/{invoice_id}/dunning");
    let (status, paused) = call(&t, Method::POST, &path, Some(json!({ "action": "pause" }))).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["dunning"]["state"], "paused");
    let (status, bad) = call(&t, Method::POST, &path, Some(json!({ "action": "later" }))).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (422, Some("action")),
        "{bad}"
    );

    morning_of(&t, due + chrono::Days::new(25)).await;
    let to = "cus_hold@example.org";
    assert_eq!(mails_to(&t, to).len(), 1, "paused: only the invoice");
    let listed = get(&t, "/v1/invoices?dunning=paused").await;
    assert_eq!(listed["invoices"].as_array().unwrap().len(), 1);

    // Resumed: the level that came due during the pause goes out now, one letter, not two.
    let (status, resumed) =
        call(&t, Method::POST, &path, Some(json!({ "action": "resume" }))).await;
    assert_eq!(status, 200, "{resumed}");
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["level"], 1, "{}", inv["dunning"]);
    assert_eq!(
        inv["dunning"]["reminders"][0]["date"],
        (due + chrono::Days::new(25)).to_string()
    );
    assert_eq!(mails_to(&t, to).len(), 2);
    // A second resume changes nothing (no second job); the level went out once.
    let (status, _) = call(&t, Method::POST, &path, Some(json!({ "action": "resume" }))).await;
    assert_eq!(status, 200);
    t.move_clock(json!({ "advance": "PT1M" })).await;
    assert_eq!(mails_to(&t, to).len(), 2);
    // The next level waits for the new deadline (7 days), not the 21st day's date.
    morning_of(&t, due + chrono::Days::new(32)).await;
    assert_eq!(mails_to(&t, to).len(), 2);
    morning_of(&t, due + chrono::Days::new(33)).await;
    assert_eq!(mails_to(&t, to).len(), 3);

    // A credit note ends it too.
    let (status, credit) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{invoice_id}/cancel"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{credit}");
    morning_of(&t, due + chrono::Days::new(80)).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["level"], 2);
    // The credit note's mail, and no further letter.
    assert_eq!(mails_to(&t, to).len(), 4);
    // A reminder is never cancelled, and a credit note takes no dunning.
    let r = inv["dunning"]["reminders"][0]["document_id"]
        .as_str()
        .unwrap();
    let (status, refused) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{r}/cancel"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("not_cancellable"))
    );
    let (status, refused) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{r}/dunning"),
        Some(json!({ "action": "pause" })),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("not_dunnable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dunning_is_paused_and_resumed_per_customer() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_cust", "cus_cust"))
        .await;
    let invoice_id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    let due = day(&invoice["due_date"]);
    let path = "/v1/customers/ext:cus_cust/dunning";
    let (status, held) = call(&t, Method::POST, path, Some(json!({ "action": "pause" }))).await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(held["dunning_paused"], true);
    assert_eq!(
        get(&t, "/v1/customers/ext:cus_cust").await["dunning_paused"],
        true
    );
    let (status, unknown) = call(
        &t,
        Method::POST,
        "/v1/customers/ext:nobody/dunning",
        Some(json!({ "action": "pause" })),
    )
    .await;
    assert_eq!(
        (status, unknown["error"]["code"].as_str()),
        (404, Some("customer_not_found"))
    );
    let (status, bad) = call(&t, Method::POST, path, Some(json!({ "action": "stop" }))).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (422, Some("action")),
        "{bad}"
    );

    // A second invoice of the held customer waits as well.
    let b = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_cust2", "cus_cust"))
        .await;
    assert_eq!(b.status, 202);
    morning_of(&t, due + chrono::Days::new(12)).await;
    let to = "cus_cust@example.org";
    assert_eq!(mails_to(&t, to).len(), 2, "two invoices, no reminder");

    let (status, lifted) = call(&t, Method::POST, path, Some(json!({ "action": "resume" }))).await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["dunning_paused"], false);
    // Looked at again the next morning: both invoices get their first reminder, once.
    morning_of(&t, due + chrono::Days::new(13)).await;
    let mails = mails_to(&t, to);
    assert_eq!(
        mails.len(),
        4,
        "{:?}",
        mails.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    assert!(
        mails[2..]
            .iter()
            .all(|m| m.0.starts_with("Zahlungserinnerung"))
    );
    morning_of(&t, due + chrono::Days::new(14)).await;
    assert_eq!(mails_to(&t, to).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_goes_out_only_in_the_send_window() {
    let mut tenants = faktura_tests::local::load_tenants();
    tenants[0].record.tenant.settings.send_window =
        Some(serde_json::from_value(json!({ "from": "08:00", "to": "18:00" })).expect("a window"));
    // Booked at 20:00 Berlin time: the invoice is issued and rendered now, mailed at 08:00.
    let t = TestApp::start_simulated_with("2026-12-01T20:00:00+01:00", tenants).await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_window", "cus_window"))
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    let invoice_id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(invoice["lifecycle"], "issued");
    assert_eq!(invoice["issue_date"], "2026-12-01");
    assert_eq!(invoice["delivery"]["state"], "pending");
    let to = "cus_window@example.org";
    t.move_clock(json!({ "to": "2026-12-02T07:59:00+01:00" }))
        .await;
    assert!(mails_to(&t, to).is_empty(), "not before the window opens");
    t.move_clock(json!({ "to": "2026-12-02T08:00:00+01:00" }))
        .await;
    assert_eq!(mails_to(&t, to).len(), 1, "at 08:00");
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(invoice["delivery"]["state"], "sent");
    assert!(
        invoice["delivery"]["sent_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-02T07:00:00"),
        "{}",
        invoice["delivery"]
    );
    // With a window, a reminder is issued when the window opens on its day, and mailed then.
    let due = day(&invoice["due_date"]);
    morning_of(&t, due + chrono::Days::new(7)).await; // 08:00 on the day: sent
    assert_eq!(mails_to(&t, to).len(), 2);
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    let reminder = get(
        &t,
        &format!(
            "/v1/invoices/{}",
            inv["dunning"]["reminders"][0]["document_id"]
                .as_str()
                .unwrap()
        ),
    )
    .await;
    assert!(
        reminder["delivery"]["sent_at"]
            .as_str()
            .unwrap()
            .ends_with("T07:00:00+00:00"),
        "mailed at 08:00: {}",
        reminder["delivery"]
    );
    assert!(
        reminder["issued_at"]
            .as_str()
            .unwrap()
            .ends_with("T07:00:00+00:00"),
        "issued at 08:00: {}",
        reminder["issued_at"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_in_default_lowers_the_interest_from_its_day() {
    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let a = t
        .post_signed(DEMO, DEMO_SECRET, &booking("bk_part", "cus_part"))
        .await;
    let invoice_id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let invoice = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    let due = day(&invoice["due_date"]);
    morning_of(&t, due + chrono::Days::new(21)).await;
    // 60.00 paid on day 21, after the first dunning letter: 59.00 stay open.
    let (status, paid) = call(
        &t,
        Method::POST,
        &format!("/v1/invoices/{invoice_id}/payments"),
        Some(json!({ "amount": "60.00", "currency": "EUR" })),
    )
    .await;
    assert_eq!(status, 201, "{paid}");
    morning_of(&t, due + chrono::Days::new(35)).await;
    let inv = get(&t, &format!("/v1/invoices/{invoice_id}")).await;
    assert_eq!(inv["dunning"]["level"], 3);
    let r3 = get(
        &t,
        &format!(
            "/v1/invoices/{}",
            inv["dunning"]["reminders"][2]["document_id"]
                .as_str()
                .unwrap()
        ),
    )
    .await;
    let line = &r3["lines"][2];
    assert!(
        line["description"]
            .as_str()
            .unwrap()
            .contains("auf den jeweils offenen Betrag"),
        "{line}"
    );
    // Default from day 8: 13 days on 119.00, then 15 days (days 21 to 35) on 59.00.
    let expected = ((Decimal::new(11_900, 2) * Decimal::from(13)
        + Decimal::new(5_900, 2) * Decimal::from(15))
        * Decimal::new(627, 4)
        / Decimal::from(365))
    .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(dec(&line["net_amount"]), expected);
    assert_eq!(
        dec(&r3["totals"]["amount_due"]),
        Decimal::new(5_900, 2) + Decimal::new(750, 2) + expected
    );
}
