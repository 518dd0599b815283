//! [`Repository`] on SQLite: reads, and [`Change`]s as one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::audit::AuditEntry;
use faktura_domain::booking::BookingRecord;
use faktura_domain::document::Document;
use faktura_domain::jobs::Job;
use faktura_domain::ledger::LedgerEntry;
use faktura_domain::model::Customer;
use faktura_domain::numbering::CounterKey;
use faktura_domain::ports::{
    BankTransactionWrite, Change, CommitError, Conflict, CustomerPage, DocumentFilter,
    DocumentPage, IdempotencyRecord, ItemWrite, PeriodClaim, Repository, ScheduleFilter,
    SchedulePage, ScheduleWrite,
};
use faktura_domain::schedule::Schedule;
use faktura_domain::values::Id;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{
    SqliteStore, date_text, db, from_json, immediate, is_constraint_violation, nanos, parse_id,
    sql_limit, to_json,
};

/// A document row's columns ?1..?14, in the order of [`DOCUMENT_COLUMNS`], for `doc` stored at
/// `version`.
fn document_row(doc: &Document, version: u64) -> Result<Vec<Value>, StoreError> {
    let mut doc = doc.clone();
    doc.version = version;
    let c = &doc.content;
    let issued = doc.lifecycle.is_issued();
    let text = |s: &str| Value::Text(s.to_string());
    let optional = |s: Option<String>| s.map_or(Value::Null, Value::Text);
    Ok(vec![
        text(c.tenant_id.as_str()),
        text(c.id.as_str()),
        text(c.kind.as_str()),
        text(doc.lifecycle.as_str()),
        text(doc.delivery.as_str()),
        text(doc.payment_state().as_str()),
        text(&c.buyer.customer_key),
        optional(c.booking_id.as_ref().map(|b| b.as_str().to_string())),
        optional(issued.then(|| c.number.as_str().to_string())),
        optional(issued.then(|| date_text(c.issue_date))),
        Value::Text(date_text(c.due_date)),
        Value::Integer(open_cents(&doc)),
        Value::Integer(i64::try_from(version).unwrap_or(i64::MAX)),
        Value::Text(to_json("document", &doc)?),
    ])
}

/// The columns of [`document_row`].
const DOCUMENT_COLUMNS: &str = "tenant_id, document_id, kind, lifecycle, delivery, payment, \
     customer_key, booking_id, number, issue_date, due_date, open_cents, version, document";

