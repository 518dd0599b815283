//! The booking webhook and the read API over real HTTP on the local app: every answer the
//! contract promises, idempotency, and that a rejected request stores nothing.

use std::time::Duration;

use faktura_domain::values::Id;
use faktura_tests::local::{DEMO, DEMO_KEY, DEMO_SECRET, SAMPLE, SMALL_KEY, TestApp, sample_with};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn assert_error(a: &faktura_tests::local::Answer, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(a.status, status, "{}", a.json);
    let e = &a.json["error"];
    assert_eq!(e["code"], code, "{}", a.json);
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        a.json
    );
    if let Some(field) = field {
        assert_eq!(e["field"], field, "{}", a.json);
    }
}

async fn stored_booking(t: &TestApp, booking_id: &str) -> bool {
    let tenant: Id = DEMO.parse().unwrap();
    t.app
        .stores
        .repository
        .booking(&tenant, &booking_id.parse().unwrap())
        .await
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_then_retries_get_the_same_answer_and_create_nothing() {
    let t = TestApp::start().await;
    let now = chrono::Utc::now().timestamp();
    let first = t
        .post_delivery(DEMO, DEMO_SECRET, "msg_retry_1", now, SAMPLE)
        .await;
    assert_eq!(first.status, 202, "{}", first.json);
    assert_eq!(first.json["booking_id"], "bk_1001");
    assert_eq!(first.json["status"], "accepted");
    let invoice_id = first.json["invoice_id"].as_str().unwrap().to_string();

    // The platform retries the same delivery, then sends the booking again as a new delivery.
    let same_delivery = t
        .post_delivery(DEMO, DEMO_SECRET, "msg_retry_1", now, SAMPLE)
        .await;
    let new_delivery = t.post_signed(DEMO, DEMO_SECRET, SAMPLE).await;
    assert_eq!(same_delivery.json, first.json);
    assert_eq!(new_delivery.json, first.json);
    assert_eq!(new_delivery.status, 202);

    let invoice = t.wait_sent(DEMO, &invoice_id, WAIT).await;
    // Once more after the invoice went out: still the same answer, still one invoice and mail.
    let late = t.post_signed(DEMO, DEMO_SECRET, SAMPLE).await;
    assert_eq!(late.json, first.json);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list = t.get_json("/v1/invoices", Some(DEMO_KEY)).await;
    assert_eq!(
        list.json["invoices"].as_array().unwrap().len(),
        1,
        "{}",
        list.json
    );
    assert_eq!(t.outbox().len(), 1);
    assert!(invoice["number"].as_str().unwrap().ends_with("-00001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_booking_id_with_other_content_is_a_conflict() {
    let t = TestApp::start().await;
    assert_eq!(t.post_signed(DEMO, DEMO_SECRET, SAMPLE).await.status, 202);
    let changed = SAMPLE.replace("\"119.00\"", "\"129.00\"");
    let a = t.post_signed(DEMO, DEMO_SECRET, &changed).await;
    assert_error(&a, 409, "booking_conflict", Some("data.id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked() {
    let t = TestApp::start().await;
    let now = chrono::Utc::now().timestamp();
    let other_secret = "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz";

    let a = t.post_raw(DEMO, &[], SAMPLE.as_bytes().to_vec()).await;
    assert_error(&a, 401, "missing_signature", None);
    let a = t
        .post_delivery(DEMO, other_secret, "msg_a", now, SAMPLE)
        .await;
    assert_error(&a, 401, "invalid_signature", None);
    let a = t
        .post_delivery(DEMO, DEMO_SECRET, "msg_b", now - 301, SAMPLE)
        .await;
    assert_error(&a, 401, "timestamp_out_of_tolerance", None);
    let a = t
        .post_delivery(DEMO, DEMO_SECRET, "msg_c", now + 301, SAMPLE)
        .await;
    assert_error(&a, 401, "timestamp_out_of_tolerance", None);

    // A body changed after signing.
    let secret = DEMO_SECRET.parse().unwrap();
    let sig = faktura_http::signature::sign(&secret, "msg_d", now, SAMPLE.as_bytes());
    let tampered = SAMPLE.replace("Erika", "Mallory");
    let a = t
        .post_raw(
            DEMO,
            &[
                ("webhook-id", "msg_d".into()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", sig),
            ],
            tampered.into_bytes(),
        )
        .await;
    assert_error(&a, 401, "invalid_signature", None);

    // Another tenant's secret does not open this tenant's webhook.
    let small_secret = faktura_tests::local::SMALL_SECRET;
    let a = t
        .post_delivery(DEMO, small_secret, "msg_e", now, SAMPLE)
        .await;
    assert_error(&a, 401, "invalid_signature", None);
    assert!(!stored_booking(&t, "bk_1001").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_has_status_code_message_and_field_and_stores_nothing() {
    let t = TestApp::start().await;
    let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
        ("{\"type\": ".to_string(), 400, "invalid_json", None),
        ("[]".to_string(), 400, "schema_violation", None),
        (
            sample_with("bk_e1", &[("\"city\": \"Berlin\"", "\"city\": 10115")]),
            400,
            "schema_violation",
            Some("data.customer.address.city"),
        ),
        (
            sample_with("bk_e2", &[("\"items\": [", "\"itemz\": [")]),
            400,
            "schema_violation",
            Some("data.items"),
        ),
        (
            sample_with(
                "bk_e3",
                &[(
                    "\"type\": \"booking.created\"",
                    "\"type\": \"booking.paid\"",
                )],
            ),
            // A payment with a booking's data: it lacks what a payment has.
            400,
            "schema_violation",
            Some("data.paid_at"),
        ),
        (
            sample_with(
                "bk_e4",
                &[(
                    "\"type\": \"booking.created\"",
                    "\"type\": \"booking.refunded\"",
                )],
            ),
            422,
            "unsupported_event",
            Some("type"),
        ),
        (
            sample_with(
                "bk_e5",
                &[("\"currency\": \"EUR\"", "\"currency\": \"EUX\"")],
            ),
            422,
            "unknown_currency",
            Some("data.currency"),
        ),
        (
            sample_with("bk_e6", &[("\"country\": \"DE\"", "\"country\": \"DD\"")]),
            422,
            "invalid_country",
            Some("data.customer.address.country"),
        ),
        (
            sample_with(
                "bk_e7",
                &[("\"unit_price\": \"119.00\"", "\"unit_price\": \"-119.00\"")],
            ),
            422,
            "negative_total",
            Some("data.items"),
        ),
        (
            sample_with("bk_e8", &[("\"vat_rate\": \"19\"", "\"vat_rate\": \"16\"")]),
            422,
            "vat_rate_not_allowed",
            Some("data.items[0].vat_rate"),
        ),
        (
            sample_with(
                "bk_e9",
                &[(
                    "\"vat_rate\": \"19\"",
                    "\"vat_rate\": \"19\", \"vat_category\": \"Z\"",
                )],
            ),
            422,
            "vat_rate_not_allowed",
            Some("data.items[0].vat_rate"),
        ),
        (
            sample_with(
                "bk_e10",
                &[(
                    "\"email\": \"erika@example.org\"",
                    "\"email\": \"erika(at)example.org\"",
                )],
            ),
            422,
            "invalid_value",
            Some("data.customer.email"),
        ),
        (
            sample_with("bk_e11", &[("\"quantity\": \"1\"", "\"quantity\": \"0\"")]),
            422,
            "invalid_value",
            Some("data.items[0].quantity"),
        ),
    ];
    for (body, status, code, field) in &cases {
        let a = t.post_signed(DEMO, DEMO_SECRET, body).await;
        assert_error(&a, *status, code, *field);
    }
    // No items at all.
    let mut v: Value = serde_json::from_str(&sample_with("bk_e12", &[])).unwrap();
    v["data"]["items"] = Value::Array(vec![]);
    let a = t.post_signed(DEMO, DEMO_SECRET, &v.to_string()).await;
    assert_error(&a, 422, "no_items", Some("data.items"));

    // Unknown tenant (even with a valid signature for another one).
    let a = t.post_signed("nobody", DEMO_SECRET, SAMPLE).await;
    assert_error(&a, 404, "tenant_not_found", None);
    let a = t.post_signed("../etc", DEMO_SECRET, SAMPLE).await;
    assert_eq!(a.status, 404);

    // Over 1 MiB: refused before it is read in full.
    let mut big: Value = serde_json::from_str(SAMPLE).unwrap();
    big["data"]["note"] = Value::String("x".repeat(1024 * 1024));
    let a = t.post_signed(DEMO, DEMO_SECRET, &big.to_string()).await;
    assert_error(&a, 413, "payload_too_large", None);

    for id in [
        "bk_e1", "bk_e3", "bk_e5", "bk_e7", "bk_e8", "bk_e12", "bk_1001",
    ] {
        assert!(!stored_booking(&t, id).await, "{id} was stored");
    }
    let list = t.get_json("/v1/invoices", Some(DEMO_KEY)).await;
    assert_eq!(list.json["invoices"], Value::Array(vec![]));
    assert!(t.outbox().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_input_causes_a_server_error() {
    let t = TestApp::start().await;
    // Deterministic mutations of the sample: truncations, byte flips, odd values.
    let bytes = SAMPLE.as_bytes();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for cut in (0..bytes.len()).step_by(37) {
        bodies.push(bytes[..cut].to_vec());
    }
    let mut seed: u64 = 0x5eed;
    for _ in 0..150 {
        let mut b = bytes.to_vec();
        for _ in 0..3 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (seed >> 33) as usize % b.len();
            b[at] = (seed >> 17) as u8;
        }
        bodies.push(b);
    }
    for odd in [
        "null",
        "{}",
        "{\"type\":null}",
        "{\"type\":\"booking.created\",\"data\":null}",
        "{\"type\":\"booking.created\",\"data\":[]}",
        "\"\\ud800\"",
        "1e999999",
    ] {
        bodies.push(odd.as_bytes().to_vec());
    }
    for replacement in [
        ("\"quantity\": \"1\"", "\"quantity\": 1e400"),
        (
            "\"quantity\": \"1\"",
            "\"quantity\": 99999999999999999999999999999999",
        ),
        ("\"unit_price\": \"119.00\"", "\"unit_price\": \"1e30\""),
        ("\"unit_price\": \"119.00\"", "\"unit_price\": \"NaN\""),
        (
            "\"service_date\": \"2026-12-01\"",
            "\"service_date\": \"+999999-01-01\"",
        ),
        (
            "\"booked_at\": \"2026-11-20T10:15:00Z\"",
            "\"booked_at\": \"9999-12-31T23:59:60Z\"",
        ),
        (
            "\"vat_rate\": \"19\"",
            "\"vat_rate\": 19.0000000000000000000000000001",
        ),
    ] {
        bodies.push(sample_with("bk_odd", &[replacement]).into_bytes());
    }
    let secret = DEMO_SECRET.parse().unwrap();
    for (i, body) in bodies.into_iter().enumerate() {
        let now = chrono::Utc::now().timestamp();
        let id = format!("msg_fuzz_{i}");
        let sig = faktura_http::signature::sign(&secret, &id, now, &body);
        let a = t
            .post_raw(
                DEMO,
                &[
                    ("webhook-id", id),
                    ("webhook-timestamp", now.to_string()),
                    ("webhook-signature", sig),
                ],
                body.clone(),
            )
            .await;
        assert!(
            a.status < 500,
            "body {:?} gave {}: {}",
            String::from_utf8_lossy(&body),
            a.status,
            a.json
        );
        if a.status >= 400 {
            assert!(a.json["error"]["code"].is_string(), "{}", a.json);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_api_needs_the_tenants_key() {
    let t = TestApp::start().await;
    let a = t.post_signed(DEMO, DEMO_SECRET, SAMPLE).await;
    let id = a.json["invoice_id"].as_str().unwrap().to_string();
    t.wait_sent(DEMO, &id, WAIT).await;
    let path = format!("/v1/invoices/{id}");

    assert_error(&t.get_json(&path, None).await, 401, "unauthorized", None);
    assert_error(
        &t.get_json(&path, Some("wrong-key")).await,
        401,
        "unauthorized",
        None,
    );
    assert_error(
        &t.get_json("/v1/invoices", None).await,
        401,
        "unauthorized",
        None,
    );
    // Another tenant's key: as if the invoice did not exist.
    assert_error(
        &t.get_json(&path, Some(SMALL_KEY)).await,
        404,
        "invoice_not_found",
        None,
    );
    let (status, _, _) = t.get(&format!("{path}/pdf"), Some(SMALL_KEY)).await;
    assert_eq!(status, 404);
    assert_error(
        &t.get_json("/v1/invoices/inv_nope", Some(DEMO_KEY)).await,
        404,
        "invoice_not_found",
        None,
    );
    assert_error(
        &t.get_json("/v1/nothing", Some(DEMO_KEY)).await,
        404,
        "route_not_found",
        None,
    );

    let (status, headers, pdf) = t.get(&format!("{path}/pdf"), Some(DEMO_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));

    let ok = t.get_json(&path, Some(DEMO_KEY)).await;
    assert_eq!(ok.status, 200);
    let inv = &ok.json;
    assert_eq!(inv["status"], "sent");
    assert_eq!(inv["currency"], "EUR");
    assert_eq!(inv["customer"]["name"], "Erika Mustermann");
    assert_eq!(inv["customer"]["address"]["city"], "Berlin");
    assert_eq!(inv["lines"][0]["description"], "Yoga Basics, 10 lessons");
    assert_eq!(inv["totals"]["net"], "100.00");
    assert_eq!(inv["totals"]["vat"], "19.00");
    assert_eq!(inv["totals"]["gross"], "119.00");
    assert_eq!(inv["totals"]["vat_breakdown"][0]["rate"], "19");
    assert_eq!(inv["totals"]["vat_breakdown"][0]["taxable"], "100.00");
    assert!(inv["issue_date"].is_string() && inv["due_date"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_and_pages() {
    let t = TestApp::start().await;
    let mut ids = Vec::new();
    for (i, customer) in ["cus_a", "cus_b", "cus_a", "cus_c", "cus_a"]
        .iter()
        .enumerate()
    {
        let body = sample_with(
            &format!("bk_list_{i}"),
            &[("\"cus_42\"", &format!("\"{customer}\""))],
        );
        let a = t.post_signed(DEMO, DEMO_SECRET, &body).await;
        assert_eq!(a.status, 202, "{}", a.json);
        ids.push(a.json["invoice_id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        t.wait_sent(DEMO, id, WAIT).await;
    }
    let numbers = |v: &Value| -> Vec<String> {
        v["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["number"].as_str().unwrap().to_string())
            .collect()
    };
    let all = t.get_json("/v1/invoices", Some(DEMO_KEY)).await;
    assert_eq!(numbers(&all.json).len(), 5);
    let a = t
        .get_json("/v1/invoices?customer=cus_a", Some(DEMO_KEY))
        .await;
    assert_eq!(numbers(&a.json).len(), 3, "{}", a.json);
    // The demo tenant's local date: its documents are dated in Berlin, a day ahead of UTC
    // after 23:00 UTC.
    let today = faktura_domain::values::TimeZone::BERLIN.date_of(chrono::Utc::now());
    let q = format!("/v1/invoices?status=sent&from={today}&to={today}");
    assert_eq!(numbers(&t.get_json(&q, Some(DEMO_KEY)).await.json).len(), 5);
    let q = format!("/v1/invoices?status=issued&from={today}");
    assert_eq!(numbers(&t.get_json(&q, Some(DEMO_KEY)).await.json).len(), 0);
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(
        numbers(
            &t.get_json(&format!("/v1/invoices?from={tomorrow}"), Some(DEMO_KEY))
                .await
                .json
        )
        .len(),
        0
    );

    // Pages of two cover everything once, in issue order.
    let mut seen = Vec::new();
    let mut path = "/v1/invoices?limit=2".to_string();
    loop {
        let page = t.get_json(&path, Some(DEMO_KEY)).await;
        assert_eq!(page.status, 200, "{}", page.json);
        seen.extend(numbers(&page.json));
        match page.json["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/invoices?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, numbers(&all.json));
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    for bad in ["status=paid", "from=2026-13-01", "limit=0", "limit=500"] {
        let a = t
            .get_json(&format!("/v1/invoices?{bad}"), Some(DEMO_KEY))
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.json);
        assert_eq!(a.json["error"]["code"], "invalid_query");
    }
}
