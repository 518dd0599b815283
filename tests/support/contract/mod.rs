//! The port contract suite: one set of functions, written against the traits only, that every
//! adapter set (SQLite + files, DynamoDB + S3) must pass. [`contract_suite!`](crate::contract_suite)
//! turns the whole list into tests for an adapter set, so no adapter can skip one.
//!
//! - [`repository`]: what a [`Change`](faktura_domain::ports::Change) promises — every part
//!   written or none, each under its condition (versions, counters, numbers, ids written once).
//! - [`listing`]: reads — document lists against the filter's own definition, pages,
//!   customers, ledgers, audit trails, tenants kept apart.
//! - [`jobs`]: the job queue — due index by shard, hand-off, leases, retries, `failed`.
//! - [`files`]: the file store.
//! - [`races`]: the use cases under concurrency on the real adapters — gapless numbers, a
//!   payment against a cancellation, two credit notes for the last open amount, one payment
//!   reported twice at once, one idempotency key sent twice at once, two workers on one job.
//! - [`schedules`]: schedules stored at a version and each occurrence claimed once; one
//!   occurrence billed once by many runs at once; a stop racing a bill.
//! - [`dunning`]: one reminder per level however many runs race, exhaustion, a payment racing
//!   a dunning run.
//! - [`collective`]: billable items claimed once by racing requests, a period collected once
//!   by racing runs, a draft changed and issued once on its send date.
//! - [`bank`]: statements pay the invoices they name, once, however often (and however
//!   concurrently) they are imported; the review list and assignment.
//!
//! Fixtures are real: bookings are parsed by the webhook parser and documents planned by
//! `plan_document`, exactly as the service does. Every function uses fresh tenant ids.

pub mod bank;
pub mod collective;
pub mod dunning;
pub mod files;
pub mod jobs;
pub mod listing;
pub mod races;
pub mod repository;
pub mod schedules;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use faktura_domain::booking::{Booking, BookingEvent};
use faktura_domain::document::Document;
use faktura_domain::invoicing::plan_document;
use faktura_domain::model::{
    BankAccount, Billing, ContractSettings, DocumentKind, NumberingSettings, PostalAddress,
    PriceBasis, Seller, Tenant, TenantSettings,
};
use faktura_domain::numbering::CounterKey;
use faktura_domain::ports::{
    Clock, EventPublisher, FileStore, JobQueue, Repository, Stores, SystemClock, TenantRecord,
};
use faktura_domain::values::{Id, Language};

/// The adapters a contract runs on.
#[derive(Clone)]
pub struct Adapters {
    pub repository: Arc<dyn Repository>,
    pub jobs: Arc<dyn JobQueue>,
    pub files: Arc<dyn FileStore>,
}

impl Adapters {
    /// The stores the use cases run on: these adapters, `tenants`, the system clock and a bus
    /// that drops events (the races drive jobs themselves).
    pub fn stores(&self, tenants: &[Tenant]) -> Stores {
        self.stores_at(tenants, Arc::new(SystemClock))
    }

    /// [`Adapters::stores`] on another clock (a test that moves time).
    pub fn stores_at(&self, tenants: &[Tenant], clock: Arc<dyn Clock>) -> Stores {
        let records = tenants
            .iter()
            .map(|t| {
                (
                    TenantRecord {
                        tenant: t.clone(),
                        webhook_secrets: Vec::new(),
                    },
                    Vec::new(),
                )
            })
            .collect();
        Stores {
            tenants: Arc::new(faktura_embedded::StaticTenants::new(records)),
            repository: self.repository.clone(),
            jobs: self.jobs.clone(),
            files: self.files.clone(),
            events: Arc::new(DroppedEvents),
            clock,
        }
    }
}

/// A bus that drops every event (as a process killed right after its commit would).
pub struct DroppedEvents;

#[async_trait::async_trait]
impl EventPublisher for DroppedEvents {
    async fn publish(
        &self,
        _event: &faktura_domain::events::DomainEvent,
    ) -> Result<(), faktura_domain::StoreError> {
        Ok(())
    }
}

/// Every contract as a `#[tokio::test]`, run on the adapters `$make().await` returns (a fresh
/// set per test, so tests run in parallel).
#[macro_export]
macro_rules! contract_suite {
    ($make:ident) => {
        $crate::contract_suite!(@tests $make;
            repository::booking_records_are_versioned,
            repository::documents_are_versioned,
            repository::a_refused_change_writes_nothing,
            repository::counters_and_numbers,
            repository::ledger_entries_are_written_once,
            repository::audit_trail_in_order,
            repository::customers_upsert,
            repository::idempotency_records,
            repository::a_large_change_commits,
            listing::document_lists_follow_the_filter,
            listing::document_pages,
            listing::customer_pages,
            listing::tenants_are_apart,
            jobs::jobs_are_written_once,
            jobs::due_index_by_shard,
            jobs::hand_off_defers,
            jobs::claim_lease_and_complete,
            jobs::release_retries_then_fails,
            jobs::job_lists_by_state,
            jobs::two_scheduler_runs_hand_out_each_job_once,
            files::files_roundtrip,
            files::bad_file_keys_rejected,
            races::numbering_is_gapless_under_concurrency,
            races::payment_races_cancellation,
            races::two_credit_notes_race_for_the_last_quantity,
            races::one_payment_reported_twice_at_once,
            races::one_idempotency_key_twice_at_once,
            races::two_workers_one_job,
            schedules::schedules_are_versioned_and_claimed_once,
            schedules::each_occurrence_is_billed_once_under_concurrency,
            schedules::a_stop_racing_a_bill_leaves_no_invoice_after_it,
            schedules::a_year_of_schedules,
            schedules::customer_credit_goes_to_the_next_occurrence,
            dunning::each_level_is_sent_once_then_the_invoice_is_exhausted,
            dunning::a_payment_racing_a_reminder_never_leaves_one_after_it,
            dunning::a_customers_hold_pauses_all_their_invoices,
            dunning::an_undeliverable_reminder_pauses_its_invoice,
            collective::items_are_claimed_once_under_concurrency,
            collective::a_period_is_collected_once_and_sent_on_its_date,
            collective::held_documents_wait_then_are_issued_paid_or_discarded,
            bank::statements_pay_invoices_once_and_leave_the_rest_for_review,
        );
    };
    (@tests $make:ident; $($module:ident :: $name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::contract::$module::$name(&$make().await).await;
            }
        )+
    };
}

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

