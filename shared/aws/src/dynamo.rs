//! Bookings, customers, invoices, numbering counters and tenants in ONE DynamoDB table.
//!
//! # Items (single-table design)
//!
//! Every key is a string; `{t}` is a tenant id, ids never contain `#`.
//!
//! | item | PK | SK | index keys |
//! |---|---|---|---|
//! | tenant | `TENANT#{t}` | `TENANT` | |
//! | API key | `APIKEY#{sha256 hex}` | `APIKEY` | |
//! | booking (idempotency record) | `TENANT#{t}` | `BOOKING#{booking id}` | GSI2 while `received` |
//! | customer | `TENANT#{t}` | `CUSTOMER#{customer key}` | |
//! | invoice | `TENANT#{t}` | `INVOICE#{invoice id}` | GSI1 and GSI3 always, GSI2 while `issued` |
//! | number counter | `TENANT#{t}` | `COUNTER#{scope}` (`invoice#2026`) | |
//! | number claim | `TENANT#{t}` | `NUMBER#{document number}` | |
//!
//! - GSI1 (projection ALL): `GSI1PK = TENANT#{t}#INVOICES`,
//!   `GSI1SK = {issued_at}#{counter scope}#{sequence, 20 digits}` — a tenant's invoices in
//!   issue order. Status, customer and issue-date filters are FilterExpressions on it.
//! - GSI2 (sparse, KEYS_ONLY): `GSI2PK = PENDING#BOOKING` or `PENDING#INVOICE`,
//!   `GSI2SK = {instant}#{t}#{id}` — present only while a booking is `received` or an
//!   invoice `issued`; the sweep queries `GSI2SK < {before}` across tenants. Marking a
//!   booking invoiced or an invoice sent REMOVEs these attributes.
//! - Instants in keys are UTC, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (fixed width, so string order
//!   is time order).
//! - `expires_at` (Unix seconds) is the table's TTL attribute, reserved for in-progress
//!   idempotency records; nothing writes it yet.
//!
//! Item bodies are (de)serialized with `serde_dynamo` from the private `*Item` structs below;
//! domain values (the booking, the invoice document, the customer, the tenant) are nested maps.
//!
//! # Consistency
//!
//! Reads by key (`booking`, `invoice`, `counter`, `customer`, tenants) are strongly consistent.
//! Queries on GSI1 (`list_invoices`) and GSI2 (the sweeps) are eventually consistent on AWS
//! (indexes cannot be read consistently): an invoice issued a moment ago may be missing from a
//! list, and an item that just left `received`/`issued` may still be swept once more — both
//! harmless (the sweep's work is idempotent). moto is consistent.
//!
//! # Numbering
//!
//! `insert_issued` is ONE `TransactWriteItems`: the counter moves from `expected` to
//! `expected + 1` (conditioned on its value), the invoice is put (conditioned on not existing)
//! and a `NUMBER#` claim is put (conditioned on not existing, the duplicate-number safety net).
//! Cancellation reasons map to the outcomes; a lost race with another transaction
//! (`TransactionConflict`) is retried briefly and then reported as `CounterMoved`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use faktura_domain::StoreError;
use faktura_domain::booking::Booking;
use faktura_domain::model::{Customer, Invoice, InvoiceStatus, Tenant};
use faktura_domain::numbering::CounterKey;
use faktura_domain::ports::{
    BookingRecord, BookingStatus, BookingStore, CustomerStore, InvoiceFilter, InvoicePage,
    InvoiceStore, IssueOutcome, Recorded, StoredInvoice, TenantDirectory, TenantRecord, WorkItem,
};
use faktura_domain::values::Id;
use serde::{Deserialize, Serialize};

use crate::error::{corrupt, unavailable};
use crate::schema::{GSI1, GSI2, GSI3, TABLE};

type Item = HashMap<String, AttributeValue>;

const PENDING_BOOKING: &str = "PENDING#BOOKING";
const PENDING_INVOICE: &str = "PENDING#INVOICE";
/// How often `insert_issued` retries a transaction that collided with another one.
const CONFLICT_RETRIES: u32 = 3;
/// A list page stops reading after this many index items, full or not (filters may match few).
const LIST_MAX_EVALUATED: usize = 2000;

// ---- keys --------------------------------------------------------------------------------

fn tenant_pk(tenant: &Id) -> String {
    format!("TENANT#{tenant}")
}

