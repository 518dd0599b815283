//! Domain events on a custom EventBridge bus.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use faktura_domain::StoreError;
use faktura_domain::events::{DomainEvent, EVENT_SOURCE};
use faktura_domain::ports::EventPublisher;

use crate::error::unavailable;

/// The EventBridge adapter for [`EventPublisher`]: `source` = [`EVENT_SOURCE`],
/// `detail-type` = the event type (`invoice.issued`...), `detail` = the event as JSON,
/// `time` = when it occurred.
#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    /// `bus`: the custom bus's name or ARN.
    pub fn new(config: &aws_config::SdkConfig, bus: impl Into<String>) -> EventBridgePublisher {
        EventBridgePublisher {
            client: Client::new(config),
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError> {
        let detail = serde_json::to_string(event)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.event_id)))?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(event.event_type.as_str())
            .detail(detail)
            .time(DateTime::from_millis(event.occurred_at.timestamp_millis()))
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| unavailable("PutEvents", e))?;
        if out.failed_entry_count() > 0 {
            let reason = out
                .entries()
                .iter()
                .filter_map(|e| {
                    e.error_code()
                        .map(|c| format!("{c}: {}", e.error_message().unwrap_or("")))
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(StoreError::Unavailable(format!(
                "PutEvents rejected event {}: {reason}",
                event.event_id
            )));
        }
        Ok(())
    }
}
