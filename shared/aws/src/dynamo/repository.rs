//! [`Repository`] on DynamoDB: strongly consistent reads by key, list queries on GSI1, and
//! every [`Change`] as one `TransactWriteItems`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::audit::AuditEntry;
use faktura_domain::booking::BookingRecord;
use faktura_domain::document::Document;
use faktura_domain::ledger::LedgerEntry;
use faktura_domain::model::Customer;
use faktura_domain::numbering::CounterKey;
use faktura_domain::ports::{
    Change, CommitError, Conflict, CustomerPage, DocumentFilter, DocumentPage, IdempotencyRecord,
    Repository, ScheduleFilter, SchedulePage,
};
use faktura_domain::schedule::Schedule;
use faktura_domain::values::Id;

use super::items::{
    AuditItem, BookingItem, CustomerItem, DocumentItem, IdempotencyItem, JobItem, LedgerItem,
    ScheduleItem, booking_from_item, document_from_item,
};
use super::{
    DynamoStore, Item, audit_prefix, booking_sk, cancellation_codes, counter_sk, customer_sk,
    decode_cursor, document_sk, documents_partition, encode_cursor, from_item, idempotency_sk, key,
    key_for, ledger_prefix, list_position, n, nanos, number_sk, period_sk, s, schedule_sk,
    schedules_partition, tenant_pk, to_item,
};
use crate::error::{corrupt, unavailable};
use crate::schema::{GSI1, TABLE};

/// A list page stops reading after this many index items, full or not (filters may match few).
const LIST_MAX_EVALUATED: usize = 2000;
/// How often a transaction that collided with another (not a failed condition) is retried.
const CONFLICT_RETRIES: u32 = 3;

/// A conditional put of `item`.
fn put(
    table: &str,
    item: Item,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let mut p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition);
    if !names.is_empty() {
        p = p.set_expression_attribute_names(Some(names));
    }
    if !values.is_empty() {
        p = p.set_expression_attribute_values(Some(values));
    }
    Ok(TransactWriteItem::builder()
        .put(p.build().map_err(|e| corrupt("transaction put", e))?)
        .build())
}

fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    put(
        table,
        item,
        Some("attribute_not_exists(PK)".into()),
        HashMap::new(),
        HashMap::new(),
    )
}

/// A put of a versioned item read at `expected` (`None`: new). Release-1 items carry no
/// version and read as version 1.
fn put_versioned(
    table: &str,
    item: Item,
    expected: Option<u64>,
) -> Result<TransactWriteItem, StoreError> {
    match expected {
        None => put_new(table, item),
        Some(v) => {
            let condition = if v == 1 {
                "attribute_exists(PK) AND (attribute_not_exists(#v) OR #v = :v)"
            } else {
                "#v = :v"
            };
            put(
                table,
                item,
                Some(condition.into()),
                HashMap::from([("#v".to_string(), "version".to_string())]),
                HashMap::from([(":v".to_string(), n(v))]),
            )
        }
    }
}

fn counter_update(
    table: &str,
    key_: &CounterKey,
    expected: u64,
) -> Result<TransactWriteItem, StoreError> {
    let pk = tenant_pk(&key_.tenant_id);
    let scope = key_.scope();
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(key_for(&pk, counter_sk(&scope))))
        .update_expression("SET #c = :next, #entity = :entity, #scope = :scope")
        .expression_attribute_names("#c", "c")
        .expression_attribute_names("#entity", "entity")
        .expression_attribute_names("#scope", "scope")
        .expression_attribute_values(":next", n(expected + 1))
        .expression_attribute_values(":entity", s("counter"))
        .expression_attribute_values(":scope", s(scope));
    u = if expected == 0 {
        u.condition_expression("attribute_not_exists(#c)")
    } else {
        u.condition_expression("#c = :expected")
            .expression_attribute_values(":expected", n(expected))
    };
    Ok(TransactWriteItem::builder()
        .update(u.build().map_err(|e| corrupt("counter update", e))?)
        .build())
}