fn invoices_partition(tenant: &Id) -> String {
    format!("TENANT#{tenant}#INVOICES")
}

fn api_key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

const TENANT_SK: &str = "TENANT";
const API_KEY_SK: &str = "APIKEY";

fn booking_sk(booking: &Id) -> String {
    format!("BOOKING#{booking}")
}

fn customer_sk(key: &str) -> String {
    format!("CUSTOMER#{key}")
}

fn invoice_sk(invoice: &Id) -> String {
    format!("INVOICE#{invoice}")
}

fn counter_sk(scope: &str) -> String {
    format!("COUNTER#{scope}")
}

fn number_sk(number: &str) -> String {
    format!("NUMBER#{number}")
}

/// A fixed-width UTC instant whose string order is time order (years 0..=9999).
fn instant_key(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (TABLE.partition_key.to_string(), s(pk)),
        (TABLE.sort_key.to_string(), s(sk)),
    ])
}

/// Unix nanoseconds (leases; clamped outside 1677..2262).
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

// ---- items -------------------------------------------------------------------------------

fn to_item<T: Serialize>(what: &str, value: &T) -> Result<Item, StoreError> {
    // Failing to serialize our own structs is a bug, not an outage; report it as such.
    serde_dynamo::to_item(value).map_err(|e| corrupt(&format!("serializing {what}"), e))
}

fn from_item<T: serde::de::DeserializeOwned>(what: &str, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt(what, e))
}

fn to_value<T: Serialize>(what: &str, value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| corrupt(&format!("serializing {what}"), e))
}

#[derive(Serialize, Deserialize)]
struct TenantItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    tenant_id: Id,
    tenant: Tenant,
    /// Standard Webhooks secrets (`whsec_...`); stored readable (HMAC needs them) in a table
    /// encrypted at rest. Every function role may GetItem on the table, so any of them could
    /// read them; moving secrets under their own key prefix and denying it to all but the
    /// webhook role (`dynamodb:LeadingKeys`) is the next hardening step.
    webhook_secrets: Vec<String>,
    /// SHA-256 (hex) of the tenant's API keys; each also has its own `APIKEY#` item.
    api_key_hashes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct ApiKeyItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    tenant_id: Id,
}

#[derive(Serialize, Deserialize)]
struct BookingItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    tenant_id: Id,
    booking_id: Id,
    payload_hash: String,
    invoice_id: Id,
    status: BookingStatus,
    received_at: DateTime<Utc>,
    booking: Booking,
}

impl BookingItem {
    fn new(r: &BookingRecord) -> BookingItem {
        let pending = r.status == BookingStatus::Received;
        BookingItem {
            pk: tenant_pk(&r.tenant_id),
            sk: booking_sk(&r.booking_id),
            entity: "booking".into(),
            gsi2pk: pending.then(|| PENDING_BOOKING.into()),
            gsi2sk: pending.then(|| {
                format!(
                    "{}#{}#{}",
                    instant_key(r.received_at),
                    r.tenant_id,
                    r.booking_id
                )
            }),
            tenant_id: r.tenant_id.clone(),
            booking_id: r.booking_id.clone(),
            payload_hash: r.payload_hash.clone(),
            invoice_id: r.invoice_id.clone(),
            status: r.status,
            received_at: r.received_at,
            booking: r.booking.clone(),
        }
    }