fn numbering(pattern: &str) -> NumberingSettings {
    NumberingSettings {
        pattern: parsed(pattern),
        yearly_reset: true,
    }
}

/// A German VAT-registered seller numbering `RE-{yyyy}-{seq:5}` (credit notes `RK-`,
/// proformas `PRO-`) with a yearly reset.
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
            invoice_numbering: numbering("RE-{yyyy}-{seq:5}"),
            proforma_numbering: numbering("PRO-{yyyy}-{seq:5}"),
            credit_note_numbering: numbering("RK-{yyyy}-{seq:5}"),
            reminder_numbering: numbering("MA-{yyyy}-{seq:5}"),
            einvoice: faktura_domain::model::EInvoiceFormat::Zugferd,
            billing: Billing::Invoice,
            apply_credit: false,
            contract: ContractSettings::default(),
            time_zone: Default::default(),
            dunning: Default::default(),
            send_window: None,
            collective: Default::default(),
            review: false,
            payment_link: Some(
                "https://pay.example.com/{tenant}/{number}?amount={amount}"
                    .to_string()
                    .try_into()
                    .expect("a valid link"),
            ),
        },
    }
}

/// A booking as the webhook parser makes it, for customer `ext:<customer_id>`: `quantity` ×
/// 119.00 EUR gross at 19 %.
pub fn sample_booking(booking_id: &str, customer_id: &str) -> Booking {
    booking_with(booking_id, customer_id, "1")
}

pub fn booking_with(booking_id: &str, customer_id: &str, quantity: &str) -> Booking {
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
                "description": "Yoga Basics, 10 lessons", "quantity": quantity, "unit": "C62",
                "unit_price": "119.00", "vat_rate": "19", "service_date": "2026-12-01"
            }],
            "reference": "PO-7781",
            "note": null
        }
    });
    match faktura_http::dto::booking::parse_booking_event(body.to_string().as_bytes()) {
        Ok(BookingEvent::Created { booking, .. }) => booking,
        other => panic!("fixture booking '{booking_id}' does not parse: {other:?}"),
    }
}

/// The invoice (or proforma) `plan_document` makes for `booking`, issued with sequence number
/// `seq` of its series, as a new document (version 0: not stored yet).
pub fn issued_document(
    tenant: &Tenant,
    booking: &Booking,
    kind: DocumentKind,
    issued_at: DateTime<Utc>,
    seq: u64,
) -> Document {
    let issue_date = issued_at.date_naive();
    let doc_id = Id::generate(if kind == DocumentKind::Proforma {
        "pro"
    } else {
        "inv"
    });
    let mut invoice = plan_document(tenant, booking, kind, &doc_id, issue_date, issued_at)
        .unwrap_or_else(|e| {
            panic!(
                "fixture document for '{}' cannot be planned: {e}",
                booking.id
            )
        })
        .invoice;
    invoice.number = tenant
        .settings
        .numbering(kind)
        .pattern
        .format(seq, issue_date);
    Document::new(invoice, true, issued_at).0
}

/// A draft for `booking` (no number).
pub fn draft_document(tenant: &Tenant, booking: &Booking, now: DateTime<Utc>) -> Document {
    let doc_id = Id::generate("inv");
    let invoice = plan_document(
        tenant,
        booking,
        DocumentKind::Invoice,
        &doc_id,
        now.date_naive(),
        now,
    )
    .unwrap_or_else(|e| panic!("fixture draft cannot be planned: {e}"))
    .invoice;
    Document::new(invoice, false, now).0
}

/// The counter a document of `kind` of `tenant` issued on `issue_date` draws from.
pub fn counter_key(tenant: &Tenant, kind: DocumentKind, issue_date: NaiveDate) -> CounterKey {
    CounterKey::new(
        &tenant.id,
        kind.series(),
        tenant.settings.numbering(kind).yearly_reset,
        issue_date,
    )
}

/// The e-invoice encoder the use cases check documents with.
pub fn einvoice() -> Arc<dyn faktura_domain::ports::EInvoiceEncoder> {
    Arc::new(faktura_einvoice::EInvoiceXml)
}
