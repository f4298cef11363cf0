//! Store calls from async code.

use std::sync::Arc;

use crate::{AlertStore, StoreError};

/// Runs a store call on tokio's blocking pool: a database round trip (SQLite's fsync, a
/// PostgreSQL query through its blocking facade) must not stall the async workers. Every async
/// caller of the store goes through here; a call the runtime dropped while shutting down is
/// [`StoreError::Cancelled`].
pub async fn on_blocking_pool<T: Send + 'static>(
    store: &Arc<dyn AlertStore>,
    f: impl FnOnce(&dyn AlertStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|_| StoreError::Cancelled)?
}
