//! Bookings, customers, invoices and numbering counters in one SQLite database.
//!
//! Domain structs are stored as JSON text next to the columns that queries need. What changes
//! after the first write (booking status, invoice delivery state) lives in columns only, and the
//! columns win over the JSON when reading back.
//!
//! rusqlite is blocking: every call runs on tokio's blocking pool, with the one connection
//! behind a mutex. Conditional writes are single transactions that mirror what DynamoDB's
//! conditional writes and `TransactWriteItems` can express, so both adapters behave the same.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use faktura_domain::StoreError;
use faktura_domain::model::{Customer, Invoice, InvoiceStatus};
use faktura_domain::numbering::CounterKey;
use faktura_domain::ports::{
    BookingRecord, BookingStatus, BookingStore, CustomerStore, InvoiceFilter, InvoicePage,
    InvoiceStore, IssueOutcome, Recorded, StoredInvoice, WorkItem,
};
use faktura_domain::values::Id;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bookings (
    tenant_id   TEXT    NOT NULL,
    booking_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('received', 'invoiced')),
    received_at INTEGER NOT NULL,   -- Unix time in nanoseconds
    record      TEXT    NOT NULL,   -- BookingRecord as JSON (status: see the column)
    PRIMARY KEY (tenant_id, booking_id)
);
CREATE INDEX IF NOT EXISTS bookings_by_status ON bookings (status, received_at);

CREATE TABLE IF NOT EXISTS customers (
    tenant_id    TEXT NOT NULL,
    customer_key TEXT NOT NULL,
    customer     TEXT NOT NULL,     -- Customer as JSON
    PRIMARY KEY (tenant_id, customer_key)
);

CREATE TABLE IF NOT EXISTS counters (
    tenant_id TEXT    NOT NULL,
    scope     TEXT    NOT NULL,     -- CounterKey::scope(): `invoice` or `invoice#2026`
    value     INTEGER NOT NULL CHECK (value >= 0),
    PRIMARY KEY (tenant_id, scope)
);

CREATE TABLE IF NOT EXISTS invoices (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion (issue) order; list cursor
    tenant_id     TEXT    NOT NULL,
    invoice_id    TEXT    NOT NULL,
    number        TEXT    NOT NULL,
    counter_scope TEXT    NOT NULL,
    sequence      INTEGER NOT NULL,  -- the counter value this invoice took
    customer_key  TEXT    NOT NULL,
    issue_date    TEXT    NOT NULL,  -- YYYY-MM-DD
    issued_at     INTEGER NOT NULL,  -- Unix time in nanoseconds
    status        TEXT    NOT NULL CHECK (status IN ('issued', 'sent')),
    sent_at       INTEGER,
    message_id    TEXT,
    lease_until   INTEGER,
    invoice       TEXT    NOT NULL,  -- Invoice as JSON (never changes)
    UNIQUE (tenant_id, invoice_id),
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, counter_scope, sequence)
);
CREATE INDEX IF NOT EXISTS invoices_by_tenant ON invoices (tenant_id, seq);
CREATE INDEX IF NOT EXISTS invoices_by_customer ON invoices (tenant_id, customer_key, seq);
CREATE INDEX IF NOT EXISTS invoices_by_status ON invoices (status, issued_at);
";

/// The SQLite adapter for [`BookingStore`], [`CustomerStore`] and [`InvoiceStore`].
///
/// Clones share one connection.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn is_constraint_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn to_json<T: serde::Serialize + ?Sized>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Unix nanoseconds (covers 1677..2262; instants outside are clamped).
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn booking_status_text(s: BookingStatus) -> &'static str {
    match s {
        BookingStatus::Received => "received",
        BookingStatus::Invoiced => "invoiced",
    }
}

fn parse_booking_status(s: &str) -> Result<BookingStatus, StoreError> {
    match s {
        "received" => Ok(BookingStatus::Received),
        "invoiced" => Ok(BookingStatus::Invoiced),
        other => Err(StoreError::Corrupt(format!(
            "unknown booking status '{other}'"
        ))),
    }
}

