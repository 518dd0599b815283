//! Contract tests for the storage ports, written against the traits only: every adapter
//! (embedded SQLite and files now, DynamoDB and S3 later) must pass the same functions.
//!
//! Each function uses fresh tenant ids ([`fresh_tenant`]), so the functions can share one
//! store, run in any order and run again against a store that keeps data between runs.
//! Sweep queries span all tenants: their contracts use instants in 1990 (which no other
//! contract uses), a generous limit, and look only at their own tenant's items.
//!
//! Fixtures are real: bookings are parsed by the webhook parser and invoices planned by
//! `plan_invoice`, exactly as the service does.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use faktura_domain::booking::{Booking, parse_booking_event};
use faktura_domain::invoicing::{booking_hash, customer_from_booking, plan_invoice};
use faktura_domain::model::{
    BankAccount, DocumentKind, Invoice, InvoiceStatus, NumberingSettings, PostalAddress,
    PriceBasis, Seller, Tenant, TenantSettings,
};
use faktura_domain::numbering::CounterKey;
use faktura_domain::ports::{
    BookingRecord, BookingStatus, BookingStore, CustomerStore, DocumentStore, InvoiceFilter,
    InvoiceStore, IssueOutcome, Recorded, StoredInvoice,
};
use faktura_domain::values::{Id, InvoiceNumber, Language};

// ---- fixtures ----------------------------------------------------------------------------

/// A UTC instant; panics on an impossible date (fixtures only).
pub fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s)
        .single()
        .unwrap_or_else(|| panic!("fixture instant {y}-{m}-{d} {h}:{min}:{s} does not exist"))
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap_or_else(|| panic!("fixture date {y}-{m}-{d} does not exist"))
}

pub fn id(s: &str) -> Id {
    parsed(s)
}

/// A tenant id no other test (or earlier run) uses.
pub fn fresh_tenant_id() -> Id {
    Id::generate("tn")
}

/// Parses a fixture value; panics with the value on failure (fixtures only).
pub fn parsed<T>(value: &str) -> T
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .unwrap_or_else(|e| panic!("fixture value '{value}': {e}"))
}

/// A German VAT-registered seller numbering `RE-{yyyy}-{seq:5}` with a yearly reset.
pub fn sample_tenant(tenant_id: &Id) -> Tenant {
    Tenant {
        id: tenant_id.clone(),
        seller: Seller {
            legal_name: "Yogastudio Sonnenschein GmbH".into(),
            address: PostalAddress {
                line1: "Lindenallee 12".into(),
                line2: None,
                postal_code: "10115".into(),
                city: "Berlin".into(),
                country: parsed("DE"),
            },
            vat_id: Some(parsed("DE123456789")),
            tax_number: Some("30/123/45678".into()),
            email: parsed("rechnung@sonnenschein.example"),
            phone: Some("+49 30 1234567".into()),
            contact_name: Some("Maria Sonnenschein".into()),
            website: None,
            register: Some("Amtsgericht Charlottenburg HRB 12345".into()),
            managing_directors: Some("Maria Sonnenschein".into()),
            bank: Some(BankAccount {
                account_holder: "Yogastudio Sonnenschein GmbH".into(),
                iban: "DE89370400440532013000".into(),
                bic: Some("COBADEFFXXX".into()),
                bank_name: None,
            }),
        },
        settings: TenantSettings {
            small_business: false,
            default_vat_rate: parsed("19"),
            default_prices: PriceBasis::Gross,
            payment_terms_days: 14,
            language: Language::De,
            invoice_numbering: NumberingSettings {
                pattern: parsed("RE-{yyyy}-{seq:5}"),
                yearly_reset: true,
            },
            einvoice: faktura_domain::model::EInvoiceFormat::Zugferd,
        },
    }
}

/// A booking as the webhook parser makes it, for customer `ext:<customer_id>`.
pub fn sample_booking(booking_id: &str, customer_id: &str) -> Booking {
    let body = serde_json::json!({
        "type": "booking.created",
        "data": {
            "id": booking_id,
            "booked_at": "2026-11-20T10:15:00Z",
            "currency": "EUR",
            "prices": "gross",
            "customer": {
                "id": customer_id,
                "name": "Erika Mustermann",
                "company": null,
                "email": "erika@example.org",
                "language": "de",
                "vat_id": null,
                "address": {
                    "line1": "Hauptstr. 5", "line2": null, "postal_code": "10115",
                    "city": "Berlin", "country": "DE"
                }
            },
            "items": [{
                "description": "Yoga Basics, 10 lessons", "quantity": "1", "unit": "C62",
                "unit_price": "119.00", "vat_rate": "19", "service_date": "2026-12-01"
            }],
            "reference": "PO-7781",
            "note": null
        }
    });
    parse_booking_event(body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("fixture booking '{booking_id}' does not parse: {e}"))
}

/// The idempotency record the webhook writes for `booking`.
pub fn sample_booking_record(
    tenant_id: &Id,
    booking: &Booking,
    received_at: DateTime<Utc>,
) -> BookingRecord {
    BookingRecord {
        tenant_id: tenant_id.clone(),
        booking_id: booking.id.clone(),
        payload_hash: booking_hash(booking),
        invoice_id: Id::generate("inv"),
        booking: booking.clone(),
        status: BookingStatus::Received,
        received_at,
    }
}

/// The invoice `plan_invoice` makes for `booking`, carrying sequence number `seq` of the
/// tenant's pattern.
pub fn sample_invoice(
    tenant: &Tenant,
    booking: &Booking,
    invoice_id: &Id,
    issued_at: DateTime<Utc>,
    seq: u64,
) -> Invoice {
    let issue_date = issued_at.date_naive();
    let mut invoice = plan_invoice(tenant, booking, invoice_id, issue_date, issued_at)
        .unwrap_or_else(|e| panic!("fixture invoice '{invoice_id}' cannot be planned: {e}"))
        .invoice;
    invoice.number = tenant
        .settings
        .invoice_numbering
        .pattern
        .format(seq, issue_date);
    invoice
}

