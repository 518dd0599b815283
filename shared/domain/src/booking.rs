//! Bookings: what a booking platform tells us, as typed values (the JSON wire format and its
//! validation live in the HTTP layer). A booking is the *source* of documents: its events —
//! created, paid, cancelled, updated — are recorded in order on its [`BookingRecord`] and
//! applied by a job, each at most once.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::{
    Billing, EInvoiceFormat, PostalAddress, PriceBasis, ServicePeriod, VatCategory,
};
use crate::money::{Amount, Currency, VatRate};
use crate::values::{EmailAddress, Id, Language, VatId};

pub const MAX_ITEMS: usize = 1000;

/// A validated booking: the content its documents are made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub id: Id,
    pub booked_at: DateTime<Utc>,
    pub currency: Currency,
    /// `None`: the tenant's default applies.
    pub prices: Option<PriceBasis>,
    pub customer: BookingCustomer,
    pub items: Vec<BookingItem>,
    pub reference: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingCustomer {
    pub external_id: Option<Id>,
    pub name: String,
    pub company: Option<String>,
    pub email: EmailAddress,
    pub language: Option<Language>,
    pub vat_id: Option<VatId>,
    pub address: PostalAddress,
    /// The document format the customer wants (else the tenant's default).
    #[serde(default)]
    pub einvoice: Option<EInvoiceFormat>,
    /// Leitweg-ID of a German public buyer; implies XRechnung.
    #[serde(default)]
    pub leitweg_id: Option<String>,
}

impl BookingCustomer {
    /// A consumer (no company, no VAT id): §286 Abs. 3 and §288 Abs. 1 BGB apply.
    pub fn is_consumer(&self) -> bool {
        self.company.is_none() && self.vat_id.is_none()
    }

    /// The key under which the customer is kept per tenant: the platform's id, else the email.
    pub fn key(&self) -> String {
        match &self.external_id {
            Some(id) => format!("ext:{id}"),
            None => format!("email:{}", self.email.as_str().to_lowercase()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingItem {
    pub description: String,
    #[serde(with = "crate::money::decimal_string")]
    pub quantity: Decimal,
    pub unit: String,
    #[serde(with = "crate::money::decimal_string")]
    pub unit_price: Decimal,
    pub vat_rate: Option<VatRate>,
    pub vat_category: Option<VatCategory>,
    pub service: Option<ServicePeriod>,
}

/// A payment the platform reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFact {
    pub paid_at: DateTime<Utc>,
    pub amount: Amount,
    pub currency: Currency,
    pub method: Option<String>,
    pub reference: Option<String>,
}

/// One booked item to cancel, by its index in the booking's items (0-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelledItem {
    pub index: usize,
    #[serde(with = "crate::money::decimal_string")]
    pub quantity: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    pub cancelled_at: DateTime<Utc>,
    pub reason: Option<String>,
    /// `None`: the whole booking.
    pub items: Option<Vec<CancelledItem>>,
}

/// What a platform can tell us about a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BookingEvent {
    Created {
        booking: Booking,
        /// `None`: the tenant's default.
        billing: Option<Billing>,
        /// Billed by a schedule (instalments or a recurring price) instead of one invoice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule: Option<crate::schedule::ScheduleSpec>,
    },
    Paid {
        booking_id: Id,
        payment: PaymentFact,
    },
    Cancelled {
        booking_id: Id,
        cancellation: Cancellation,
    },
    Updated {
        booking: Booking,
    },
}

impl BookingEvent {
    pub fn booking_id(&self) -> &Id {
        match self {
            BookingEvent::Created { booking, .. } | BookingEvent::Updated { booking } => {
                &booking.id
            }
            BookingEvent::Paid { booking_id, .. } | BookingEvent::Cancelled { booking_id, .. } => {
                booking_id
            }
        }
    }

    /// The event type as the webhook names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            BookingEvent::Created { .. } => "booking.created",
            BookingEvent::Paid { .. } => "booking.paid",
            BookingEvent::Cancelled { .. } => "booking.cancelled",
            BookingEvent::Updated { .. } => "booking.updated",
        }
    }

    /// The business fact the event states, as a key: the same fact reported twice (under
    /// another delivery id) is recognised as one. A payment is the same payment by its
    /// reference, else by instant, amount and method.
    pub fn fact(&self) -> String {
        let hash = |text: &str| crate::ports::sha256_hex(text.as_bytes());
        match self {
            BookingEvent::Created { .. } => "created".to_string(),
            BookingEvent::Paid { payment, .. } => match &payment.reference {
                Some(r) => format!("paid:ref:{}", hash(r)),
                None => format!(
                    "paid:{}",
                    hash(&format!(
                        "{}|{}|{}|{}",
                        payment.paid_at.to_rfc3339(),
                        payment.amount,
                        payment.currency,
                        payment.method.as_deref().unwrap_or("")
                    ))
                ),
            },
            BookingEvent::Cancelled { cancellation, .. } => {
                format!(
                    "cancelled:{}",
                    hash(&serde_json::to_string(cancellation).unwrap_or_default())
                )
            }
            BookingEvent::Updated { booking } => format!("updated:{}", booking_hash(booking)),
        }
    }
}

/// A stable fingerprint of a validated booking, to tell a retry from a different booking that
/// reuses the id.
pub fn booking_hash(booking: &Booking) -> String {
    crate::ports::sha256_hex(&serde_json::to_vec(booking).unwrap_or_default())
}

/// Where a recorded event is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EventState {
    /// Recorded; its job applies it.
    Pending,
    /// Waits for `booking.created` (it came first); applied right after it.
    Held,
    Applied {
        at: DateTime<Utc>,
    },
    /// Could not be applied (e.g. a payment in another currency, a cancellation of a
    /// cancelled booking); the reason is kept for the API.
    Rejected {
        code: String,
        message: String,
    },
}

