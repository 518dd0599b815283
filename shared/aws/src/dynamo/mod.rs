//! Bookings, documents, customers, the ledger, the audit trail, counters, jobs, idempotency
//! keys and tenants in ONE DynamoDB table.
//!
//! # Items (single-table design)
//!
//! Every key is a string; `{t}` is a tenant id, ids never contain `#`.
//!
//! | item | PK | SK | index keys |
//! |---|---|---|---|
//! | tenant | `TENANT#{t}` | `TENANT` | |
//! | API key | `APIKEY#{sha256 hex}` | `APIKEY` | |
//! | booking (its events, its documents) | `TENANT#{t}` | `BOOKING#{booking id}` | |
//! | customer | `TENANT#{t}` | `CUSTOMER#{customer key}` | |
//! | document (any kind) | `TENANT#{t}` | `INVOICE#{document id}` | GSI1 always, GSI3 while an invoice is owed |
//! | number counter | `TENANT#{t}` | `COUNTER#{scope}` (`invoice#2026`) | |
//! | number claim | `TENANT#{t}` | `NUMBER#{document number}` | |
//! | ledger entry | `TENANT#{t}` | `LEDGER#{customer key}#{entry id}` | |
//! | audit entry | `TENANT#{t}` | `AUDIT#{document id}#{instant}#{entry id}` | |
//! | job | `TENANT#{t}` | `JOB#{job id}` | GSI1 always, GSI2 while pending or running |
//! | idempotency key | `TENANT#{t}` | `IDEM#{key}` | TTL `expires_at` |
//!
//! - GSI1 (ALL): `TENANT#{t}#INVOICES` / `{created}#{id}` — a tenant's documents in creation
//!   order (filters are FilterExpressions); `TENANT#{t}#JOBS` / `{created}#{id}` — its jobs.
//! - GSI2 (KEYS_ONLY, sparse): the due index, `JOBS#{shard}` / `{due}#{t}#{job id}` while a job
//!   is pending (due at `due`) or running (due when its lease ends); eight shards spread it.
//!   Release 1 kept `PENDING#BOOKING` and `PENDING#INVOICE` there; [`migrate`] turns those into
//!   jobs.
//! - GSI3 (KEYS_ONLY, sparse): `TENANT#{t}#OPEN` / `{due date}#{id}` while an issued invoice
//!   is owed (overdue views, reminders).
//! - Instants in keys are UTC, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (fixed width: string order is
//!   time order).
//!
//! # Changes
//!
//! A [`Change`](faktura_domain::ports::Change) is ONE `TransactWriteItems` (up to 100
//! actions); each action carries its condition (versions, the counter, write-once items) and
//! the cancellation reasons name the one that failed. Release-1 items (invoices, booking
//! records) read as today's; `faktura-admin migrate` rewrites them.

mod items;
mod jobs;
pub mod migrate;
mod repository;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::model::Tenant;
use faktura_domain::ports::{TenantDirectory, TenantRecord};
use faktura_domain::values::Id;
use serde::{Deserialize, Serialize};

use crate::error::{corrupt, unavailable};

use crate::schema::{GSI1, TABLE};
pub use faktura_domain::ports::api_key_hash;
use faktura_domain::ports::is_sha256_hex;

pub(crate) type Item = HashMap<String, AttributeValue>;

// ---- keys --------------------------------------------------------------------------------

pub(crate) fn tenant_pk(tenant: &Id) -> String {
    format!("TENANT#{tenant}")
}

pub(crate) fn documents_partition(tenant: &Id) -> String {
    format!("TENANT#{tenant}#INVOICES")
}

/// GSI1 partition of a tenant's schedules, sorted by creation (`{created}#{id}`).
pub(crate) fn schedules_partition(tenant: &Id) -> String {
    format!("TENANT#{tenant}#SCHEDULES")
}

pub(crate) fn jobs_partition(tenant: &Id) -> String {
    format!("TENANT#{tenant}#JOBS")
}

pub(crate) fn open_partition(tenant: &Id) -> String {
    format!("TENANT#{tenant}#OPEN")
}

pub(crate) fn due_partition(shard: u32) -> String {
    format!("JOBS#{shard}")
}

fn api_key_pk(hash: &str) -> String {
    format!("APIKEY#{hash}")
}

const TENANT_SK: &str = "TENANT";
const API_KEY_SK: &str = "APIKEY";

pub(crate) fn booking_sk(booking: &Id) -> String {
    format!("BOOKING#{booking}")
}

pub(crate) fn customer_sk(key: &str) -> String {
    format!("CUSTOMER#{key}")
}

/// A customer's dunning hold, beside the customer (not in it: bookings replace customers).
pub(crate) fn hold_sk(key: &str) -> String {
    format!("HOLD#{key}")
}

/// A customer's billable item, under the customer (listed by prefix).
pub(crate) fn bank_transaction_sk(id: &Id) -> String {
    format!("BANKTX#{id}")
}

pub(crate) const BANK_TRANSACTION_PREFIX: &str = "BANKTX#";

pub(crate) fn billable_sk(customer: &str, item: &Id) -> String {
    format!("BILLABLE#{customer}#{item}")
}