/// The counter an invoice of `tenant` issued on `issue_date` draws from.
pub fn counter_key(tenant: &Tenant, issue_date: NaiveDate) -> CounterKey {
    CounterKey::new(
        &tenant.id,
        DocumentKind::Invoice.series(),
        tenant.settings.invoice_numbering.yearly_reset,
        issue_date,
    )
}

/// Issues the next invoice of `tenant` for a new booking, as the service does (read the
/// counter, insert with it), asserting that nobody else moves the counter meanwhile.
pub async fn issue_next(
    invoices: &dyn InvoiceStore,
    tenant: &Tenant,
    booking_id: &str,
    customer_id: &str,
    issued_at: DateTime<Utc>,
) -> Invoice {
    let key = counter_key(tenant, issued_at.date_naive());
    let current = invoices.counter(&key).await.expect("counter");
    let booking = sample_booking(booking_id, customer_id);
    let invoice = sample_invoice(
        tenant,
        &booking,
        &Id::generate("inv"),
        issued_at,
        current + 1,
    );
    let outcome = invoices
        .insert_issued(&key, current, &invoice)
        .await
        .expect("insert_issued");
    assert_eq!(
        outcome,
        IssueOutcome::Issued,
        "issuing {} with the counter at {current} must succeed",
        invoice.number
    );
    invoice
}

fn ids(invoices: &[StoredInvoice]) -> Vec<Id> {
    invoices.iter().map(|s| s.invoice.id.clone()).collect()
}

/// Every invoice matching `filter`, page by page; checks each page's size and that paging ends.
pub async fn list_all(
    invoices: &dyn InvoiceStore,
    tenant_id: &Id,
    filter: &InvoiceFilter,
    limit: usize,
) -> (Vec<StoredInvoice>, usize) {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(
            pages <= 1000,
            "list_invoices keeps returning cursors (filter {filter:?}, limit {limit})"
        );
        let page = invoices
            .list_invoices(tenant_id, filter, cursor.as_deref(), limit)
            .await
            .expect("list_invoices");
        assert!(
            page.invoices.len() <= limit,
            "a page holds at most `limit` invoices: got {} for limit {limit}",
            page.invoices.len()
        );
        all.extend(page.invoices);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (all, pages),
        }
    }
}

// ---- bookings ----------------------------------------------------------------------------

/// `record_booking` inserts once; later calls get the stored record back, unchanged.
pub async fn record_booking_is_insert_if_absent(bookings: &dyn BookingStore) {
    let tenant = fresh_tenant_id();
    let booking = sample_booking("bk_1001", "cus_42");
    let first = sample_booking_record(&tenant, &booking, at(2026, 11, 20, 10, 15, 1));
    let outcome = bookings
        .record_booking(&first)
        .await
        .expect("record_booking");
    assert_eq!(
        outcome,
        Recorded::Created,
        "the first record of a booking is created"
    );

    // A retry with another invoice id and payload must not replace the first record.
    let mut second = sample_booking_record(&tenant, &booking, at(2026, 11, 20, 10, 16, 0));
    second.payload_hash = "another-payload".into();
    let outcome = bookings
        .record_booking(&second)
        .await
        .expect("record_booking");
    assert_eq!(
        outcome,
        Recorded::Existing(Box::new(first.clone())),
        "a second record for the same booking id returns the first, unchanged"
    );
    let stored = bookings
        .booking(&tenant, &booking.id)
        .await
        .expect("booking");
    assert_eq!(
        stored.as_ref(),
        Some(&first),
        "the stored record is still the first"
    );

    // The same booking id under another tenant is another booking.
    let other = fresh_tenant_id();
    let theirs = sample_booking_record(&other, &booking, at(2026, 11, 20, 10, 17, 0));
    let outcome = bookings
        .record_booking(&theirs)
        .await
        .expect("record_booking");
    assert_eq!(
        outcome,
        Recorded::Created,
        "booking ids are scoped by tenant"
    );
}

/// `booking` finds a record by tenant and booking id, and nothing else.
pub async fn booking_lookup(bookings: &dyn BookingStore) {
    let tenant = fresh_tenant_id();
    let booking = sample_booking("bk_2001", "cus_42");
    let record = sample_booking_record(&tenant, &booking, at(2026, 11, 20, 11, 0, 0));
    bookings
        .record_booking(&record)
        .await
        .expect("record_booking");

    let found = bookings
        .booking(&tenant, &booking.id)
        .await
        .expect("booking");
    assert_eq!(found, Some(record), "a recorded booking reads back equal");
    let missing = bookings
        .booking(&tenant, &id("bk_2002"))
        .await
        .expect("booking");
    assert_eq!(missing, None, "an unknown booking id is not found");
    let other = bookings
        .booking(&fresh_tenant_id(), &booking.id)
        .await
        .expect("booking");
    assert_eq!(other, None, "another tenant does not see the booking");
}

/// `mark_booking_invoiced` moves the status and changes nothing else; it is idempotent.
pub async fn mark_booking_invoiced(bookings: &dyn BookingStore) {
    let tenant = fresh_tenant_id();
    let booking = sample_booking("bk_3001", "cus_42");
    let record = sample_booking_record(&tenant, &booking, at(2026, 11, 20, 12, 0, 0));
    bookings
        .record_booking(&record)
        .await
        .expect("record_booking");
    let untouched = sample_booking_record(
        &tenant,
        &sample_booking("bk_3002", "cus_42"),
        record.received_at,
    );
    bookings
        .record_booking(&untouched)
        .await
        .expect("record_booking");

    bookings
        .mark_booking_invoiced(&tenant, &booking.id)
        .await
        .expect("mark_booking_invoiced");
    let expected = BookingRecord {
        status: BookingStatus::Invoiced,
        ..record.clone()
    };
    let found = bookings
        .booking(&tenant, &booking.id)
        .await
        .expect("booking");
    assert_eq!(found.as_ref(), Some(&expected), "only the status changes");

    bookings
        .mark_booking_invoiced(&tenant, &booking.id)
        .await
        .expect("mark_booking_invoiced twice");
    let found = bookings
        .booking(&tenant, &booking.id)
        .await
        .expect("booking");
    assert_eq!(
        found.as_ref(),
        Some(&expected),
        "marking twice changes nothing"
    );

    let other = bookings
        .booking(&tenant, &untouched.booking_id)
        .await
        .expect("booking");
    assert_eq!(
        other.map(|r| r.status),
        Some(BookingStatus::Received),
        "other bookings keep their status"
    );
}

