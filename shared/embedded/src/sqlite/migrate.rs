//! The schema and its migrations. `PRAGMA user_version` says which version a database has;
//! opening it applies every later migration in order, each in one transaction (all or
//! nothing). A database newer than this build is refused rather than misread.
//!
//! - 1 (release 1): bookings, customers, counters, invoices.
//! - 2: documents of every kind with their facets (the release-1 invoices become documents,
//!   with their ledger charge and an audit entry saying they were migrated), number claims,
//!   the ledger, the audit trail, jobs (release-1 work still pending becomes jobs),
//!   idempotency keys. The release-1 invoices table stays, renamed, as it was.
//! - 3: schedules (recurring invoices, instalment plans) and the claims of their billed
//!   occurrences.
//! - 4: customers' dunning holds.
//! - 5: billable items (collected for collective invoices).
//! - 6: imported bank transactions.

use chrono::{DateTime, Utc};
use faktura_domain::StoreError;
use faktura_domain::audit::{AuditEntry, Cause};
use faktura_domain::document::{Delivery, Document, DocumentEvent};
use faktura_domain::jobs::{Job, JobKind};
use faktura_domain::ledger::{EntryKind, LedgerEntry, entry_id};
use faktura_domain::model::Invoice;
use faktura_domain::values::Id;
use rusqlite::{Connection, Transaction, params};

use super::{db, from_json, parse_id, repository};

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = 6;

const V1: &str = "
CREATE TABLE IF NOT EXISTS bookings (
    tenant_id   TEXT    NOT NULL,
    booking_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('received', 'invoiced')),
    received_at INTEGER NOT NULL,   -- Unix time in nanoseconds
    record      TEXT    NOT NULL,   -- BookingRecord as JSON
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
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT    NOT NULL,
    invoice_id    TEXT    NOT NULL,
    number        TEXT    NOT NULL,
    counter_scope TEXT    NOT NULL,
    sequence      INTEGER NOT NULL,
    customer_key  TEXT    NOT NULL,
    issue_date    TEXT    NOT NULL,
    issued_at     INTEGER NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('issued', 'sent')),
    sent_at       INTEGER,
    message_id    TEXT,
    lease_until   INTEGER,
    invoice       TEXT    NOT NULL,
    UNIQUE (tenant_id, invoice_id),
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, counter_scope, sequence)
);
CREATE INDEX IF NOT EXISTS invoices_by_tenant ON invoices (tenant_id, seq);
CREATE INDEX IF NOT EXISTS invoices_by_customer ON invoices (tenant_id, customer_key, seq);
CREATE INDEX IF NOT EXISTS invoices_by_status ON invoices (status, issued_at);
";

const V2: &str = "
ALTER TABLE bookings ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE documents (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order; list cursor
    tenant_id    TEXT    NOT NULL,
    document_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    lifecycle    TEXT    NOT NULL,
    delivery     TEXT    NOT NULL,
    payment      TEXT    NOT NULL,
    customer_key TEXT    NOT NULL,
    booking_id   TEXT,
    number       TEXT,                -- NULL for drafts
    issue_date   TEXT,                -- YYYY-MM-DD, NULL for drafts
    due_date     TEXT    NOT NULL,
    open_cents   INTEGER NOT NULL,    -- still owed (negative: customer credit)
    version      INTEGER NOT NULL,
    document     TEXT    NOT NULL,    -- Document as JSON (columns win for nothing: they copy it)
    UNIQUE (tenant_id, document_id)
);
CREATE INDEX documents_by_tenant ON documents (tenant_id, seq);
CREATE INDEX documents_by_customer ON documents (tenant_id, customer_key, seq);
CREATE INDEX documents_open_by_due ON documents (tenant_id, due_date) WHERE open_cents > 0;

CREATE TABLE numbers (
    tenant_id   TEXT NOT NULL,
    number      TEXT NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, number)
);

