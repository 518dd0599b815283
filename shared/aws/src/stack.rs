//! The event routing of the deployed stack, defined once: which domain events go through which
//! queue to which worker function.
//!
//! `infra/template.yaml` declares one EventBridge rule, one SQS queue (with a dead-letter
//! queue) and one worker function per [`WorkRoute`]; `tests/template.rs` checks the template
//! against [`ROUTES`] (patterns, queue wiring, worker binaries) and the end-to-end test builds
//! the same routes on moto from here, so the two cannot drift.

use faktura_domain::events::{EVENT_SOURCE, EventType};

/// One hop of the workflow: events of `event_types` on the bus → a queue → `worker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkRoute {
    /// Short name; the template's logical ids are derived from it (`Issue` → `IssueRule`,
    /// `IssueQueue`, `IssueDeadLetterQueue`, `IssueWorkerFunction`).
    pub name: &'static str,
    pub event_types: &'static [EventType],
    /// The worker's binary (cargo-lambda `BuildProperties.Binary`).
    pub worker: &'static str,
}

impl WorkRoute {
    /// The rule's event pattern: Faktura's source and these detail types.
    pub fn event_pattern(&self) -> serde_json::Value {
        serde_json::json!({
            "source": [EVENT_SOURCE],
            "detail-type": self.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        })
    }
}

/// `booking.received` → issue worker (numbers the invoice, renders and stores the PDF).
pub const ISSUE_ROUTE: WorkRoute = WorkRoute {
    name: "Issue",
    event_types: &[EventType::BookingReceived],
    worker: "faktura-issue-worker",
};

/// `invoice.issued` → mail worker (sends the invoice email through SES).
pub const MAIL_ROUTE: WorkRoute = WorkRoute {
    name: "Mail",
    event_types: &[EventType::InvoiceIssued],
    worker: "faktura-mail-worker",
};

pub const ROUTES: [WorkRoute; 2] = [ISSUE_ROUTE, MAIL_ROUTE];

/// How often a message is received before it moves to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// The HTTP functions' binaries and the scheduler's.
pub const WEBHOOK_FUNCTION: &str = "faktura-webhook";
pub const API_FUNCTION: &str = "faktura-api";
pub const SCHEDULER_FUNCTION: &str = "faktura-scheduler";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_a_worker_acts_on_has_exactly_one_route() {
        for t in [EventType::BookingReceived, EventType::InvoiceIssued] {
            let n = ROUTES.iter().filter(|r| r.event_types.contains(&t)).count();
            assert_eq!(n, 1, "{t:?}");
        }
        assert_eq!(
            ISSUE_ROUTE.event_pattern(),
            serde_json::json!({"source": ["faktura"], "detail-type": ["booking.received"]})
        );
    }
}