/// The base instant of the sweep contracts (see the module docs).
fn sweep_base() -> DateTime<Utc> {
    at(1990, 1, 1, 0, 0, 0)
}

/// `bookings_awaiting_invoice` returns received bookings recorded strictly before `before`.
pub async fn bookings_awaiting_invoice(bookings: &dyn BookingStore) {
    let tenant = fresh_tenant_id();
    let base = sweep_base();
    let mut records = Vec::new();
    for (i, hours) in [1, 2, 3].into_iter().enumerate() {
        let booking = sample_booking(&format!("bk_sweep_{i}"), "cus_42");
        let record = sample_booking_record(&tenant, &booking, base + TimeDelta::hours(hours));
        bookings
            .record_booking(&record)
            .await
            .expect("record_booking");
        records.push(record);
    }
    bookings
        .mark_booking_invoiced(&tenant, &records[2].booking_id)
        .await
        .expect("mark_booking_invoiced");

    let ours = |items: Vec<faktura_domain::ports::WorkItem>| -> Vec<Id> {
        let mut v: Vec<Id> = items
            .into_iter()
            .filter(|w| w.tenant_id == tenant)
            .map(|w| w.id)
            .collect();
        v.sort();
        v
    };
    let before = base + TimeDelta::hours(2);
    let found = bookings
        .bookings_awaiting_invoice(before, 1000)
        .await
        .expect("bookings_awaiting_invoice");
    assert_eq!(
        ours(found),
        vec![records[0].booking_id.clone()],
        "only bookings recorded strictly before `before` are due"
    );

    let found = bookings
        .bookings_awaiting_invoice(base + TimeDelta::hours(4), 1000)
        .await
        .expect("bookings_awaiting_invoice");
    assert_eq!(
        ours(found),
        vec![records[0].booking_id.clone(), records[1].booking_id.clone()],
        "invoiced bookings are not due"
    );

    let found = bookings
        .bookings_awaiting_invoice(base + TimeDelta::hours(4), 1)
        .await
        .expect("bookings_awaiting_invoice");
    assert!(
        found.len() <= 1,
        "the limit is respected: got {}",
        found.len()
    );

    let found = bookings
        .bookings_awaiting_invoice(base, 1000)
        .await
        .expect("bookings_awaiting_invoice");
    assert_eq!(
        ours(found),
        Vec::<Id>::new(),
        "nothing is due before it was recorded"
    );
}

// ---- customers ---------------------------------------------------------------------------

/// `upsert_customer` creates, then replaces; `customer` reads by tenant and key.
pub async fn customer_upsert_and_get(customers: &dyn CustomerStore) {
    let tenant_id = fresh_tenant_id();
    let tenant = sample_tenant(&tenant_id);
    let booking = sample_booking("bk_4001", "cus_77");
    let customer = customer_from_booking(&booking, &tenant, at(2026, 11, 20, 10, 0, 0));
    assert_eq!(customer.key, "ext:cus_77");

    assert_eq!(
        customers
            .customer(&tenant_id, &customer.key)
            .await
            .expect("customer"),
        None,
        "no customer before the first upsert"
    );
    customers
        .upsert_customer(&tenant_id, &customer)
        .await
        .expect("upsert_customer");
    assert_eq!(
        customers
            .customer(&tenant_id, &customer.key)
            .await
            .expect("customer"),
        Some(customer.clone()),
        "an upserted customer reads back equal"
    );

    let mut changed = customer.clone();
    changed.name = "Erika Musterfrau".into();
    changed.company = Some("Musterfrau Consulting".into());
    changed.updated_at = at(2026, 11, 21, 9, 0, 0);
    customers
        .upsert_customer(&tenant_id, &changed)
        .await
        .expect("upsert_customer again");
    assert_eq!(
        customers
            .customer(&tenant_id, &customer.key)
            .await
            .expect("customer"),
        Some(changed.clone()),
        "a second upsert replaces the customer"
    );

    assert_eq!(
        customers
            .customer(&tenant_id, "ext:cus_78")
            .await
            .expect("customer"),
        None,
        "an unknown key is not found"
    );
    assert_eq!(
        customers
            .customer(&fresh_tenant_id(), &customer.key)
            .await
            .expect("customer"),
        None,
        "another tenant does not see the customer"
    );
}

// ---- numbering ---------------------------------------------------------------------------

/// A counter nobody used reads 0.
pub async fn counter_starts_at_zero(invoices: &dyn InvoiceStore) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let key = counter_key(&tenant, date(2026, 3, 1));
    assert_eq!(
        invoices.counter(&key).await.expect("counter"),
        0,
        "a fresh counter is 0"
    );
}

