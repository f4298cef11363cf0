use std::sync::Arc;

use fightwatch_store::{AlertStore, StoreError, on_blocking_pool};

use crate::AlertError;

/// [`on_blocking_pool`] with the alert stage's error type.
pub async fn blocking<T: Send + 'static>(
    store: &Arc<dyn AlertStore>,
    f: impl FnOnce(&dyn AlertStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AlertError> {
    Ok(on_blocking_pool(store, f).await?)
}
