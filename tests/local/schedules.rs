//! Scheduled billing through the local server on its simulated clock, as a booking platform
//! and an API user see it: instalments from a booking, recurring invoices through the API
//! (pause, resume, new price, stop, preview), periods missed in an outage billed once each (or
//! skipped), and the dev clock route that exists only with `--simulated-clock`.

use faktura_tests::local::{DEMO, DEMO_KEY, DEMO_SECRET, TestApp};
use mail_parser::{MessageParser, MimeHeaders};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn customer(id: &str) -> Value {
    json!({ "id": id, "name": "Erika Mustermann", "email": format!("{id}@example.org"),
            "language": "de",
            "address": { "line1": "Hauptstr. 5", "postal_code": "10115", "city": "Berlin",
                         "country": "DE" } })
}

async fn call(
    t: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (a, _) = t
        .api(method, path, Some(DEMO_KEY), key, body.as_deref())
        .await;
    (a.status, a.json)
}

async fn get(t: &TestApp, path: &str) -> Value {
    let (status, body) = call(t, Method::GET, path, None, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is no decimal string"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// The schedule's invoices, in occurrence order.
async fn invoices(t: &TestApp, schedule: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for b in schedule["billed"].as_array().expect("billed") {
        out.push(
            get(
                t,
                &format!("/v1/invoices/{}", b["document_id"].as_str().unwrap()),
            )
            .await,
        );
    }
    out
}

/// Mails in the outbox addressed to `to`, with their PDF attachments' names; reminders (which
/// unpaid instalments get after their due date, see `dunning.rs`) left out.
fn mails_to(t: &TestApp, to: &str) -> Vec<Vec<String>> {
    t.outbox()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .filter_map(|p| {
            let raw = std::fs::read(p).unwrap();
            let msg = MessageParser::default().parse(&raw).expect("a mail");
            let addressed = msg
                .to()
                .is_some_and(|a| a.iter().any(|x| x.address() == Some(to)));
            addressed.then(|| {
                msg.attachments()
                    .filter_map(|a| a.attachment_name().map(str::to_string))
                    .collect()
            })
        })
        .filter(|files: &Vec<String>| !files.iter().any(|f| f.starts_with("MA-")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dev_clock_exists_only_with_the_flag() {
    let t = TestApp::start().await;
    let (status, body) = call(
        &t,
        Method::POST,
        "/v1/dev/clock",
        None,
        Some(json!({"advance": "P1D"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "route_not_found");

    let t = TestApp::start_simulated("2026-12-01T08:00:00+01:00").await;
    let moved = t.move_clock(json!({ "advance": "P1D" })).await;
    assert_eq!(moved["now"], "2026-12-02T07:00:00+00:00");
    let moved = t
        .move_clock(json!({ "to": "2026-12-24T18:00:00+01:00" }))
        .await;
    assert_eq!(moved["now"], "2026-12-24T17:00:00+00:00");
    for (body, code) in [
        (json!({ "advance": "one day" }), "invalid_value"),
        (json!({ "to": "2026-12-01T00:00:00Z" }), "clock_backwards"),
        (json!({}), "invalid_value"),
        (
            json!({ "advance": "P1D", "to": "2027-01-01T00:00:00Z" }),
            "invalid_value",
        ),
    ] {
        let (status, answer) =
            call(&t, Method::POST, "/v1/dev/clock", None, Some(body.clone())).await;
        assert!(status == 422 || status == 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    // Moves run one at a time, each from where the last one ended.
    let start = t.move_clock(json!({ "advance": "PT0S" })).await["now"].clone();
    let mut moves = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (client, url) = (t.client.clone(), format!("{}/v1/dev/clock", t.base));
        moves.spawn(async move {
            client
                .post(url)
                .bearer_auth(DEMO_KEY)
                .header("content-type", "application/json")
                .body(r#"{"advance": "P1D"}"#)
                .send()
                .await
                .expect("move")
                .status()
                .as_u16()
        });
    }
    while let Some(status) = moves.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let end = t.move_clock(json!({ "advance": "PT0S" })).await;
    assert_eq!(start, "2026-12-24T17:00:00+00:00");
    assert_eq!(
        end["now"], "2026-12-27T17:00:00+00:00",
        "three days, one after the other"
    );
    let (status, far) = call(
        &t,
        Method::POST,
        "/v1/dev/clock",
        None,
        Some(json!({ "to": "9999-12-31T00:00:00Z" })),
    )
    .await;
    assert_eq!(
        (status, far["error"]["field"].as_str()),
        (422, Some("to")),
        "{far}"
    );
    // The API key is required.
    let (a, _) = t
        .api(
            Method::POST,
            "/v1/dev/clock",
            None,
            None,
            Some(r#"{"advance":"P1D"}"#),
        )
        .await;
    assert_eq!(a.status, 401, "{}", a.json);
}

/// A course paid in three monthly instalments from 31 January: each is issued on its day (the
/// 28th of February, the 31st of March: clamped, not drifting), numbered, labelled, mailed;
/// the cents add up to the booking's total.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_paid_in_instalments() {
    let t = TestApp::start_simulated("2027-01-31T08:00:00+01:00").await;
    let booking = json!({ "type": "booking.created", "data": {
        "id": "bk_course", "booked_at": "2027-01-31T07:00:00Z", "currency": "EUR", "prices": "gross",
        "customer": customer("cus_course"),
        "items": [{ "description": "Yogalehrer-Ausbildung 2027", "quantity": "1",
                    "unit_price": "1000.00", "vat_rate": "19" }],
        "billing": { "schedule": { "interval": "month", "count": 3 } } } });
    let a = t.post_signed(DEMO, DEMO_SECRET, &booking.to_string()).await;
    assert_eq!(a.status, 202, "{}", a.json);
    assert!(
        a.json["document_id"].is_null(),
        "no invoice at once: {}",
        a.json
    );
    t.move_clock(json!({ "advance": "PT1M" })).await;

    let list = get(&t, "/v1/schedules?customer=ext:cus_course").await;
    let schedules = list["schedules"].as_array().expect("schedules");
    assert_eq!(schedules.len(), 1, "{list}");
    let id = schedules[0]["id"].as_str().unwrap().to_string();
    assert_eq!(schedules[0]["mode"], "instalments");
    assert_eq!(schedules[0]["booking_id"], "bk_course");
    assert_eq!(schedules[0]["billed"].as_array().unwrap().len(), 1);
    assert_eq!(schedules[0]["next_date"], "2027-02-28");

    let preview = get(&t, &format!("/v1/schedules/{id}/preview")).await;
    let coming: Vec<(&str, &str)> = preview["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["date"].as_str().unwrap(), o["gross"].as_str().unwrap()))
        .collect();
    assert_eq!(
        coming,
        vec![("2027-02-28", "333.33"), ("2027-03-31", "333.33")]
    );

    let moved = t
        .move_clock(json!({ "to": "2027-04-15T12:00:00+02:00" }))
        .await;
    assert!(moved["stops"].as_u64().unwrap() >= 2, "{moved}");
    let schedule = get(&t, &format!("/v1/schedules/{id}")).await;
    assert_eq!(schedule["state"], "completed", "{schedule}");
    assert!(schedule["next_date"].is_null());
    let docs = invoices(&t, &schedule).await;
    assert_eq!(docs.len(), 3);
    let mut total = Decimal::ZERO;
    let mut numbers = Vec::new();
    for (n, (doc, (day, gross))) in docs
        .iter()
        .zip([
            ("2027-01-31", "333.34"),
            ("2027-02-28", "333.33"),
            ("2027-03-31", "333.33"),
        ])
        .enumerate()
    {
        assert_eq!(doc["issue_date"], day, "issued on its day: {doc}");
        assert_eq!(doc["source"], "schedule");
        assert_eq!(doc["booking_id"], "bk_course");
        let line = &doc["lines"][0];
        assert_eq!(
            line["description"],
            format!("Rate {} von 3: Yogalehrer-Ausbildung 2027", n + 1)
        );
        assert_eq!(line["service_start"], day);
        assert_eq!(doc["totals"]["amount_due"], gross, "{doc}");
        total += dec(&doc["totals"]["amount_due"]);
        numbers.push(doc["number"].as_str().unwrap().to_string());
        assert_eq!(doc["delivery"]["state"], "sent", "{doc}");
    }
    assert_eq!(
        total,
        Decimal::new(100_000, 2),
        "the instalments add up to the cent"
    );
    assert_eq!(
        numbers,
        vec!["RE-2027-00001", "RE-2027-00002", "RE-2027-00003"]
    );
    let mails = mails_to(&t, "cus_course@example.org");
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert!(
        mails
            .iter()
            .all(|pdfs| pdfs.len() == 1 && pdfs[0].ends_with(".pdf"))
    );

    // The platform's payment settles the instalments oldest first, each up to what is open.
    let paid = json!({ "type": "booking.paid", "data": {
        "id": "bk_course", "paid_at": "2027-04-15T09:00:00Z", "amount": "500.00",
        "currency": "EUR", "reference": "TX-1" } });
    let a = t.post_signed(DEMO, DEMO_SECRET, &paid.to_string()).await;
    assert_eq!(a.status, 202, "{}", a.json);
    assert!(a.json["document_id"].is_null(), "{}", a.json);
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let mut states = Vec::new();
    for doc in &docs {
        let now = get(&t, &format!("/v1/invoices/{}", doc["id"].as_str().unwrap())).await;
        states.push((
            now["payment"]["state"].as_str().unwrap().to_string(),
            now["payment"]["open"].as_str().unwrap().to_string(),
        ));
    }
    let want = [
        ("paid", "0.00"),
        ("partially_paid", "166.67"),
        ("open", "333.33"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(states, want);
    let account = get(&t, "/v1/customers/ext:cus_course").await;
    assert_eq!(account["balance"], "500.00", "{account}");
    // The booking shows its schedule; a cancellation stops it and promises no document.
    let record = get(&t, "/v1/bookings/bk_course").await;
    assert_eq!(record["schedule"], json!(id), "{record}");
    let cancel = json!({ "type": "booking.cancelled", "data": {
        "id": "bk_course", "cancelled_at": "2027-04-15T10:00:00Z" } });
    let a = t.post_signed(DEMO, DEMO_SECRET, &cancel.to_string()).await;
    assert_eq!(a.status, 202, "{}", a.json);
    assert!(
        a.json["document_id"].is_null(),
        "no credit note is promised: {}",
        a.json
    );
    // booking.updated is refused for a scheduled booking, as is cancelling part of it.
    let mut updated = booking.clone();
    updated["type"] = json!("booking.updated");
    updated["data"].as_object_mut().unwrap().remove("billing");
    updated["data"]["items"][0]["unit_price"] = json!("1200.00");
    let updated = updated.to_string();
    let a = t.post_signed(DEMO, DEMO_SECRET, &updated).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(a.json["error"]["code"], "scheduled_booking");
}

/// A monthly membership through the API: preview, pause (the months paused are skipped),
/// resume, a new price from the next month on, stop; errors in our format.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recurring_invoice_through_the_api() {
    let t = TestApp::start_simulated("2027-01-10T09:00:00+01:00").await;
    let request = json!({
        "currency": "EUR", "customer": customer("cus_member"),
        "items": [{ "description": "Mitgliedschaft", "quantity": "1", "unit_price": "49.00", "vat_rate": "19" }],
        "schedule": { "interval": "month", "anchor": "2027-01-15", "payment_terms_days": 7 } });
    let (status, created) = call(
        &t,
        Method::POST,
        "/v1/schedules",
        Some("k-1"),
        Some(request.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, again) = call(
        &t,
        Method::POST,
        "/v1/schedules",
        Some("k-1"),
        Some(request.clone()),
    )
    .await;
    assert_eq!(
        (status, &again["id"]),
        (201, &created["id"]),
        "a retry is the same schedule"
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["state"], "active");
    assert_eq!(created["mode"], "recurring");
    assert!(created["count"].is_null() && created["until"].is_null());
    assert_eq!(created["next_date"], "2027-01-15");
    let preview = get(&t, &format!("/v1/schedules/{id}/preview?count=3")).await;
    let dates: Vec<&str> = preview["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, vec!["2027-01-15", "2027-02-15", "2027-03-15"]);
    assert_eq!(preview["occurrences"][0]["gross"], "49.00");
    assert_eq!(preview["occurrences"][0]["service_end"], "2027-02-14");
    assert_eq!(
        preview["occurrences"][0]["due_at"],
        "2027-01-14T23:00:00+00:00"
    );

    t.move_clock(json!({ "to": "2027-01-20T09:00:00+01:00" }))
        .await;
    let s = get(&t, &format!("/v1/schedules/{id}")).await;
    assert_eq!(s["billed"].as_array().unwrap().len(), 1, "{s}");
    let first = &invoices(&t, &s).await[0];
    assert_eq!(first["issue_date"], "2027-01-15");
    assert_eq!(first["due_date"], "2027-01-22", "the schedule's own terms");

    let (status, paused) = call(
        &t,
        Method::PATCH,
        &format!("/v1/schedules/{id}"),
        None,
        Some(json!({"action": "pause"})),
    )
    .await;
    assert_eq!(
        (status, paused["state"].as_str()),
        (200, Some("paused")),
        "{paused}"
    );
    t.move_clock(json!({ "to": "2027-03-20T09:00:00+01:00" }))
        .await;
    let (_, resumed) = call(
        &t,
        Method::PATCH,
        &format!("/v1/schedules/{id}"),
        None,
        Some(json!({"action": "resume"})),
    )
    .await;
    assert_eq!(resumed["state"], "active", "{resumed}");
    assert_eq!(
        resumed["billed"].as_array().unwrap().len(),
        1,
        "nothing billed while paused"
    );
    assert_eq!(resumed["skipped"], json!([1, 2]));
    assert_eq!(resumed["next_date"], "2027-04-15");

    let new_price = json!({ "items": [{ "description": "Mitgliedschaft Plus", "quantity": "1", "unit_price": "59.00", "vat_rate": "19" }] });
    let (status, changed) = call(
        &t,
        Method::PATCH,
        &format!("/v1/schedules/{id}"),
        None,
        Some(new_price),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let preview = get(&t, &format!("/v1/schedules/{id}/preview?count=1")).await;
    assert_eq!(preview["occurrences"][0]["gross"], "59.00");
    t.move_clock(json!({ "to": "2027-04-16T09:00:00+02:00" }))
        .await;
    let s = get(&t, &format!("/v1/schedules/{id}")).await;
    let docs = invoices(&t, &s).await;
    assert_eq!(docs.len(), 2, "{s}");
    assert_eq!(
        docs[0]["totals"]["amount_due"], "49.00",
        "an issued invoice keeps its price"
    );
    assert_eq!(docs[1]["totals"]["amount_due"], "59.00");
    assert_eq!(docs[1]["lines"][0]["service_start"], "2027-04-15");
    assert_eq!(docs[1]["lines"][0]["service_end"], "2027-05-14");

    let (_, stopped) = call(
        &t,
        Method::PATCH,
        &format!("/v1/schedules/{id}"),
        None,
        Some(json!({"action": "stop"})),
    )
    .await;
    assert_eq!(stopped["state"], "stopped");
    t.move_clock(json!({ "advance": "P2M" })).await;
    let s = get(&t, &format!("/v1/schedules/{id}")).await;
    assert_eq!(
        s["billed"].as_array().unwrap().len(),
        2,
        "nothing after the stop"
    );
    let (status, refused) = call(
        &t,
        Method::PATCH,
        &format!("/v1/schedules/{id}"),
        None,
        Some(json!({"action": "resume"})),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("schedule_ended")),
        "{refused}"
    );

    // Bad input is refused in our format, naming the field, and writes nothing.
    let before = get(&t, "/v1/schedules").await["schedules"]
        .as_array()
        .unwrap()
        .len();
    for (schedule, field) in [
        (json!({ "interval": "fortnight" }), "schedule.interval"),
        (
            json!({ "interval": "month", "mode": "instalments" }),
            "schedule.count",
        ),
        (json!({ "interval": "month", "count": 0 }), "schedule.count"),
        (
            json!({ "interval": "month", "count": 3, "until": "2027-12-31" }),
            "schedule.until",
        ),
        (
            json!({ "interval": "month", "anchor": "2027-02-30" }),
            "schedule.anchor",
        ),
        (
            json!({ "interval": "month", "missed": "sometimes" }),
            "schedule.missed",
        ),
    ] {
        let mut body = request.clone();
        body["schedule"] = schedule.clone();
        let (status, e) = call(&t, Method::POST, "/v1/schedules", None, Some(body)).await;
        assert!(status == 422 || status == 400, "{schedule}: {e}");
        assert_eq!(e["error"]["field"], field, "{schedule}: {e}");
    }
    let after = get(&t, "/v1/schedules").await["schedules"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
    // A gross total that has no exact net base (1000.01 at 19 %): the instalments still add
    // up to it, to the cent.
    let mut odd = request.clone();
    odd["items"][0]["unit_price"] = json!("1000.01");
    odd["schedule"] = json!({ "interval": "month", "count": 3, "anchor": "2027-09-01" });
    let (status, plan) = call(&t, Method::POST, "/v1/schedules", None, Some(odd)).await;
    assert_eq!(status, 201, "{plan}");
    let preview = get(
        &t,
        &format!("/v1/schedules/{}/preview", plan["id"].as_str().unwrap()),
    )
    .await;
    let grosses: Vec<Decimal> = preview["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| dec(&o["gross"]))
        .collect();
    assert_eq!(grosses.len(), 3);
    assert_eq!(
        grosses.iter().copied().sum::<Decimal>(),
        Decimal::new(100_001, 2),
        "{preview}"
    );
    // Paused over two instalment dates and resumed: an instalment plan skips nothing, what
    // came due is billed then, in order.
    let plan_path = format!("/v1/schedules/{}", plan["id"].as_str().unwrap());
    let (_, paused) = call(
        &t,
        Method::PATCH,
        &plan_path,
        None,
        Some(json!({"action": "pause"})),
    )
    .await;
    assert_eq!(paused["state"], "paused", "{paused}");
    t.move_clock(json!({ "to": "2027-10-15T09:00:00+02:00" }))
        .await;
    assert_eq!(
        get(&t, &plan_path).await["billed"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let (_, resumed) = call(
        &t,
        Method::PATCH,
        &plan_path,
        None,
        Some(json!({"action": "resume"})),
    )
    .await;
    assert_eq!(resumed["skipped"], json!([]), "{resumed}");
    t.move_clock(json!({ "advance": "PT1M" })).await;
    let plan_now = get(&t, &plan_path).await;
    let billed: Vec<u64> = plan_now["billed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["occurrence"].as_u64().unwrap())
        .collect();
    assert_eq!(billed, vec![0, 1], "{plan_now}");
    // A booking's bad schedule is refused with its own field path.
    let booking = json!({ "type": "booking.created", "data": {
        "id": "bk_bad_plan", "booked_at": "2027-04-16T07:00:00Z", "currency": "EUR",
        "customer": customer("cus_bad"),
        "items": [{ "description": "Kurs", "quantity": "1", "unit_price": "100.00" }],
        "billing": { "schedule": { "interval": "month", "count": 1.5 } } } });
    let a = t.post_signed(DEMO, DEMO_SECRET, &booking.to_string()).await;
    assert_eq!(a.status, 400, "{}", a.json);
    assert_eq!(
        a.json["error"]["field"], "data.billing.schedule.count",
        "{}",
        a.json
    );
    let mut booking = booking;
    booking["data"]["billing"] = json!({ "schedule": { "interval": "month", "count": 150 } });
    let a = t.post_signed(DEMO, DEMO_SECRET, &booking.to_string()).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(
        a.json["error"]["field"], "data.billing.schedule.count",
        "{}",
        a.json
    );
    // A missing field is named.
    let (status, e) = call(&t, Method::POST, "/v1/schedules", None, Some(json!({}))).await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("currency")),
        "{e}"
    );
    // A misspelt field is refused, not ignored (it would make an open-ended schedule).
    let mut typo = request.clone();
    typo["schedule"] = json!({ "interval": "month", "cuont": 3 });
    let (status, e) = call(&t, Method::POST, "/v1/schedules", None, Some(typo)).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("schema_violation")),
        "{e}"
    );
    assert_eq!(e["error"]["field"], "schedule.cuont", "{e}");
    // A refusal is stored under its key like any answer: the retry gets it again, and the key
    // cannot be used for another request.
    let mut bad = request.clone();
    bad["schedule"] = json!({ "interval": "day" });
    let bad = bad.to_string();
    let post = |key: &'static str, body: String| {
        let t = &t;
        async move {
            t.api(
                Method::POST,
                "/v1/schedules",
                Some(DEMO_KEY),
                Some(key),
                Some(&body),
            )
            .await
        }
    };
    let (first, _) = post("bad-1", bad.clone()).await;
    let (again, headers) = post("bad-1", bad.clone()).await;
    assert_eq!((first.status, again.status), (422, 422), "{}", again.json);
    assert_eq!(again.json, first.json);
    assert_eq!(
        headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let (other, _) = post("bad-1", request.to_string()).await;
    assert_eq!(
        (other.status, other.json["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused")),
        "{}",
        other.json
    );
    let (status, e) = call(&t, Method::GET, "/v1/schedules/sch_nope", None, None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("schedule_not_found"))
    );
    let (status, e) = call(
        &t,
        Method::PATCH,
        &format!("/v1/schedules/{id}"),
        None,
        Some(json!({"action": "later"})),
    )
    .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (422, Some("action")),
        "{e}"
    );
}

/// The server is down from January to April: a catch-up schedule bills February, March and
/// April once each, in order, when it is back; a skip schedule bills April only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn periods_missed_in_an_outage() {
    let t = TestApp::start_simulated("2027-01-05T10:00:00+01:00").await;
    let mut ids = Vec::new();
    for (customer_id, missed) in [("cus_catch", "catch_up"), ("cus_skip", "skip")] {
        let body = json!({
            "currency": "EUR", "customer": customer(customer_id),
            "items": [{ "description": "Wartungsvertrag", "quantity": "1", "unit_price": "100.00", "vat_rate": "19" }],
            "schedule": { "interval": "month", "missed": missed } });
        let (status, s) = call(&t, Method::POST, "/v1/schedules", None, Some(body)).await;
        assert_eq!(status, 201, "{s}");
        ids.push(s["id"].as_str().unwrap().to_string());
    }
    t.move_clock(json!({ "advance": "PT1H" })).await;
    let t = t.restart_simulated("2027-04-06T10:00:00+02:00").await;
    // The first move waits for the work the start found due.
    t.move_clock(json!({ "advance": "PT1S" })).await;

    let catch = get(&t, &format!("/v1/schedules/{}", ids[0])).await;
    let occurrences: Vec<u64> = catch["billed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["occurrence"].as_u64().unwrap())
        .collect();
    assert_eq!(occurrences, vec![0, 1, 2, 3], "{catch}");
    let docs = invoices(&t, &catch).await;
    let periods: Vec<&str> = docs
        .iter()
        .map(|d| d["lines"][0]["service_start"].as_str().unwrap())
        .collect();
    assert_eq!(
        periods,
        vec!["2027-01-05", "2027-02-05", "2027-03-05", "2027-04-05"]
    );
    let numbers: Vec<&str> = docs.iter().map(|d| d["number"].as_str().unwrap()).collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted, "billed in order");

    let skip = get(&t, &format!("/v1/schedules/{}", ids[1])).await;
    let occurrences: Vec<u64> = skip["billed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["occurrence"].as_u64().unwrap())
        .collect();
    assert_eq!(occurrences, vec![0, 3], "{skip}");
    assert_eq!(skip["skipped"], json!([1, 2]));
    // Nothing is billed twice however often the clock is asked to run what is due.
    t.move_clock(json!({ "advance": "PT1S" })).await;
    let again = get(&t, &format!("/v1/schedules/{}", ids[0])).await;
    assert_eq!(again["billed"], catch["billed"]);
    let all = get(&t, "/v1/invoices?kind=invoice&limit=50").await;
    assert_eq!(
        all["invoices"].as_array().unwrap().len(),
        6,
        "4 + 2 invoices"
    );
}