/// `insert_issued`: Issued moves the counter and stores; CounterMoved and AlreadyExists
/// write nothing; AlreadyExists wins when both apply.
pub async fn insert_issued_outcomes(invoices: &dyn InvoiceStore) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let t = &tenant.id;
    let issued_at = at(2026, 3, 1, 9, 0, 0);
    let key = counter_key(&tenant, issued_at.date_naive());
    let booking = sample_booking("bk_5001", "cus_42");

    let first = sample_invoice(&tenant, &booking, &id("inv_first"), issued_at, 1);
    assert_eq!(
        invoices
            .insert_issued(&key, 0, &first)
            .await
            .expect("insert_issued"),
        IssueOutcome::Issued,
        "the first invoice is issued with the counter at 0"
    );
    assert_eq!(
        invoices.counter(&key).await.expect("counter"),
        1,
        "the counter moved to 1"
    );
    let stored = invoices.invoice(t, &first.id).await.expect("invoice");
    assert_eq!(
        stored,
        Some(StoredInvoice {
            invoice: first.clone(),
            status: InvoiceStatus::Issued,
            sent_at: None,
            message_id: None,
        }),
        "an issued invoice reads back equal, issued and unsent"
    );

    // A stale expectation: someone else took number 1.
    let stale = sample_invoice(&tenant, &booking, &id("inv_stale"), issued_at, 1);
    assert_eq!(
        invoices
            .insert_issued(&key, 0, &stale)
            .await
            .expect("insert_issued"),
        IssueOutcome::CounterMoved,
        "a stale `expected` is CounterMoved"
    );
    let ahead = sample_invoice(&tenant, &booking, &id("inv_ahead"), issued_at, 6);
    assert_eq!(
        invoices
            .insert_issued(&key, 5, &ahead)
            .await
            .expect("insert_issued"),
        IssueOutcome::CounterMoved,
        "an `expected` ahead of the counter is CounterMoved"
    );
    assert_eq!(
        invoices.counter(&key).await.expect("counter"),
        1,
        "CounterMoved leaves the counter alone"
    );
    for missing in [&stale.id, &ahead.id] {
        assert_eq!(
            invoices.invoice(t, missing).await.expect("invoice"),
            None,
            "CounterMoved stores no invoice ({missing})"
        );
    }

    // A retry of the first issue, with the counter read afresh: the id exists.
    let retry = sample_invoice(&tenant, &booking, &first.id, issued_at, 2);
    assert_eq!(
        invoices
            .insert_issued(&key, 1, &retry)
            .await
            .expect("insert_issued"),
        IssueOutcome::AlreadyExists,
        "an existing invoice id is AlreadyExists"
    );
    // Both conditions fail: the existing id is what the caller needs to hear.
    let retry_stale = sample_invoice(&tenant, &booking, &first.id, issued_at, 1);
    assert_eq!(
        invoices
            .insert_issued(&key, 0, &retry_stale)
            .await
            .expect("insert_issued"),
        IssueOutcome::AlreadyExists,
        "AlreadyExists takes precedence over CounterMoved"
    );
    assert_eq!(
        invoices.counter(&key).await.expect("counter"),
        1,
        "AlreadyExists leaves the counter alone"
    );
    assert_eq!(
        invoices
            .invoice(t, &first.id)
            .await
            .expect("invoice")
            .map(|s| s.invoice),
        Some(first.clone()),
        "AlreadyExists leaves the stored invoice alone"
    );

    // And the next real issue continues gaplessly.
    let second = sample_invoice(&tenant, &booking, &id("inv_second"), issued_at, 2);
    assert_eq!(
        invoices
            .insert_issued(&key, 1, &second)
            .await
            .expect("insert_issued"),
        IssueOutcome::Issued,
        "the next invoice is issued with the counter at 1"
    );
    assert_eq!(invoices.counter(&key).await.expect("counter"), 2);
}

/// Counters of different tenants, series and periods do not affect each other.
pub async fn counters_are_independent(invoices: &dyn InvoiceStore) {
    let a = sample_tenant(&fresh_tenant_id());
    let b = sample_tenant(&fresh_tenant_id());
    let booking = sample_booking("bk_6001", "cus_42");
    let key = |tenant: &Tenant, series: &str, period: Option<i32>| CounterKey {
        tenant_id: tenant.id.clone(),
        series: series.to_string(),
        period,
    };
    let issue = |tenant: &Tenant, key: CounterKey, expected: u64, number: String| {
        let year = key.period.unwrap_or(2030);
        let mut invoice = sample_invoice(
            tenant,
            &booking,
            &Id::generate("inv"),
            at(year, 6, 1, 12, 0, 0),
            expected + 1,
        );
        invoice.number = parsed::<InvoiceNumber>(&number);
        async move {
            invoices
                .insert_issued(&key, expected, &invoice)
                .await
                .expect("insert_issued")
        }
    };

    let a_2026 = key(&a, "invoice", Some(2026));
    for n in 0..2 {
        let outcome = issue(&a, a_2026.clone(), n, format!("RE-2026-{}", n + 1)).await;
        assert_eq!(
            outcome,
            IssueOutcome::Issued,
            "tenant A, invoice 2026, #{}",
            n + 1
        );
    }
    assert_eq!(invoices.counter(&a_2026).await.expect("counter"), 2);

    let others = [
        (
            "tenant A, invoice, 2027",
            key(&a, "invoice", Some(2027)),
            "RE-2027-1",
        ),
        (
            "tenant A, invoice, no period",
            key(&a, "invoice", None),
            "RE-1",
        ),
        (
            "tenant A, credit_note, 2026",
            key(&a, "credit_note", Some(2026)),
            "GS-2026-1",
        ),
        (
            "tenant B, invoice, 2026",
            key(&b, "invoice", Some(2026)),
            "RE-2026-1",
        ),
    ];
    for (what, k, _) in &others {
        assert_eq!(
            invoices.counter(k).await.expect("counter"),
            0,
            "{what} is untouched by tenant A's 2026 invoices"
        );
    }
    for (what, k, number) in others {
        let tenant = if k.tenant_id == a.id { &a } else { &b };
        let outcome = issue(tenant, k.clone(), 0, number.to_string()).await;
        assert_eq!(
            outcome,
            IssueOutcome::Issued,
            "{what} starts at 0 on its own"
        );
        assert_eq!(
            invoices.counter(&k).await.expect("counter"),
            1,
            "{what} moved to 1"
        );
    }
    assert_eq!(
        invoices.counter(&a_2026).await.expect("counter"),
        2,
        "tenant A's 2026 counter is untouched by the others"
    );
}

