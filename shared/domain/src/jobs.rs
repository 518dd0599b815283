//! Durable jobs: every piece of background work is a job, recorded in the same transaction as
//! the change that causes it, claimed with a lease, retried with backoff, and visible.
//!
//! A job is *due* from `due_at` while it is pending (or its lease ran out). The scheduler finds
//! due jobs through one sparse index whose key is sharded ([`SHARDS`]), hands each to the
//! worker of its kind (an event on the bus), and a worker claims it by id before it runs it.
//! A job that fails is due again after a backoff; after [`MAX_ATTEMPTS`] it is `failed`, leaves
//! the due index and waits for a person (the API lists failed jobs with their last error).

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::values::Id;

/// How many partitions the due index is spread over (no hot key at 100,000 due jobs).
pub const SHARDS: u32 = 8;
/// Attempts before a job is given up as `failed`.
pub const MAX_ATTEMPTS: u32 = 8;
/// The first retry delay; it doubles with every further failure.
pub const DEFAULT_RETRY_BASE: TimeDelta = TimeDelta::seconds(30);
/// How long a claimed job belongs to its worker (a worker that dies frees it after this).
pub const LEASE: TimeDelta = TimeDelta::minutes(5);

/// What a job does; each kind has one worker (see `faktura_aws::stack::ROUTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Apply a booking's received events (issue, pay, cancel, update) in order.
    ApplyBookingEvents,
    /// Render and store a document's PDF (and XML, and a contract), then queue its delivery.
    RenderDocument,
    /// Mail a document to its recipients.
    DeliverDocument,
    /// Bill a schedule's next occurrence (due at the local start of its day).
    BillSchedule,
    /// Send an overdue invoice's next reminder (due at the local start of the level's day).
    DunInvoice,
    /// Tell the tenant's owner an invoice is still unpaid after the last dunning level.
    NotifyOwner,
    /// Combine a customer's items collected in a period into a collective invoice (due the
    /// day after the period).
    CollectItems,
    /// Issue and mail a draft on its send date (a collective invoice, a held document).
    SendDraft,
    /// Mail the owner the drafts waiting for them (due on the day they become due).
    DigestDrafts,
}

