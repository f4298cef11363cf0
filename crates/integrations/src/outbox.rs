//! What every delivery task does with the event log and its status, whatever it delivers to.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fightwatch_protocol::ServerMessage;
use fightwatch_store::AlertStore;

use crate::TargetStatus;
use crate::deliver::BusEvents;

/// Events read from the log at once.
pub(crate) const BATCH: usize = 100;
/// Longest wait for news when the bus is quiet (or there is none).
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// What an outbox task delivers to, event by event (a webhook, Web Push).
pub(crate) trait Target {
    /// Its cursor's name in the store, also its name in logs.
    fn cursor_name(&self) -> &str;
    /// Whether it wants this event (the cursor moves past the others all the same).
    fn takes(&self, event: &ServerMessage) -> bool;
    /// Delivers one event, retrying as it sees fit; it returns when the event is done with.
    async fn deliver(&mut self, seq: u64, event: &ServerMessage);
    /// Records that the cursor is at `seq` (its status).
    fn at(&self, seq: u64);
}

/// Delivers the event log to `target` from its stored cursor, for ever: each event after the
/// cursor that the target takes, in order, then the cursor past it (stored after each event,
/// best effort: a failed write only means a repeat after a restart, which idempotency keys
/// absorb). It waits for news on `bus` when the log is read to its end.
pub(crate) async fn run_outbox(
    target: &mut impl Target,
    store: &Arc<dyn AlertStore>,
    bus: &mut Option<BusEvents>,
) {
    let name = target.cursor_name().to_string();
    let mut cursor = start_cursor(store, &name).await;
    target.at(cursor);
    loop {
        let events =
            match fightwatch_store::on_blocking_pool(store, move |s| s.events_after(cursor, BATCH))
                .await
            {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(target = %name, error = %e, "Reading the event log failed.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
        if events.is_empty() {
            crate::deliver::wait_for_events(bus, POLL).await;
            continue;
        }
        for event in events {
            let Some(seq) = event.seq() else { continue };
            if target.takes(&event) {
                target.deliver(seq, &event).await;
            }
            cursor = seq;
            let n = name.clone();
            if let Err(e) = fightwatch_store::on_blocking_pool(store, move |s| {
                s.set_integration_cursor(&n, seq)
            })
            .await
            {
                tracing::warn!(target = %name, error = %e, "Could not store the cursor.");
            }
            target.at(seq);
        }
    }
}

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