/// Writes a document row (new) with `version`; false when the document exists.
pub(crate) fn insert_document(
    tx: &Transaction<'_>,
    doc: &Document,
    version: u64,
) -> Result<bool, StoreError> {
    let row = document_row(doc, version)?;
    let r = tx
        .prepare_cached(&format!(
            "INSERT INTO documents ({DOCUMENT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ))
        .map_err(db)?
        .execute(rusqlite::params_from_iter(row));
    match r {
        Ok(_) => Ok(true),
        Err(e) if is_constraint_violation(&e) => Ok(false),
        Err(e) => Err(db(e)),
    }
}

fn open_cents(doc: &Document) -> i64 {
    // Only issued invoices are owed; the due index holds just them.
    if doc.kind() == faktura_domain::model::DocumentKind::Invoice && doc.lifecycle.is_issued() {
        doc.settlement.open().cents()
    } else {
        0
    }
}

/// Updates a document row from version `expected` to `expected + 1`; false when it is not at
/// `expected`.
fn update_document(
    tx: &Transaction<'_>,
    doc: &Document,
    expected: u64,
) -> Result<bool, StoreError> {
    let mut row = document_row(doc, expected + 1)?;
    row.push(Value::Integer(i64::try_from(expected).unwrap_or(i64::MAX)));
    let n = tx
        .prepare_cached(
            "UPDATE documents SET kind = ?3, lifecycle = ?4, delivery = ?5, payment = ?6,
                    customer_key = ?7, booking_id = ?8, number = ?9, issue_date = ?10,
                    due_date = ?11, open_cents = ?12, version = ?13, document = ?14
             WHERE tenant_id = ?1 AND document_id = ?2 AND version = ?15",
        )
        .map_err(db)?
        .execute(rusqlite::params_from_iter(row))
        .map_err(db)?;
    Ok(n == 1)
}

pub(crate) fn insert_ledger(tx: &Transaction<'_>, e: &LedgerEntry) -> Result<bool, StoreError> {
    let r = tx
        .prepare_cached(
            "INSERT INTO ledger (tenant_id, entry_id, customer_key, document_id, at, entry)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(db)?
        .execute(params![
            e.tenant_id.as_str(),
            e.id.as_str(),
            e.customer_key,
            e.document_id.as_str(),
            nanos(e.at),
            to_json("ledger entry", e)?,
        ]);
    match r {
        Ok(_) => Ok(true),
        Err(err) if is_constraint_violation(&err) => Ok(false),
        Err(err) => Err(db(err)),
    }
}

pub(crate) fn insert_audit(tx: &Transaction<'_>, a: &AuditEntry) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO audit (tenant_id, document_id, entry_id, at, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(db)?
    .execute(params![
        a.tenant_id.as_str(),
        a.document_id.as_str(),
        a.id.as_str(),
        nanos(a.at),
        to_json("audit entry", a)?,
    ])
    .map_err(db)?;
    Ok(())
}

pub(crate) fn insert_job(tx: &Transaction<'_>, job: &Job) -> Result<bool, StoreError> {
    let r = tx
        .prepare_cached(
            "INSERT INTO jobs (tenant_id, job_id, kind, state, shard, due_at, job)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db)?
        .execute(params![
            job.tenant_id.as_str(),
            job.id.as_str(),
            job.kind.as_str(),
            job.state.as_str(),
            job.shard(),
            nanos(job.due_at),
            to_json("job", job)?,
        ]);
    match r {
        Ok(_) => Ok(true),
        Err(err) if is_constraint_violation(&err) => Ok(false),
        Err(err) => Err(db(err)),
    }
}

/// Moves a counter from `expected` to `expected + 1`; false when it stands elsewhere.
fn move_counter(tx: &Transaction<'_>, key: &CounterKey, expected: u64) -> Result<bool, StoreError> {
    let tenant = key.tenant_id.as_str();
    let scope = key.scope();
    let current: i64 = tx
        .prepare_cached("SELECT value FROM counters WHERE tenant_id = ?1 AND scope = ?2")
        .map_err(db)?
        .query_row(params![tenant, scope], |r| r.get(0))
        .optional()
        .map_err(db)?
        .unwrap_or(0);
    let expected = i64::try_from(expected).unwrap_or(i64::MAX);
    if current != expected {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO counters (tenant_id, scope, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id, scope) DO UPDATE SET value = excluded.value",
    )
    .map_err(db)?
    .execute(params![tenant, scope, expected + 1])
    .map_err(db)?;
    Ok(true)
}

fn write_booking(
    tx: &Transaction<'_>,
    record: &BookingRecord,
    expected: Option<u64>,
) -> Result<bool, StoreError> {
    let version = expected.map_or(1, |v| v + 1);
    let mut record = record.clone();
    record.version = version;
    let status = if record.documents.invoice.is_some() {
        "invoiced"
    } else {
        "received"
    };
    let json = to_json("booking record", &record)?;
    let v = i64::try_from(version).unwrap_or(i64::MAX);
    let n = match expected {
        None => {
            let r = tx
                .prepare_cached(
                    "INSERT INTO bookings (tenant_id, booking_id, status, received_at, record, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db)?
                .execute(params![
                    record.tenant_id.as_str(),
                    record.booking_id.as_str(),
                    status,
                    nanos(record.received_at),
                    json,
                    v
                ]);
            match r {
                Ok(n) => n,
                Err(e) if is_constraint_violation(&e) => 0,
                Err(e) => return Err(db(e)),
            }
        }
        Some(expected) => tx
            .prepare_cached(
                "UPDATE bookings SET status = ?3, record = ?4, version = ?5
                 WHERE tenant_id = ?1 AND booking_id = ?2 AND version = ?6",
            )
            .map_err(db)?
            .execute(params![
                record.tenant_id.as_str(),
                record.booking_id.as_str(),
                status,
                json,
                v,
                i64::try_from(expected).unwrap_or(i64::MAX)
            ])
            .map_err(db)?,
    };
    Ok(n == 1)
}

/// Writes a schedule at the version it was read at (`None`: new). False: the condition failed.
fn write_schedule(tx: &Transaction<'_>, w: &ScheduleWrite) -> Result<bool, StoreError> {
    let mut stored = w.schedule.clone();
    stored.version = w.next_version();
    let json = to_json("schedule", &stored)?;
    let sc = &w.schedule;
    let n = match w.expected {
        None => {
            let r = tx
                .prepare_cached(
                    "INSERT INTO schedules (tenant_id, schedule_id, seq, state, customer_key, version, schedule)
                     VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM schedules WHERE tenant_id = ?1), ?3, ?4, 1, ?5)",
                )
                .map_err(db)?
                .execute(params![
                    sc.tenant_id.as_str(),
                    sc.id.as_str(),
                    sc.state.as_str(),
                    sc.customer.key(),
                    json
                ]);
            match r {
                Ok(n) => n,
                Err(e) if is_constraint_violation(&e) => 0,
                Err(e) => return Err(db(e)),
            }
        }
        Some(v) => tx
            .prepare_cached(
                "UPDATE schedules SET state = ?3, customer_key = ?4, version = ?5, schedule = ?6
                 WHERE tenant_id = ?1 AND schedule_id = ?2 AND version = ?7",
            )
            .map_err(db)?
            .execute(params![
                sc.tenant_id.as_str(),
                sc.id.as_str(),
                sc.state.as_str(),
                sc.customer.key(),
                stored.version,
                json,
                v
            ])
            .map_err(db)?,
    };
    Ok(n == 1)
}

/// Writes a bank transaction at the version read (`None`: new). False: the condition failed.
fn write_bank_transaction(
    tx: &Transaction<'_>,
    w: &BankTransactionWrite,
) -> Result<bool, StoreError> {
    let mut stored = w.transaction.clone();
    stored.version = w.next_version();
    let json = to_json("bank transaction", &stored)?;
    let t = &w.transaction;
    let n = match w.expected {
        None => {
            let r = tx
                .prepare_cached(
                    "INSERT INTO bank_transactions (tenant_id, transaction_id, seq, state, version, record)
                     VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM bank_transactions WHERE tenant_id = ?1), ?3, 1, ?4)",
                )
                .map_err(db)?
                .execute(params![
                    t.tenant_id.as_str(),
                    t.id.as_str(),
                    t.state.kind().as_str(),
                    json
                ]);
            match r {
                Ok(n) => n,
                Err(e) if is_constraint_violation(&e) => 0,
                Err(e) => return Err(db(e)),
            }
        }
        Some(v) => tx
            .prepare_cached(
                "UPDATE bank_transactions SET state = ?3, version = ?4, record = ?5
                 WHERE tenant_id = ?1 AND transaction_id = ?2 AND version = ?6",
            )
            .map_err(db)?
            .execute(params![
                t.tenant_id.as_str(),
                t.id.as_str(),
                t.state.kind().as_str(),
                stored.version,
                json,
                v
            ])
            .map_err(db)?,
    };
    Ok(n == 1)
}

/// Writes a billable item at the version read (`None`: new). False: the condition failed.
fn write_item(tx: &Transaction<'_>, w: &ItemWrite) -> Result<bool, StoreError> {
    let mut stored = w.item.clone();
    stored.version = w.next_version();
    let json = to_json("billable item", &stored)?;
    let it = &w.item;
    let n = match w.expected {
        None => {
            let r = tx
                .prepare_cached(
                    "INSERT INTO billable_items (tenant_id, customer_key, item_id, seq, state, version, item)
                     VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM billable_items WHERE tenant_id = ?1), ?4, 1, ?5)",
                )
                .map_err(db)?
                .execute(params![
                    it.tenant_id.as_str(),
                    it.customer_key,
                    it.id.as_str(),
                    it.state.as_str(),
                    json
                ]);
            match r {
                Ok(n) => n,
                Err(e) if is_constraint_violation(&e) => 0,
                Err(e) => return Err(db(e)),
            }
        }
        Some(v) => tx
            .prepare_cached(
                "UPDATE billable_items SET state = ?4, version = ?5, item = ?6
                 WHERE tenant_id = ?1 AND customer_key = ?2 AND item_id = ?3 AND version = ?7",
            )
            .map_err(db)?
            .execute(params![
                it.tenant_id.as_str(),
                it.customer_key,
                it.id.as_str(),
                it.state.as_str(),
                stored.version,
                json,
                v
            ])
            .map_err(db)?,
    };
    Ok(n == 1)
}