CREATE TABLE ledger (
    tenant_id    TEXT    NOT NULL,
    entry_id     TEXT    NOT NULL,
    customer_key TEXT    NOT NULL,
    document_id  TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    entry        TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, entry_id)
);
CREATE INDEX ledger_by_customer ON ledger (tenant_id, customer_key, at, entry_id);

CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT    NOT NULL,
    document_id TEXT    NOT NULL,
    entry_id    TEXT    NOT NULL UNIQUE,
    at          INTEGER NOT NULL,
    entry       TEXT    NOT NULL
);
CREATE INDEX audit_by_document ON audit (tenant_id, document_id, at, entry_id);

CREATE TABLE jobs (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT    NOT NULL,
    job_id    TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    state     TEXT    NOT NULL,
    shard     INTEGER NOT NULL,
    due_at    INTEGER NOT NULL,
    job       TEXT    NOT NULL,
    UNIQUE (tenant_id, job_id)
);
CREATE INDEX jobs_due ON jobs (shard, due_at) WHERE state IN ('pending', 'running');
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, state, seq);

CREATE TABLE idempotency (
    tenant_id    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

ALTER TABLE invoices RENAME TO invoices_release1;
";

const V3: &str = "
CREATE TABLE schedules (
    tenant_id    TEXT    NOT NULL,
    schedule_id  TEXT    NOT NULL,
    seq          INTEGER NOT NULL,   -- creation order, for lists
    state        TEXT    NOT NULL,
    customer_key TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    schedule     TEXT    NOT NULL,   -- Schedule as JSON
    PRIMARY KEY (tenant_id, schedule_id)
);
CREATE UNIQUE INDEX schedules_in_order ON schedules (tenant_id, seq);

CREATE TABLE schedule_periods (
    tenant_id   TEXT    NOT NULL,
    schedule_id TEXT    NOT NULL,
    occurrence  INTEGER NOT NULL,
    document_id TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id, occurrence)
);
";

const V4: &str = "
CREATE TABLE dunning_holds (
    tenant_id    TEXT NOT NULL,
    customer_key TEXT NOT NULL,
    hold         TEXT NOT NULL,   -- DunningHold as JSON
    PRIMARY KEY (tenant_id, customer_key)
);
";

const V5: &str = "
CREATE TABLE billable_items (
    tenant_id    TEXT    NOT NULL,
    customer_key TEXT    NOT NULL,
    item_id      TEXT    NOT NULL,
    seq          INTEGER NOT NULL,   -- creation order within the tenant
    state        TEXT    NOT NULL,   -- open, claimed, withdrawn
    version      INTEGER NOT NULL,
    item         TEXT    NOT NULL,   -- BillableItem as JSON
    PRIMARY KEY (tenant_id, customer_key, item_id)
);
-- A customer's items in creation order (open ones filtered on the rows read).
CREATE INDEX billable_items_by_customer ON billable_items (tenant_id, customer_key, seq);
-- The next seq is MAX(seq) + 1 per tenant: without this index every insert scans the table.
CREATE INDEX billable_items_by_seq ON billable_items (tenant_id, seq);
";