fn parse_invoice_status(s: &str) -> Result<InvoiceStatus, StoreError> {
    InvoiceStatus::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown invoice status '{s}'")))
}

fn parse_id(what: &str, s: &str) -> Result<Id, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} '{s}': {e}")))
}

/// The raw columns of a booking row.
type BookingRow = (String, String);

fn booking_from_row((record, status): BookingRow) -> Result<BookingRecord, StoreError> {
    let mut rec: BookingRecord = from_json("booking record", &record)?;
    rec.status = parse_booking_status(&status)?;
    Ok(rec)
}

fn read_booking(
    conn: &Connection,
    tenant_id: &str,
    booking_id: &str,
) -> Result<Option<BookingRecord>, StoreError> {
    let row: Option<BookingRow> = conn
        .prepare_cached(
            "SELECT record, status FROM bookings WHERE tenant_id = ?1 AND booking_id = ?2",
        )
        .map_err(db)?
        .query_row(params![tenant_id, booking_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(db)?;
    row.map(booking_from_row).transpose()
}

/// The columns of an invoice row that make a [`StoredInvoice`].
const INVOICE_COLUMNS: &str = "invoice, status, sent_at, message_id";
type InvoiceRow = (String, String, Option<i64>, Option<String>);

fn invoice_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<InvoiceRow> {
    Ok((
        r.get(first)?,
        r.get(first + 1)?,
        r.get(first + 2)?,
        r.get(first + 3)?,
    ))
}

fn invoice_from_row(
    (invoice, status, sent_at, message_id): InvoiceRow,
) -> Result<StoredInvoice, StoreError> {
    Ok(StoredInvoice {
        invoice: from_json("invoice", &invoice)?,
        status: parse_invoice_status(&status)?,
        sent_at: sent_at.map(from_nanos),
        message_id,
    })
}

fn work_items(rows: Vec<(String, String)>) -> Result<Vec<WorkItem>, StoreError> {
    rows.into_iter()
        .map(|(tenant, id)| {
            Ok(WorkItem {
                tenant_id: parse_id("tenant id", &tenant)?,
                id: parse_id("id", &id)?,
            })
        })
        .collect()
}

/// A limit as SQLite wants it: at least 1.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).max(1)
}

impl SqliteStore {
    /// Opens (or creates) the database file, switches it to WAL mode and creates the schema.
    /// Blocking: call it at startup, or from `spawn_blocking`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("creating {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{}: could not switch to WAL mode (got '{mode}')",
                path.display()
            )));
        }
        // Issued invoices are legal documents: a commit must survive a power cut.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        Self::init(conn)
    }

    /// A private in-memory database (for tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(db)?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Unavailable(format!(
                "the database has schema version {version}; this build knows up to {SCHEMA_VERSION}"
            )));
        }
        tx.execute_batch(SCHEMA).map_err(db)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Gives up every delivery lease. Only for a process that owns the database alone (the local
    /// runner holds the data dir's lock): leases left by a process that crashed would otherwise
    /// hold back its unsent mails until they expire. Returns how many were held.
    pub fn release_all_delivery_leases(&self) -> Result<usize, StoreError> {
        let conn = self.conn.lock().map_err(|_| {
            StoreError::Unavailable("sqlite: connection lock poisoned by a panic".into())
        })?;
        conn.execute(
            "UPDATE invoices SET lease_until = NULL WHERE status = 'issued' AND lease_until IS NOT NULL",
            [],
        )
        .map_err(db)
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| {
                StoreError::Unavailable("sqlite: connection lock poisoned by a panic".into())
            })?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("sqlite task failed: {e}")))?
    }
}

