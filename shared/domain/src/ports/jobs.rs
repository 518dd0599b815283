use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::jobs::{Job, JobKind, JobState};
use crate::values::Id;

/// A due job as the due index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueJob {
    pub tenant_id: Id,
    pub id: Id,
    pub kind: JobKind,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next_cursor: Option<String>,
}

/// The durable jobs (written with [`super::Change::jobs`]; run through this port).
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn job(&self, tenant: &Id, id: &Id) -> Result<Option<Job>, StoreError>;
    /// A tenant's jobs, newest first, optionally in one state.
    async fn jobs(
        &self,
        tenant: &Id,
        state: Option<JobState>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<JobPage, StoreError>;
    /// Jobs of one shard of the due index due at `now` (pending with `due_at <= now`, or
    /// running with an expired lease), earliest first.
    async fn due_jobs(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueJob>, StoreError>;
    /// The earliest `due_at` among open jobs of one shard that falls after `after` (the
    /// simulated clock stops there so work runs at its own time).
    async fn next_due(
        &self,
        shard: u32,
        after: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Moves a due job's `due_at` from `seen` to `until` (the scheduler's hand-off: it is not
    /// handed out again before `until`). False when someone else moved it first.
    async fn defer(&self, job: &DueJob, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Takes a job for a worker until `lease_until` (attempts + 1): a pending job, or a running
    /// one whose lease expired. `None` when it is done, failed, or held by another worker.
    /// A pending job is taken whatever its `due_at`: the scheduler's hand-off moves `due_at`
    /// forward while its message is on the way, so a due check would refuse the worker it was
    /// handed to. A late duplicate message may therefore retry a failed job before its backoff
    /// ends; attempts still count and the lease still holds.
    async fn claim(
        &self,
        tenant: &Id,
        id: &Id,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError>;
    /// The claimed job is done (when no [`super::Change`] completes it).
    async fn complete(&self, job: &Job) -> Result<(), StoreError>;
    /// The claimed job failed with `code`: due again at `due_at`, or `failed` when `due_at`
    /// is `None` (out of the due index).
    async fn release(
        &self,
        job: &Job,
        code: &str,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
}