/// Unknown invoices are not found, and invoices are scoped by tenant.
pub async fn invoice_not_found(invoices: &dyn InvoiceStore) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let issued = issue_next(
        invoices,
        &tenant,
        "bk_7001",
        "cus_42",
        at(2026, 3, 1, 9, 0, 0),
    )
    .await;
    assert_eq!(
        invoices
            .invoice(&tenant.id, &id("inv_nope"))
            .await
            .expect("invoice"),
        None,
        "an unknown invoice id is not found"
    );
    assert_eq!(
        invoices
            .invoice(&fresh_tenant_id(), &issued.id)
            .await
            .expect("invoice"),
        None,
        "another tenant does not see the invoice"
    );
}

// ---- listing -----------------------------------------------------------------------------

/// Five invoices of one tenant, 1..=5 in issue order on 2026-03-01..05; customers
/// `ext:cus_a` (1, 3, 5) and `ext:cus_b` (2, 4); 2 and 4 are sent. Plus one invoice of
/// another tenant for the same customer.
pub struct ListFixture {
    pub tenant: Tenant,
    pub invoices: Vec<Invoice>,
}

impl ListFixture {
    /// The ids of invoices `numbers` (1-based).
    pub fn ids(&self, numbers: &[usize]) -> Vec<Id> {
        numbers
            .iter()
            .map(|n| self.invoices[n - 1].id.clone())
            .collect()
    }
}

pub async fn seed_list_fixture(invoices: &dyn InvoiceStore) -> ListFixture {
    let tenant = sample_tenant(&fresh_tenant_id());
    let mut issued = Vec::new();
    for n in 1..=5u32 {
        let customer = if n % 2 == 1 { "cus_a" } else { "cus_b" };
        let invoice = issue_next(
            invoices,
            &tenant,
            &format!("bk_list_{n}"),
            customer,
            at(2026, 3, n, 9, 0, 0),
        )
        .await;
        issued.push(invoice);
    }
    for n in [2, 4] {
        let inv: &Invoice = &issued[n - 1];
        invoices
            .mark_sent(
                &tenant.id,
                &inv.id,
                at(2026, 3, 10, 8, 0, 0),
                &format!("msg-{n}"),
            )
            .await
            .expect("mark_sent");
    }
    let other = sample_tenant(&fresh_tenant_id());
    issue_next(
        invoices,
        &other,
        "bk_list_other",
        "cus_a",
        at(2026, 3, 3, 9, 0, 0),
    )
    .await;
    ListFixture {
        tenant,
        invoices: issued,
    }
}

/// Oldest first, and every filter (customer, status, inclusive date range, combined).
pub async fn list_invoices_order_and_filters(invoices: &dyn InvoiceStore) {
    let fx = seed_list_fixture(invoices).await;
    let t = &fx.tenant.id;
    let customer = |k: &str| Some(k.to_string());
    let cases: Vec<(&str, InvoiceFilter, Vec<usize>)> = vec![
        ("no filter", InvoiceFilter::default(), vec![1, 2, 3, 4, 5]),
        (
            "customer ext:cus_a",
            InvoiceFilter {
                customer_key: customer("ext:cus_a"),
                ..Default::default()
            },
            vec![1, 3, 5],
        ),
        (
            "customer ext:cus_b",
            InvoiceFilter {
                customer_key: customer("ext:cus_b"),
                ..Default::default()
            },
            vec![2, 4],
        ),
        (
            "unknown customer",
            InvoiceFilter {
                customer_key: customer("ext:cus_zzz"),
                ..Default::default()
            },
            vec![],
        ),
        (
            "status sent",
            InvoiceFilter {
                status: Some(InvoiceStatus::Sent),
                ..Default::default()
            },
            vec![2, 4],
        ),
        (
            "status issued",
            InvoiceFilter {
                status: Some(InvoiceStatus::Issued),
                ..Default::default()
            },
            vec![1, 3, 5],
        ),
        (
            "from 2026-03-02 (inclusive)",
            InvoiceFilter {
                from: Some(date(2026, 3, 2)),
                ..Default::default()
            },
            vec![2, 3, 4, 5],
        ),
        (
            "to 2026-03-04 (inclusive)",
            InvoiceFilter {
                to: Some(date(2026, 3, 4)),
                ..Default::default()
            },
            vec![1, 2, 3, 4],
        ),
        (
            "from = to = 2026-03-03",
            InvoiceFilter {
                from: Some(date(2026, 3, 3)),
                to: Some(date(2026, 3, 3)),
                ..Default::default()
            },
            vec![3],
        ),
        (
            "from 2026-03-02 to 2026-03-04",
            InvoiceFilter {
                from: Some(date(2026, 3, 2)),
                to: Some(date(2026, 3, 4)),
                ..Default::default()
            },
            vec![2, 3, 4],
        ),
        (
            "empty range",
            InvoiceFilter {
                from: Some(date(2026, 3, 4)),
                to: Some(date(2026, 3, 2)),
                ..Default::default()
            },
            vec![],
        ),
        (
            "customer ext:cus_a, issued, from 2026-03-02",
            InvoiceFilter {
                customer_key: customer("ext:cus_a"),
                status: Some(InvoiceStatus::Issued),
                from: Some(date(2026, 3, 2)),
                to: None,
            },
            vec![3, 5],
        ),
    ];
    for (what, filter, expected) in cases {
        let (found, _) = list_all(invoices, t, &filter, 100).await;
        assert_eq!(
            ids(&found),
            fx.ids(&expected),
            "list_invoices with {what}: expected invoices {expected:?}, oldest first"
        );
        for s in &found {
            assert!(
                filter.matches(s),
                "{what}: {} does not match the filter",
                s.invoice.id
            );
        }
    }

    // Listed invoices carry their delivery state, as `invoice` does.
    let (all, _) = list_all(invoices, t, &InvoiceFilter::default(), 100).await;
    for listed in &all {
        let single = invoices
            .invoice(t, &listed.invoice.id)
            .await
            .expect("invoice");
        assert_eq!(
            single.as_ref(),
            Some(listed),
            "a listed invoice equals `invoice`"
        );
    }
    assert_eq!(all[1].status, InvoiceStatus::Sent);
    assert_eq!(all[1].message_id.as_deref(), Some("msg-2"));
}