/// The transaction of a change, with what a failed condition of each action means.
fn actions(
    table: &str,
    change: &Change,
) -> Result<(Vec<TransactWriteItem>, Vec<Option<Conflict>>), StoreError> {
    let mut actions = Vec::new();
    let mut meaning = Vec::new();
    let mut push = |a: TransactWriteItem, m: Option<Conflict>| {
        actions.push(a);
        meaning.push(m);
    };
    if let Some((record, expected)) = &change.booking {
        let version = expected.map_or(1, |v| v + 1);
        let item = to_item("booking", &BookingItem::new(record, version))?;
        push(
            put_versioned(table, item, *expected)?,
            Some(Conflict::Booking),
        );
    }
    for claim in &change.numbers {
        push(
            counter_update(table, &claim.counter, claim.expected)?,
            Some(Conflict::Counter(claim.counter.clone())),
        );
        let number_item = HashMap::from([
            (
                TABLE.partition_key.to_string(),
                s(tenant_pk(&claim.counter.tenant_id)),
            ),
            (
                TABLE.sort_key.to_string(),
                s(number_sk(claim.number.as_str())),
            ),
            ("entity".to_string(), s("document_number")),
            ("document_id".to_string(), s(claim.document_id.as_str())),
        ]);
        push(
            put_new(table, number_item)?,
            Some(Conflict::Number(claim.number.as_str().to_string())),
        );
    }
    for w in &change.documents {
        let item = to_item(
            "document",
            &DocumentItem::new(&w.document, w.next_version()),
        )?;
        push(
            put_versioned(table, item, w.expected)?,
            Some(Conflict::Document(w.document.id().clone())),
        );
    }
    for w in &change.schedules {
        let item = to_item(
            "schedule",
            &ScheduleItem::new(&w.schedule, w.next_version()),
        )?;
        push(
            put_versioned(table, item, w.expected)?,
            Some(Conflict::Schedule(w.schedule.id.clone())),
        );
    }
    for w in &change.items {
        let item = to_item(
            "billable item",
            &super::items::BillableItemItem::new(&w.item, w.next_version()),
        )?;
        push(
            put_versioned(table, item, w.expected)?,
            Some(Conflict::Item(w.item.id.clone())),
        );
    }
    for w in &change.bank_transactions {
        let item = to_item(
            "bank transaction",
            &super::items::BankTransactionItem::new(&w.transaction, w.next_version()),
        )?;
        push(
            put_versioned(table, item, w.expected)?,
            Some(Conflict::BankTransaction(w.transaction.id.clone())),
        );
    }
    for p in &change.periods {
        let item = HashMap::from([
            (TABLE.partition_key.to_string(), s(tenant_pk(&p.tenant_id))),
            (
                TABLE.sort_key.to_string(),
                s(period_sk(&p.schedule_id, p.occurrence)),
            ),
            ("entity".to_string(), s("schedule_period")),
            ("document_id".to_string(), s(p.document_id.as_str())),
        ]);
        push(
            put_new(table, item)?,
            Some(Conflict::Period {
                schedule_id: p.schedule_id.clone(),
                occurrence: p.occurrence,
            }),
        );
    }
    if !change.customers.is_empty() {
        let tenant = change
            .tenant_id
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("a change with customers names no tenant".into()))?;
        for c in &change.customers {
            let item = to_item("customer", &CustomerItem::new(tenant, c))?;
            push(
                put(table, item, None, HashMap::new(), HashMap::new())?,
                None,
            );
        }
    }
    if !change.holds.is_empty() {
        let tenant = change
            .tenant_id
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("a change with holds names no tenant".into()))?;
        for h in &change.holds {
            let item = to_item("dunning hold", &super::items::HoldItem::new(tenant, h))?;
            push(
                put(table, item, None, HashMap::new(), HashMap::new())?,
                None,
            );
        }
    }
    for e in &change.ledger {
        push(
            put_new(table, to_item("ledger entry", &LedgerItem::new(e))?)?,
            Some(Conflict::LedgerEntry(e.id.clone())),
        );
    }
    for a in &change.audit {
        push(
            put(
                table,
                to_item("audit entry", &AuditItem::new(a))?,
                None,
                HashMap::new(),
                HashMap::new(),
            )?,
            None,
        );
    }
    for job in &change.jobs {
        push(
            put_new(table, to_item("job", &JobItem::new(job, 1))?)?,
            Some(Conflict::Job(job.id.clone())),
        );
    }
    if let Some(rec) = &change.idempotency {
        let cutoff = nanos(rec.created_at - faktura_domain::service::commands::IDEMPOTENCY_KEPT);
        push(
            put(
                table,
                to_item("idempotency record", &IdempotencyItem::new(rec))?,
                Some("attribute_not_exists(PK) OR #created < :cutoff".into()),
                HashMap::from([("#created".to_string(), "created_at".to_string())]),
                HashMap::from([(":cutoff".to_string(), n(cutoff))]),
            )?,
            Some(Conflict::Idempotency(rec.key.clone())),
        );
    }
    if actions.len() > 100 {
        return Err(StoreError::Corrupt(format!(
            "a change of {} writes is more than one DynamoDB transaction takes (100)",
            actions.len()
        )));
    }
    // DynamoDB refuses two actions on one item in a transaction: a change that writes an item
    // twice is a bug in the caller.
    let mut seen = HashSet::new();
    for a in &actions {
        let key = a
            .put()
            .map(|p| (p.item().get("PK").cloned(), p.item().get("SK").cloned()))
            .or_else(|| {
                a.update()
                    .map(|u| (u.key().get("PK").cloned(), u.key().get("SK").cloned()))
            });
        if let Some(k) = key
            && !seen.insert(format!("{k:?}"))
        {
            return Err(StoreError::Corrupt(format!(
                "a change writes the item {k:?} twice"
            )));
        }
    }
    Ok((actions, meaning))
}

