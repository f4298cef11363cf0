//! Persist, then publish, in order.

use std::sync::Arc;

use fightwatch_protocol::ServerMessage;
use fightwatch_store::{AlertStore, StoreError};

use crate::{AlertError, EventBus, blocking};

/// Writes events to the store and publishes them on the bus, one at a time: the lock is held
/// from the write to the publish, so events reach the bus in `seq` order. (A broadcaster drops
/// any event at or below the last seq it sent, so an event overtaken by a later one would be
/// lost to its dashboards.)
pub struct Journal {
    store: Arc<dyn AlertStore>,
    bus: Arc<dyn EventBus>,
    order: tokio::sync::Mutex<()>,
}

impl Journal {
    /// A journal writing to `store` and publishing on `bus`.
    pub fn new(store: Arc<dyn AlertStore>, bus: Arc<dyn EventBus>) -> Self {
        Self {
            store,
            bus,
            order: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs `write` (on the blocking pool), then publishes the event `event` makes of its
    /// result; returns the result.
    pub async fn record<T: Clone + Send + 'static>(
        &self,
        write: impl FnOnce(&dyn AlertStore) -> Result<T, StoreError> + Send + 'static,
        event: impl FnOnce(T) -> ServerMessage,
    ) -> Result<T, AlertError> {
        let _order = self.order.lock().await;
        let written = blocking(&self.store, write).await?;
        self.bus.publish(event(written.clone()));
        Ok(written)
    }

    /// Publishes a live-only message (not stored, no seq).
    pub fn announce(&self, msg: ServerMessage) {
        self.bus.publish(msg);
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn AlertStore> {
        &self.store
    }

    /// The bus.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }
}
