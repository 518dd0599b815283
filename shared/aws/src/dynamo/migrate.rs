//! Release 1's items, brought forward. Reading never needs this (release-1 invoices and
//! booking records read as today's documents and records), but two things do:
//!
//! - [`DynamoStore::adopt_release1_work`]: work release 1 left pending — bookings `received`
//!   and invoices `issued` in GSI2 under `PENDING#…` — becomes jobs (each once), and leaves
//!   that index; a pending invoice is migrated in the same change as its job (its next write
//!   would otherwise turn it into a document without its ledger charge). The scheduler runs
//!   it every time (an empty query once it is done).
//! - [`DynamoStore::migrate_release1`] (`faktura-admin migrate`): every release-1 invoice item
//!   is rewritten as a document item, with its ledger charge and an audit entry saying it was
//!   migrated, so balances and filters see it.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use faktura_domain::StoreError;
use faktura_domain::audit::{AuditEntry, Cause};
use faktura_domain::document::{Document, DocumentEvent};
use faktura_domain::jobs::{Job, JobKind};
use faktura_domain::ledger::{EntryKind, LedgerEntry, entry_id};
use faktura_domain::ports::{Change, CommitError, Conflict, DocumentWrite, Repository};
use faktura_domain::values::Id;

use super::items::document_from_item;
use super::{DynamoStore, Item, string_attr};
use crate::error::unavailable;
use crate::schema::GSI2;

/// What a migration run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub documents: usize,
    pub jobs: usize,
}

impl DynamoStore {
    /// Turns release 1's pending work into jobs (see the module docs). Returns how many.
    pub async fn adopt_release1_work(&self) -> Result<usize, StoreError> {
        let mut adopted = 0;
        for (partition, prefix, kind) in [
            ("PENDING#BOOKING", "BOOKING#", JobKind::ApplyBookingEvents),
            ("PENDING#INVOICE", "INVOICE#", JobKind::RenderDocument),
        ] {
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(GSI2.name)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", GSI2.partition_key)
                    .expression_attribute_values(":pk", AttributeValue::S(partition.into()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| unavailable("Query GSI2 (release 1)", e))?;
                for item in out.items() {
                    let pk = string_attr(item, "PK")?;
                    let sk = string_attr(item, "SK")?;
                    let (Some(tenant), Some(subject)) =
                        (pk.strip_prefix("TENANT#"), sk.strip_prefix(prefix))
                    else {
                        continue;
                    };
                    let tenant: Id = tenant
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("{pk}: {e}")))?;
                    let subject: Id = subject
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("{sk}: {e}")))?;
                    // The same ids the domain gives this work, so nothing is done twice.
                    let key = if kind == JobKind::ApplyBookingEvents {
                        "release1"
                    } else {
                        ""
                    };
                    let job = Job::new(&tenant, kind, &subject, key, Utc::now());
                    let mut change = match kind {
                        JobKind::RenderDocument => match self.document(&tenant, &subject).await? {
                            Some(doc) if doc.version == 1 => migration_change(doc),
                            _ => Change::for_tenant(&tenant),
                        },
                        _ => Change::for_tenant(&tenant),
                    };
                    change.jobs.push(job.clone());
                    let mut result = self.commit(change).await;
                    if matches!(
                        result,
                        Err(CommitError::Conflict(
                            Conflict::Document(_) | Conflict::LedgerEntry(_)
                        ))
                    ) {
                        // Migrated meanwhile (`faktura-admin migrate`): the job alone.
                        let mut change = Change::for_tenant(&tenant);
                        change.jobs.push(job);
                        result = self.commit(change).await;
                    }
                    match result {
                        Ok(()) => adopted += 1,
                        Err(CommitError::Conflict(Conflict::Job(_))) => {}
                        Err(CommitError::Conflict(c)) => {
                            return Err(StoreError::Corrupt(format!("adopting {sk}: {c:?}")));
                        }
                        Err(CommitError::Store(e)) => return Err(e),
                    }
                    self.client
                        .update_item()
                        .table_name(&self.table)
                        .key("PK", AttributeValue::S(pk.to_string()))
                        .key("SK", AttributeValue::S(sk.to_string()))
                        .update_expression("REMOVE #gpk, #gsk")
                        .expression_attribute_names("#gpk", GSI2.partition_key)
                        .expression_attribute_names("#gsk", GSI2.sort_key)
                        .send()
                        .await
                        .map_err(|e| unavailable("UpdateItem (release 1 work adopted)", e))?;
                }
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
        }
        Ok(adopted)
    }

    /// Rewrites every release-1 invoice item as a document (see the module docs).
    pub async fn migrate_release1(&self) -> Result<MigrationReport, StoreError> {
        let mut report = MigrationReport {
            jobs: self.adopt_release1_work().await?,
            ..MigrationReport::default()
        };
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#entity = :invoice")
                .expression_attribute_names("#entity", "entity")
                .expression_attribute_values(":invoice", AttributeValue::S("invoice".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Scan (release-1 invoices)", e))?;
            for item in out.items.unwrap_or_default() {
                let change = migration_change(document_from_item(item)?);
                match self.commit(change).await {
                    Ok(()) => report.documents += 1,
                    // Migrated meanwhile (or the charge exists): nothing to do.
                    Err(CommitError::Conflict(
                        Conflict::LedgerEntry(_) | Conflict::Document(_),
                    )) => {}
                    Err(CommitError::Conflict(c)) => {
                        return Err(StoreError::Corrupt(format!("migrating: {c:?}")));
                    }
                    Err(CommitError::Store(e)) => return Err(e),
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(report),
            }
        }
    }
}

/// What migrating one release-1 invoice writes: the document item (the release-1 item reads
/// as version 1; this write makes it version 2), its ledger charge and an audit entry.
fn migration_change(doc: Document) -> Change {
    let cause = Cause::Migration { from_version: 1 };
    let tenant = doc.content.tenant_id.clone();
    let mut change = Change::for_tenant(&tenant);
    let at = doc.content.issued_at;
    change.ledger.push(LedgerEntry {
        id: entry_id(&tenant, &format!("charge:{}", doc.id())),
        tenant_id: tenant.clone(),
        customer_key: doc.content.buyer.customer_key.clone(),
        document_id: doc.id().clone(),
        kind: EntryKind::Charge,
        amount: doc.settlement.charged,
        currency: doc.content.currency,
        at,
        cause: cause.clone(),
        related_document: None,
        payment: None,
    });
    change.audit.push(AuditEntry::new(
        &tenant,
        doc.id(),
        2,
        at,
        &cause,
        DocumentEvent::Issued {
            number: doc.content.number.as_str().to_string(),
        },
    ));
    change.documents.push(DocumentWrite::update(doc));
    change
}
