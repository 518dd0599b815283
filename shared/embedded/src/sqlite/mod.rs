//! Bookings, documents, customers, the ledger, the audit trail, counters, jobs and idempotency
//! keys in one SQLite database.
//!
//! Domain structs are stored as JSON text next to the columns that queries need; a
//! [`Change`](faktura_domain::ports::Change) is one `IMMEDIATE` transaction whose every
//! condition (versions, counters, write-once rows) is checked inside it, so both adapters
//! behave the same (DynamoDB does it with `TransactWriteItems`).
//!
//! rusqlite is blocking: every call runs on tokio's blocking pool, with the one connection
//! behind a mutex. The schema moves forward through versioned migrations (`migrate.rs`),
//! each in one transaction, tested by opening a database release 1 wrote.

mod jobs;
mod migrate;
mod repository;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use faktura_domain::StoreError;
use faktura_domain::values::Id;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

pub use migrate::SCHEMA_VERSION;

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite adapter for [`Repository`](faktura_domain::ports::Repository) and
/// [`JobQueue`](faktura_domain::ports::JobQueue). Clones share one connection.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

pub(crate) fn is_constraint_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(
    what: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Unix nanoseconds (covers 1677..2262; instants outside are clamped).
pub(crate) fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(crate) fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_id(what: &str, s: &str) -> Result<Id, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} '{s}': {e}")))
}

/// A limit as SQLite wants it: at least 1.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).max(1)
}

impl SqliteStore {
    /// Opens (or creates) the database file, switches it to WAL mode and brings the schema up
    /// to date. Blocking: call it at startup, or from `spawn_blocking`.
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
        migrate::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.lock()?;
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| {
            StoreError::Unavailable("sqlite: connection lock poisoned by a panic".into())
        })
    }

    /// Frees every job lease. Only for a process that owns the database alone (the local
    /// runner holds the data dir's lock): leases a crashed process held would otherwise keep
    /// its jobs until they expire. Returns how many were held.
    pub fn release_all_job_leases(&self) -> Result<usize, StoreError> {
        let conn = self.lock()?;
        jobs::release_all(&conn)
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
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

pub(crate) fn immediate(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)
}