pub(crate) fn billable_prefix(customer: &str) -> String {
    format!("BILLABLE#{customer}#")
}

pub(crate) fn document_sk(id: &Id) -> String {
    format!("INVOICE#{id}")
}

pub(crate) fn counter_sk(scope: &str) -> String {
    format!("COUNTER#{scope}")
}

pub(crate) fn number_sk(number: &str) -> String {
    format!("NUMBER#{number}")
}

pub(crate) fn ledger_sk(customer: &str, entry: &Id) -> String {
    format!("LEDGER#{customer}#{entry}")
}

pub(crate) fn ledger_prefix(customer: &str) -> String {
    format!("LEDGER#{customer}#")
}

pub(crate) fn audit_prefix(document: &Id) -> String {
    format!("AUDIT#{document}#")
}

pub(crate) fn schedule_sk(schedule: &Id) -> String {
    format!("SCHEDULE#{schedule}")
}

/// The claim of a billed occurrence (zero-padded: string order is occurrence order).
pub(crate) fn period_sk(schedule: &Id, occurrence: u32) -> String {
    format!("PERIOD#{schedule}#{occurrence:06}")
}

pub(crate) fn job_sk(job: &Id) -> String {
    format!("JOB#{job}")
}

pub(crate) fn idempotency_sk(key: &str) -> String {
    format!("IDEM#{key}")
}

/// A fixed-width UTC instant whose string order is time order (years 0..=9999).
pub(crate) fn instant_key(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Unix nanoseconds (clamped outside 1677..2262).
pub(crate) fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A little jitter without a random-number dependency: the clock's sub-microsecond digits.
pub(crate) fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_micros())
        .unwrap_or(0)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (TABLE.partition_key.to_string(), s(pk)),
        (TABLE.sort_key.to_string(), s(sk)),
    ])
}

pub(crate) fn to_item<T: Serialize>(what: &str, value: &T) -> Result<Item, StoreError> {
    // Failing to serialize our own structs is a bug, not an outage; report it as such.
    serde_dynamo::to_item(value).map_err(|e| corrupt(&format!("serializing {what}"), e))
}

pub(crate) fn from_item<T: serde::de::DeserializeOwned>(
    what: &str,
    item: Item,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt(what, e))
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

// ---- the store ---------------------------------------------------------------------------

/// The DynamoDB adapter for [`Repository`](faktura_domain::ports::Repository),
/// [`JobQueue`](faktura_domain::ports::JobQueue) and [`TenantDirectory`], on one table laid
/// out as the module docs describe.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
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

    pub(crate) async fn get(&self, what: &str, key: Item) -> Result<Option<Item>, StoreError> {
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

    /// Every item of a partition whose sort key starts with `prefix`, in sort-key order.
    pub(crate) async fn query_prefix(
        &self,
        pk: String,
        prefix: String,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", TABLE.partition_key)
                .expression_attribute_names("#sk", TABLE.sort_key)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
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
}

pub(crate) fn key_for(pk: &str, sk: String) -> Item {
    key(pk.to_string(), sk)
}

pub(crate) fn put_action(
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
pub(crate) fn cancellation_codes<R>(
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

pub(crate) fn string_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "index item without string attribute {name}"
        ))),
    }
}

pub(crate) fn is_conditional_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
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

// ---- list cursors ------------------------------------------------------------------------

/// The GSI1 position after an item: its table and index keys.
pub(crate) fn list_position(item: &Item) -> Option<BTreeMap<String, String>> {
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
pub(crate) fn encode_cursor(position: &BTreeMap<String, String>) -> Option<String> {
    serde_json::to_vec(position)
        .ok()
        .map(|json| URL_SAFE_NO_PAD.encode(json))
}

/// The exclusive start key a cursor stands for; None for anything this store did not hand
/// out for this tenant (read as past the end).
pub(crate) fn decode_cursor(cursor: &str, partition: &str, pk: &str) -> Option<Item> {
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
    if position.get(GSI1.partition_key)? != partition || position.get(TABLE.partition_key)? != pk {
        return None;
    }
    Some(position.into_iter().map(|(k, v)| (k, s(v))).collect())
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
            ("GSI1PK".to_string(), s(documents_partition(&t))),
            ("GSI1SK".to_string(), s("2026#invoice#1")),
            ("other".to_string(), n(1)),
        ]);
        let cursor = encode_cursor(&list_position(&item).expect("position")).expect("cursor");
        let (part, pk) = (documents_partition(&t), tenant_pk(&t));
        let start = decode_cursor(&cursor, &part, &pk).expect("decodes");
        assert_eq!(start.len(), 4);
        assert_eq!(start.get("SK"), Some(&s("INVOICE#inv_1")));
        let other = id("tn_2");
        assert_eq!(
            decode_cursor(&cursor, &documents_partition(&other), &tenant_pk(&other)),
            None,
            "another tenant's"
        );
        for garbage in ["", "not-a-cursor", "-1", "🙂", "e30"] {
            assert_eq!(decode_cursor(garbage, &part, &pk), None, "{garbage:?}");
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