/// Pages of 2 (and 1) cover every invoice exactly once, in order; a cursor that is not one
/// the store returned gives an empty last page.
pub async fn list_invoices_pagination(invoices: &dyn InvoiceStore) {
    let fx = seed_list_fixture(invoices).await;
    let t = &fx.tenant.id;
    let a_only = InvoiceFilter {
        customer_key: Some("ext:cus_a".into()),
        ..Default::default()
    };
    for (what, filter, limit, expected) in [
        (
            "all, limit 2",
            InvoiceFilter::default(),
            2,
            vec![1, 2, 3, 4, 5],
        ),
        (
            "all, limit 1",
            InvoiceFilter::default(),
            1,
            vec![1, 2, 3, 4, 5],
        ),
        (
            "customer ext:cus_a, limit 2",
            a_only.clone(),
            2,
            vec![1, 3, 5],
        ),
        (
            "all, limit 5",
            InvoiceFilter::default(),
            5,
            vec![1, 2, 3, 4, 5],
        ),
    ] {
        let (found, pages) = list_all(invoices, t, &filter, limit).await;
        assert_eq!(
            ids(&found),
            fx.ids(&expected),
            "{what}: pages together hold every invoice exactly once, oldest first"
        );
        assert!(
            pages >= expected.len().div_ceil(limit),
            "{what}: {} invoices cannot fit in {pages} pages",
            expected.len()
        );
    }

    // A cursor is good for a later, separate request (not a held-open iterator).
    let first = invoices
        .list_invoices(t, &InvoiceFilter::default(), None, 2)
        .await
        .expect("list_invoices");
    let mut seen = ids(&first.invoices);
    let mut next = first.next_cursor;
    while let Some(cursor) = next {
        let page = invoices
            .list_invoices(t, &InvoiceFilter::default(), Some(&cursor), 2)
            .await
            .expect("list_invoices");
        seen.extend(ids(&page.invoices));
        next = page.next_cursor;
    }
    assert_eq!(
        seen,
        fx.ids(&[1, 2, 3, 4, 5]),
        "resuming from cursors continues"
    );

    for garbage in ["", "not-a-cursor", "-1", "🙂", "9999999999999999999999"] {
        let page = invoices
            .list_invoices(t, &InvoiceFilter::default(), Some(garbage), 2)
            .await
            .unwrap_or_else(|e| panic!("a garbage cursor {garbage:?} is not an error: {e}"));
        assert_eq!(
            (ids(&page.invoices), page.next_cursor),
            (Vec::new(), None),
            "a garbage cursor {garbage:?} reads as past the end"
        );
    }
}

// ---- delivery ----------------------------------------------------------------------------

/// `claim_delivery` leases; a lease blocks until it expires (strictly before `now`);
/// `mark_sent` ends claiming for good.
pub async fn claim_delivery_lease(invoices: &dyn InvoiceStore) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let t = &tenant.id;
    let inv = issue_next(
        invoices,
        &tenant,
        "bk_8001",
        "cus_42",
        at(2026, 3, 1, 9, 0, 0),
    )
    .await;
    let t0 = at(2026, 3, 1, 12, 0, 0);
    let lease = TimeDelta::minutes(5);
    let claim = |now: DateTime<Utc>| {
        let inv_id = inv.id.clone();
        async move {
            invoices
                .claim_delivery(t, &inv_id, now, now + lease)
                .await
                .expect("claim_delivery")
        }
    };

    assert!(claim(t0).await, "the first claim succeeds");
    // Releasing someone else's lease (another `lease_until`) changes nothing.
    invoices
        .release_delivery(t, &inv.id, t0 + TimeDelta::minutes(2))
        .await
        .expect("release_delivery");
    assert!(
        !claim(t0 + TimeDelta::seconds(30)).await,
        "a foreign release leaves the lease"
    );
    // Releasing our own lease lets the next claim in at once.
    invoices
        .release_delivery(t, &inv.id, t0 + lease)
        .await
        .expect("release_delivery");
    assert!(
        claim(t0).await,
        "after its release, the invoice can be claimed again"
    );
    assert!(
        !claim(t0 + TimeDelta::minutes(1)).await,
        "a second claim fails while leased"
    );
    assert!(
        !claim(t0 + lease).await,
        "a lease is held up to and including `lease_until`"
    );
    let t1 = t0 + lease + TimeDelta::seconds(1);
    assert!(
        claim(t1).await,
        "a claim succeeds again after the lease expired"
    );
    assert!(
        !claim(t1 + TimeDelta::seconds(1)).await,
        "and that new lease holds"
    );

    let sent_at = t1 + TimeDelta::minutes(1);
    invoices
        .mark_sent(t, &inv.id, sent_at, "msg-8001")
        .await
        .expect("mark_sent");
    let stored = invoices.invoice(t, &inv.id).await.expect("invoice");
    assert_eq!(
        stored,
        Some(StoredInvoice {
            invoice: inv.clone(),
            status: InvoiceStatus::Sent,
            sent_at: Some(sent_at),
            message_id: Some("msg-8001".into()),
        }),
        "mark_sent records status, instant and message id; the document is unchanged"
    );
    assert!(
        !claim(t1 + TimeDelta::hours(1)).await,
        "a sent invoice cannot be claimed, however late"
    );

    assert!(
        !invoices
            .claim_delivery(t, &id("inv_nope"), t0, t0 + lease)
            .await
            .expect("claim_delivery"),
        "an unknown invoice cannot be claimed"
    );
    let other = sample_tenant(&fresh_tenant_id());
    let theirs = issue_next(
        invoices,
        &other,
        "bk_8002",
        "cus_42",
        at(2026, 3, 1, 9, 0, 0),
    )
    .await;
    assert!(
        !invoices
            .claim_delivery(t, &theirs.id, t0, t0 + lease)
            .await
            .expect("claim_delivery"),
        "another tenant's invoice cannot be claimed"
    );
}

