//! The event bus: how events leave the node that made them for every broadcaster.

use std::sync::Arc;

use fightwatch_protocol::ServerMessage;
use fightwatch_store::{AlertStore, StoreError};
use tokio::sync::broadcast;

/// What a subscriber receives: events in the order they were published.
pub type Subscription = broadcast::Receiver<Arc<ServerMessage>>;

/// Carries events from the stages that make them to the broadcasters that send them.
///
/// Persisted events (those with a `seq`) are published in `seq` order ([`crate::Journal`] makes
/// sure of it); live-only ones (`camera_status`, `metric_update`) in between. A subscriber that
/// falls behind gets `RecvError::Lagged` and catches up with [`EventBus::replay_after`], which
/// reads the durable log: the bus itself may drop, the log does not.
///
/// [`LocalBus`] is the in-process default; a multi-node deployment implements this over a
/// shared broker (docs/architecture.md).
pub trait EventBus: Send + Sync + 'static {
    /// Sends `msg` to every current subscriber. Never blocks on a slow one.
    fn publish(&self, msg: ServerMessage);
    /// Everything published from now on.
    fn subscribe(&self) -> Subscription;
    /// Persisted events after `seq`, oldest first, at most `limit` (blocks: a store read).
    fn replay_after(&self, seq: u64, limit: usize) -> Result<Vec<ServerMessage>, StoreError>;
    /// The highest seq handed to this node's subscribers, where the bus tracks it (a shared
    /// bus: how far behind the log a node is).
    fn delivered_seq(&self) -> Option<u64> {
        None
    }
    /// What a shared bus has done, for /metrics; `None` for an in-process bus.
    fn report(&self) -> Option<BusReport> {
        None
    }
}

/// A shared bus's counters ([`EventBus::report`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BusReport {
    /// Whether the broker answered the last command.
    pub connected: bool,
    /// Events waiting for the broker.
    pub backlog: u64,
    /// Events sent to the broker.
    pub published: u64,
    /// Other nodes' events received from the broker.
    pub received: u64,
    /// Persisted events delivered from the log because the broker had not brought them.
    pub swept: u64,
    /// Events dropped from a full backlog (persisted ones still arrive from the log).
    pub dropped: u64,
    /// Entries dropped because they were not authenticated as a node's.
    pub rejected: u64,
}

/// The in-process bus: a tokio broadcast channel, with the store as its log.
pub struct LocalBus {
    tx: broadcast::Sender<Arc<ServerMessage>>,
    store: Arc<dyn AlertStore>,
}

impl LocalBus {
    /// A bus that buffers up to `capacity` events per subscriber.
    pub fn new(store: Arc<dyn AlertStore>, capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity.max(16)).0,
            store,
        }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, msg: ServerMessage) {
        // No subscriber is fine: persisted events are in the log for later recovery.
        let _ = self.tx.send(Arc::new(msg));
    }

    fn subscribe(&self) -> Subscription {
        self.tx.subscribe()
    }

    fn replay_after(&self, seq: u64, limit: usize) -> Result<Vec<ServerMessage>, StoreError> {
        self.store.events_after(seq, limit)
    }
}
