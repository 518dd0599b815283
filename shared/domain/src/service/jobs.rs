//! Running jobs: a worker claims a job by id (a lease), runs the handler of its kind, and
//! completes it — or records the failure: due again after a backoff, `failed` after the last
//! attempt. The scheduler finds due jobs in the sharded due index and hands each to its worker
//! (an event on the bus), deferring it meanwhile so it is not handed out twice.

use chrono::TimeDelta;

use crate::error::{AppError, ErrorKind};
use crate::events::{DomainEvent, Release1Work};
use crate::jobs::{Job, JobKind, LEASE, MAX_ATTEMPTS, SHARDS};
use crate::ports::{Change, Stores};
use crate::values::Id;

use super::bookings::BookingProcessor;
use super::delivery::{DeliveryError, DocumentMailer};
use super::dunning::{Dunned, Dunner};
use super::rendering::DocumentRenderer;
use super::schedules::{Billed, ScheduleBiller};
use super::{Attempt, commit_with_retry};

/// How long a job handed out by the scheduler waits for its worker before it is handed out
/// again.
pub const DISPATCH_HOLD: TimeDelta = TimeDelta::minutes(2);

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Done,
    /// Done already, failed, or held by another worker.
    NotClaimed,
    /// Failed; due again later.
    Retrying {
        code: String,
        attempt: u32,
    },
    /// Failed for the last time; out of the due index.
    Failed {
        code: String,
    },
    /// Not due yet (a schedule's occurrence handed out early): due again then.
    NotDue,
    /// Failed in a way that may have had an effect (a mail maybe sent): the lease is kept
    /// until it runs out.
    LeaseKept {
        code: String,
    },
}

/// The handlers a worker has (each Lambda worker has its own; the local runner all).
#[derive(Clone, Default)]
pub struct Handlers {
    pub bookings: Option<BookingProcessor>,
    pub renderer: Option<DocumentRenderer>,
    pub mailer: Option<DocumentMailer>,
    pub schedules: Option<ScheduleBiller>,
    pub dunner: Option<Dunner>,
    pub collector: Option<super::collective::Collector>,
}

#[derive(Clone)]
pub struct JobRunner {
    stores: Stores,
    handlers: Handlers,
    retry_base: TimeDelta,
}

fn retryable(e: &AppError) -> bool {
    matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal)
}

impl JobRunner {
    pub fn new(stores: Stores, handlers: Handlers) -> JobRunner {
        JobRunner {
            stores,
            handlers,
            retry_base: crate::jobs::DEFAULT_RETRY_BASE,
        }
    }

    /// Retries after `base` (doubling per attempt) instead of 30 s.
    pub fn with_retry_base(mut self, base: TimeDelta) -> JobRunner {
        self.retry_base = base;
        self
    }

    /// Whether this runner has the handler for `kind`.
    pub fn handles(&self, kind: JobKind) -> bool {
        match kind {
            JobKind::ApplyBookingEvents => self.handlers.bookings.is_some(),
            JobKind::RenderDocument => self.handlers.renderer.is_some(),
            JobKind::DeliverDocument => self.handlers.mailer.is_some(),
            JobKind::BillSchedule => self.handlers.schedules.is_some(),
            JobKind::DunInvoice => self.handlers.dunner.is_some(),
            JobKind::NotifyOwner | JobKind::DigestDrafts => self.handlers.mailer.is_some(),
            JobKind::CollectItems | JobKind::SendDraft => self.handlers.collector.is_some(),
        }
    }

    /// Runs the job the event hands out (`job.<kind>`), or the work of a release-1 event.
    pub async fn handle_event(&self, event: &DomainEvent) -> Result<RunOutcome, AppError> {
        if event.job_kind().is_some() {
            return self.run(&event.tenant_id, &event.subject.id).await;
        }
        Ok(RunOutcome::Done)
    }