#[async_trait]
impl BookingStore for SqliteStore {
    async fn record_booking(&self, record: &BookingRecord) -> Result<Recorded, StoreError> {
        let tenant = record.tenant_id.as_str().to_string();
        let booking = record.booking_id.as_str().to_string();
        let status = booking_status_text(record.status);
        let received_at = nanos(record.received_at);
        let json = to_json("booking record", record)?;
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO bookings (tenant_id, booking_id, status, received_at, record)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant_id, booking_id) DO NOTHING",
                )
                .map_err(db)?
                .execute(params![tenant, booking, status, received_at, json])
                .map_err(db)?;
            let outcome = if inserted == 1 {
                Recorded::Created
            } else {
                let existing = read_booking(&tx, &tenant, &booking)?.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "booking {tenant}/{booking} conflicts but is absent"
                    ))
                })?;
                Recorded::Existing(Box::new(existing))
            };
            tx.commit().map_err(db)?;
            Ok(outcome)
        })
        .await
    }

    async fn booking(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
    ) -> Result<Option<BookingRecord>, StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let booking = booking_id.as_str().to_string();
        self.run(move |conn| read_booking(conn, &tenant, &booking))
            .await
    }

    /// Idempotent; a booking that does not exist is left alone.
    async fn mark_booking_invoiced(
        &self,
        tenant_id: &Id,
        booking_id: &Id,
    ) -> Result<(), StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let booking = booking_id.as_str().to_string();
        self.run(move |conn| {
            conn.prepare_cached(
                "UPDATE bookings SET status = 'invoiced' WHERE tenant_id = ?1 AND booking_id = ?2",
            )
            .map_err(db)?
            .execute(params![tenant, booking])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn bookings_awaiting_invoice(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let before = nanos(before);
        let limit = sql_limit(limit);
        let rows = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT tenant_id, booking_id FROM bookings
                         WHERE status = 'received' AND received_at < ?1
                         ORDER BY received_at, tenant_id, booking_id LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![before, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?
                    .collect::<Result<Vec<(String, String)>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        work_items(rows)
    }
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn upsert_customer(&self, tenant_id: &Id, customer: &Customer) -> Result<(), StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let key = customer.key.clone();
        let json = to_json("customer", customer)?;
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO customers (tenant_id, customer_key, customer) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant_id, customer_key) DO UPDATE SET customer = excluded.customer",
            )
            .map_err(db)?
            .execute(params![tenant, key, json])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn customer(&self, tenant_id: &Id, key: &str) -> Result<Option<Customer>, StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let key = key.to_string();
        let json: Option<String> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT customer FROM customers WHERE tenant_id = ?1 AND customer_key = ?2",
                )
                .map_err(db)?
                .query_row(params![tenant, key], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        json.map(|j| from_json("customer", &j)).transpose()
    }
}

/// Everything `insert_issued` writes, owned so it can move to the blocking pool.
struct IssueRow {
    tenant: String,
    scope: String,
    expected: i64,
    next: i64,
    invoice_id: String,
    number: String,
    customer_key: String,
    issue_date: String,
    issued_at: i64,
    json: String,
}