    fn record(self) -> BookingRecord {
        BookingRecord {
            tenant_id: self.tenant_id,
            booking_id: self.booking_id,
            payload_hash: self.payload_hash,
            invoice_id: self.invoice_id,
            booking: self.booking,
            status: self.status,
            received_at: self.received_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CustomerItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    tenant_id: Id,
    customer: Customer,
}

#[derive(Serialize, Deserialize)]
struct InvoiceItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    /// GSI3: by status and due date.
    #[serde(rename = "GSI3PK", default, skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<String>,
    #[serde(rename = "GSI3SK", default, skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<String>,
    tenant_id: Id,
    invoice_id: Id,
    number: String,
    counter_scope: String,
    sequence: u64,
    /// Copies of document fields for FilterExpressions.
    customer_key: String,
    /// `YYYY-MM-DD`: string order is date order.
    issue_date: String,
    issued_at: DateTime<Utc>,
    /// `issued` or `sent`.
    status: String,
    #[serde(default)]
    sent_at: Option<DateTime<Utc>>,
    #[serde(default)]
    message_id: Option<String>,
    /// Unix nanoseconds until which a worker holds the right to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<i64>,
    invoice: Invoice,
}

/// GSI3's partition: a tenant's invoices in one status.
pub fn status_partition(tenant: &Id, status: InvoiceStatus) -> String {
    format!("TENANT#{tenant}#STATUS#{}", status.as_str())
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl InvoiceItem {
    fn issued(key: &CounterKey, sequence: u64, invoice: &Invoice) -> InvoiceItem {
        let scope = key.scope();
        InvoiceItem {
            pk: tenant_pk(&invoice.tenant_id),
            sk: invoice_sk(&invoice.id),
            entity: "invoice".into(),
            gsi1pk: invoices_partition(&invoice.tenant_id),
            gsi1sk: format!("{}#{scope}#{sequence:020}", instant_key(invoice.issued_at)),
            gsi2pk: Some(PENDING_INVOICE.into()),
            gsi2sk: Some(format!(
                "{}#{}#{}",
                instant_key(invoice.issued_at),
                invoice.tenant_id,
                invoice.id
            )),
            gsi3pk: Some(status_partition(&invoice.tenant_id, InvoiceStatus::Issued)),
            gsi3sk: Some(format!("{}#{}", date_text(invoice.due_date), invoice.id)),
            tenant_id: invoice.tenant_id.clone(),
            invoice_id: invoice.id.clone(),
            number: invoice.number.as_str().to_string(),
            counter_scope: scope,
            sequence,
            customer_key: invoice.buyer.customer_key.clone(),
            issue_date: date_text(invoice.issue_date),
            issued_at: invoice.issued_at,
            status: InvoiceStatus::Issued.as_str().into(),
            sent_at: None,
            message_id: None,
            lease_until: None,
            invoice: invoice.clone(),
        }
    }

    fn stored(self) -> Result<StoredInvoice, StoreError> {
        let status = InvoiceStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "invoice {}: unknown status '{}'",
                self.invoice_id, self.status
            ))
        })?;
        Ok(StoredInvoice {
            invoice: self.invoice,
            status,
            sent_at: self.sent_at,
            message_id: self.message_id,
        })
    }
}

pub use faktura_domain::ports::api_key_hash;
use faktura_domain::ports::is_sha256_hex;

// ---- list cursors ------------------------------------------------------------------------

/// The GSI1 position after an item: its table and index keys.
fn list_position(item: &Item) -> Option<BTreeMap<String, String>> {
    let mut position = BTreeMap::new();
    for name in [
        TABLE.partition_key,
        TABLE.sort_key,
        GSI1.partition_key,
        GSI1.sort_key,
    ] {
        let AttributeValue::S(value) = item.get(name)? else {
            return None;
        };
        position.insert(name.to_string(), value.clone());
    }
    Some(position)
}

/// Opaque to callers: base64url of the position's JSON.
fn encode_cursor(position: &BTreeMap<String, String>) -> Option<String> {
    serde_json::to_vec(position)
        .ok()
        .map(|json| URL_SAFE_NO_PAD.encode(json))
}

/// The exclusive start key a cursor stands for; None for anything this store did not hand
/// out for this tenant (read as past the end).
fn decode_cursor(cursor: &str, tenant: &Id) -> Option<Item> {
    let json = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let position: BTreeMap<String, String> = serde_json::from_slice(&json).ok()?;
    let expected = [
        TABLE.partition_key,
        TABLE.sort_key,
        GSI1.partition_key,
        GSI1.sort_key,
    ];
    if position.len() != expected.len() || expected.iter().any(|k| !position.contains_key(*k)) {
        return None;
    }
    if position.get(GSI1.partition_key)? != &invoices_partition(tenant)
        || position.get(TABLE.partition_key)? != &tenant_pk(tenant)
    {
        return None;
    }
    Some(position.into_iter().map(|(k, v)| (k, s(v))).collect())
}

// ---- the store ---------------------------------------------------------------------------

