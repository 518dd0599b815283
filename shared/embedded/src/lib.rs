//! Faktura's embedded adapters: everything local mode needs in one process, without AWS, and
//! persistent across restarts.
//!
//! - [`SqliteStore`]: bookings, customers, invoices and numbering counters in one SQLite file
//!   (WAL mode). Implements [`BookingStore`](faktura_domain::ports::BookingStore),
//!   [`CustomerStore`](faktura_domain::ports::CustomerStore) and
//!   [`InvoiceStore`](faktura_domain::ports::InvoiceStore).
//! - [`StaticTenants`]: a fixed tenant list; API keys are kept as SHA-256 hashes only.
//! - [`FsDocumentStore`]: documents (PDFs) as files under a root directory.
//! - [`OutboxMailer`]: "sends" mail by writing `.eml` files to an outbox directory.
//! - [`InProcessBus`]: domain events over an in-process channel.
//!
//! All of them are `Send + Sync` and cheap to clone (they share their state).

mod bus;
mod files;
mod sqlite;
mod tenants;

pub use bus::InProcessBus;
pub use files::{FsDocumentStore, OutboxMailer};
pub use sqlite::SqliteStore;
pub use tenants::{StaticTenants, api_key_hash};
