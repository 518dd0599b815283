//! Fuzzing the real router from outside, as a hostile booking platform and API client would:
//! generated and mutated requests, correctly signed so they get past the signature check into
//! validation, sent in-process to the same `axum::Router` the server and the Lambdas run.
//!
//! After every request it checks what the contract promises:
//! - never a panic, never a 5xx;
//! - every answer is JSON; every error is exactly `{"error": {"code", "message", "field"?}}`;
//! - a `202` names a booking that is stored, parses again, can be invoiced, and whose every
//!   decimal equals the exact value written in the request (checked by a textual comparison
//!   independent of the product's parser);
//! - a rejected request stores nothing and publishes nothing.
//!
//! Cases are generated from a seed (SplitMix64), so a failure names the seed and case that
//! reproduce it. The number of cases is the caller's (CI runs a bounded number; a longer run is
//! `FAKTURA_FUZZ_CASES=100000 cargo test -p faktura-tests --test local webhook_fuzz`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::booking::BookingEvent;
use faktura_domain::events::DomainEvent;
use faktura_domain::invoicing::plan_document;
use faktura_domain::model::DocumentKind;
use faktura_domain::ports::{Clock, EventPublisher, Stores, TenantRecord};
use faktura_domain::values::Id;
use faktura_http::AppState;
use faktura_http::dto::booking::parse_booking_event;
use faktura_http::signature::{WebhookSecret, sign};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

/// A small deterministic PRNG: the same seed gives the same cases on every machine.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Events published by the app under test, kept for the checks.
#[derive(Default, Clone)]
pub struct RecordingPublisher {
    pub events: Arc<Mutex<Vec<DomainEvent>>>,
}

impl RecordingPublisher {
    pub fn count(&self) -> usize {
        self.events.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError> {
        self.events
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?
            .push(event.clone());
        Ok(())
    }
}

/// A clock standing still (signatures are made for its instant).
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// What a fuzz run saw.
#[derive(Debug, Default)]
pub struct FuzzReport {
    pub cases: usize,
    pub accepted: usize,
    pub by_status: std::collections::BTreeMap<u16, usize>,
    pub codes: BTreeSet<String>,
}

/// The router under test with its stores, for one tenant whose secret and key are known.
pub struct Target {
    pub router: Router,
    pub stores: Stores,
    pub events: RecordingPublisher,
    pub tenant: TenantRecord,
    pub secret: WebhookSecret,
    pub api_key: String,
}

/// What the store holds that a request could have changed: the version of the booking the
/// body names (if any) and the tenant's jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    booking: Option<(String, Option<u64>)>,
    jobs: usize,
}

impl Target {
    async fn snapshot(&self, body: &[u8]) -> Snapshot {
        let tenant = &self.tenant.tenant.id;
        let named: Option<Id> = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["data"]["id"].as_str().and_then(|s| s.parse().ok()));
        let booking = match named {
            Some(id) => {
                let version = self
                    .stores
                    .repository
                    .booking(tenant, &id)
                    .await
                    .expect("booking")
                    .map(|r| r.version);
                Some((id.as_str().to_string(), version))
            }
            None => None,
        };
        let mut jobs = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .stores
                .jobs
                .jobs(tenant, None, cursor.as_deref(), 1000)
                .await
                .expect("jobs");
            jobs += page.jobs.len();
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Snapshot { booking, jobs }
    }
}

/// Builds the target over `stores` (whose `events` and `clock` are replaced by a recorder and
/// a fixed clock).
pub fn target(
    mut stores: Stores,
    tenant: TenantRecord,
    api_key: &str,
    einvoice: Arc<dyn faktura_domain::ports::EInvoiceEncoder>,
) -> Target {
    let events = RecordingPublisher::default();
    stores.events = Arc::new(events.clone());
    stores.clock = Arc::new(FixedClock(Utc::now()));
    let secret: WebhookSecret = tenant.webhook_secrets[0].parse().expect("secret");
    let state = AppState::from_stores(stores.clone(), einvoice);
    Target {
        router: faktura_http::router(state),
        stores,
        events,
        tenant,
        secret,
        api_key: api_key.to_string(),
    }
}