fn insert_issued_tx(conn: &mut Connection, row: IssueRow) -> Result<IssueOutcome, StoreError> {
    // Dropping `tx` without commit rolls back: every early return below writes nothing.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let exists = tx
        .prepare_cached("SELECT 1 FROM invoices WHERE tenant_id = ?1 AND invoice_id = ?2")
        .map_err(db)?
        .exists(params![row.tenant, row.invoice_id])
        .map_err(db)?;
    if exists {
        return Ok(IssueOutcome::AlreadyExists);
    }
    let current: i64 = tx
        .prepare_cached("SELECT value FROM counters WHERE tenant_id = ?1 AND scope = ?2")
        .map_err(db)?
        .query_row(params![row.tenant, row.scope], |r| r.get(0))
        .optional()
        .map_err(db)?
        .unwrap_or(0);
    if current != row.expected {
        return Ok(IssueOutcome::CounterMoved);
    }
    tx.prepare_cached(
        "INSERT INTO counters (tenant_id, scope, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id, scope) DO UPDATE SET value = excluded.value",
    )
    .map_err(db)?
    .execute(params![row.tenant, row.scope, row.next])
    .map_err(db)?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO invoices (tenant_id, invoice_id, number, counter_scope, sequence,
                                   customer_key, issue_date, issued_at, status, invoice)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'issued', ?9)",
        )
        .map_err(db)?
        .execute(params![
            row.tenant,
            row.invoice_id,
            row.number,
            row.scope,
            row.next,
            row.customer_key,
            row.issue_date,
            row.issued_at,
            row.json
        ]);
    match inserted {
        Ok(_) => {}
        Err(e) if is_constraint_violation(&e) => {
            // The counter said the number is free but an invoice carries it: a broken
            // invariant (e.g. a numbering pattern changed to one that repeats numbers).
            // Refuse rather than issue a duplicate legal number.
            return Err(StoreError::Corrupt(format!(
                "invoice {} of tenant {}: number '{}' or sequence {}/{} is taken by another invoice ({e})",
                row.invoice_id, row.tenant, row.number, row.scope, row.next
            )));
        }
        Err(e) => return Err(db(e)),
    }
    tx.commit().map_err(db)?;
    Ok(IssueOutcome::Issued)
}

#[async_trait]
impl InvoiceStore for SqliteStore {
    async fn counter(&self, key: &CounterKey) -> Result<u64, StoreError> {
        let tenant = key.tenant_id.as_str().to_string();
        let scope = key.scope();
        let value: Option<i64> = self
            .run(move |conn| {
                conn.prepare_cached(
                    "SELECT value FROM counters WHERE tenant_id = ?1 AND scope = ?2",
                )
                .map_err(db)?
                .query_row(params![tenant, scope], |r| r.get(0))
                .optional()
                .map_err(db)
            })
            .await?;
        let value = value.unwrap_or(0);
        u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative counter {value}")))
    }

