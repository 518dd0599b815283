//! Faktura's AWS adapters: the ports of `faktura_domain::ports` on DynamoDB, S3, SESv2 and
//! EventBridge.
//!
//! - [`DynamoStore`]: bookings, documents, customers, the ledger, the audit trail, counters,
//!   jobs, idempotency keys and tenants in one DynamoDB table (single-table design; see
//!   [`dynamo`] and `docs/DYNAMODB.md`). Implements
//!   [`Repository`](faktura_domain::ports::Repository),
//!   [`JobQueue`](faktura_domain::ports::JobQueue) and
//!   [`TenantDirectory`](faktura_domain::ports::TenantDirectory).
//! - [`S3FileStore`]: document files in one bucket, encrypted at rest, plus short-lived
//!   presigned download links.
//! - [`SesMailSender`]: raw MIME messages through SESv2.
//! - [`EventBridgePublisher`]: domain events on a custom EventBridge bus.
//! - [`schema`]: the one definition of the table (keys, indexes, TTL) that [`setup`] creates
//!   and the SAM template must match.
//!
//! Every adapter is built from an [`aws_config::SdkConfig`] that the caller loads once (a
//! Lambda's `main`), and is cheap to clone. Service and transport failures are
//! `StoreError::Unavailable`; stored data that does not read back is `StoreError::Corrupt`.
//! Nothing here panics on what a service returns.

pub mod dynamo;
mod error;
pub mod events;
pub mod mail;
pub mod s3;
pub mod schema;
pub mod setup;
pub mod stack;

pub use dynamo::{DynamoStore, api_key_hash};
pub use events::EventBridgePublisher;
pub use mail::SesMailSender;
pub use s3::{S3FileStore, S3Settings, ServerSideEncryption};
pub use schema::{TABLE, TableSchema};