    /// Claims and runs one job. `Err` only when the job store itself failed (the caller should
    /// try again later; the job stays due).
    pub async fn run(&self, tenant: &Id, job_id: &Id) -> Result<RunOutcome, AppError> {
        let s = &self.stores;
        let now = s.clock.now();
        let Some(job) = s.jobs.claim(tenant, job_id, now, now + LEASE).await? else {
            return Ok(RunOutcome::NotClaimed);
        };
        if !self.handles(job.kind) {
            // Handed to the wrong worker: give it back at once.
            s.jobs.release(&job, "wrong_worker", Some(now)).await?;
            return Err(AppError::new(
                ErrorKind::Internal,
                "wrong_worker",
                format!("this worker does not run {} jobs", job.kind.as_str()),
            ));
        }
        let result = self.dispatch(&job).await;
        match result {
            Ok(()) => {
                s.jobs.complete(&job).await?;
                tracing::info!(job_id = %job.id, kind = job.kind.as_str(), subject = %job.subject, tenant_id = %job.tenant_id, attempt = job.attempts, "job done");
                Ok(RunOutcome::Done)
            }
            Err(JobFailure::KeepLease(e)) => {
                tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), code = e.code, "job failed after a possible effect; its lease is kept");
                Ok(RunOutcome::LeaseKept {
                    code: e.code.to_string(),
                })
            }
            Err(JobFailure::Later(at)) => {
                s.jobs.release(&job, "not_due", Some(at)).await?;
                Ok(RunOutcome::NotDue)
            }
            Err(JobFailure::Retry(e)) => self.failed(&job, &e).await,
        }
    }

    async fn failed(&self, job: &Job, e: &AppError) -> Result<RunOutcome, AppError> {
        let s = &self.stores;
        let now = s.clock.now();
        let last = job.attempts >= MAX_ATTEMPTS || !retryable(e);
        if last {
            s.jobs.release(job, e.code, None).await?;
            tracing::error!(job_id = %job.id, kind = job.kind.as_str(), subject = %job.subject, tenant_id = %job.tenant_id, code = e.code, attempts = job.attempts, "job failed for good");
            if job.kind == JobKind::DeliverDocument
                && let Some(mailer) = &self.handlers.mailer
                && let Err(err) = mailer.give_up(job, e.code).await
            {
                tracing::warn!(job_id = %job.id, code = err.code, "marking the delivery failed did not work");
            }
            Ok(RunOutcome::Failed {
                code: e.code.to_string(),
            })
        } else {
            let due = now + Job::backoff_from(self.retry_base, job.attempts);
            s.jobs.release(job, e.code, Some(due)).await?;
            tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), subject = %job.subject, tenant_id = %job.tenant_id, code = e.code, attempt = job.attempts, "job failed; due again later");
            Ok(RunOutcome::Retrying {
                code: e.code.to_string(),
                attempt: job.attempts,
            })
        }
    }

    async fn dispatch(&self, job: &Job) -> Result<(), JobFailure> {
        let h = &self.handlers;
        match job.kind {
            JobKind::ApplyBookingEvents => {
                let p = h.bookings.as_ref().ok_or_else(no_handler)?;
                p.apply(&job.tenant_id, &job.subject, job)
                    .await
                    .map(|_| ())
                    .map_err(JobFailure::Retry)
            }
            JobKind::RenderDocument => {
                let r = h.renderer.as_ref().ok_or_else(no_handler)?;
                r.render(job).await.map_err(JobFailure::Retry)
            }
            JobKind::DeliverDocument => {
                let m = h.mailer.as_ref().ok_or_else(no_handler)?;
                m.deliver(job).await.map_err(delivery_failure)
            }
            JobKind::BillSchedule => {
                let b = h.schedules.as_ref().ok_or_else(no_handler)?;
                match b.bill(job).await.map_err(JobFailure::Retry)? {
                    Billed::NotYet(at) => Err(JobFailure::Later(at)),
                    Billed::Invoice { .. } | Billed::Nothing => Ok(()),
                }
            }
            JobKind::DunInvoice => {
                let d = h.dunner.as_ref().ok_or_else(no_handler)?;
                match d.run(job).await.map_err(JobFailure::Retry)? {
                    Dunned::NotYet(at) => Err(JobFailure::Later(at)),
                    Dunned::Letter { .. } | Dunned::Exhausted | Dunned::Nothing(_) => Ok(()),
                }
            }
            JobKind::NotifyOwner => {
                let m = h.mailer.as_ref().ok_or_else(no_handler)?;
                m.notify_owner(job).await.map_err(delivery_failure)
            }
            JobKind::DigestDrafts => {
                let m = h.mailer.as_ref().ok_or_else(no_handler)?;
                m.digest_drafts(job).await.map_err(delivery_failure)
            }
            JobKind::CollectItems | JobKind::SendDraft => {
                let c = h.collector.as_ref().ok_or_else(no_handler)?;
                let ran = if job.kind == JobKind::CollectItems {
                    c.collect(job).await
                } else {
                    c.send(job).await
                };
                match ran.map_err(JobFailure::Retry)? {
                    super::collective::Collected::NotYet(at) => Err(JobFailure::Later(at)),
                    _ => Ok(()),
                }
            }
        }
    }

    /// The work a release-1 event (still in a queue during an upgrade) asked for, as a job of
    /// today, then run.
    pub async fn run_release1(&self, work: &Release1Work) -> Result<RunOutcome, AppError> {
        let s = &self.stores;
        let now = s.clock.now();
        let job = match work {
            Release1Work::Nothing => return Ok(RunOutcome::Done),
            Release1Work::Booking {
                tenant_id,
                booking_id,
            } => Job::new(
                tenant_id,
                JobKind::ApplyBookingEvents,
                booking_id,
                "release1",
                now,
            ),
            Release1Work::Deliver {
                tenant_id,
                invoice_id,
            } => Job::new(
                tenant_id,
                JobKind::DeliverDocument,
                invoice_id,
                "first",
                now,
            ),
        };
        match work {
            // A release-1 invoice that was never mailed: its charge goes into the ledger with
            // its delivery job (the delivery rewrites the release-1 item as a document, after
            // which the migration would no longer find it). Migrated already: the job alone.
            Release1Work::Deliver { .. } => self.record_release1_delivery(&job).await?,
            _ => record_job(&self.stores, job.clone()).await?,
        }
        self.run(&job.tenant_id, &job.id).await
    }

    async fn record_release1_delivery(&self, job: &Job) -> Result<(), AppError> {
        let s = &self.stores;
        let doc = s.repository.document(&job.tenant_id, &job.subject).await?;
        let mut change = Change::for_tenant(&job.tenant_id);
        if let Some(doc) = &doc {
            let cause = crate::audit::Cause::Migration { from_version: 1 };
            change.ledger.push(super::issuing::entry(
                doc,
                crate::ledger::EntryKind::Charge,
                doc.settlement.charged,
                &format!("charge:{}", doc.id()),
                &cause,
                doc.content.issued_at,
            ));
        }
        change.jobs.push(job.clone());
        match s.repository.commit(change).await {
            Ok(()) => Ok(()),
            Err(crate::ports::CommitError::Conflict(
                crate::ports::Conflict::LedgerEntry(_) | crate::ports::Conflict::Job(_),
            )) => record_job(s, job.clone()).await,
            Err(crate::ports::CommitError::Conflict(c)) => Err(AppError::new(
                ErrorKind::Internal,
                "release1_delivery",
                format!("recording the release-1 delivery: {c:?}"),
            )),
            Err(crate::ports::CommitError::Store(e)) => Err(e.into()),
        }
    }
}

