//! The work routing of the deployed stack, defined once: which jobs go through which queue to
//! which worker function. A due job is handed out as the event `job.<kind>`.
//!
//! `infra/template.yaml` declares one EventBridge rule, one SQS queue (with a dead-letter
//! queue) and one worker function per [`WorkRoute`]; `tests/local/template.rs` checks the template
//! against [`ROUTES`] (patterns, queue wiring, worker binaries) and the end-to-end test builds
//! the same routes on moto from here, so the two cannot drift.

use faktura_domain::events::EVENT_SOURCE;
use faktura_domain::jobs::JobKind;

/// One hop of the workflow: jobs of `job_kinds` (their events on the bus) → a queue → `worker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkRoute {
    /// Short name; the template's logical ids are derived from it (`Issue` → `IssueRule`,
    /// `IssueQueue`, `IssueDeadLetterQueue`, `IssueWorkerFunction`).
    pub name: &'static str,
    pub job_kinds: &'static [JobKind],
    /// The worker's binary (cargo-lambda `BuildProperties.Binary`).
    pub worker: &'static str,
}

impl WorkRoute {
    /// The detail types the rule matches: `job.<kind>` for each kind.
    pub fn event_types(&self) -> Vec<String> {
        self.job_kinds.iter().map(|k| k.event_type()).collect()
    }

    /// The rule's event pattern: Faktura's source and these detail types.
    pub fn event_pattern(&self) -> serde_json::Value {
        serde_json::json!({
            "source": [EVENT_SOURCE],
            "detail-type": self.event_types(),
        })
    }
}

/// Booking events and rendering → issue worker (numbers documents, records payments and
/// credit notes, renders and stores PDFs and XML: the one function that links typst).
pub const ISSUE_ROUTE: WorkRoute = WorkRoute {
    name: "Issue",
    job_kinds: &[
        JobKind::ApplyBookingEvents,
        JobKind::RenderDocument,
        JobKind::BillSchedule,
        JobKind::DunInvoice,
        JobKind::CollectItems,
        JobKind::SendDraft,
    ],
    worker: "faktura-issue-worker",
};

/// Deliveries and owner notices → mail worker (sends through SES).
pub const MAIL_ROUTE: WorkRoute = WorkRoute {
    name: "Mail",
    job_kinds: &[
        JobKind::DeliverDocument,
        JobKind::NotifyOwner,
        JobKind::DigestDrafts,
    ],
    worker: "faktura-mail-worker",
};

pub const ROUTES: [WorkRoute; 2] = [ISSUE_ROUTE, MAIL_ROUTE];

/// How often a message is received before it moves to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// Files put into the documents bucket under [`INBOX_PREFIX`] (bank statements) → S3 event
/// notification → the inbox queue (with its dead-letter queue) → the inbox worker. Not a
/// [`WorkRoute`]: S3 feeds the queue, no EventBridge rule.
pub const INBOX_QUEUE: &str = "Inbox";
pub const INBOX_PREFIX: &str = "inbox/";
pub const INBOX_FUNCTION: &str = "faktura-inbox-worker";

/// The HTTP functions' binaries and the scheduler's.
pub const WEBHOOK_FUNCTION: &str = "faktura-webhook";
pub const API_FUNCTION: &str = "faktura-api";
pub const SCHEDULER_FUNCTION: &str = "faktura-scheduler";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_kind_has_exactly_one_route() {
        for k in JobKind::ALL {
            let n = ROUTES.iter().filter(|r| r.job_kinds.contains(&k)).count();
            assert_eq!(n, 1, "{k:?}");
        }
        assert_eq!(
            MAIL_ROUTE.event_pattern(),
            serde_json::json!({"source": ["faktura"], "detail-type": ["job.deliver_document", "job.notify_owner", "job.digest_drafts"]})
        );
    }
}
