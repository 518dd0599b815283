//! The items of the table: domain values nested as maps next to the key and index attributes
//! queries need. Release-1 items (invoices, booking records) read as today's values.

use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::audit::AuditEntry;
use faktura_domain::booking::BookingRecord;
use faktura_domain::document::Document;
use faktura_domain::jobs::Job;
use faktura_domain::ledger::LedgerEntry;
use faktura_domain::model::{Customer, DocumentKind, Invoice};
use faktura_domain::ports::IdempotencyRecord;
use faktura_domain::schedule::Schedule;
use faktura_domain::values::Id;
use serde::{Deserialize, Serialize};

use super::{
    Item, audit_prefix, booking_sk, customer_sk, document_sk, documents_partition, due_partition,
    from_item, idempotency_sk, instant_key, job_sk, jobs_partition, ledger_sk, open_partition,
    schedule_sk, schedules_partition, tenant_pk,
};

#[derive(Serialize, Deserialize)]
pub(crate) struct BookingItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub tenant_id: Id,
    pub booking_id: Id,
    pub version: u64,
    pub record: BookingRecord,
}

impl BookingItem {
    pub fn new(record: &BookingRecord, version: u64) -> BookingItem {
        let mut record = record.clone();
        record.version = version;
        BookingItem {
            pk: tenant_pk(&record.tenant_id),
            sk: booking_sk(&record.booking_id),
            entity: "booking".into(),
            tenant_id: record.tenant_id.clone(),
            booking_id: record.booking_id.clone(),
            version,
            record,
        }
    }
}