fn corrupt_text(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn schedule_from_item(item: Item) -> Result<Schedule, StoreError> {
    let i: ScheduleItem = from_item("schedule item", item)?;
    let mut schedule = i.schedule;
    schedule.version = i.version;
    Ok(schedule)
}

fn text_attr(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

#[async_trait]
impl Repository for DynamoStore {
    async fn booking(
        &self,
        tenant: &Id,
        booking_id: &Id,
    ) -> Result<Option<BookingRecord>, StoreError> {
        self.get("booking", key(tenant_pk(tenant), booking_sk(booking_id)))
            .await?
            .map(booking_from_item)
            .transpose()
    }

    async fn document(&self, tenant: &Id, id: &Id) -> Result<Option<Document>, StoreError> {
        self.get("document", key(tenant_pk(tenant), document_sk(id)))
            .await?
            .map(document_from_item)
            .transpose()
    }

    /// Pages in creation order over GSI1; filters are FilterExpressions, so one page may read
    /// more index items than it returns (at most [`LIST_MAX_EVALUATED`], then it returns what
    /// it has, possibly fewer than `limit`, with a cursor). A cursor this store did not hand
    /// out for this tenant reads as past the end.
    async fn documents(
        &self,
        tenant: &Id,
        filter: &DocumentFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, StoreError> {
        let partition = documents_partition(tenant);
        let empty = DocumentPage {
            documents: Vec::new(),
            next_cursor: None,
        };
        let mut start = match cursor {
            None => None,
            Some(c) => match decode_cursor(c, &partition, &tenant_pk(tenant)) {
                Some(k) => Some(k),
                None => return Ok(empty),
            },
        };
        let limit = limit.max(1);
        let mut conditions: Vec<String> = Vec::new();
        let mut names = HashMap::from([("#pk".to_string(), GSI1.partition_key.to_string())]);
        let mut values = HashMap::from([(":pk".to_string(), s(partition.clone()))]);
        // Release-1 items (until `migrate`) lack the facet attributes: they pass the
        // expression and the filter's own test below decides.
        let mut eq = |attr: &str, value: String| {
            let i = names.len();
            names.insert(format!("#a{i}"), attr.to_string());
            values.insert(format!(":a{i}"), s(value));
            conditions.push(format!("(attribute_not_exists(#a{i}) OR #a{i} = :a{i})"));
        };
        if let Some(k) = filter.kind {
            eq("kind", k.as_str().into());
        }
        if let Some(l) = filter.lifecycle {
            eq("lifecycle", l.as_str().into());
        }
        if let Some(p) = filter.payment {
            eq("payment", p.as_str().into());
        }
        if let Some(d) = &filter.delivery {
            eq("delivery", d.clone());
        }
        if let Some(c) = &filter.customer_key {
            eq("customer_key", c.clone());
        }
        if let Some(b) = &filter.booking_id {
            eq("booking_id", b.as_str().into());
        }
        if filter.from.is_some() || filter.to.is_some() {
            names.insert("#date".into(), "issue_date".into());
        }
        if let Some(from) = filter.from {
            values.insert(":from".into(), s(from.format("%Y-%m-%d").to_string()));
            conditions.push("#date >= :from".into());
        }
        if let Some(to) = filter.to {
            values.insert(":to".into(), s(to.format("%Y-%m-%d").to_string()));
            conditions.push("#date <= :to".into());
        }
        let filtered =
            !conditions.is_empty() || filter.overdue_on.is_some() || filter.dunning.is_some();
        let filter_expression = (!conditions.is_empty()).then(|| conditions.join(" AND "));
        let mut documents = Vec::new();
        let mut last_position: Option<BTreeMap<String, String>> = None;
        let mut evaluated = 0usize;
        loop {
            let remaining = limit - documents.len();
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
                if documents.len() == limit {
                    return Ok(DocumentPage {
                        documents,
                        next_cursor: last_position.as_ref().and_then(encode_cursor),
                    });
                }
                last_position = list_position(&item);
                let doc = document_from_item(item)?;
                // Release-1 items lack the filter attributes; the filter's own test decides.
                if filter.matches(&doc) {
                    documents.push(doc);
                }
            }
            let next = out.last_evaluated_key.filter(|k| !k.is_empty());
            match next {
                None => {
                    return Ok(DocumentPage {
                        documents,
                        next_cursor: None,
                    });
                }
                Some(k) if documents.len() == limit || evaluated >= LIST_MAX_EVALUATED => {
                    let position: Option<BTreeMap<String, String>> = k
                        .iter()
                        .map(|(name, v)| match v {
                            AttributeValue::S(text) => Some((name.clone(), text.clone())),
                            _ => None,
                        })
                        .collect();
                    return Ok(DocumentPage {
                        documents,
                        next_cursor: position.as_ref().and_then(encode_cursor),
                    });
                }
                Some(k) => start = Some(k),
            }
        }
    }

    async fn dunning_hold(
        &self,
        tenant: &Id,
        customer_key: &str,
    ) -> Result<Option<faktura_domain::dunning::DunningHold>, StoreError> {
        self.get(
            "dunning hold",
            key(tenant_pk(tenant), super::hold_sk(customer_key)),
        )
        .await?
        .map(|i| from_item::<super::items::HoldItem>("dunning hold item", i).map(|h| h.hold))
        .transpose()
    }

    async fn billable_item(
        &self,
        tenant: &Id,
        customer_key: &str,
        id: &Id,
    ) -> Result<Option<faktura_domain::collective::BillableItem>, StoreError> {
        self.get(
            "billable item",
            key(tenant_pk(tenant), super::billable_sk(customer_key, id)),
        )
        .await?
        .map(|i| from_item::<super::items::BillableItemItem>("billable item", i).map(|b| b.item))
        .transpose()
    }

    async fn billable_items(
        &self,
        tenant: &Id,
        customer_key: &str,
        open_only: bool,
    ) -> Result<Vec<faktura_domain::collective::BillableItem>, StoreError> {
        let mut items: Vec<faktura_domain::collective::BillableItem> = self
            .query_prefix(tenant_pk(tenant), super::billable_prefix(customer_key))
            .await?
            .into_iter()
            .map(|i| {
                from_item::<super::items::BillableItemItem>("billable item", i).map(|b| b.item)
            })
            .collect::<Result<_, _>>()?;
        if open_only {
            items.retain(|i| i.is_open());
        }
        items.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(items)
    }

    async fn bank_transaction(
        &self,
        tenant: &Id,
        id: &Id,
    ) -> Result<Option<faktura_domain::bank::BankTransaction>, StoreError> {
        self.get(
            "bank transaction",
            key(tenant_pk(tenant), super::bank_transaction_sk(id)),
        )
        .await?
        .map(|i| {
            from_item::<super::items::BankTransactionItem>("bank transaction", i)
                .map(|b| b.transaction)
        })
        .transpose()
    }

    async fn bank_transactions(
        &self,
        tenant: &Id,
        state: Option<faktura_domain::bank::TransactionStateKind>,
    ) -> Result<Vec<faktura_domain::bank::BankTransaction>, StoreError> {
        let mut all: Vec<faktura_domain::bank::BankTransaction> = self
            .query_prefix(
                tenant_pk(tenant),
                super::BANK_TRANSACTION_PREFIX.to_string(),
            )
            .await?
            .into_iter()
            .map(|i| {
                from_item::<super::items::BankTransactionItem>("bank transaction", i)
                    .map(|b| b.transaction)
            })
            .collect::<Result<_, _>>()?;
        if let Some(state) = state {
            all.retain(|t| t.state.kind() == state);
        }
        // Import order (ids are hashes): the import instant, then the statement's order is
        // lost only within one instant, where the id decides.
        all.sort_by(|a, b| (a.imported_at, a.id.as_str()).cmp(&(b.imported_at, b.id.as_str())));
        Ok(all)
    }

    async fn customer(&self, tenant: &Id, key_: &str) -> Result<Option<Customer>, StoreError> {
        self.get("customer", key(tenant_pk(tenant), customer_sk(key_)))
            .await?
            .map(|i| from_item::<CustomerItem>("customer item", i).map(|c| c.customer))
            .transpose()
    }

    async fn schedule(&self, tenant: &Id, id: &Id) -> Result<Option<Schedule>, StoreError> {
        self.get("schedule", key(tenant_pk(tenant), schedule_sk(id)))
            .await?
            .map(schedule_from_item)
            .transpose()
    }

    async fn schedules(
        &self,
        tenant: &Id,
        filter: &ScheduleFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SchedulePage, StoreError> {
        let limit = limit.max(1);
        let mut schedules: Vec<Schedule> = Vec::new();
        let partition = schedules_partition(tenant);
        // The cursor is the last item's GSI1 sort key, `{created}#{id}`.
        let mut start: Option<Item> = cursor.and_then(|c| {
            let (_, id) = c.rsplit_once('#')?;
            let id: Id = id.parse().ok()?;
            let mut k = key(tenant_pk(tenant), schedule_sk(&id));
            k.insert(GSI1.partition_key.to_string(), s(partition.clone()));
            k.insert(GSI1.sort_key.to_string(), s(c));
            Some(k)
        });
        let mut evaluated = 0;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1.partition_key)
                .expression_attribute_values(":pk", s(partition.clone()))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit + 1).unwrap_or(100))
                .send()
                .await
                .map_err(|e| unavailable("Query GSI1 schedules", e))?;
            let items = out.items.unwrap_or_default();
            evaluated += items.len();
            let mut last_sk = None;
            for item in items {
                last_sk = text_attr(&item, GSI1.sort_key);
                let schedule = schedule_from_item(item)?;
                if filter.matches(&schedule) {
                    schedules.push(schedule);
                    if schedules.len() > limit {
                        schedules.truncate(limit);
                        // Resume after the last schedule handed out.
                        let next = schedules
                            .last()
                            .map(|s| format!("{}#{}", super::instant_key(s.created_at), s.id));
                        return Ok(SchedulePage {
                            schedules,
                            next_cursor: next,
                        });
                    }
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && evaluated < LIST_MAX_EVALUATED => start = Some(k),
                Some(k) if !k.is_empty() => {
                    // Few matches among many: hand out where the reading stopped.
                    return Ok(SchedulePage {
                        schedules,
                        next_cursor: last_sk.or_else(|| text_attr(&k, GSI1.sort_key)),
                    });
                }
                _ => {
                    return Ok(SchedulePage {
                        schedules,
                        next_cursor: None,
                    });
                }
            }
        }
    }

    async fn period(
        &self,
        tenant: &Id,
        schedule_id: &Id,
        occurrence: u32,
    ) -> Result<Option<Id>, StoreError> {
        let Some(item) = self
            .get(
                "schedule period",
                key(tenant_pk(tenant), period_sk(schedule_id, occurrence)),
            )
            .await?
        else {
            return Ok(None);
        };
        text_attr(&item, "document_id")
            .ok_or_else(|| corrupt_text("a schedule period without a document id"))?
            .parse()
            .map(Some)
            .map_err(|e| corrupt_text(&format!("a schedule period's document id: {e}")))
    }

    async fn customers(
        &self,
        tenant: &Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CustomerPage, StoreError> {
        let limit = limit.max(1);
        let after = cursor.map(customer_sk);
        let mut customers = Vec::new();
        let mut start: Option<Item> = after.map(|sk| key(tenant_pk(tenant), sk));
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", TABLE.partition_key)
                .expression_attribute_names("#sk", TABLE.sort_key)
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s("CUSTOMER#"))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit + 1 - customers.len()).unwrap_or(100))
                .send()
                .await
                .map_err(|e| unavailable("Query customers", e))?;
            for item in out.items.unwrap_or_default() {
                customers.push(from_item::<CustomerItem>("customer item", item)?.customer);
            }
            if customers.len() > limit {
                customers.truncate(limit);
                let next = customers.last().map(|c: &Customer| c.key.clone());
                return Ok(CustomerPage {
                    customers,
                    next_cursor: next,
                });
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => {
                    return Ok(CustomerPage {
                        customers,
                        next_cursor: None,
                    });
                }
            }
        }
    }

    async fn ledger(
        &self,
        tenant: &Id,
        customer_key: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut entries: Vec<LedgerEntry> = self
            .query_prefix(tenant_pk(tenant), ledger_prefix(customer_key))
            .await?
            .into_iter()
            .map(|i| from_item::<LedgerItem>("ledger item", i).map(|l| l.entry))
            .collect::<Result<_, _>>()?;
        entries.sort_by(|a, b| (a.at, a.id.as_str()).cmp(&(b.at, b.id.as_str())));
        Ok(entries)
    }

    async fn audit(&self, tenant: &Id, document_id: &Id) -> Result<Vec<AuditEntry>, StoreError> {
        self.query_prefix(tenant_pk(tenant), audit_prefix(document_id))
            .await?
            .into_iter()
            .map(|i| from_item::<AuditItem>("audit item", i).map(|a| a.entry))
            .collect()
    }

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

    async fn idempotency(
        &self,
        tenant: &Id,
        key_: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let Some(item) = self
            .get(
                "idempotency key",
                key(tenant_pk(tenant), idempotency_sk(key_)),
            )
            .await?
        else {
            return Ok(None);
        };
        let r: IdempotencyItem = from_item("idempotency item", item)?;
        Ok((r.record.created_at >= not_before).then_some(r.record))
    }

    async fn commit(&self, change: Change) -> Result<(), CommitError> {
        if change.is_empty() {
            return Ok(());
        }
        let (actions, meaning) = actions(&self.table, &change)?;
        for attempt in 0..=CONFLICT_RETRIES {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(actions.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let codes = cancellation_codes(&err);
            if codes.is_empty() {
                return Err(CommitError::Store(unavailable("TransactWriteItems", err)));
            }
            if let Some(conflict) = codes
                .iter()
                .zip(&meaning)
                .find(|(c, _)| *c == "ConditionalCheckFailed")
                .and_then(|(_, m)| m.clone())
            {
                return Err(CommitError::Conflict(conflict));
            }
            if codes.iter().any(|c| c == "TransactionConflict") && attempt < CONFLICT_RETRIES {
                // Another transaction held one of the items: wait a little, jittered.
                let jitter = u64::from(super::rand_jitter()) % 20;
                tokio::time::sleep(Duration::from_millis(5 + 10 * u64::from(attempt) + jitter))
                    .await;
                continue;
            }
            if codes.iter().any(|c| c == "TransactionConflict") {
                // Still colliding: the caller reads again and rebuilds.
                let m = meaning
                    .iter()
                    .flatten()
                    .next()
                    .cloned()
                    .unwrap_or(Conflict::Booking);
                return Err(CommitError::Conflict(match m {
                    Conflict::Counter(c) => Conflict::Counter(c),
                    Conflict::Document(d) => Conflict::Document(d),
                    _ => Conflict::Booking,
                }));
            }
            return Err(CommitError::Store(unavailable("TransactWriteItems", err)));
        }
        Err(CommitError::Store(StoreError::Unavailable(
            "TransactWriteItems kept colliding".into(),
        )))
    }
}

/// The id a release-1 or today's document item names.
#[allow(dead_code)]
pub(crate) fn item_document_id(item: &Item) -> Option<String> {
    text_attr(item, "SK").and_then(|sk| sk.strip_prefix("INVOICE#").map(str::to_string))
}
