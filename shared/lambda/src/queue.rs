//! Worker plumbing: an EventBridge rule puts Faktura's events on an SQS queue, and Lambda
//! hands the worker batches of those messages. Each message body is the whole EventBridge
//! event; its `detail` is the versioned [`DomainEvent`] (a `job.<kind>` hands out a job), or
//! a release-1 event still queued during an upgrade ([`Work::Release1`]).
//!
//! A message that fails is reported in `batchItemFailures` (the event source mapping has
//! `ReportBatchItemFailures`), so only it is retried; after `MAX_RECEIVES` receives it lands in
//! the dead-letter queue. Unreadable messages fail too rather than vanish: a DLQ alarm makes
//! them visible.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::events::{
    DomainEvent, EVENT_SOURCE, Release1Work, SCHEMA_VERSION, read_release1,
};
use serde::Deserialize;
use tracing::Instrument;

/// The parts of an EventBridge event a worker reads.
#[derive(Debug, Deserialize)]
pub struct DomainEventEnvelope {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: serde_json::Value,
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Event(DomainEvent),
    /// Release 1's `booking.received` / `invoice.issued`, still in a queue during an upgrade.
    Release1(Release1Work),
}

/// Reads one message body; refuses events from another source, of a newer schema version, or
/// whose `detail-type` disagrees with the detail.
pub fn parse_message(body: &str) -> Result<Work, String> {
    let envelope: DomainEventEnvelope =
        serde_json::from_str(body).map_err(|e| format!("not a Faktura event: {e}"))?;
    if envelope.source != EVENT_SOURCE {
        return Err(format!("event from source {:?}", envelope.source));
    }
    let version = envelope.detail["version"].as_u64().unwrap_or(0);
    if version > u64::from(SCHEMA_VERSION) {
        return Err(format!(
            "event schema version {version} is newer than {SCHEMA_VERSION}"
        ));
    }
    let detail_type = envelope.detail["type"].as_str().unwrap_or("");
    if envelope.detail_type != detail_type {
        return Err(format!(
            "detail-type {:?} but the event is {detail_type:?}",
            envelope.detail_type
        ));
    }
    if version == 1 {
        return read_release1(&envelope.detail).map(Work::Release1);
    }
    serde_json::from_value(envelope.detail)
        .map(Work::Event)
        .map_err(|e| format!("not a Faktura event: {e}"))
}

/// When to stop starting messages: `reserve` before the invocation's deadline (a message
/// started later could be cut off by the timeout, which would fail the whole batch).
pub fn start_no_later_than(context: &lambda_runtime::Context, reserve: Duration) -> SystemTime {
    start_by(context.deadline, SystemTime::now(), reserve)
}

/// Lambda's deadline is an instant (Unix ms). A value that lies days in the past is not one —
/// `cargo lambda watch` sends the timeout itself (600000) — and then only Lambda's 15-minute
/// maximum bounds the invocation.
fn start_by(deadline_ms: u64, now: SystemTime, reserve: Duration) -> SystemTime {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let plausible = now
        .checked_sub(Duration::from_secs(86_400))
        .is_some_and(|day_ago| deadline > day_ago);
    let deadline = if plausible {
        deadline
    } else {
        now + Duration::from_secs(15 * 60)
    };
    deadline.checked_sub(reserve).unwrap_or(UNIX_EPOCH)
}

