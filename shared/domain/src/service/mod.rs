//! Use cases. Every change goes through [`Repository::commit`](crate::ports::Repository) with
//! the jobs it causes, so nothing is half-written and nothing is done twice:
//!
//! - [`intake::BookingIntake`] (webhook): validates a booking event, records it on its booking
//!   with a job to apply it.
//! - [`bookings::BookingProcessor`] (job `apply_booking_events`): issues invoices and proformas,
//!   records payments, issues final invoices and credit notes, in the order events came.
//! - [`rendering::DocumentRenderer`] (job `render_document`): PDF, XML and contract files,
//!   then the delivery job.
//! - [`delivery::DocumentMailer`] (job `deliver_document`): the mail, once per send.
//! - [`commands::Commands`] (API): invoices, drafts, cancellations, credit notes, payments,
//!   refunds, resends, customers — synchronously, with idempotency keys.
//! - [`jobs::JobRunner`] and [`jobs::Scheduler`]: claim, run and retry jobs; hand due jobs out.
//! - [`schedules::ScheduleBiller`] (job `bill_schedule`): a schedule's occurrence, invoiced once;
//!   [`schedules`] also plans, changes and previews schedules.
//! - [`dunning::Dunner`] (job `dun_invoice`): an overdue invoice's next reminder letter, or
//!   (after the last) the owner told (job `notify_owner`, run by the mailer).
//! - [`queries::Queries`]: the read side.

pub mod banking;
pub mod bookings;
pub mod collective;
pub mod commands;
pub mod delivery;
pub mod dunning;
pub mod files;
pub mod intake;
pub mod issuing;
pub mod jobs;
pub mod queries;
pub mod rendering;
pub mod schedules;

pub use files::{contract_key, pdf_file_name, pdf_key, xml_file_name, xml_key};

use std::time::Duration;

use crate::audit::{AuditEntry, Cause};
use crate::document::{Document, DocumentEvent};
use crate::error::{AppError, ErrorKind};
use crate::events::{DomainEvent, Subject, SubjectKind};
use crate::jobs::Job;
use crate::model::Tenant;
use crate::ports::{Change, CommitError, Conflict, Stores};
use crate::values::Id;

/// How often a change is rebuilt when a concurrent change won (a counter moved, a document or
/// booking changed meanwhile).
pub(crate) const MAX_ATTEMPTS: u32 = 50;

pub(crate) fn unavailable(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unavailable, code, message)
}

pub(crate) fn internal(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Internal, code, message)
}

pub(crate) async fn tenant(stores: &Stores, tenant_id: &Id) -> Result<Tenant, AppError> {
    stores
        .tenants
        .tenant(tenant_id)
        .await?
        .map(|r| r.tenant)
        .ok_or_else(|| AppError::not_found("tenant_not_found", format!("no tenant '{tenant_id}'")))
}

/// What an attempt at a change says.
pub(crate) enum Attempt<T> {
    /// Commit this change, then answer `T`.
    Commit(Box<Change>, T),
    /// Nothing to write: answer `T`.
    Done(T),
}

/// Why a commit did not happen.
pub(crate) enum Refused {
    /// A concurrent change won: read again and rebuild.
    Retry,
    /// The fact the change records is recorded already (a ledger entry, a job).
    Duplicate(Conflict),
    Error(AppError),
}