/// The DynamoDB adapter for [`BookingStore`], [`CustomerStore`], [`InvoiceStore`] and
/// [`TenantDirectory`], on one table laid out as the module docs describe.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> DynamoStore {
        DynamoStore::from_client(Client::new(config), table)
    }

    pub fn from_client(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, what: &str, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(&format!("GetItem {what}"), e))?;
        Ok(out.item)
    }

    /// Stores a tenant and its API keys (as SHA-256 hex hashes), replacing an earlier record of
    /// the tenant; keys it had before and `api_key_hashes` lacks stop working. A hash another
    /// tenant holds is refused and nothing is written. For the CLI and tests.
    pub async fn put_tenant(
        &self,
        record: &TenantRecord,
        api_key_hashes: &[String],
    ) -> Result<(), StoreError> {
        let tenant_id = &record.tenant.id;
        let mut hashes: Vec<String> = Vec::new();
        for hash in api_key_hashes {
            if !is_sha256_hex(hash) {
                return Err(StoreError::Corrupt(format!(
                    "tenant {tenant_id}: an API key hash is not 64 hex digits"
                )));
            }
            let hash = hash.to_ascii_lowercase();
            if !hashes.contains(&hash) {
                hashes.push(hash);
            }
        }
        if hashes.len() > 90 {
            return Err(StoreError::Corrupt(format!(
                "tenant {tenant_id}: at most 90 API keys"
            )));
        }
        let previous: Vec<String> = match self
            .get("tenant", key(tenant_pk(tenant_id), TENANT_SK))
            .await?
        {
            Some(item) => from_item::<TenantItem>("tenant item", item)?.api_key_hashes,
            None => Vec::new(),
        };
        let item = TenantItem {
            pk: tenant_pk(tenant_id),
            sk: TENANT_SK.into(),
            entity: "tenant".into(),
            tenant_id: tenant_id.clone(),
            tenant: record.tenant.clone(),
            webhook_secrets: record.webhook_secrets.clone(),
            api_key_hashes: hashes.clone(),
        };
        let mut actions = vec![put_action(&self.table, to_item("tenant", &item)?, None)?];
        for hash in &hashes {
            let key_item = ApiKeyItem {
                pk: api_key_pk(hash),
                sk: API_KEY_SK.into(),
                entity: "api_key".into(),
                tenant_id: tenant_id.clone(),
            };
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item("API key", &key_item)?))
                .condition_expression("attribute_not_exists(PK) OR tenant_id = :t")
                .expression_attribute_values(":t", s(tenant_id.as_str()))
                .build()
                .map_err(|e| corrupt("API key put", e))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        for old in previous.iter().filter(|h| !hashes.contains(h)) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(api_key_pk(old), API_KEY_SK)))
                .condition_expression("attribute_not_exists(PK) OR tenant_id = :t")
                .expression_attribute_values(":t", s(tenant_id.as_str()))
                .build()
                .map_err(|e| corrupt("API key delete", e))?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let codes = cancellation_codes(&e);
                if codes.iter().any(|c| c == "ConditionalCheckFailed") {
                    Err(StoreError::Corrupt(format!(
                        "tenant {tenant_id}: an API key is configured for another tenant; nothing was written"
                    )))
                } else {
                    Err(unavailable("TransactWriteItems (tenant)", e))
                }
            }
        }
    }

    /// One attempt at the issue transaction; `Err(None)` means "collided, try again".
    async fn issue_transaction(
        &self,
        key: &CounterKey,
        expected: u64,
        next: u64,
        invoice: &Invoice,
    ) -> Result<Result<IssueOutcome, ()>, StoreError> {
        let pk = tenant_pk(&invoice.tenant_id);
        let scope = key.scope();
        let mut counter = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_for(&pk, counter_sk(&scope))))
            .update_expression("SET #c = :next, #entity = :entity, #scope = :scope")
            .expression_attribute_names("#c", "c")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#scope", "scope")
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":entity", s("counter"))
            .expression_attribute_values(":scope", s(scope.clone()));
        counter = if expected == 0 {
            counter.condition_expression("attribute_not_exists(#c)")
        } else {
            counter
                .condition_expression("#c = :expected")
                .expression_attribute_values(":expected", n(expected))
        };
        let counter = counter.build().map_err(|e| corrupt("counter update", e))?;
        let invoice_item = to_item("invoice", &InvoiceItem::issued(key, next, invoice))?;
        let number_item = HashMap::from([
            (TABLE.partition_key.to_string(), s(pk.clone())),
            (
                TABLE.sort_key.to_string(),
                s(number_sk(invoice.number.as_str())),
            ),
            ("entity".to_string(), s("invoice_number")),
            ("invoice_id".to_string(), s(invoice.id.as_str())),
        ]);
        let actions = vec![
            TransactWriteItem::builder().update(counter).build(),
            put_action(&self.table, invoice_item, Some("attribute_not_exists(PK)"))?,
            put_action(&self.table, number_item, Some("attribute_not_exists(PK)"))?,
        ];
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => return Ok(Ok(IssueOutcome::Issued)),
            Err(e) => e,
        };
        let codes = cancellation_codes(&err);
        if codes.is_empty() {
            return Err(unavailable("TransactWriteItems (issue)", err));
        }
        let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
        if failed(1) {
            return Ok(Ok(IssueOutcome::AlreadyExists));
        }
        if failed(0) {
            return Ok(Ok(IssueOutcome::CounterMoved));
        }
        if failed(2) {
            // The counter said the number is free but an invoice carries it: a broken invariant
            // (e.g. a pattern changed to one that repeats numbers). Refuse a duplicate number.
            return Err(StoreError::Corrupt(format!(
                "invoice {} of tenant {}: number '{}' is taken by another invoice",
                invoice.id, invoice.tenant_id, invoice.number
            )));
        }
        if codes.iter().any(|c| c == "TransactionConflict") {
            return Ok(Err(()));
        }
        Err(unavailable("TransactWriteItems (issue)", err))
    }

    async fn invoice_item(&self, tenant: &Id, invoice: &Id) -> Result<Option<Item>, StoreError> {
        self.get("invoice", key(tenant_pk(tenant), invoice_sk(invoice)))
            .await
    }

    /// Pending work on GSI2 with `GSI2SK < before`, oldest first.
    async fn pending(
        &self,
        partition: &str,
        entity_prefix: &str,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let limit = limit.max(1);
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page_limit = i32::try_from(limit - found.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2.name)
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#pk", GSI2.partition_key)
                .expression_attribute_names("#sk", GSI2.sort_key)
                .expression_attribute_values(":pk", s(partition))
                .expression_attribute_values(":before", s(instant_key(before)))
                .set_exclusive_start_key(start.take())
                .limit(page_limit)
                .send()
                .await
                .map_err(|e| unavailable("Query GSI2", e))?;
            for item in out.items() {
                found.push(work_item(item, entity_prefix)?);
                if found.len() == limit {
                    return Ok(found);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(found),
            }
        }
    }
}

