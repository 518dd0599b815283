//! Jobs and bookings as the API shows them: what is queued, what failed and why, and how a
//! booking's events were applied.

use faktura_domain::booking::{BookingRecord, EventState};
use faktura_domain::jobs::Job;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct JobDto {
    pub id: String,
    /// `apply_booking_events`, `render_document`, `deliver_document`.
    #[schema(schema_with = super::values::job_kind)]
    pub kind: String,
    /// The booking or document it works on.
    pub subject: String,
    /// `pending`, `running`, `done` or `failed`.
    #[schema(schema_with = super::values::job_state)]
    pub state: String,
    pub attempts: u32,
    #[schema(format = DateTime)]
    pub due_at: String,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Job> for JobDto {
    fn from(j: &Job) -> Self {
        JobDto {
            id: j.id.as_str().to_string(),
            kind: j.kind.as_str().to_string(),
            subject: j.subject.as_str().to_string(),
            state: j.state.as_str().to_string(),
            attempts: j.attempts,
            due_at: j.due_at.to_rfc3339(),
            last_error: j.last_error.clone(),
            created_at: j.created_at.to_rfc3339(),
            updated_at: j.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobListDto {
    pub jobs: Vec<JobDto>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BookingEventDto {
    pub seq: u32,
    /// `booking.created`, `booking.paid`, ...
    #[schema(schema_with = super::values::booking_event)]
    pub event: String,
    /// `pending`, `held`, `applied` or `rejected`.
    #[schema(schema_with = super::values::booking_event_state)]
    pub state: String,
    #[schema(format = DateTime)]
    pub received_at: String,
    pub delivery_id: Option<String>,
    pub document_id: Option<String>,
    /// For `rejected`: why.
    pub error: Option<String>,
}

/// A booking: its billing, its events and the documents they made.
#[derive(Serialize, ToSchema)]
pub struct BookingDto {
    pub id: String,
    /// `invoice` or `proforma_first`.
    #[schema(schema_with = super::values::billing)]
    pub billing: String,
    pub created: bool,
    pub events: Vec<BookingEventDto>,
    pub proforma: Option<String>,
    pub invoice: Option<String>,
    pub invoices: Vec<String>,
    pub credit_notes: Vec<String>,
    /// The schedule that bills the booking (instalments, a recurring price): its invoices
    /// are at `GET /v1/schedules/{id}`.
    pub schedule: Option<String>,
}

impl From<&BookingRecord> for BookingDto {
    fn from(r: &BookingRecord) -> Self {
        BookingDto {
            id: r.booking_id.as_str().to_string(),
            billing: r.billing.as_str().to_string(),
            created: r.is_created(),
            events: r
                .events
                .iter()
                .map(|e| {
                    let (state, error) = match &e.state {
                        EventState::Pending => ("pending", None),
                        EventState::Held => ("held", None),
                        EventState::Applied { .. } => ("applied", None),
                        EventState::Rejected { code, message } => {
                            ("rejected", Some(format!("{code}: {message}")))
                        }
                    };
                    BookingEventDto {
                        seq: e.seq,
                        event: e.event.type_name().to_string(),
                        state: state.to_string(),
                        received_at: e.received_at.to_rfc3339(),
                        delivery_id: e.delivery_id.clone(),
                        document_id: e.document_id.as_ref().map(|d| d.as_str().to_string()),
                        error,
                    }
                })
                .collect(),
            proforma: r
                .documents
                .proforma
                .as_ref()
                .map(|d| d.as_str().to_string()),
            invoice: r.documents.invoice.as_ref().map(|d| d.as_str().to_string()),
            schedule: r
                .documents
                .schedule
                .as_ref()
                .map(|d| d.as_str().to_string()),
            invoices: r
                .documents
                .invoices
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
            credit_notes: r
                .documents
                .credit_notes
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
        }
    }
}