/// Builds and commits a change, rebuilding it from fresh reads when a concurrent change won.
/// `on_duplicate` answers when the change's fact turns out to be recorded already.
pub(crate) async fn commit_with_retry<T, F, Fut>(
    stores: &Stores,
    mut attempt: F,
    on_duplicate: impl Fn(&Conflict) -> Option<Result<T, AppError>>,
) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Attempt<T>, AppError>>,
{
    for n in 0..MAX_ATTEMPTS {
        let (change, answer) = match attempt().await? {
            Attempt::Done(answer) => return Ok(answer),
            Attempt::Commit(change, answer) => (*change, answer),
        };
        let events = announcements(&change, stores.clock.now());
        let shared: Vec<Id> = change
            .jobs
            .iter()
            .filter(|j| j.kind.is_shared())
            .map(|j| j.id.clone())
            .collect();
        let result = match stores.repository.commit(change).await {
            // A shared job recorded meanwhile by another change: read again (and leave it out).
            Err(CommitError::Conflict(Conflict::Job(id))) if shared.contains(&id) => {
                Err(CommitError::Conflict(Conflict::Document(id)))
            }
            other => other,
        };
        match classify(result) {
            Ok(()) => {
                publish(stores, &events).await;
                return Ok(answer);
            }
            Err(Refused::Retry) => {
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
                tokio::time::sleep(Duration::from_millis(u64::from(n.min(10)) + jitter)).await;
            }
            Err(Refused::Duplicate(conflict)) => match on_duplicate(&conflict) {
                Some(answer) => return answer,
                None => {
                    return Err(internal(
                        "duplicate",
                        format!("the change was refused as a duplicate ({conflict:?})"),
                    ));
                }
            },
            Err(Refused::Error(e)) => return Err(e),
        }
    }
    Err(unavailable(
        "contention",
        "the change kept colliding with concurrent changes; retry later",
    ))
}

fn classify(result: Result<(), CommitError>) -> Result<(), Refused> {
    match result {
        Ok(()) => Ok(()),
        Err(CommitError::Store(e)) => Err(Refused::Error(e.into())),
        Err(CommitError::Conflict(c)) => match c {
            Conflict::Booking
            | Conflict::Document(_)
            | Conflict::Counter(_)
            | Conflict::Schedule(_)
            | Conflict::Item(_) => Err(Refused::Retry),
            Conflict::Number(n) => Err(Refused::Error(internal(
                "number_taken",
                format!("number '{n}' is claimed by another document; refusing a duplicate number"),
            ))),
            other => Err(Refused::Duplicate(other)),
        },
    }
}

/// The events a committed change announces: its documents' events, and every new job (the
/// fast path to its worker; the scheduler hands out whatever this misses).
fn announcements(change: &Change, now: chrono::DateTime<chrono::Utc>) -> Vec<DomainEvent> {
    let mut events: Vec<DomainEvent> = change
        .audit
        .iter()
        .map(|a| {
            DomainEvent::new(
                a.event.name(),
                &a.tenant_id,
                Subject {
                    kind: SubjectKind::Document,
                    id: a.document_id.clone(),
                },
                serde_json::to_value(&a.event).unwrap_or_default(),
                a.at,
            )
        })
        .collect();
    // A job due later (a schedule's next occurrence) is handed out by the scheduler then.
    events.extend(
        change
            .jobs
            .iter()
            .filter(|j| j.due_at <= now)
            .map(|j| DomainEvent::job_due(j, now)),
    );
    events
}

/// Publishing after the commit is best effort: a job whose event is lost is handed out by the
/// scheduler, and fact events are announcements only.
async fn publish(stores: &Stores, events: &[DomainEvent]) {
    for event in events {
        if let Err(e) = stores.events.publish(event).await {
            tracing::warn!(event_type = %event.event_type, tenant_id = %event.tenant_id, error = %e, "publishing failed; the scheduler hands out due jobs");
        }
    }
}

/// Adds audit entries for `events` of `doc` (stored as `version`) to `change`.
pub(crate) fn audit(
    change: &mut Change,
    doc: &Document,
    version: u64,
    events: Vec<DocumentEvent>,
    cause: &Cause,
    now: chrono::DateTime<chrono::Utc>,
) {
    for event in events {
        change.audit.push(AuditEntry::new(
            &doc.content.tenant_id,
            doc.id(),
            version,
            now,
            cause,
            event,
        ));
    }
}

/// The cause of changes a job makes.
pub(crate) fn job_cause(job: &Job) -> Cause {
    Cause::Job {
        job_id: job.id.clone(),
        kind: job.kind.as_str().to_string(),
    }
}
