//! Domain events: what happened, published on the bus (in-process locally, EventBridge on AWS)
//! after the change that caused it is committed.
//!
//! Schema, version 2 (EventBridge: `source` = [`EVENT_SOURCE`], `detail-type` = the type,
//! `detail` = this struct as JSON):
//! `{"version":2,"event_id":"…","type":"document.issued","tenant_id":"…",
//!   "subject":{"kind":"document","id":"doc_…"},"data":{…},"occurred_at":"RFC 3339"}`.
//!
//! Two families: facts about documents, payments and bookings (`document.issued`,
//! `payment.recorded`, …; outgoing webhooks are made from these), and `job.<kind>`, which hands
//! a due job to the worker of its kind (the routes in `faktura_aws::stack`). Consumers ignore
//! fields they do not know; a breaking change bumps `version`. Version 1 events (release 1:
//! `booking.received`, `invoice.issued`) still read: they name the same work as jobs do.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jobs::{Job, JobKind};
use crate::values::Id;

pub const EVENT_SOURCE: &str = "faktura";
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Job,
    Document,
    Booking,
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: Id,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub version: u32,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub tenant_id: Id,
    pub subject: Subject,
    #[serde(default)]
    pub data: Value,
    pub occurred_at: DateTime<Utc>,
}

impl DomainEvent {
    pub fn new(
        event_type: impl Into<String>,
        tenant_id: &Id,
        subject: Subject,
        data: Value,
        occurred_at: DateTime<Utc>,
    ) -> DomainEvent {
        DomainEvent {
            version: SCHEMA_VERSION,
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: event_type.into(),
            tenant_id: tenant_id.clone(),
            subject,
            data,
            occurred_at,
        }
    }

    /// The event that hands `job` to its worker.
    pub fn job_due(job: &Job, now: DateTime<Utc>) -> DomainEvent {
        DomainEvent::new(
            job.kind.event_type(),
            &job.tenant_id,
            Subject {
                kind: SubjectKind::Job,
                id: job.id.clone(),
            },
            serde_json::json!({ "kind": job.kind.as_str(), "subject": job.subject }),
            now,
        )
    }

    /// For a `job.<kind>` event: the kind.
    pub fn job_kind(&self) -> Option<JobKind> {
        self.event_type
            .strip_prefix("job.")
            .and_then(JobKind::parse)
            .filter(|_| self.subject.kind == SubjectKind::Job)
    }
}

/// The work a release-1 event asked for, in today's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release1Work {
    /// `booking.received`: apply the booking.
    Booking { tenant_id: Id, booking_id: Id },
    /// `invoice.issued`: deliver the invoice.
    Deliver { tenant_id: Id, invoice_id: Id },
    /// `invoice.sent`: nothing to do.
    Nothing,
}

#[derive(Deserialize)]
struct Release1Event {
    #[serde(rename = "type")]
    event_type: String,
    tenant_id: Id,
    booking_id: Id,
    invoice_id: Id,
}

/// Reads a version-1 event (still in a queue during an upgrade).
pub fn read_release1(detail: &Value) -> Result<Release1Work, String> {
    let e: Release1Event = serde_json::from_value(detail.clone())
        .map_err(|e| format!("not a release-1 event: {e}"))?;
    match e.event_type.as_str() {
        "booking.received" => Ok(Release1Work::Booking {
            tenant_id: e.tenant_id,
            booking_id: e.booking_id,
        }),
        "invoice.issued" => Ok(Release1Work::Deliver {
            tenant_id: e.tenant_id,
            invoice_id: e.invoice_id,
        }),
        "invoice.sent" => Ok(Release1Work::Nothing),
        other => Err(format!("unknown release-1 event type {other}")),
    }
}
