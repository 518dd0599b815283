//! Domain events: what happened, published on the bus (in-process locally, EventBridge on AWS).
//!
//! Schema, version 1 (EventBridge: `source` = [`EVENT_SOURCE`], `detail-type` = the type,
//! `detail` = this struct as JSON):
//! `{"version":1,"event_id":"…","type":"invoice.issued","tenant_id":"…","booking_id":"…",
//!   "invoice_id":"…","invoice_number":"RE-2026-00001"|null,"occurred_at":"RFC 3339"}`.
//! Consumers must ignore fields they do not know; a breaking change bumps `version`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::Id;

pub const EVENT_SOURCE: &str = "faktura";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A booking was recorded; the invoice is to be issued.
    #[serde(rename = "booking.received")]
    BookingReceived,
    /// An invoice was numbered and its PDF stored; the email is to be sent.
    #[serde(rename = "invoice.issued")]
    InvoiceIssued,
    /// The invoice email went out.
    #[serde(rename = "invoice.sent")]
    InvoiceSent,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::BookingReceived => "booking.received",
            EventType::InvoiceIssued => "invoice.issued",
            EventType::InvoiceSent => "invoice.sent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub version: u32,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub tenant_id: Id,
    pub booking_id: Id,
    pub invoice_id: Id,
    pub invoice_number: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl DomainEvent {
    pub fn new(
        event_type: EventType,
        tenant_id: &Id,
        booking_id: &Id,
        invoice_id: &Id,
        invoice_number: Option<&str>,
        occurred_at: DateTime<Utc>,
    ) -> DomainEvent {
        DomainEvent {
            version: SCHEMA_VERSION,
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type,
            tenant_id: tenant_id.clone(),
            booking_id: booking_id.clone(),
            invoice_id: invoice_id.clone(),
            invoice_number: invoice_number.map(str::to_string),
            occurred_at,
        }
    }
}