fn key_for(pk: &str, sk: String) -> Item {
    key(pk.to_string(), sk)
}

fn put_action(
    table: &str,
    item: Item,
    condition: Option<&str>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .build()
        .map_err(|e| corrupt("transaction put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The per-action cancellation codes of a cancelled transaction (empty for other errors).
fn cancellation_codes<R>(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
) -> Vec<String> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn string_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "index item without string attribute {name}"
        ))),
    }
}

/// Tenant and id of a pending item, from its table keys (GSI2 projects keys only).
fn work_item(item: &Item, entity_prefix: &str) -> Result<WorkItem, StoreError> {
    let pk = string_attr(item, TABLE.partition_key)?;
    let sk = string_attr(item, TABLE.sort_key)?;
    let parse = |what: &str, text: Option<&str>| -> Result<Id, StoreError> {
        text.ok_or_else(|| StoreError::Corrupt(format!("pending item {pk}/{sk}: bad {what}")))?
            .parse()
            .map_err(|e| corrupt(&format!("pending item {pk}/{sk}: {what}"), e))
    };
    Ok(WorkItem {
        tenant_id: parse("tenant", pk.strip_prefix("TENANT#"))?,
        id: parse("id", sk.strip_prefix(entity_prefix))?,
    })
}

fn is_conditional_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

#[async_trait]
impl TenantDirectory for DynamoStore {
    async fn tenant(&self, id: &Id) -> Result<Option<TenantRecord>, StoreError> {
        let Some(item) = self.get("tenant", key(tenant_pk(id), TENANT_SK)).await? else {
            return Ok(None);
        };
        let item: TenantItem = from_item("tenant item", item)?;
        Ok(Some(TenantRecord {
            tenant: item.tenant,
            webhook_secrets: item.webhook_secrets,
        }))
    }

