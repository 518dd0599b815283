//! Domain events over an in-process channel: the local stand-in for EventBridge.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use faktura_domain::StoreError;
use faktura_domain::events::DomainEvent;
use faktura_domain::ports::EventPublisher;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// An [`EventPublisher`] that sends every event to one receiver. Clones publish to the same
/// receiver and share the counts.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    tx: UnboundedSender<DomainEvent>,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl InProcessBus {
    /// The bus and the receiving end, which the local worker loop drains.
    pub fn new() -> (InProcessBus, UnboundedReceiver<DomainEvent>) {
        let (tx, rx) = unbounded_channel();
        let bus = InProcessBus {
            tx,
            counts: Arc::new(Mutex::new(BTreeMap::new())),
        };
        (bus, rx)
    }

    /// How many events of this type were published (accepted by the channel) so far.
    pub fn published(&self, event_type: &str) -> usize {
        self.counts
            .lock()
            .map(|c| c.get(event_type).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

#[async_trait]
impl EventPublisher for InProcessBus {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError> {
        self.tx.send(event.clone()).map_err(|_| {
            StoreError::Unavailable("the in-process event bus is closed (receiver dropped)".into())
        })?;
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(event.event_type.clone()).or_insert(0) += 1;
        }
        tracing::debug!(event_type = %event.event_type, event_id = %event.event_id, "event published");
        Ok(())
    }
}