impl JobKind {
    pub const ALL: [JobKind; 9] = [
        JobKind::ApplyBookingEvents,
        JobKind::RenderDocument,
        JobKind::DeliverDocument,
        JobKind::BillSchedule,
        JobKind::DunInvoice,
        JobKind::NotifyOwner,
        JobKind::CollectItems,
        JobKind::SendDraft,
        JobKind::DigestDrafts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ApplyBookingEvents => "apply_booking_events",
            JobKind::RenderDocument => "render_document",
            JobKind::DeliverDocument => "deliver_document",
            JobKind::BillSchedule => "bill_schedule",
            JobKind::DunInvoice => "dun_invoice",
            JobKind::NotifyOwner => "notify_owner",
            JobKind::CollectItems => "collect_items",
            JobKind::SendDraft => "send_draft",
            JobKind::DigestDrafts => "digest_drafts",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// One job of this kind stands for many causes (a day's digest for all drafts due that
    /// day, a period's collection for all its items): a change that finds it recorded
    /// already reads again and leaves it out.
    pub fn is_shared(self) -> bool {
        matches!(self, JobKind::DigestDrafts | JobKind::CollectItems)
    }

    /// The event type that hands a due job of this kind to its worker.
    pub fn event_type(self) -> String {
        format!("job.{}", self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `due_at` (and for its lease to run out when it was claimed).
    Pending,
    /// Claimed by a worker until `lease_until`.
    Running,
    Done,
    /// Given up after [`MAX_ATTEMPTS`]; out of the due index.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        [
            JobState::Pending,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
        ]
        .into_iter()
        .find(|j| j.as_str() == s)
    }

    /// Whether the job is still in the due index.
    pub fn is_open(self) -> bool {
        matches!(self, JobState::Pending | JobState::Running)
    }
}

/// Extra data a job needs beyond its subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInput {
    /// Deliver to these addresses instead of the buyer's (a resend to another address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<crate::values::EmailAddress>,
    /// Attach the contract to the mail (a final invoice after a proforma).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_contract: bool,
    /// The occurrence a `bill_schedule` job bills (a job of another epoch or occurrence is
    /// stale and does nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSlot>,
    /// The dunning level a `dun_invoice` job sends (1: the payment reminder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dunning_level: Option<u8>,
    /// The customer whose items a `collect_items` job combines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_key: Option<String>,
    /// The collection period of a `collect_items` job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<crate::model::ServicePeriod>,
    /// The day a `send_draft` job sends its draft on, or a digest's day (a draft whose send
    /// date moved has a new job; the old one does nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSlot {
    pub epoch: u32,
    pub occurrence: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Stable: the same work gets the same id (`render:doc_…`), so recording it twice is once.
    pub id: Id,
    pub tenant_id: Id,
    pub kind: JobKind,
    /// The booking or document the job works on.
    pub subject: Id,
    #[serde(default)]
    pub input: JobInput,
    pub state: JobState,
    pub attempts: u32,
    pub due_at: DateTime<Utc>,
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Job {
    /// A new pending job, due now.
    pub fn new(tenant: &Id, kind: JobKind, subject: &Id, key: &str, now: DateTime<Utc>) -> Job {
        let id = format!(
            "job_{}_{}",
            kind.as_str(),
            short_hash(&format!("{tenant}\u{0}{subject}\u{0}{key}"))
        );
        Job {
            id: id.parse().unwrap_or_else(|_| Id::generate("job")),
            tenant_id: tenant.clone(),
            kind,
            subject: subject.clone(),
            input: JobInput::default(),
            state: JobState::Pending,
            attempts: 0,
            due_at: now,
            lease_until: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn with_input(mut self, input: JobInput) -> Job {
        self.input = input;
        self
    }

    pub fn due(mut self, at: DateTime<Utc>) -> Job {
        self.due_at = at;
        self
    }

    /// The due-index shard of this job (spreads the index over [`SHARDS`] keys).
    pub fn shard(&self) -> u32 {
        let h = crate::ports::sha256_hex(self.id.as_str().as_bytes());
        u32::from_str_radix(h.get(..8).unwrap_or("0"), 16).unwrap_or(0) % SHARDS
    }

    /// Whether a worker may claim it now.
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            JobState::Pending => true,
            JobState::Running => self.lease_until.is_none_or(|l| l <= now),
            JobState::Done | JobState::Failed => false,
        }
    }

    /// When the job is due again after its `attempts`-th failure: 30 s doubling, at most 1 h.
    pub fn backoff(attempts: u32) -> TimeDelta {
        Job::backoff_from(DEFAULT_RETRY_BASE, attempts)
    }

    /// The backoff from another first delay (`base`, doubling, at most 1 h; at least 1 s).
    pub fn backoff_from(base: TimeDelta, attempts: u32) -> TimeDelta {
        let base = base.num_seconds().max(1);
        let seconds = base.saturating_mul(1_i64 << attempts.saturating_sub(1).min(12));
        TimeDelta::seconds(seconds.min(3600))
    }
}

fn short_hash(text: &str) -> String {
    let h = crate::ports::sha256_hex(text.as_bytes());
    h.get(..24).unwrap_or(&h).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_shards_spread() {
        let now = Utc::now();
        let t: Id = "demo".parse().unwrap();
        let a = Job::new(
            &t,
            JobKind::RenderDocument,
            &"doc_1".parse().unwrap(),
            "",
            now,
        );
        let b = Job::new(
            &t,
            JobKind::RenderDocument,
            &"doc_1".parse().unwrap(),
            "",
            now,
        );
        assert_eq!(a.id, b.id);
        let shards: std::collections::BTreeSet<u32> = (0..200)
            .map(|i| {
                Job::new(
                    &t,
                    JobKind::DeliverDocument,
                    &format!("doc_{i}").parse().unwrap(),
                    "",
                    now,
                )
                .shard()
            })
            .collect();
        assert_eq!(shards.len() as u32, SHARDS);
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(Job::backoff(1), TimeDelta::seconds(30));
        assert_eq!(Job::backoff(2), TimeDelta::seconds(60));
        assert_eq!(Job::backoff(5), TimeDelta::seconds(480));
        assert_eq!(Job::backoff(30), TimeDelta::seconds(3600));
    }
}
