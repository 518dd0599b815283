//! Domain events over an in-process channel: the local stand-in for EventBridge.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use faktura_domain::StoreError;
use faktura_domain::events::{DomainEvent, EventType};
use faktura_domain::ports::EventPublisher;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

fn slot(t: EventType) -> usize {
    match t {
        EventType::BookingReceived => 0,
        EventType::InvoiceIssued => 1,
        EventType::InvoiceSent => 2,
    }
}

/// An [`EventPublisher`] that sends every event to one receiver. Clones publish to the same
/// receiver and share the counts.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    tx: UnboundedSender<DomainEvent>,
    counts: Arc<[AtomicUsize; 3]>,
}

impl InProcessBus {
    /// The bus and the receiving end, which the local worker loop drains.
    pub fn new() -> (InProcessBus, UnboundedReceiver<DomainEvent>) {
        let (tx, rx) = unbounded_channel();
        let bus = InProcessBus {
            tx,
            counts: Arc::new([const { AtomicUsize::new(0) }; 3]),
        };
        (bus, rx)
    }

    /// How many events of this type were published (accepted by the channel) so far.
    pub fn published(&self, event_type: EventType) -> usize {
        self.counts[slot(event_type)].load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EventPublisher for InProcessBus {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError> {
        self.tx.send(event.clone()).map_err(|_| {
            StoreError::Unavailable("the in-process event bus is closed (receiver dropped)".into())
        })?;
        self.counts[slot(event.event_type)].fetch_add(1, Ordering::SeqCst);
        tracing::debug!(event_type = event.event_type.as_str(), event_id = %event.event_id, "event published");
        Ok(())
    }
}