/// The error of work asked of a runner that is shutting down.
pub fn stopped() -> AppError {
    AppError::new(
        ErrorKind::Unavailable,
        "stopping",
        "the runner is shutting down",
    )
}

/// Writes `job` unless a job with its id exists.
pub async fn record_job(stores: &Stores, job: Job) -> Result<(), AppError> {
    commit_with_retry(
        stores,
        || async {
            let mut change = Change::for_tenant(&job.tenant_id);
            change.jobs.push(job.clone());
            Ok(Attempt::Commit(Box::new(change), ()))
        },
        |c| matches!(c, crate::ports::Conflict::Job(_)).then_some(Ok(())),
    )
    .await
}

enum JobFailure {
    Retry(AppError),
    Later(chrono::DateTime<chrono::Utc>),
    KeepLease(AppError),
}

fn delivery_failure(e: DeliveryError) -> JobFailure {
    match e {
        DeliveryError::NotSent(e) => JobFailure::Retry(e),
        DeliveryError::MaybeSent(e) => JobFailure::KeepLease(e),
        DeliveryError::Later(at) => JobFailure::Later(at),
    }
}

fn no_handler() -> JobFailure {
    JobFailure::Retry(AppError::new(
        ErrorKind::Internal,
        "no_handler",
        "no handler for this job",
    ))
}