/// `invoices_awaiting_delivery` returns issued, unsent invoices issued strictly before `before`.
pub async fn invoices_awaiting_delivery(invoices: &dyn InvoiceStore) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let base = sweep_base();
    let mut issued = Vec::new();
    for hours in [1, 2, 3] {
        let inv = issue_next(
            invoices,
            &tenant,
            &format!("bk_sweep_{hours}"),
            "cus_42",
            base + TimeDelta::hours(hours),
        )
        .await;
        issued.push(inv);
    }
    invoices
        .mark_sent(
            &tenant.id,
            &issued[2].id,
            base + TimeDelta::hours(5),
            "msg-sweep",
        )
        .await
        .expect("mark_sent");

    let ours = |items: Vec<faktura_domain::ports::WorkItem>| -> Vec<Id> {
        let mut v: Vec<Id> = items
            .into_iter()
            .filter(|w| w.tenant_id == tenant.id)
            .map(|w| w.id)
            .collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<Id>| {
        v.sort();
        v
    };
    let found = invoices
        .invoices_awaiting_delivery(base + TimeDelta::hours(2), 1000)
        .await
        .expect("invoices_awaiting_delivery");
    assert_eq!(
        ours(found),
        vec![issued[0].id.clone()],
        "only invoices issued strictly before `before` are due"
    );
    let found = invoices
        .invoices_awaiting_delivery(base + TimeDelta::hours(6), 1000)
        .await
        .expect("invoices_awaiting_delivery");
    assert_eq!(
        ours(found),
        sorted(vec![issued[0].id.clone(), issued[1].id.clone()]),
        "sent invoices are not due"
    );
    let found = invoices
        .invoices_awaiting_delivery(base + TimeDelta::hours(6), 1)
        .await
        .expect("invoices_awaiting_delivery");
    assert!(
        found.len() <= 1,
        "the limit is respected: got {}",
        found.len()
    );
    let found = invoices
        .invoices_awaiting_delivery(base, 1000)
        .await
        .expect("invoices_awaiting_delivery");
    assert_eq!(
        ours(found),
        Vec::<Id>::new(),
        "nothing is due before it was issued"
    );
}

// ---- documents ---------------------------------------------------------------------------

/// put/get, missing keys, overwrite, empty and nested documents.
pub async fn documents_roundtrip(documents: &dyn DocumentStore) {
    let prefix = format!("tenants/{}/invoices/inv_1", fresh_tenant_id());
    let key = format!("{prefix}/RE-2026-00001.pdf");
    assert_eq!(
        documents.document(&key).await.expect("document"),
        None,
        "a missing document is None"
    );
    let first = b"%PDF-1.7 first".to_vec();
    documents
        .put_document(&key, first.clone(), "application/pdf", "RE-2026-00001.pdf")
        .await
        .expect("put_document");
    assert_eq!(
        documents.document(&key).await.expect("document"),
        Some(first),
        "a stored document reads back equal"
    );
    let second: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    documents
        .put_document(&key, second.clone(), "application/pdf", "RE-2026-00001.pdf")
        .await
        .expect("put_document again");
    assert_eq!(
        documents.document(&key).await.expect("document"),
        Some(second),
        "a second put replaces the document (binary, 300 kB)"
    );
    let empty_key = format!("{prefix}/empty.xml");
    documents
        .put_document(&empty_key, Vec::new(), "application/xml", "empty.xml")
        .await
        .expect("put_document empty");
    assert_eq!(
        documents.document(&empty_key).await.expect("document"),
        Some(Vec::new()),
        "an empty document is stored, not missing"
    );
    assert_eq!(
        documents
            .document(&format!("{prefix}/other.pdf"))
            .await
            .expect("document"),
        None,
        "a sibling key is not found"
    );
    assert_eq!(
        documents.document(&prefix).await.expect("document"),
        None,
        "a key prefix is not a document"
    );
}

/// Keys that could escape a directory or mean different things to different stores are
/// refused.
pub async fn document_bad_keys_rejected(documents: &dyn DocumentStore) {
    for bad in [
        "",
        "/etc/passwd",
        "../escape.pdf",
        "tenants/../../escape.pdf",
        "tenants/x/..",
        "..",
        "tenants//x.pdf",
        "tenants/x/",
        "tenants\\x.pdf",
        "tenants/./x.pdf",
    ] {
        let result = documents
            .put_document(bad, b"x".to_vec(), "application/pdf", "x.pdf")
            .await;
        assert!(result.is_err(), "put_document must reject the key {bad:?}");
    }
}

// ---- concurrency -------------------------------------------------------------------------

/// What [`numbering_is_gapless_under_concurrency`] measured.
#[derive(Debug, Clone, Copy)]
pub struct GaplessReport {
    pub tasks: usize,
    /// `insert_issued` calls in all, successful or not.
    pub attempts: usize,
    pub elapsed: Duration,
}