    async fn tenant_for_api_key(&self, api_key: &str) -> Result<Option<Id>, StoreError> {
        if api_key.is_empty() {
            return Ok(None);
        }
        let hash = api_key_hash(api_key);
        let Some(item) = self
            .get("API key", key(api_key_pk(&hash), API_KEY_SK))
            .await?
        else {
            return Ok(None);
        };
        let item: ApiKeyItem = from_item("API key item", item)?;
        Ok(Some(item.tenant_id))
    }
}

#[async_trait]
impl BookingStore for DynamoStore {
    async fn record_booking(&self, record: &BookingRecord) -> Result<Recorded, StoreError> {
        let item = to_item("booking", &BookingItem::new(record))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Recorded::Created),
            Err(e) if is_conditional_failure(&e) => {
                let existing = self
                    .booking(&record.tenant_id, &record.booking_id)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "booking {}/{} conflicts but is absent",
                            record.tenant_id, record.booking_id
                        ))
                    })?;
                Ok(Recorded::Existing(Box::new(existing)))
            }
            Err(e) => Err(unavailable("PutItem booking", e)),
        }
    }

    async fn booking(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
    ) -> Result<Option<BookingRecord>, StoreError> {
        let item = self
            .get("booking", key(tenant_pk(tenant_id), booking_sk(booking_id)))
            .await?;
        item.map(|i| from_item::<BookingItem>("booking item", i).map(BookingItem::record))
            .transpose()
    }

    /// Idempotent; a booking that does not exist is left alone.
    async fn mark_booking_invoiced(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant_id), booking_sk(booking_id))))
            .update_expression("SET #status = :invoiced REMOVE #gpk, #gsk")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#gpk", GSI2.partition_key)
            .expression_attribute_names("#gsk", GSI2.sort_key)
            .expression_attribute_values(
                ":invoiced",
                to_value("booking status", &BookingStatus::Invoiced)?,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("UpdateItem booking", e)),
        }
    }

    async fn bookings_awaiting_invoice(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError> {
        self.pending(PENDING_BOOKING, "BOOKING#", before, limit)
            .await
    }
}

#[async_trait]
impl CustomerStore for DynamoStore {
    async fn upsert_customer(&self, tenant_id: &Id, customer: &Customer) -> Result<(), StoreError> {
        let item = CustomerItem {
            pk: tenant_pk(tenant_id),
            sk: customer_sk(&customer.key),
            entity: "customer".into(),
            tenant_id: tenant_id.clone(),
            customer: customer.clone(),
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item("customer", &item)?))
            .send()
            .await
            .map_err(|e| unavailable("PutItem customer", e))?;
        Ok(())
    }

    async fn customer(&self, tenant_id: &Id, key_: &str) -> Result<Option<Customer>, StoreError> {
        let item = self
            .get("customer", key(tenant_pk(tenant_id), customer_sk(key_)))
            .await?;
        item.map(|i| from_item::<CustomerItem>("customer item", i).map(|c| c.customer))
            .transpose()
    }
}

#[async_trait]
impl InvoiceStore for DynamoStore {
    async fn counter(&self, counter: &CounterKey) -> Result<u64, StoreError> {
        let item = self
            .get(
                "counter",
                key(tenant_pk(&counter.tenant_id), counter_sk(&counter.scope())),
            )
            .await?;
        match item.as_ref().and_then(|i| i.get("c")) {
            None => Ok(0),
            Some(AttributeValue::N(v)) => v
                .parse::<u64>()
                .map_err(|e| corrupt(&format!("counter value '{v}'"), e)),
            Some(other) => Err(StoreError::Corrupt(format!(
                "counter value is not a number: {other:?}"
            ))),
        }
    }