fn claim_period(tx: &Transaction<'_>, p: &PeriodClaim) -> Result<bool, StoreError> {
    let r = tx
        .prepare_cached(
            "INSERT INTO schedule_periods (tenant_id, schedule_id, occurrence, document_id)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db)?
        .execute(params![
            p.tenant_id.as_str(),
            p.schedule_id.as_str(),
            p.occurrence,
            p.document_id.as_str()
        ]);
    match r {
        Ok(_) => Ok(true),
        Err(e) if is_constraint_violation(&e) => Ok(false),
        Err(e) => Err(db(e)),
    }
}

fn commit_tx(tx: &Transaction<'_>, change: &Change) -> Result<Option<Conflict>, StoreError> {
    if let Some((record, expected)) = &change.booking
        && !write_booking(tx, record, *expected)?
    {
        return Ok(Some(Conflict::Booking));
    }
    for claim in &change.numbers {
        if !move_counter(tx, &claim.counter, claim.expected)? {
            return Ok(Some(Conflict::Counter(claim.counter.clone())));
        }
        let r = tx
            .prepare_cached(
                "INSERT INTO numbers (tenant_id, number, document_id) VALUES (?1, ?2, ?3)",
            )
            .map_err(db)?
            .execute(params![
                claim.counter.tenant_id.as_str(),
                claim.number.as_str(),
                claim.document_id.as_str()
            ]);
        match r {
            Ok(_) => {}
            Err(e) if is_constraint_violation(&e) => {
                return Ok(Some(Conflict::Number(claim.number.as_str().to_string())));
            }
            Err(e) => return Err(db(e)),
        }
    }
    for w in &change.documents {
        let ok = match w.expected {
            None => insert_document(tx, &w.document, 1)?,
            Some(v) => update_document(tx, &w.document, v)?,
        };
        if !ok {
            return Ok(Some(Conflict::Document(w.document.id().clone())));
        }
    }
    for w in &change.schedules {
        if !write_schedule(tx, w)? {
            return Ok(Some(Conflict::Schedule(w.schedule.id.clone())));
        }
    }
    for p in &change.periods {
        if !claim_period(tx, p)? {
            return Ok(Some(Conflict::Period {
                schedule_id: p.schedule_id.clone(),
                occurrence: p.occurrence,
            }));
        }
    }
    for w in &change.items {
        if !write_item(tx, w)? {
            return Ok(Some(Conflict::Item(w.item.id.clone())));
        }
    }
    for w in &change.bank_transactions {
        if !write_bank_transaction(tx, w)? {
            return Ok(Some(Conflict::BankTransaction(w.transaction.id.clone())));
        }
    }
    for c in &change.customers {
        let tenant = change
            .tenant_id
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("a change with customers names no tenant".into()))?;
        tx.prepare_cached(
            "INSERT INTO customers (tenant_id, customer_key, customer) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, customer_key) DO UPDATE SET customer = excluded.customer",
        )
        .map_err(db)?
        .execute(params![tenant.as_str(), c.key, to_json("customer", c)?])
        .map_err(db)?;
    }
    for h in &change.holds {
        let tenant = change
            .tenant_id
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("a change with holds names no tenant".into()))?;
        tx.prepare_cached(
            "INSERT INTO dunning_holds (tenant_id, customer_key, hold) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, customer_key) DO UPDATE SET hold = excluded.hold",
        )
        .map_err(db)?
        .execute(params![
            tenant.as_str(),
            h.customer_key,
            to_json("dunning hold", h)?
        ])
        .map_err(db)?;
    }
    for e in &change.ledger {
        if !insert_ledger(tx, e)? {
            return Ok(Some(Conflict::LedgerEntry(e.id.clone())));
        }
    }
    for a in &change.audit {
        insert_audit(tx, a)?;
    }
    for job in &change.jobs {
        if !insert_job(tx, job)? {
            return Ok(Some(Conflict::Job(job.id.clone())));
        }
    }
    if let Some(rec) = &change.idempotency {
        let cutoff = nanos(rec.created_at - faktura_domain::service::commands::IDEMPOTENCY_KEPT);
        tx.prepare_cached(
            "DELETE FROM idempotency WHERE tenant_id = ?1 AND key = ?2 AND created_at < ?3",
        )
        .map_err(db)?
        .execute(params![rec.tenant_id.as_str(), rec.key, cutoff])
        .map_err(db)?;
        let r = tx
            .prepare_cached(
                "INSERT INTO idempotency (tenant_id, key, request_hash, status, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db)?
            .execute(params![
                rec.tenant_id.as_str(),
                rec.key,
                rec.request_hash,
                rec.status,
                rec.body,
                nanos(rec.created_at)
            ]);
        match r {
            Ok(_) => {}
            Err(e) if is_constraint_violation(&e) => {
                return Ok(Some(Conflict::Idempotency(rec.key.clone())));
            }
            Err(e) => return Err(db(e)),
        }
    }
    Ok(None)
}