    async fn insert_issued(
        &self,
        key: &CounterKey,
        expected: u64,
        invoice: &Invoice,
    ) -> Result<IssueOutcome, StoreError> {
        if key.tenant_id != invoice.tenant_id {
            return Err(StoreError::Corrupt(format!(
                "counter of tenant {} used for an invoice of tenant {}",
                key.tenant_id, invoice.tenant_id
            )));
        }
        // No stored counter can hold a value beyond i64: the counter has moved from there.
        let Ok(expected) = i64::try_from(expected) else {
            return Ok(IssueOutcome::CounterMoved);
        };
        let next = expected
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("the counter is exhausted".into()))?;
        let row = IssueRow {
            tenant: invoice.tenant_id.as_str().to_string(),
            scope: key.scope(),
            expected,
            next,
            invoice_id: invoice.id.as_str().to_string(),
            number: invoice.number.as_str().to_string(),
            customer_key: invoice.buyer.customer_key.clone(),
            issue_date: date_text(invoice.issue_date),
            issued_at: nanos(invoice.issued_at),
            json: to_json("invoice", invoice)?,
        };
        self.run(move |conn| insert_issued_tx(conn, row)).await
    }

    async fn invoice(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
    ) -> Result<Option<StoredInvoice>, StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let invoice = invoice_id.as_str().to_string();
        let row: Option<InvoiceRow> = self
            .run(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = ?1 AND invoice_id = ?2"
                ))
                .map_err(db)?
                .query_row(params![tenant, invoice], |r| invoice_row(r, 0))
                .optional()
                .map_err(db)
            })
            .await?;
        row.map(invoice_from_row).transpose()
    }

    /// Pages in insertion order; the cursor is the last row's `seq`. A cursor that does not
    /// parse is treated as past the end.
    async fn list_invoices(
        &self,
        tenant_id: &Id,
        filter: &InvoiceFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<InvoicePage, StoreError> {
        let after: i64 = match cursor {
            None => 0,
            Some(c) => match c.parse::<i64>() {
                Ok(seq) if seq >= 0 => seq,
                _ => {
                    return Ok(InvoicePage {
                        invoices: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
        };
        let limit = sql_limit(limit);
        let mut sql = format!(
            "SELECT seq, {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = ?1 AND seq > ?2"
        );
        let mut args: Vec<Value> = vec![
            Value::Text(tenant_id.as_str().to_string()),
            Value::Integer(after),
        ];
        let mut condition = |column: &str, op: &str, value: Value| {
            args.push(value);
            sql.push_str(&format!(" AND {column} {op} ?{}", args.len()));
        };
        if let Some(key) = &filter.customer_key {
            condition("customer_key", "=", Value::Text(key.clone()));
        }
        if let Some(status) = filter.status {
            condition("status", "=", Value::Text(status.as_str().to_string()));
        }
        if let Some(from) = filter.from {
            condition("issue_date", ">=", Value::Text(date_text(from)));
        }
        if let Some(to) = filter.to {
            condition("issue_date", "<=", Value::Text(date_text(to)));
        }
        // One more than asked for tells whether another page follows.
        args.push(Value::Integer(limit.saturating_add(1)));
        sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", args.len()));

        let rows: Vec<(i64, InvoiceRow)> = self
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| {
                        Ok((r.get(0)?, invoice_row(r, 1)?))
                    })
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;

        let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
        let mut invoices = Vec::new();
        let mut last_seq = after;
        for (seq, row) in rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            invoices.push(invoice_from_row(row)?);
            last_seq = seq;
        }
        Ok(InvoicePage {
            invoices,
            next_cursor: more.then(|| last_seq.to_string()),
        })
    }

    async fn claim_delivery(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let invoice = invoice_id.as_str().to_string();
        let (now, lease_until) = (nanos(now), nanos(lease_until));
        self.run(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE invoices SET lease_until = ?3
                     WHERE tenant_id = ?1 AND invoice_id = ?2 AND status = 'issued'
                       AND (lease_until IS NULL OR lease_until < ?4)",
                )
                .map_err(db)?
                .execute(params![tenant, invoice, lease_until, now])
                .map_err(db)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_delivery(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let invoice = invoice_id.as_str().to_string();
        let lease_until = nanos(lease_until);
        self.run(move |conn| {
            conn.prepare_cached(
                "UPDATE invoices SET lease_until = NULL
                 WHERE tenant_id = ?1 AND invoice_id = ?2 AND status = 'issued'
                   AND lease_until = ?3",
            )
            .map_err(db)?
            .execute(params![tenant, invoice, lease_until])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    /// Idempotent; an invoice that does not exist is left alone.
    async fn mark_sent(
        &self,
        tenant_id: &Id,
        invoice_id: &Id,
        at: DateTime<Utc>,
        message_id: &str,
    ) -> Result<(), StoreError> {
        let tenant = tenant_id.as_str().to_string();
        let invoice = invoice_id.as_str().to_string();
        let at = nanos(at);
        let message_id = message_id.to_string();
        self.run(move |conn| {
            conn.prepare_cached(
                "UPDATE invoices SET status = 'sent', sent_at = ?3, message_id = ?4, lease_until = NULL
                 WHERE tenant_id = ?1 AND invoice_id = ?2",
            )
            .map_err(db)?
            .execute(params![tenant, invoice, at, message_id])
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn invoices_awaiting_delivery(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let before = nanos(before);
        let limit = sql_limit(limit);
        let rows = self
            .run(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT tenant_id, invoice_id FROM invoices
                         WHERE status = 'issued' AND issued_at < ?1
                         ORDER BY issued_at, seq LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![before, limit], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?
                    .collect::<Result<Vec<(String, String)>, _>>()
                    .map_err(db)?;
                Ok(rows)
            })
            .await?;
        work_items(rows)
    }
}