/// One event as recorded on its booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// 1, 2, ... in the order received.
    pub seq: u32,
    pub event: BookingEvent,
    pub fact: String,
    /// SHA-256 of the event as validated; the same fact with other content is a conflict.
    pub payload_hash: String,
    /// The webhook delivery (`webhook-id`) that brought it.
    pub delivery_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// Chosen at intake for the document this event makes (invoice, proforma, final invoice,
    /// credit note), so every retry of the delivery answers with the same id.
    pub document_id: Option<Id>,
    pub state: EventState,
}

/// The documents a booking has made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingDocuments {
    pub proforma: Option<Id>,
    /// The invoice in force (the latest after an update).
    pub invoice: Option<Id>,
    /// Every invoice it had, oldest first.
    #[serde(default)]
    pub invoices: Vec<Id>,
    #[serde(default)]
    pub credit_notes: Vec<Id>,
    /// The schedule that bills the booking (its instalments), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Id>,
    /// Its collected items (`"billing": "collect"`), by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Id>,
}

/// A booking with its events, written by the webhook and by the job that applies them. Its
/// `version` is the optimistic lock: events are appended and applied one change at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookingRecord {
    pub tenant_id: Id,
    pub booking_id: Id,
    pub version: u64,
    /// The booking's content (the latest, after updates); `None` until `booking.created`.
    pub content: Option<Booking>,
    pub billing: Billing,
    pub events: Vec<RecordedEvent>,
    pub documents: BookingDocuments,
    pub received_at: DateTime<Utc>,
}

impl BookingRecord {
    pub fn new(
        tenant_id: &Id,
        booking_id: &Id,
        billing: Billing,
        now: DateTime<Utc>,
    ) -> BookingRecord {
        BookingRecord {
            tenant_id: tenant_id.clone(),
            booking_id: booking_id.clone(),
            version: 0,
            content: None,
            billing,
            events: Vec::new(),
            documents: BookingDocuments::default(),
            received_at: now,
        }
    }

    /// The event already recorded for this delivery id or this fact.
    pub fn recorded(&self, delivery_id: Option<&str>, fact: &str) -> Option<&RecordedEvent> {
        self.events
            .iter()
            .find(|e| delivery_id.is_some_and(|d| e.delivery_id.as_deref() == Some(d)))
            .or_else(|| self.events.iter().find(|e| e.fact == fact))
    }

    /// Events still to apply, in the order they apply: `booking.created` first (a payment
    /// that arrived before it waited for it), then the others as received.
    pub fn unapplied(&self) -> Vec<&RecordedEvent> {
        let mut events: Vec<&RecordedEvent> = self
            .events
            .iter()
            .filter(|e| matches!(e.state, EventState::Pending | EventState::Held))
            .collect();
        events.sort_by_key(|e| (!matches!(e.event, BookingEvent::Created { .. }), e.seq));
        events
    }

    pub fn is_created(&self) -> bool {
        self.content.is_some()
    }

    /// The schedule its `booking.created` asked for (instalments, a recurring price).
    pub fn schedule_spec(&self) -> Option<&crate::schedule::ScheduleSpec> {
        self.events.iter().find_map(|e| match &e.event {
            BookingEvent::Created { schedule, .. } => schedule.as_ref(),
            _ => None,
        })
    }

    pub fn next_seq(&self) -> u32 {
        self.events.iter().map(|e| e.seq).max().unwrap_or(0) + 1
    }
}

/// Release 1 stored one record per booking: the booking, its status and the pre-chosen
/// invoice id. Both shapes read.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredRecord {
    Current {
        tenant_id: Id,
        booking_id: Id,
        version: u64,
        content: Option<Booking>,
        #[serde(default)]
        billing: Billing,
        events: Vec<RecordedEvent>,
        #[serde(default)]
        documents: BookingDocuments,
        received_at: DateTime<Utc>,
    },
    Release1 {
        tenant_id: Id,
        booking_id: Id,
        payload_hash: String,
        invoice_id: Id,
        booking: Booking,
        status: Release1Status,
        received_at: DateTime<Utc>,
    },
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Release1Status {
    Received,
    Invoiced,
}

impl<'de> Deserialize<'de> for BookingRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StoredRecord::deserialize(d)? {
            StoredRecord::Current {
                tenant_id,
                booking_id,
                version,
                content,
                billing,
                events,
                documents,
                received_at,
            } => BookingRecord {
                tenant_id,
                booking_id,
                version,
                content,
                billing,
                events,
                documents,
                received_at,
            },
            StoredRecord::Release1 {
                tenant_id,
                booking_id,
                payload_hash,
                invoice_id,
                booking,
                status,
                received_at,
            } => {
                let invoiced = status == Release1Status::Invoiced;
                BookingRecord {
                    tenant_id,
                    booking_id,
                    version: 1,
                    content: Some(booking.clone()),
                    billing: Billing::Invoice,
                    events: vec![RecordedEvent {
                        seq: 1,
                        event: BookingEvent::Created {
                            booking,
                            billing: Some(Billing::Invoice),
                            schedule: None,
                        },
                        fact: "created".into(),
                        payload_hash,
                        delivery_id: None,
                        received_at,
                        document_id: Some(invoice_id.clone()),
                        state: if invoiced {
                            EventState::Applied { at: received_at }
                        } else {
                            EventState::Pending
                        },
                    }],
                    documents: BookingDocuments {
                        invoice: invoiced.then(|| invoice_id.clone()),
                        invoices: if invoiced {
                            vec![invoice_id]
                        } else {
                            Vec::new()
                        },
                        ..BookingDocuments::default()
                    },
                    received_at,
                }
            }
        })
    }
}