const V6: &str = "
CREATE TABLE bank_transactions (
    tenant_id      TEXT    NOT NULL,
    transaction_id TEXT    NOT NULL,
    seq            INTEGER NOT NULL,   -- import order within the tenant
    state          TEXT    NOT NULL,   -- matched, unmatched, ignored
    version        INTEGER NOT NULL,
    record         TEXT    NOT NULL,   -- BankTransaction as JSON
    PRIMARY KEY (tenant_id, transaction_id)
);
-- The review list (a state in import order) and the next seq.
CREATE INDEX bank_transactions_by_state ON bank_transactions (tenant_id, state, seq);
CREATE INDEX bank_transactions_by_seq ON bank_transactions (tenant_id, seq);
";

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {version}; this build knows up to {SCHEMA_VERSION}"
        )));
    }
    if version < 1 {
        let tx = super::immediate(conn)?;
        tx.execute_batch(V1).map_err(db)?;
        tx.pragma_update(None, "user_version", 1).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    if version < 2 {
        let tx = super::immediate(conn)?;
        tx.execute_batch(V2).map_err(db)?;
        release1_to_documents(&tx)?;
        tx.pragma_update(None, "user_version", 2).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    if version < 3 {
        let tx = super::immediate(conn)?;
        tx.execute_batch(V3).map_err(db)?;
        tx.pragma_update(None, "user_version", 3).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    if version < 4 {
        let tx = super::immediate(conn)?;
        tx.execute_batch(V4).map_err(db)?;
        tx.pragma_update(None, "user_version", 4).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    if version < 5 {
        let tx = super::immediate(conn)?;
        tx.execute_batch(V5).map_err(db)?;
        tx.pragma_update(None, "user_version", 5).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    if version < 6 {
        let tx = super::immediate(conn)?;
        tx.execute_batch(V6).map_err(db)?;
        tx.pragma_update(None, "user_version", 6).map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

type Release1Row = (String, String, Option<i64>, Option<String>);

/// Release-1 invoices become issued documents (sent ones with their delivery), each with its
/// number claim, its ledger charge and audit entries saying so; work release 1 left pending
/// becomes jobs.
fn release1_to_documents(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let cause = Cause::Migration { from_version: 1 };
    let rows: Vec<Release1Row> = {
        let mut stmt = tx
            .prepare(
                "SELECT invoice, status, sent_at, message_id FROM invoices_release1 ORDER BY seq",
            )
            .map_err(db)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?
    };
    for (json, status, sent_at, message_id) in rows {
        let content: Invoice = from_json("release-1 invoice", &json)?;
        let at = content.issued_at;
        let sent = (status == "sent").then(|| {
            (
                sent_at.map(DateTime::from_timestamp_nanos).unwrap_or(at),
                message_id.unwrap_or_default(),
            )
        });
        let doc = Document::from_release1(content, sent);
        let charged = doc.settlement.charged;
        let delivery = doc.delivery.clone();
        let sent = delivery.is_sent();
        if !repository::insert_document(tx, &doc, 1)? {
            return Err(StoreError::Corrupt(format!(
                "release-1 invoice {} appears twice",
                doc.id()
            )));
        }
        let tenant = &doc.content.tenant_id;
        tx.execute(
            "INSERT INTO numbers (tenant_id, number, document_id) VALUES (?1, ?2, ?3)",
            params![
                tenant.as_str(),
                doc.content.number.as_str(),
                doc.id().as_str()
            ],
        )
        .map_err(db)?;
        let charge = LedgerEntry {
            id: entry_id(tenant, &format!("charge:{}", doc.id())),
            tenant_id: tenant.clone(),
            customer_key: doc.content.buyer.customer_key.clone(),
            document_id: doc.id().clone(),
            kind: EntryKind::Charge,
            amount: charged,
            currency: doc.content.currency,
            at,
            cause: cause.clone(),
            related_document: None,
            payment: None,
        };
        repository::insert_ledger(tx, &charge)?;
        let mut events = vec![DocumentEvent::Issued {
            number: doc.content.number.as_str().to_string(),
        }];
        if let Delivery::Sent { to, message_id, .. } = &delivery {
            events.push(DocumentEvent::Sent {
                to: to.clone(),
                message_id: message_id.clone(),
            });
        }
        for event in events {
            repository::insert_audit(tx, &AuditEntry::new(tenant, doc.id(), 1, at, &cause, event))?;
        }
        if !sent {
            let job = Job::new(tenant, JobKind::RenderDocument, doc.id(), "", Utc::now());
            repository::insert_job(tx, &job)?;
        }
    }
    let pending: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare("SELECT tenant_id, booking_id FROM bookings WHERE status = 'received'")
            .map_err(db)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?
    };
    for (tenant, booking) in pending {
        let tenant: Id = parse_id("tenant", &tenant)?;
        let booking: Id = parse_id("booking", &booking)?;
        let job = Job::new(
            &tenant,
            JobKind::ApplyBookingEvents,
            &booking,
            "release1",
            Utc::now(),
        );
        repository::insert_job(tx, &job)?;
    }
    Ok(())
}