    async fn insert_issued(
        &self,
        key_: &CounterKey,
        expected: u64,
        invoice: &Invoice,
    ) -> Result<IssueOutcome, StoreError> {
        if key_.tenant_id != invoice.tenant_id {
            return Err(StoreError::Corrupt(format!(
                "counter of tenant {} used for an invoice of tenant {}",
                key_.tenant_id, invoice.tenant_id
            )));
        }
        let next = expected
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("the counter is exhausted".into()))?;
        let mut outcome = IssueOutcome::CounterMoved;
        for attempt in 0..=CONFLICT_RETRIES {
            match self
                .issue_transaction(key_, expected, next, invoice)
                .await?
            {
                Ok(o) => {
                    outcome = o;
                    break;
                }
                Err(()) if attempt < CONFLICT_RETRIES => {
                    // Another transaction held the counter: wait a little, jittered.
                    let jitter = u64::from(rand_jitter()) % 20;
                    tokio::time::sleep(Duration::from_millis(5 + 10 * u64::from(attempt) + jitter))
                        .await;
                }
                Err(()) => outcome = IssueOutcome::CounterMoved,
            }
        }
        if outcome == IssueOutcome::CounterMoved
            && self
                .invoice_item(&invoice.tenant_id, &invoice.id)
                .await?
                .is_some()
        {
            // DynamoDB reports every failed condition, but be sure: an existing invoice is what
            // the caller needs to hear even when the counter moved too.
            return Ok(IssueOutcome::AlreadyExists);
        }
        Ok(outcome)
    }

    async fn invoice(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
    ) -> Result<Option<StoredInvoice>, StoreError> {
        self.invoice_item(tenant_id, invoice_id)
            .await?
            .map(|i| from_item::<InvoiceItem>("invoice item", i)?.stored())
            .transpose()
    }

    /// Pages in issue order over GSI1; filters are FilterExpressions, so one page may read
    /// more index items than it returns (at most [`LIST_MAX_EVALUATED`], then it returns what
    /// it has, possibly fewer than `limit`, with a cursor). A cursor this store did not hand
    /// out for this tenant reads as past the end.
    async fn list_invoices(
        &self,
        tenant_id: &Id,
        filter: &InvoiceFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<InvoicePage, StoreError> {
        let empty = InvoicePage {
            invoices: Vec::new(),
            next_cursor: None,
        };
        let mut start = match cursor {
            None => None,
            Some(c) => match decode_cursor(c, tenant_id) {
                Some(k) => Some(k),
                None => return Ok(empty),
            },
        };
        let limit = limit.max(1);

        let mut conditions = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::from([(":pk".to_string(), s(invoices_partition(tenant_id)))]);
        names.insert("#pk".to_string(), GSI1.partition_key.to_string());
        if let Some(k) = &filter.customer_key {
            names.insert("#customer".into(), "customer_key".into());
            values.insert(":customer".into(), s(k.clone()));
            conditions.push("#customer = :customer");
        }
        if let Some(status) = filter.status {
            names.insert("#status".into(), "status".into());
            values.insert(":status".into(), s(status.as_str()));
            conditions.push("#status = :status");
        }
        if filter.from.is_some() || filter.to.is_some() {
            names.insert("#date".into(), "issue_date".into());
        }
        if let Some(from) = filter.from {
            values.insert(":from".into(), s(date_text(from)));
            conditions.push("#date >= :from");
        }
        if let Some(to) = filter.to {
            values.insert(":to".into(), s(date_text(to)));
            conditions.push("#date <= :to");
        }
        let filtered = !conditions.is_empty();
        let filter_expression = filtered.then(|| conditions.join(" AND "));

        let mut invoices = Vec::new();
        let mut last_position: Option<BTreeMap<String, String>> = None;
        let mut evaluated = 0usize;
        loop {
            let remaining = limit - invoices.len();
            let page_limit = if filtered {
                remaining.clamp(100, 1000)
            } else {
                remaining.min(1000)
            };
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1.name)
                .key_condition_expression("#pk = :pk")
                .set_filter_expression(filter_expression.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(true)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(page_limit).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| unavailable("Query GSI1", e))?;
            evaluated += usize::try_from(out.scanned_count()).unwrap_or(0);
            for item in out.items.unwrap_or_default() {
                if invoices.len() == limit {
                    // A full page with more to come: continue after the last one returned.
                    return Ok(InvoicePage {
                        invoices,
                        next_cursor: last_position.as_ref().and_then(encode_cursor),
                    });
                }
                last_position = list_position(&item);
                let stored = from_item::<InvoiceItem>("invoice item", item)?.stored()?;
                invoices.push(stored);
            }
            let next = out.last_evaluated_key.filter(|k| !k.is_empty());
            match next {
                None => {
                    return Ok(InvoicePage {
                        invoices,
                        next_cursor: None,
                    });
                }
                Some(k) if invoices.len() == limit || evaluated >= LIST_MAX_EVALUATED => {
                    let position: Option<BTreeMap<String, String>> = k
                        .iter()
                        .map(|(name, v)| match v {
                            AttributeValue::S(text) => Some((name.clone(), text.clone())),
                            _ => None,
                        })
                        .collect();
                    return Ok(InvoicePage {
                        invoices,
                        next_cursor: position.as_ref().and_then(encode_cursor),
                    });
                }
                Some(k) => start = Some(k),
            }
        }
    }

    async fn claim_delivery(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant_id), invoice_sk(invoice_id))))
            .update_expression("SET #lease = :lease")
            .condition_expression(
                "attribute_exists(PK) AND #status = :issued \
                 AND (attribute_not_exists(#lease) OR #lease < :now)",
            )
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":lease", n(nanos(lease_until)))
            .expression_attribute_values(":now", n(nanos(now)))
            .expression_attribute_values(":issued", s(InvoiceStatus::Issued.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable("UpdateItem claim_delivery", e)),
        }
    }

    async fn release_delivery(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant_id), invoice_sk(invoice_id))))
            .update_expression("REMOVE #lease")
            .condition_expression("#status = :issued AND #lease = :lease")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":lease", n(nanos(lease_until)))
            .expression_attribute_values(":issued", s(InvoiceStatus::Issued.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("UpdateItem release_delivery", e)),
        }
    }

    /// Idempotent; an invoice that does not exist is left alone.
    async fn mark_sent(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        at: DateTime<Utc>,
        message_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant_pk(tenant_id), invoice_sk(invoice_id))))
            .update_expression(
                "SET #status = :sent, #sent_at = :at, #message_id = :message_id, \
                 #status_pk = :status_partition \
                 REMOVE #lease, #gpk, #gsk",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#sent_at", "sent_at")
            .expression_attribute_names("#message_id", "message_id")
            .expression_attribute_names("#lease", "lease_until")
            .expression_attribute_names("#gpk", GSI2.partition_key)
            .expression_attribute_names("#gsk", GSI2.sort_key)
            .expression_attribute_names("#status_pk", GSI3.partition_key)
            .expression_attribute_values(
                ":status_partition",
                s(status_partition(tenant_id, InvoiceStatus::Sent)),
            )
            .expression_attribute_values(":sent", s(InvoiceStatus::Sent.as_str()))
            .expression_attribute_values(":at", to_value("sent_at", &at)?)
            .expression_attribute_values(":message_id", s(message_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable("UpdateItem mark_sent", e)),
        }
    }

    async fn invoices_awaiting_delivery(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError> {
        self.pending(PENDING_INVOICE, "INVOICE#", before, limit)
            .await
    }
}

