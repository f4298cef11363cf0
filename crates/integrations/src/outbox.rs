//! What every delivery task does with the event log and its status, whatever it delivers to.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fightwatch_store::AlertStore;

use crate::TargetStatus;

/// The stored cursor named `cursor`, retried until the store answers. A new target starts at
/// the end of the log: it gets what happens from now on, not the whole history.
pub(crate) async fn start_cursor(store: &Arc<dyn AlertStore>, cursor: &str) -> u64 {
    loop {
        let name = cursor.to_string();
        let found = fightwatch_store::on_blocking_pool(store, move |s| {
            match s.integration_cursor(&name)? {
                Some(c) => Ok(c),
                None => {
                    let last = s.last_seq()?;
                    s.set_integration_cursor(&name, last)?;
                    Ok(last)
                }
            }
        })
        .await;
        match found {
            Ok(c) => return c,
            Err(e) => {
                tracing::error!(cursor, error = %e, "Cannot read an integration's cursor; retrying.");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Changes the status of target `name`.
pub(crate) fn update_status(
    statuses: &Mutex<BTreeMap<String, TargetStatus>>,
    name: &str,
    f: impl FnOnce(&mut TargetStatus),
) {
    if let Ok(mut s) = statuses.lock()
        && let Some(status) = s.get_mut(name)
    {
        f(status);
    }
}
