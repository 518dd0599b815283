//! Faktura's embedded adapters: everything local mode needs in one process, without AWS, and
//! persistent across restarts.
//!
//! - [`SqliteStore`]: bookings, documents, customers, the ledger, the audit trail, counters,
//!   jobs and idempotency keys in one SQLite file (WAL mode), with versioned migrations.
//!   Implements [`Repository`](faktura_domain::ports::Repository) and
//!   [`JobQueue`](faktura_domain::ports::JobQueue).
//! - [`StaticTenants`]: a fixed tenant list; API keys are kept as SHA-256 hashes only.
//! - [`FsFileStore`]: document files (PDFs, XML) under a root directory.
//! - [`OutboxMailer`]: "sends" mail by writing `.eml` files to an outbox directory.
//! - [`InProcessBus`]: domain events over an in-process channel.
//!
//! All of them are `Send + Sync` and cheap to clone (they share their state).

mod bus;
mod files;
mod sqlite;
mod tenants;

pub use bus::InProcessBus;
pub use files::{FsFileStore, OutboxMailer};
pub use sqlite::{SCHEMA_VERSION as SQLITE_SCHEMA_VERSION, SqliteStore};
pub use tenants::{StaticTenants, api_key_hash};