fn read_document(
    conn: &rusqlite::Connection,
    tenant: &str,
    id: &str,
) -> Result<Option<Document>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT document FROM documents WHERE tenant_id = ?1 AND document_id = ?2")
        .map_err(db)?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()
        .map_err(db)?;
    json.map(|j| from_json("document", &j)).transpose()
}

#[async_trait]
impl Repository for SqliteStore {
    async fn booking(
        &self,
        tenant: &Id,
        booking_id: &Id,
    ) -> Result<Option<BookingRecord>, StoreError> {
        let (t, b) = (tenant.as_str().to_string(), booking_id.as_str().to_string());
        let row: Option<(String, i64)> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT record, version FROM bookings WHERE tenant_id = ?1 AND booking_id = ?2",
                )
                .map_err(db)?
                .query_row(params![t, b], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db)
            })
            .await?;
        row.map(|(json, version)| {
            let mut r: BookingRecord = from_json("booking record", &json)?;
            r.version = u64::try_from(version).unwrap_or(0);
            Ok(r)
        })
        .transpose()
    }

    async fn document(&self, tenant: &Id, id: &Id) -> Result<Option<Document>, StoreError> {
        let (t, i) = (tenant.as_str().to_string(), id.as_str().to_string());
        self.run(move |conn| read_document(conn, &t, &i)).await
    }

    async fn documents(
        &self,
        tenant: &Id,
        filter: &DocumentFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, StoreError> {
        let after: i64 = match cursor {
            None => 0,
            Some(c) => match c.parse::<i64>() {
                Ok(n) if n >= 0 => n,
                // A cursor this store did not hand out reads as past the end.
                _ => {
                    return Ok(DocumentPage {
                        documents: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
        };
        let mut sql =
            String::from("SELECT seq, document FROM documents WHERE tenant_id = ?1 AND seq > ?2");
        let mut args: Vec<Value> = vec![
            Value::Text(tenant.as_str().to_string()),
            Value::Integer(after),
        ];
        let mut add = |clause: &str, value: Value| {
            args.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(k) = filter.kind {
            add("kind =", Value::Text(k.as_str().into()));
        }
        if let Some(l) = filter.lifecycle {
            add("lifecycle =", Value::Text(l.as_str().into()));
        }
        if let Some(p) = filter.payment {
            add("payment =", Value::Text(p.as_str().into()));
        }
        if let Some(d) = &filter.delivery {
            add("delivery =", Value::Text(d.clone()));
        }
        if let Some(c) = &filter.customer_key {
            add("customer_key =", Value::Text(c.clone()));
        }
        if let Some(b) = &filter.booking_id {
            add("booking_id =", Value::Text(b.as_str().into()));
        }
        if let Some(f) = filter.from {
            add("issue_date >=", Value::Text(date_text(f)));
        }
        if let Some(t) = filter.to {
            add("issue_date <=", Value::Text(date_text(t)));
        }
        if let Some(day) = filter.overdue_on {
            add("open_cents > 0 AND due_date <", Value::Text(date_text(day)));
        }
        args.push(Value::Integer(sql_limit(limit) + 1));
        sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", args.len()));
        let rows: Vec<(i64, String)> = self
            .run(move |conn| {
                let mut stmt = conn.prepare(&sql).map_err(db)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        let limit = limit.max(1);
        let more = rows.len() > limit;
        let mut documents = Vec::new();
        let mut last = after;
        for (seq, json) in rows.into_iter().take(limit) {
            let doc: Document = from_json("document", &json)?;
            // Columns copy the document; the filter's own test keeps both adapters exact.
            if filter.matches(&doc) {
                documents.push(doc);
            }
            last = seq;
        }
        Ok(DocumentPage {
            documents,
            next_cursor: more.then(|| last.to_string()),
        })
    }

    async fn dunning_hold(
        &self,
        tenant: &Id,
        customer_key: &str,
    ) -> Result<Option<faktura_domain::dunning::DunningHold>, StoreError> {
        let (t, k) = (tenant.as_str().to_string(), customer_key.to_string());
        let json: Option<String> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT hold FROM dunning_holds WHERE tenant_id = ?1 AND customer_key = ?2",
                )
                .map_err(db)?
                .query_row(params![t, k], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        json.map(|j| from_json("dunning hold", &j)).transpose()
    }

    async fn billable_item(
        &self,
        tenant: &Id,
        customer_key: &str,
        id: &Id,
    ) -> Result<Option<faktura_domain::collective::BillableItem>, StoreError> {
        let (t, k, i) = (
            tenant.as_str().to_string(),
            customer_key.to_string(),
            id.as_str().to_string(),
        );
        let json: Option<String> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT item FROM billable_items WHERE tenant_id = ?1 AND customer_key = ?2 AND item_id = ?3",
                )
                .map_err(db)?
                .query_row(params![t, k, i], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        json.map(|j| from_json("billable item", &j)).transpose()
    }

    async fn billable_items(
        &self,
        tenant: &Id,
        customer_key: &str,
        open_only: bool,
    ) -> Result<Vec<faktura_domain::collective::BillableItem>, StoreError> {
        let (t, k) = (tenant.as_str().to_string(), customer_key.to_string());
        let rows: Vec<String> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT item FROM billable_items WHERE tenant_id = ?1 AND customer_key = ?2
                         AND (?3 = 0 OR state = 'open') ORDER BY seq",
                    )
                    .map_err(db)?;
                stmt.query_map(params![t, k, i64::from(open_only)], |r| r.get(0))
                    .map_err(db)?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(db)
            })
            .await?;
        rows.iter().map(|j| from_json("billable item", j)).collect()
    }

    async fn bank_transaction(
        &self,
        tenant: &Id,
        id: &Id,
    ) -> Result<Option<faktura_domain::bank::BankTransaction>, StoreError> {
        let (t, i) = (tenant.as_str().to_string(), id.as_str().to_string());
        let json: Option<String> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT record FROM bank_transactions WHERE tenant_id = ?1 AND transaction_id = ?2",
                )
                .map_err(db)?
                .query_row(params![t, i], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        json.map(|j| from_json("bank transaction", &j)).transpose()
    }

    async fn bank_transactions(
        &self,
        tenant: &Id,
        state: Option<faktura_domain::bank::TransactionStateKind>,
    ) -> Result<Vec<faktura_domain::bank::BankTransaction>, StoreError> {
        let t = tenant.as_str().to_string();
        let state = state.map(|s| s.as_str().to_string());
        let rows: Vec<String> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT record FROM bank_transactions WHERE tenant_id = ?1
                         AND (?2 IS NULL OR state = ?2) ORDER BY seq",
                    )
                    .map_err(db)?;
                stmt.query_map(params![t, state], |r| r.get(0))
                    .map_err(db)?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(db)
            })
            .await?;
        rows.iter()
            .map(|j| from_json("bank transaction", j))
            .collect()
    }

    async fn customer(&self, tenant: &Id, key: &str) -> Result<Option<Customer>, StoreError> {
        let (t, k) = (tenant.as_str().to_string(), key.to_string());
        let json: Option<String> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT customer FROM customers WHERE tenant_id = ?1 AND customer_key = ?2",
                )
                .map_err(db)?
                .query_row(params![t, k], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        json.map(|j| from_json("customer", &j)).transpose()
    }

    async fn schedule(&self, tenant: &Id, id: &Id) -> Result<Option<Schedule>, StoreError> {
        let (t, i) = (tenant.as_str().to_string(), id.as_str().to_string());
        let json: Option<String> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT schedule FROM schedules WHERE tenant_id = ?1 AND schedule_id = ?2",
                )
                .map_err(db)?
                .query_row(params![t, i], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        json.map(|j| from_json("schedule", &j)).transpose()
    }

    async fn schedules(
        &self,
        tenant: &Id,
        filter: &ScheduleFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SchedulePage, StoreError> {
        let t = tenant.as_str().to_string();
        let after: i64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let n = sql_limit(limit) + 1;
        let state = filter.state.map(|s| s.as_str().to_string());
        let customer = filter.customer_key.clone();
        let rows: Vec<(i64, String)> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, schedule FROM schedules WHERE tenant_id = ?1 AND seq > ?2
                         AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR customer_key = ?4)
                         ORDER BY seq LIMIT ?5",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![t, after, state, customer, n], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        let limit = limit.max(1);
        let more = rows.len() > limit;
        let mut schedules = Vec::new();
        let mut last = 0;
        for (seq, json) in rows.into_iter().take(limit) {
            schedules.push(from_json("schedule", &json)?);
            last = seq;
        }
        Ok(SchedulePage {
            schedules,
            next_cursor: more.then(|| last.to_string()),
        })
    }

    async fn period(
        &self,
        tenant: &Id,
        schedule_id: &Id,
        occurrence: u32,
    ) -> Result<Option<Id>, StoreError> {
        let (t, i) = (
            tenant.as_str().to_string(),
            schedule_id.as_str().to_string(),
        );
        let id: Option<String> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT document_id FROM schedule_periods
                     WHERE tenant_id = ?1 AND schedule_id = ?2 AND occurrence = ?3",
                )
                .map_err(db)?
                .query_row(params![t, i, occurrence], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        id.map(|i| parse_id("document id", &i)).transpose()
    }

    async fn customers(
        &self,
        tenant: &Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CustomerPage, StoreError> {
        let t = tenant.as_str().to_string();
        let after = cursor.unwrap_or("").to_string();
        let n = sql_limit(limit) + 1;
        let rows: Vec<(String, String)> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT customer_key, customer FROM customers WHERE tenant_id = ?1 AND customer_key > ?2
                         ORDER BY customer_key LIMIT ?3",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![t, after, n], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        let limit = limit.max(1);
        let more = rows.len() > limit;
        let mut customers = Vec::new();
        let mut last = String::new();
        for (key, json) in rows.into_iter().take(limit) {
            customers.push(from_json("customer", &json)?);
            last = key;
        }
        Ok(CustomerPage {
            customers,
            next_cursor: more.then_some(last),
        })
    }

    async fn ledger(
        &self,
        tenant: &Id,
        customer_key: &str,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let (t, k) = (tenant.as_str().to_string(), customer_key.to_string());
        let rows: Vec<String> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT entry FROM ledger WHERE tenant_id = ?1 AND customer_key = ?2 ORDER BY at, entry_id",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![t, k], |r| r.get(0))
                    .map_err(db)?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        rows.iter().map(|j| from_json("ledger entry", j)).collect()
    }

    async fn audit(&self, tenant: &Id, document_id: &Id) -> Result<Vec<AuditEntry>, StoreError> {
        let (t, d) = (
            tenant.as_str().to_string(),
            document_id.as_str().to_string(),
        );
        let rows: Vec<String> = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT entry FROM audit WHERE tenant_id = ?1 AND document_id = ?2 ORDER BY at, entry_id")
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![t, d], |r| r.get(0))
                    .map_err(db)?
                    .collect::<Result<Vec<String>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        rows.iter().map(|j| from_json("audit entry", j)).collect()
    }

    async fn counter(&self, key: &CounterKey) -> Result<u64, StoreError> {
        let (t, scope) = (key.tenant_id.as_str().to_string(), key.scope());
        let value: Option<i64> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT value FROM counters WHERE tenant_id = ?1 AND scope = ?2",
                )
                .map_err(db)?
                .query_row(params![t, scope], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        Ok(value.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    async fn idempotency(
        &self,
        tenant: &Id,
        key: &str,
        not_before: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let (t, k, nb) = (
            tenant.as_str().to_string(),
            key.to_string(),
            nanos(not_before),
        );
        let tenant = tenant.clone();
        let row: Option<(String, i64, String, i64)> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT request_hash, status, body, created_at FROM idempotency
                     WHERE tenant_id = ?1 AND key = ?2 AND created_at >= ?3",
                )
                .map_err(db)?
                .query_row(params![t, k, nb], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
                .map_err(db)
            })
            .await?;
        Ok(row.map(
            |(request_hash, status, body, created_at)| IdempotencyRecord {
                tenant_id: tenant,
                key: key.to_string(),
                request_hash,
                status: u16::try_from(status).unwrap_or(500),
                body,
                created_at: DateTime::from_timestamp_nanos(created_at),
            },
        ))
    }

    async fn commit(&self, change: Change) -> Result<(), CommitError> {
        self.run(move |conn| {
            // Dropping `tx` without commit rolls back: a conflict writes nothing.
            let tx = immediate(conn)?;
            match commit_tx(&tx, &change)? {
                None => {
                    tx.commit().map_err(db)?;
                    Ok(Ok(()))
                }
                Some(conflict) => Ok(Err(conflict)),
            }
        })
        .await
        .map_err(CommitError::Store)?
        .map_err(CommitError::Conflict)
    }
}