/// A little jitter without a random-number dependency: the clock's sub-microsecond digits.
fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_micros())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Id {
        s.parse().expect("id")
    }

    #[test]
    fn instant_keys_sort_like_instants() {
        let a = DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z")
            .expect("a")
            .to_utc();
        let b = a + chrono::TimeDelta::nanoseconds(1);
        let c = a + chrono::TimeDelta::days(400);
        assert_eq!(instant_key(a), "2026-03-01T09:00:00.000000000Z");
        assert!(instant_key(a) < instant_key(b) && instant_key(b) < instant_key(c));
        // A key with that instant is not `< instant_key(a)`: "before" is strict.
        assert!(format!("{}#t#x", instant_key(a)) > instant_key(a));
    }

    #[test]
    fn cursors_roundtrip_and_refuse_strangers() {
        let t = id("tn_1");
        let item: Item = HashMap::from([
            ("PK".to_string(), s(tenant_pk(&t))),
            ("SK".to_string(), s("INVOICE#inv_1")),
            ("GSI1PK".to_string(), s(invoices_partition(&t))),
            ("GSI1SK".to_string(), s("2026#invoice#1")),
            ("other".to_string(), n(1)),
        ]);
        let cursor = encode_cursor(&list_position(&item).expect("position")).expect("cursor");
        let start = decode_cursor(&cursor, &t).expect("decodes");
        assert_eq!(start.len(), 4);
        assert_eq!(start.get("SK"), Some(&s("INVOICE#inv_1")));
        assert_eq!(
            decode_cursor(&cursor, &id("tn_2")),
            None,
            "another tenant's"
        );
        for garbage in ["", "not-a-cursor", "-1", "🙂", "e30"] {
            assert_eq!(decode_cursor(garbage, &t), None, "{garbage:?}");
        }
    }

    #[test]
    fn api_key_hash_is_lowercase_sha256() {
        assert_eq!(
            api_key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_hex(&api_key_hash("x")));
        assert!(!is_sha256_hex("abc"));
    }
}