// ---- generation ------------------------------------------------------------------------

const NASTY_TEXT: &[&str] = &[
    "",
    " ",
    "\u{3000}",
    "DE123456789",
    "É12345678",
    "DE 123 456 78€",
    "ÖSTERREICH",
    "a\u{0301}\u{0302}\u{0303}",
    "\u{202e}gnp.exe",
    "🧾💶",
    "#set page(width: 1cm)\n#read(\"/etc/passwd\")",
    "$x^2$ *bold* _it_ `raw` \\",
    "<script>alert(1)</script>",
    "]]><!--",
    "line\nbreak",
    "tab\there",
    "nul\u{0}",
    "\u{7f}\u{85}\u{2028}",
    "Robert'); DROP TABLE invoices;--",
    "%FF%00",
    "../../etc/passwd",
    "RE-2026-00001",
    "booking.created",
    "EUR",
    "eur",
    "XXX",
    "DE",
    "Germany",
    "2026-02-30",
    "2026-12-01",
    "9999-12-31T23:59:60Z",
    "2026-11-20T10:15:00+14:00",
    "erika@example.org",
    "a@b",
    "müller@bücher.de",
    "gross",
    "net",
    "pdf",
    "zugferd",
    "xrechnung",
    "04011000-1234512345-06",
    "C62",
    "HUR",
    "Stück",
    "S",
    "AE",
    "K",
    "O",
];

const NASTY_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.1",
    "19.99",
    "119.00",
    "19",
    "7",
    "100",
    "100.01",
    "1e2",
    "1E-2",
    "1.5e-4",
    "1e-5",
    "1e400",
    "-1e400",
    "1e-400",
    "999999999.9999",
    "1000000000.0001",
    "99999999999999999999999999999999",
    "0.00001",
    "0.1000000000000000055511151231257827",
    "19.990000000000000000000000000000000000000001",
    "123456789012345678901234567890",
];

fn random_text(rng: &mut SplitMix) -> String {
    match rng.below(5) {
        0 => rng.pick(NASTY_TEXT).to_string(),
        1 => {
            // Random code points, any plane, incl. combining marks and controls.
            let n = rng.below(24);
            (0..n)
                .filter_map(|_| {
                    let cp = match rng.below(4) {
                        0 => rng.below(0x80) as u32,
                        1 => 0x80 + rng.below(0x780) as u32,
                        2 => 0x800 + rng.below(0xF800) as u32,
                        _ => 0x10000 + rng.below(0x100000) as u32,
                    };
                    char::from_u32(cp)
                })
                .collect()
        }
        2 => "x".repeat(
            rng.pick(&[199, 200, 201, 1000, 1001, 2001, 5000])
                .to_owned(),
        ),
        3 => {
            let s = rng.pick(NASTY_TEXT).to_string();
            s.repeat(1 + rng.below(40))
        }
        _ => {
            let n = 1 + rng.below(6);
            (0..n)
                .map(|_| *rng.pick(&["ä", "€", "ß", "Ω", "中", "🙂", "a", "-", " "]))
                .collect()
        }
    }
}

fn random_number_text(rng: &mut SplitMix) -> String {
    match rng.below(4) {
        0 => rng.pick(NASTY_NUMBERS).to_string(),
        1 => {
            // Many fractional digits, sometimes ending in zeros (exact) or a 1 (not).
            let zeros = rng.below(70);
            let tail = if rng.chance(50) { "0" } else { "1" };
            format!(
                "{}.{}{}{tail}",
                rng.below(1000),
                rng.below(100),
                "0".repeat(zeros)
            )
        }
        2 => format!(
            "{}{}e{}",
            if rng.chance(20) { "-" } else { "" },
            rng.below(100_000),
            rng.below(60) as i64 - 30
        ),
        _ => format!("{}.{:04}", rng.below(2_000_000_000), rng.below(10_000)),
    }
}