/// Runs `handle` for each message of the batch, one after the other, and reports the ones that
/// failed; messages not started by `start_by` are reported too, untouched, for a later
/// delivery. Logs carry the message, event, tenant, booking and invoice ids only; error texts
/// only for infrastructure failures (a validation message could quote customer data).
pub async fn handle_batch<F, Fut>(
    batch: SqsEvent,
    start_by: SystemTime,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(Work) -> Fut,
    Fut: Future<Output = Result<(), AppError>>,
{
    let mut response = SqsBatchResponse::default();
    for record in batch.records {
        let message_id = record.message_id.unwrap_or_default();
        if SystemTime::now() > start_by {
            tracing::warn!(%message_id, "not started: too close to the invocation deadline");
            response.add_failure(message_id);
            continue;
        }
        let work = match record.body.as_deref().map(parse_message) {
            Some(Ok(work)) => work,
            Some(Err(reason)) => {
                tracing::error!(%message_id, %reason, "unreadable message");
                response.add_failure(message_id);
                continue;
            }
            None => {
                tracing::error!(%message_id, "message without a body");
                response.add_failure(message_id);
                continue;
            }
        };
        let span = match &work {
            Work::Event(e) => tracing::info_span!(
                "message",
                %message_id,
                event_id = %e.event_id,
                event_type = %e.event_type,
                tenant_id = %e.tenant_id,
                subject = %e.subject.id,
            ),
            Work::Release1(w) => tracing::info_span!("message", %message_id, release1 = ?w),
        };
        span.in_scope(|| tracing::info!("received"));
        let outcome = handle(work).instrument(span.clone()).await;
        let _entered = span.enter();
        match outcome {
            Ok(()) => tracing::info!("done"),
            Err(e) => {
                if matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal) {
                    tracing::error!(code = e.code, kind = ?e.kind, error = %e.message, "failed; will be retried");
                } else {
                    tracing::error!(code = e.code, kind = ?e.kind, "failed; will be retried");
                }
                response.add_failure(message_id);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;

    fn event_json(detail_type: &str, kind: &str) -> String {
        serde_json::json!({
            "version": "0", "id": "e1", "detail-type": detail_type, "source": "faktura",
            "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "eu-central-1",
            "resources": [],
            "detail": {
                "version": 2, "event_id": "ev-1", "type": kind, "tenant_id": "demo",
                "subject": {"kind": "job", "id": "job_render_document_1"}, "data": {},
                "occurred_at": "2026-11-22T10:00:00Z"
            }
        })
        .to_string()
    }

    fn release1_json(kind: &str) -> String {
        serde_json::json!({
            "version": "0", "id": "e1", "detail-type": kind, "source": "faktura",
            "detail": {
                "version": 1, "event_id": "ev-1", "type": kind, "tenant_id": "demo",
                "booking_id": "b-1", "invoice_id": "inv-1", "invoice_number": null,
                "occurred_at": "2026-11-22T10:00:00Z"
            }
        })
        .to_string()
    }

    fn message(id: &str, body: Option<String>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_string());
        m.body = body;
        m
    }

    #[test]
    fn start_by_keeps_a_reserve_before_the_deadline() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let reserve = Duration::from_secs(20);
        let deadline_ms = 1_795_000_060_000;
        assert_eq!(
            start_by(deadline_ms, now, reserve),
            now + Duration::from_secs(40)
        );
        // A relative value (an emulator's timeout) is no instant: 15 minutes minus the reserve.
        assert_eq!(
            start_by(600_000, now, reserve),
            now + Duration::from_secs(900 - 20)
        );
    }

    #[test]
    fn reads_eventbridge_envelopes_and_refuses_strangers() {
        let Work::Event(ok) =
            parse_message(&event_json("job.render_document", "job.render_document")).unwrap()
        else {
            panic!("an event")
        };
        assert_eq!(ok.subject.id.as_str(), "job_render_document_1");
        assert!(parse_message(&event_json("job.deliver_document", "job.render_document")).is_err());
        let other = event_json("job.render_document", "job.render_document")
            .replace("\"source\":\"faktura\"", "\"source\":\"aws.s3\"");
        assert!(parse_message(&other).unwrap_err().contains("source"));
        let newer = event_json("job.render_document", "job.render_document")
            .replace("\"version\":2", "\"version\":3");
        assert!(parse_message(&newer).unwrap_err().contains("version"));
        assert!(parse_message("{}").is_err());
        // Release 1's events still read, as the work they asked for.
        assert_eq!(
            parse_message(&release1_json("booking.received")).unwrap(),
            Work::Release1(Release1Work::Booking {
                tenant_id: "demo".parse().unwrap(),
                booking_id: "b-1".parse().unwrap()
            })
        );
    }

    #[tokio::test]
    async fn only_failed_messages_are_reported() {
        let mut batch = SqsEvent::default();
        batch.records = vec![
            message(
                "m1",
                Some(event_json("job.render_document", "job.render_document")),
            ),
            message("m2", Some("garbage".into())),
            message(
                "m3",
                Some(event_json("job.deliver_document", "job.deliver_document")),
            ),
            message("m4", None),
        ];
        let later = SystemTime::now() + Duration::from_secs(60);
        let response = handle_batch(batch.clone(), later, |work| async move {
            if matches!(&work, Work::Event(e) if e.event_type == "job.deliver_document") {
                Err(AppError::new(
                    ErrorKind::Unavailable,
                    "store_unavailable",
                    "down",
                ))
            } else {
                Ok(())
            }
        })
        .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m2", "m3", "m4"]);
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "m2");

        // Past the start-by instant nothing is started and everything is reported.
        let started = std::sync::atomic::AtomicUsize::new(0);
        let response = handle_batch(batch, UNIX_EPOCH, |_| {
            started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok(()) }
        })
        .await;
        assert_eq!(started.into_inner(), 0);
        assert_eq!(response.batch_item_failures.len(), 4);
    }
}