/// `n` tasks each issue one invoice the way the service does (read the counter, insert with
/// it, retry on CounterMoved). The stored numbers must be exactly 1..=n, each once.
pub async fn numbering_is_gapless_under_concurrency(
    invoices: Arc<dyn InvoiceStore>,
    n: usize,
) -> GaplessReport {
    let tenant = Arc::new(sample_tenant(&fresh_tenant_id()));
    let issued_at = at(2026, 5, 4, 10, 0, 0);
    let key = counter_key(&tenant, issued_at.date_naive());
    let template = Arc::new(sample_invoice(
        &tenant,
        &sample_booking("bk_conc", "cus_42"),
        &id("inv_template"),
        issued_at,
        1,
    ));
    // Every loss means another task won, so no task can lose more than n - 1 times.
    let max_attempts = n + 1;

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (store, tenant, key, template) = (
            invoices.clone(),
            tenant.clone(),
            key.clone(),
            template.clone(),
        );
        tasks.spawn(async move {
            let mut invoice = (*template).clone();
            invoice.id = id(&format!("inv_conc_{i:04}"));
            for attempt in 1..=max_attempts {
                let current = store.counter(&key).await.expect("counter");
                invoice.number = tenant
                    .settings
                    .invoice_numbering
                    .pattern
                    .format(current + 1, invoice.issue_date);
                match store
                    .insert_issued(&key, current, &invoice)
                    .await
                    .expect("insert_issued")
                {
                    IssueOutcome::Issued => return (invoice.id, current + 1, attempt),
                    IssueOutcome::CounterMoved => tokio::task::yield_now().await,
                    IssueOutcome::AlreadyExists => {
                        panic!("task {i}: its fresh invoice id exists already")
                    }
                }
            }
            panic!("task {i}: no number after {max_attempts} attempts")
        });
    }
    let mut results = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.unwrap_or_else(|e| panic!("an issuing task failed: {e}")));
    }
    let elapsed = started.elapsed();
    let attempts = results.iter().map(|(_, _, a)| a).sum();

    let mut seqs: Vec<u64> = results.iter().map(|(_, seq, _)| *seq).collect();
    seqs.sort_unstable();
    let expected: Vec<u64> = (1..=n as u64).collect();
    assert_eq!(
        seqs, expected,
        "the tasks got exactly the numbers 1..={n}, each once"
    );
    assert_eq!(
        invoices.counter(&key).await.expect("counter"),
        n as u64,
        "the counter ends at {n}"
    );

    let pattern = &tenant.settings.invoice_numbering.pattern;
    for (invoice_id, seq, _) in &results {
        let stored = invoices
            .invoice(&tenant.id, invoice_id)
            .await
            .expect("invoice")
            .unwrap_or_else(|| panic!("{invoice_id} was reported issued but is not stored"));
        assert_eq!(
            stored.invoice.number,
            pattern.format(*seq, stored.invoice.issue_date),
            "{invoice_id} carries the number of the counter value it took"
        );
    }
    let (listed, _) = list_all(&*invoices, &tenant.id, &InvoiceFilter::default(), 100).await;
    let numbers: Vec<String> = listed
        .iter()
        .map(|s| s.invoice.number.as_str().to_string())
        .collect();
    let unique: BTreeSet<&String> = numbers.iter().collect();
    let wanted: BTreeSet<String> = expected
        .iter()
        .map(|&s| {
            pattern
                .format(s, issued_at.date_naive())
                .as_str()
                .to_string()
        })
        .collect();
    assert_eq!(listed.len(), n, "exactly {n} invoices are stored");
    assert_eq!(unique.len(), n, "no number is stored twice");
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<String>>(),
        wanted,
        "the stored numbers are exactly those of 1..={n}"
    );
    GaplessReport {
        tasks: n,
        attempts,
        elapsed,
    }
}

/// A number that another counter handed out already is refused as a broken invariant
/// (`StoreError::Corrupt`) and nothing is written; so is a counter key of another tenant.
/// SQLite enforces it with UNIQUE (tenant, number), DynamoDB with a `NUMBER#` item in the
/// same transaction.
pub async fn duplicate_number_is_refused(store: &dyn InvoiceStore) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let issued_at = at(2026, 4, 1, 9, 0, 0);
    let first = issue_next(store, &tenant, "bk_dup_1", "cus_42", issued_at).await;

    // Same number, but drawn from another counter (say the pattern lost its year).
    let other_key = faktura_domain::numbering::CounterKey {
        tenant_id: tenant.id.clone(),
        series: "invoice".into(),
        period: None,
    };
    let booking = sample_booking("bk_dup_2", "cus_42");
    let mut dup = sample_invoice(&tenant, &booking, &id("inv_dup"), issued_at, 1);
    dup.number = first.number.clone();
    let result = store.insert_issued(&other_key, 0, &dup).await;
    assert!(
        matches!(result, Err(faktura_domain::StoreError::Corrupt(_))),
        "a duplicate number is a broken invariant: {result:?}"
    );
    assert_eq!(
        store.counter(&other_key).await.expect("counter"),
        0,
        "counter rolled back"
    );
    assert_eq!(
        store.invoice(&tenant.id, &dup.id).await.expect("invoice"),
        None
    );

    // The counter of a different tenant is no excuse either: the key must match the invoice.
    let stranger = sample_tenant(&fresh_tenant_id());
    let wrong_key = counter_key(&stranger, issued_at.date_naive());
    let result = store.insert_issued(&wrong_key, 0, &dup).await;
    assert!(
        matches!(result, Err(faktura_domain::StoreError::Corrupt(_))),
        "{result:?}"
    );
    dup.number = parsed("RE-2026-00002");
    let key = counter_key(&tenant, issued_at.date_naive());
    assert_eq!(
        store
            .insert_issued(&key, 1, &dup)
            .await
            .expect("insert_issued"),
        IssueOutcome::Issued
    );
}

/// Every store contract at once on one store: they use fresh tenant ids, so they must not
/// see each other's data (the list both adapter runners share, kept in one place).
pub async fn all_store_contracts_at_once(
    b: &dyn BookingStore,
    c: &dyn CustomerStore,
    i: &dyn InvoiceStore,
) {
    tokio::join!(
        record_booking_is_insert_if_absent(b),
        booking_lookup(b),
        mark_booking_invoiced(b),
        bookings_awaiting_invoice(b),
        customer_upsert_and_get(c),
        counter_starts_at_zero(i),
        insert_issued_outcomes(i),
        counters_are_independent(i),
        invoice_not_found(i),
        list_invoices_order_and_filters(i),
        list_invoices_pagination(i),
        claim_delivery_lease(i),
        invoices_awaiting_delivery(i),
    );
}