/// A JSON value of any kind; numbers are written as raw source text.
fn random_value(rng: &mut SplitMix, depth: usize) -> Value {
    match rng.below(if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 | 3 => Value::String(random_text(rng)),
        4 => Value::String(random_number_text(rng)),
        5 => raw_number(&random_number_text(rng)),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(4) {
                map.insert(random_text(rng), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

/// Marks a number to be written verbatim (serde_json would normalise or refuse it).
fn raw_number(text: &str) -> Value {
    Value::String(format!("\u{1}NUM:{text}\u{1}"))
}

/// Serialises with raw numbers spliced in as written.
fn to_text(value: &Value) -> String {
    let text = serde_json::to_string(value).expect("serialise");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some((before, after)) = rest.split_once("\"\\u0001NUM:") {
        out.push_str(before);
        match after.split_once("\\u0001\"") {
            Some((number, tail)) => {
                out.push_str(number);
                rest = tail;
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every path to a node of `value` (object keys and array indexes).
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(PathStep::Key(k.clone()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn node_mut<'a>(value: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut node = value;
    for step in path {
        node = match (step, node) {
            (PathStep::Key(k), Value::Object(map)) => map.get_mut(k)?,
            (PathStep::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// A valid booking event to mutate, with numbers as raw source text.
pub fn base_event(booking_id: &str) -> Value {
    json!({
        "type": "booking.created",
        "data": {
            "id": booking_id,
            "booked_at": "2026-11-20T10:15:00Z",
            "currency": "EUR",
            "prices": "gross",
            "customer": {
                "id": "cus_42", "name": "Erika Mustermann", "company": null,
                "email": "erika@example.org", "language": "de", "vat_id": null,
                "address": { "line1": "Hauptstr. 5", "line2": null, "postal_code": "10115",
                             "city": "Berlin", "country": "DE" }
            },
            "items": [
                { "description": "Yoga Basics, 10 lessons", "quantity": "1", "unit": "C62",
                  "unit_price": "119.00", "vat_rate": "19", "service_date": "2026-12-01" },
                { "description": "Mat rental", "quantity": raw_number("2"), "unit": "C62",
                  "unit_price": raw_number("4.50"), "vat_rate": raw_number("19") }
            ],
            "reference": "PO-7781",
            "note": null
        }
    })
}

/// One generated webhook body: a mutated event, sometimes mangled as text. Bookings with many
/// items are made only when `many_items` (they are slow on moto, which copies whole items).
pub fn webhook_body(rng: &mut SplitMix, case: usize, many_items: bool) -> Vec<u8> {
    let mut event = base_event(&format!("bk_fz{case}"));
    let mutations = 1 + rng.below(3);
    for _ in 0..mutations {
        let mut all = Vec::new();
        paths(&event, &mut Vec::new(), &mut all);
        let path = rng.pick(&all).clone();
        match rng.below(10) {
            // Replace a node (the most useful: reaches every field's validation).
            0..=5 => {
                if let Some(node) = node_mut(&mut event, &path) {
                    *node = random_value(rng, path.len());
                }
            }
            // Delete a key.
            6 => {
                if let Some((PathStep::Key(k), parent)) = path.split_last()
                    && let Some(Value::Object(map)) = node_mut(&mut event, parent)
                {
                    map.remove(k);
                }
            }
            // Add a key.
            7 => {
                if let Some(Value::Object(map)) = node_mut(&mut event, &path) {
                    map.insert(random_text(rng), random_value(rng, 2));
                }
            }
            // Many items (the item limit and the arithmetic on many lines).
            8 => {
                if let Some(Value::Array(items)) = node_mut(
                    &mut event,
                    &[PathStep::Key("data".into()), PathStep::Key("items".into())],
                ) && let Some(first) = items.first().cloned()
                {
                    let n = if many_items {
                        *rng.pick(&[0usize, 50, 999, 1000, 1001])
                    } else {
                        *rng.pick(&[0usize, 3, 20])
                    };
                    *items = vec![first; n];
                }
            }
            // A known or unknown event type.
            _ => {
                let Value::Object(map) = &mut event else {
                    continue;
                };
                map.insert(
                    "type".into(),
                    json!(rng.pick(&[
                        "booking.created",
                        "booking.paid",
                        "booking.cancelled",
                        "booking.updated",
                        "Booking.Created",
                        "",
                    ])),
                );
            }
        }
    }
    let mut bytes = to_text(&event).into_bytes();
    if rng.chance(15) && !bytes.is_empty() {
        match rng.below(4) {
            0 => bytes.truncate(rng.below(bytes.len())),
            1 => {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next_u64() as u8;
            }
            2 => {
                let at = rng.below(bytes.len());
                let junk: Vec<u8> = (0..1 + rng.below(8))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                bytes.splice(at..at, junk);
            }
            _ => {
                // A duplicated key (serde takes one of them).
                let text = String::from_utf8_lossy(&bytes).replacen(
                    "\"currency\":",
                    "\"currency\":\"USD\",\"currency\":",
                    1,
                );
                bytes = text.into_bytes();
            }
        }
    }
    bytes
}

// ---- checks ----------------------------------------------------------------------------

/// The canonical text of a decimal written as `text` (JSON number grammar, or None): sign,
/// digits without leading zeros, `.` and digits without trailing zeros. Pure string work, so it
/// does not share a line with the parser it checks.
pub fn canonical_decimal(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (rest.get(..i)?, rest.get(i + 1..)?.parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    if exp.abs() > 10_000 {
        return None;
    }
    // Move the point `exp` places by editing the digit string.
    let mut digits: Vec<char> = int.chars().chain(frac.chars()).collect();
    let mut point = int.len() as i64 + exp;
    while point < 0 {
        digits.insert(0, '0');
        point += 1;
    }
    while point as usize > digits.len() {
        digits.push('0');
    }
    let (i, f) = digits.split_at(point as usize);
    let i: String = i
        .iter()
        .collect::<String>()
        .trim_start_matches('0')
        .to_string();
    let f: String = f
        .iter()
        .collect::<String>()
        .trim_end_matches('0')
        .to_string();
    let i = if i.is_empty() { "0".to_string() } else { i };
    let zero = i == "0" && f.is_empty();
    let sign = if negative && !zero { "-" } else { "" };
    Some(if f.is_empty() {
        format!("{sign}{i}")
    } else {
        format!("{sign}{i}.{f}")
    })
}

#[derive(serde::Deserialize)]
#[serde(transparent)]
struct Raw(Box<serde_json::value::RawValue>);

/// The items of the request body with their fields as raw source text (numbers as written).
fn source_items(body: &str) -> Option<Vec<std::collections::HashMap<String, Raw>>> {
    #[derive(serde::Deserialize)]
    struct Event {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        items: Vec<std::collections::HashMap<String, Raw>>,
    }
    serde_json::from_str::<Event>(body)
        .ok()
        .map(|e| e.data.items)
}

/// The text of a JSON number, or of a numeric string.
fn number_text(raw: &Raw) -> Option<String> {
    let text = raw.0.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()
    } else {
        Some(text.to_string())
    }
}

fn assert_error_format(status: u16, json: &Value, context: &str) {
    let top = json
        .as_object()
        .unwrap_or_else(|| panic!("{context}: not an object: {json}"));
    assert_eq!(top.len(), 1, "{context}: extra keys in {json}");
    let error = json["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{context}: no error object: {json}"));
    assert!(
        error["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{context}: code: {json}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{context}: message: {json}"
    );
    if let Some(field) = error.get("field") {
        assert!(field.is_string(), "{context}: field: {json}");
    }
    for key in error.keys() {
        assert!(
            ["code", "message", "field"].contains(&key.as_str()),
            "{context}: unexpected key {key} in {json} ({status})"
        );
    }
}

async fn send(router: &Router, request: Request<Body>) -> (u16, Value, axum::http::HeaderMap) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router always answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        Value::String(format!("<not JSON: {}>", String::from_utf8_lossy(&bytes)))
    });
    (status, json, headers)
}

/// Fuzzes the webhook with `cases` generated requests from `seed`.
pub async fn fuzz_webhook(t: &Target, seed: u64, cases: usize, many_items: bool) -> FuzzReport {
    let mut rng = SplitMix::new(seed);
    let mut report = FuzzReport::default();
    let tenant = t.tenant.tenant.id.as_str().to_string();
    for case in 0..cases {
        let body = webhook_body(&mut rng, case, many_items);
        let context = format!(
            "seed {seed} case {case}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(600)
                .collect::<String>()
        );
        let msg_id = format!("msg_fz_{seed}_{case}");
        let ts = t.stores.clock.now().timestamp();
        let signature = sign(&t.secret, &msg_id, ts, &body);
        let content_type = if rng.chance(5) {
            *rng.pick(&[
                "text/plain",
                "application/x-www-form-urlencoded",
                "application/json; charset=utf-8",
                "application/cloudevents+json",
            ])
        } else {
            "application/json"
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/v1/webhooks/{tenant}/bookings"))
            .header("content-type", content_type)
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(Body::from(body.clone()))
            .expect("request");
        let before = t.snapshot(&body).await;
        let before_events = t.events.count();
        let (status, json, headers) = send(&t.router, request).await;
        assert!(
            headers.contains_key("x-request-id"),
            "{context}: no request id"
        );
        *report.by_status.entry(status).or_default() += 1;
        report.cases += 1;
        assert!(status < 500, "{context}: answered {status}: {json}");
        let after = t.snapshot(&body).await;
        if status == 202 {
            report.accepted += 1;
            check_accepted(t, &body, &json, &before, &after, &context).await;
        } else {
            assert_error_format(status, &json, &context);
            report
                .codes
                .insert(json["error"]["code"].as_str().unwrap_or("?").to_string());
            assert_eq!(
                before, after,
                "{context}: a rejected request stored something"
            );
            assert_eq!(
                before_events,
                t.events.count(),
                "{context}: a rejected request published"
            );
        }
    }
    report
}

async fn check_accepted(
    t: &Target,
    body: &[u8],
    json: &Value,
    before: &Snapshot,
    after: &Snapshot,
    context: &str,
) {
    let booking_id = json["booking_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: {json}"));
    assert!(
        after.jobs <= before.jobs + 1,
        "{context}: one request recorded {} jobs",
        after.jobs - before.jobs
    );
    let event = parse_booking_event(body)
        .unwrap_or_else(|e| panic!("{context}: accepted but does not parse: {e}"));
    assert_eq!(event.booking_id().as_str(), booking_id, "{context}");
    let tenant_id: Id = t.tenant.tenant.id.clone();
    let record = t
        .stores
        .repository
        .booking(&tenant_id, event.booking_id())
        .await
        .expect("store")
        .unwrap_or_else(|| panic!("{context}: accepted but not stored"));
    assert!(
        record.events.iter().any(|e| e.fact == event.fact()),
        "{context}: the event is recorded on its booking"
    );
    let BookingEvent::Created { booking, .. } = &event else {
        return;
    };
    // What is stored is what was sent, value for value.
    let stored = record
        .content
        .as_ref()
        .unwrap_or_else(|| panic!("{context}: a created booking has content"));
    assert_eq!(stored, booking, "{context}");
    let text = String::from_utf8_lossy(body);
    let sources = source_items(&text).unwrap_or_else(|| panic!("{context}: items unreadable"));
    for (i, item) in stored.items.iter().enumerate() {
        for (name, stored) in [
            ("quantity", Some(item.quantity)),
            ("unit_price", Some(item.unit_price)),
            ("vat_rate", item.vat_rate.map(|r| r.percent())),
        ] {
            let Some(stored) = stored else { continue };
            let source = sources
                .get(i)
                .and_then(|item| item.get(name))
                .and_then(number_text)
                .unwrap_or_else(|| panic!("{context}: no source text for items[{i}].{name}"));
            assert_eq!(
                canonical_decimal(&source).as_deref(),
                Some(stored.normalize().to_string().as_str()),
                "{context}: items[{i}].{name} was '{source}' and is stored as {stored}"
            );
            assert!(
                stored.normalize().scale() <= 4,
                "{context}: items[{i}].{name} has more than 4 decimals"
            );
        }
    }
    // And it can become an invoice (the webhook promised that by accepting it).
    let now = t.stores.clock.now();
    plan_document(
        &t.tenant.tenant,
        booking,
        DocumentKind::Invoice,
        &Id::generate("inv"),
        now.date_naive(),
        now,
    )
    .unwrap_or_else(|e| panic!("{context}: accepted but cannot be invoiced: {e}"));
}

/// Fuzzes the API: random methods, paths (with percent-encodings that are not UTF-8),
/// query strings and credentials.
pub async fn fuzz_api(t: &Target, seed: u64, cases: usize) -> FuzzReport {
    let mut rng = SplitMix::new(seed);
    let mut report = FuzzReport::default();
    let segments = [
        "invoices", "inv_0193", "%FF", "%C3%28", "%E2%82", "..", "%2e%2e", "pdf", "xml", "%00",
        "bookings", "webhooks", "demo", "ünï", "a%20b", "", "%", "%zz", "v1",
    ];
    let queries = [
        "",
        "?syntax=ubl",
        "?syntax=%FF",
        "?limit=0",
        "?limit=201",
        "?limit=-1",
        "?limit=1e3",
        "?status=sent",
        "?status=%FF",
        "?from=2026-13-01",
        "?cursor=%FF%FE",
        "?cursor=abc",
        "?customer=%40",
        "?to=9999-99-99",
        "?a=%FF&b",
        "?&&&",
        "?status=issued&status=sent",
    ];
    let methods = [
        Method::GET,
        Method::GET,
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::PUT,
        Method::PATCH,
        Method::OPTIONS,
        Method::HEAD,
    ];
    for case in 0..cases {
        let depth = 1 + rng.below(4);
        let mut path = String::from("/v1");
        for _ in 0..depth {
            path.push('/');
            let segment: &&str = rng.pick(&segments);
            path.push_str(segment);
        }
        if rng.chance(30) {
            path = format!("/v1/invoices/{}", rng.pick(&segments));
        }
        let query: &&str = rng.pick(&queries);
        path.push_str(query);
        let method = rng.pick(&methods).clone();
        let mut request = Request::builder().method(method.clone()).uri(path.as_str());
        match rng.below(4) {
            0 => {}
            1 => request = request.header("authorization", format!("Bearer {}", t.api_key)),
            2 => request = request.header("authorization", "Bearer wrong"),
            _ => request = request.header("authorization", "Basic Zm9vOmJhcg=="),
        }
        let Ok(request) = request.body(Body::empty()) else {
            continue; // the client side cannot even build this URI
        };
        let context = format!("seed {seed} case {case}: {method} {path}");
        let before = t.snapshot(b"").await;
        let (status, json, headers) = send(&t.router, request).await;
        report.cases += 1;
        *report.by_status.entry(status).or_default() += 1;
        assert!(status < 500, "{context}: answered {status}: {json}");
        assert!(
            headers.contains_key("x-request-id"),
            "{context}: no request id"
        );
        if status >= 400 && method != Method::HEAD {
            assert_error_format(status, &json, &context);
            report
                .codes
                .insert(json["error"]["code"].as_str().unwrap_or("?").to_string());
        }
        assert_eq!(before, t.snapshot(b"").await, "{context}: stored something");
    }
    report
}

/// The number of fuzz cases: `FAKTURA_FUZZ_CASES` when set, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("FAKTURA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed: `FAKTURA_FUZZ_SEED` when set, else `default` (CI is deterministic).
pub fn seed(default: u64) -> u64 {
    std::env::var("FAKTURA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::canonical_decimal;

    #[test]
    fn canonical_decimals() {
        assert_eq!(canonical_decimal("119.00").as_deref(), Some("119"));
        assert_eq!(canonical_decimal("1.5e2").as_deref(), Some("150"));
        assert_eq!(canonical_decimal("15E-3").as_deref(), Some("0.015"));
        assert_eq!(canonical_decimal("-0.0").as_deref(), Some("0"));
        assert_eq!(canonical_decimal("007.50").as_deref(), Some("7.5"));
        assert_eq!(canonical_decimal("x"), None);
    }
}
