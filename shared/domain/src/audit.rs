//! The audit trail (GoBD): every change to a document or its ledger as an append-only entry —
//! what happened, when, and what caused it (a webhook delivery, an API key by its id, a job).
//! Entries are written in the same transaction as the change; issued content never changes,
//! so the trail and the documents tell the whole story.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::document::DocumentEvent;
use crate::values::Id;

/// What made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Cause {
    /// A webhook delivery of the booking platform (`webhook-id`).
    Webhook { delivery_id: String, event: String },
    /// A call of the API with a tenant's key, named by its id (never the key).
    ApiKey {
        key_id: String,
        request_id: Option<String>,
    },
    /// A background job.
    Job { job_id: Id, kind: String },
    /// An upgrade of stored data.
    Migration { from_version: u32 },
    /// A file put into the stack's inbox (a bank statement), by its key.
    Inbox { key: String },
}

/// One entry of a document's trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: Id,
    pub tenant_id: Id,
    pub document_id: Id,
    pub at: DateTime<Utc>,
    /// The document's version after the change.
    pub version: u64,
    pub cause: Cause,
    pub event: DocumentEvent,
}

impl AuditEntry {
    pub fn new(
        tenant_id: &Id,
        document_id: &Id,
        version: u64,
        at: DateTime<Utc>,
        cause: &Cause,
        event: DocumentEvent,
    ) -> AuditEntry {
        AuditEntry {
            id: Id::generate("aud"),
            tenant_id: tenant_id.clone(),
            document_id: document_id.clone(),
            at,
            version,
            cause: cause.clone(),
            event,
        }
    }
}
