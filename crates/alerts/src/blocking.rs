use std::sync::Arc;

use fightwatch_store::{AlertStore, StoreError};

use crate::AlertError;

/// Runs a store call on tokio's blocking pool: a database round trip must not stall the async
/// workers. Every async caller of the store goes through here.
pub async fn blocking<T: Send + 'static>(
    store: &Arc<dyn AlertStore>,
    f: impl FnOnce(&dyn AlertStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AlertError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|_| AlertError::Cancelled)?
        .map_err(AlertError::from)
}