/// A booking item of either release: today's nests the record, release 1's was the record.
pub(crate) fn booking_from_item(item: Item) -> Result<BookingRecord, StoreError> {
    if item.contains_key("record") {
        let b: BookingItem = from_item("booking item", item)?;
        let mut r = b.record;
        r.version = b.version;
        Ok(r)
    } else {
        from_item("release-1 booking item", item)
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ScheduleItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// Lists in creation order (ids of schedules made from bookings are hashes).
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity: String,
    pub tenant_id: Id,
    pub schedule_id: Id,
    pub state: String,
    pub customer_key: String,
    pub version: u64,
    pub schedule: Schedule,
}

impl ScheduleItem {
    pub fn new(schedule: &Schedule, version: u64) -> ScheduleItem {
        let mut schedule = schedule.clone();
        schedule.version = version;
        ScheduleItem {
            pk: tenant_pk(&schedule.tenant_id),
            sk: schedule_sk(&schedule.id),
            gsi1pk: schedules_partition(&schedule.tenant_id),
            gsi1sk: format!("{}#{}", instant_key(schedule.created_at), schedule.id),
            entity: "schedule".into(),
            tenant_id: schedule.tenant_id.clone(),
            schedule_id: schedule.id.clone(),
            state: schedule.state.as_str().into(),
            customer_key: schedule.customer.key(),
            version,
            schedule,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CustomerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub tenant_id: Id,
    pub customer: Customer,
}

impl CustomerItem {
    pub fn new(tenant: &Id, customer: &Customer) -> CustomerItem {
        CustomerItem {
            pk: tenant_pk(tenant),
            sk: customer_sk(&customer.key),
            entity: "customer".into(),
            tenant_id: tenant.clone(),
            customer: customer.clone(),
        }
    }
}

/// An imported bank transaction (`BANKTX#{id}` in the tenant's partition).
#[derive(Serialize, Deserialize)]
pub(crate) struct BankTransactionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub state: String,
    pub version: u64,
    pub transaction: faktura_domain::bank::BankTransaction,
}

impl BankTransactionItem {
    pub fn new(t: &faktura_domain::bank::BankTransaction, version: u64) -> BankTransactionItem {
        let mut transaction = t.clone();
        transaction.version = version;
        BankTransactionItem {
            pk: tenant_pk(&t.tenant_id),
            sk: super::bank_transaction_sk(&t.id),
            entity: "bank_transaction".into(),
            state: t.state.kind().as_str().into(),
            version,
            transaction,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct BillableItemItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub state: String,
    pub version: u64,
    pub item: faktura_domain::collective::BillableItem,
}

impl BillableItemItem {
    pub fn new(item: &faktura_domain::collective::BillableItem, version: u64) -> BillableItemItem {
        let mut item = item.clone();
        item.version = version;
        BillableItemItem {
            pk: tenant_pk(&item.tenant_id),
            sk: super::billable_sk(&item.customer_key, &item.id),
            entity: "billable_item".into(),
            state: item.state.as_str().into(),
            version,
            item,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct HoldItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub tenant_id: Id,
    pub hold: faktura_domain::dunning::DunningHold,
}

impl HoldItem {
    pub fn new(tenant: &Id, hold: &faktura_domain::dunning::DunningHold) -> HoldItem {
        HoldItem {
            pk: tenant_pk(tenant),
            sk: super::hold_sk(&hold.customer_key),
            entity: "dunning_hold".into(),
            tenant_id: tenant.clone(),
            hold: hold.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct DocumentItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    #[serde(rename = "GSI3PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3pk: Option<String>,
    #[serde(rename = "GSI3SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3sk: Option<String>,
    pub tenant_id: Id,
    pub document_id: Id,
    // Copies of the document's facets, for FilterExpressions on GSI1.
    pub kind: String,
    pub lifecycle: String,
    pub delivery: String,
    pub payment: String,
    pub customer_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
    /// `YYYY-MM-DD` (string order is date order); absent for drafts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_date: Option<String>,
    pub due_date: String,
    pub version: u64,
    pub document: Document,
}

fn date(d: chrono::NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl DocumentItem {
    pub fn new(doc: &Document, version: u64) -> DocumentItem {
        let mut doc = doc.clone();
        doc.version = version;
        let c = &doc.content;
        let owed = c.kind == DocumentKind::Invoice
            && doc.lifecycle.is_issued()
            && !doc.settlement.open().is_zero()
            && !doc.settlement.open().is_negative();
        DocumentItem {
            pk: tenant_pk(&c.tenant_id),
            sk: document_sk(&c.id),
            entity: "document".into(),
            gsi1pk: documents_partition(&c.tenant_id),
            gsi1sk: format!("{}#{}", instant_key(doc.created_at), c.id),
            gsi3pk: owed.then(|| open_partition(&c.tenant_id)),
            gsi3sk: owed.then(|| format!("{}#{}", date(c.due_date), c.id)),
            tenant_id: c.tenant_id.clone(),
            document_id: c.id.clone(),
            kind: c.kind.as_str().into(),
            lifecycle: doc.lifecycle.as_str().into(),
            delivery: doc.delivery.as_str().into(),
            payment: doc.payment_state().as_str().into(),
            customer_key: c.buyer.customer_key.clone(),
            booking_id: c.booking_id.as_ref().map(|b| b.as_str().to_string()),
            issue_date: doc.lifecycle.is_issued().then(|| date(c.issue_date)),
            due_date: date(c.due_date),
            version,
            document: doc,
        }
    }
}

/// Release 1's invoice item (entity `invoice`).
#[derive(Deserialize)]
struct Release1InvoiceItem {
    status: String,
    #[serde(default)]
    sent_at: Option<DateTime<Utc>>,
    #[serde(default)]
    message_id: Option<String>,
    invoice: Invoice,
}

/// A document item of either release, with the version its next write must expect (release-1
/// items have none: version 1).
pub(crate) fn document_from_item(item: Item) -> Result<Document, StoreError> {
    let release1 = matches!(item.get("entity"), Some(aws_sdk_dynamodb::types::AttributeValue::S(e)) if e == "invoice");
    if release1 {
        let r: Release1InvoiceItem = from_item("release-1 invoice item", item)?;
        let sent = (r.status == "sent").then(|| {
            (
                r.sent_at.unwrap_or(r.invoice.issued_at),
                r.message_id.unwrap_or_default(),
            )
        });
        return Ok(Document::from_release1(r.invoice, sent));
    }
    let d: DocumentItem = from_item("document item", item)?;
    let mut doc = d.document;
    doc.version = d.version;
    Ok(doc)
}

#[derive(Serialize, Deserialize)]
pub(crate) struct LedgerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub entry: LedgerEntry,
}

impl LedgerItem {
    pub fn new(e: &LedgerEntry) -> LedgerItem {
        LedgerItem {
            pk: tenant_pk(&e.tenant_id),
            sk: ledger_sk(&e.customer_key, &e.id),
            entity: "ledger".into(),
            entry: e.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AuditItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub entry: AuditEntry,
}

impl AuditItem {
    pub fn new(a: &AuditEntry) -> AuditItem {
        AuditItem {
            pk: tenant_pk(&a.tenant_id),
            // The instant keeps the trail in order; the id keeps entries of one instant apart.
            sk: format!(
                "{}{}#{}",
                audit_prefix(&a.document_id),
                instant_key(a.at),
                a.id
            ),
            entity: "audit".into(),
            entry: a.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct JobItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    pub state: String,
    /// Incremented by every write: the condition of the next one.
    pub rev: u64,
    pub job: Job,
}

impl JobItem {
    pub fn new(job: &Job, rev: u64) -> JobItem {
        let open = job.state.is_open();
        JobItem {
            pk: tenant_pk(&job.tenant_id),
            sk: job_sk(&job.id),
            entity: "job".into(),
            gsi1pk: jobs_partition(&job.tenant_id),
            gsi1sk: format!("{}#{}", instant_key(job.created_at), job.id),
            gsi2pk: open.then(|| due_partition(job.shard())),
            gsi2sk: open
                .then(|| format!("{}#{}#{}", instant_key(job.due_at), job.tenant_id, job.id)),
            state: job.state.as_str().into(),
            rev,
            job: job.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct IdempotencyItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// Unix nanoseconds: an answer older than the keeping period may be replaced.
    pub created_at: i64,
    /// The table's TTL attribute (Unix seconds): DynamoDB deletes the item after it.
    pub expires_at: i64,
    pub record: IdempotencyRecord,
}

impl IdempotencyItem {
    pub fn new(r: &IdempotencyRecord) -> IdempotencyItem {
        let kept = faktura_domain::service::commands::IDEMPOTENCY_KEPT;
        IdempotencyItem {
            pk: tenant_pk(&r.tenant_id),
            sk: idempotency_sk(&r.key),
            entity: "idempotency".into(),
            created_at: super::nanos(r.created_at),
            expires_at: (r.created_at + kept).timestamp(),
            record: r.clone(),
        }
    }
}