/// What a scheduler run handed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub dispatched: usize,
    pub publish_failures: usize,
}

#[derive(Clone)]
pub struct Scheduler {
    stores: Stores,
}

impl Scheduler {
    pub fn new(stores: Stores) -> Scheduler {
        Scheduler { stores }
    }

    /// Hands out every job due now (at most `limit` per shard): deferred by
    /// [`DISPATCH_HOLD`], then announced to its worker. The shards are read and handed out
    /// side by side (100,000 schedules due on the 1st are 8 streams, not one).
    pub async fn dispatch_due(&self, limit: usize) -> Result<DispatchReport, AppError> {
        let now = self.stores.clock.now();
        let mut shards = tokio::task::JoinSet::new();
        for shard in 0..SHARDS {
            let stores = self.stores.clone();
            shards.spawn(async move { dispatch_shard(&stores, shard, now, limit).await });
        }
        let mut report = DispatchReport::default();
        let mut first_error = None;
        while let Some(done) = shards.join_next().await {
            match done {
                Ok(Ok(r)) => {
                    report.dispatched += r.dispatched;
                    report.publish_failures += r.publish_failures;
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(super::internal(
                        "dispatch_task",
                        format!("a shard's hand-off stopped: {e}"),
                    ));
                }
            }
        }
        if let Some(e) = first_error {
            if report.dispatched == 0 {
                return Err(e);
            }
            tracing::warn!(code = e.code, error = %e.message, "a shard's due jobs were not all handed out; the next run does");
        }
        if report.dispatched > 0 {
            tracing::info!(dispatched = report.dispatched, "due jobs handed out");
        }
        Ok(report)
    }
}

/// Hands out the due jobs of one shard.
async fn dispatch_shard(
    s: &Stores,
    shard: u32,
    now: chrono::DateTime<chrono::Utc>,
    limit: usize,
) -> Result<DispatchReport, AppError> {
    let mut report = DispatchReport::default();
    for due in s.jobs.due_jobs(shard, now, limit).await? {
        if !s.jobs.defer(&due, now + DISPATCH_HOLD).await? {
            continue;
        }
        let event = DomainEvent::new(
            due.kind.event_type(),
            &due.tenant_id,
            crate::events::Subject {
                kind: crate::events::SubjectKind::Job,
                id: due.id.clone(),
            },
            serde_json::json!({ "kind": due.kind.as_str() }),
            now,
        );
        match s.events.publish(&event).await {
            Ok(()) => report.dispatched += 1,
            Err(e) => {
                report.publish_failures += 1;
                tracing::warn!(job_id = %due.id, error = %e, "handing out a due job failed; it is due again after the hold");
            }
        }
    }
    Ok(report)
}
