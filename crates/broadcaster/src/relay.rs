//! The relay: one task per hub that reads the event bus and hands every event, serialised
//! once, to the connections. It also keeps what the routes show (camera states, the last
//! metrics, each camera's site) from what passes by, so every node knows every camera.

use std::sync::{Arc, Weak};
use std::time::Duration;

use fightwatch_alerts::Subscription;
use fightwatch_protocol::ServerMessage;
use tokio::sync::broadcast::error::RecvError;

use crate::hub::{Event, Hub};

/// Events fetched from the log per page when the relay fell behind the bus.
const CATCH_UP_PAGE: usize = 500;

/// How often the relay looks at the log's end for events no bus brings: those another process
/// wrote (`fightwatch export` or `fightwatch user` on the command line, beside a running node
/// on the same database). They reach dashboards within this.
const LOG_POLL: Duration = Duration::from_secs(1);

/// Relays until the bus closes or the hub is dropped.
pub(crate) async fn run(hub: Weak<Hub>, mut bus: Subscription) {
    // The highest seq relayed: a persisted event at or below it is never relayed again. It
    // starts at the log's end, so that even the first event is checked for a gap (on a shared
    // bus this node's own next event can arrive before another node's earlier one).
    let mut relayed = match hub.upgrade() {
        Some(hub) => hub.blocking(|s| s.last_seq()).await.unwrap_or(0),
        None => return,
    };
    let mut poll = tokio::time::interval(LOG_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let received = tokio::select! {
            biased;
            received = bus.recv() => received,
            _ = poll.tick() => {
                let Some(hub) = hub.upgrade() else { return };
                // An event this node committed but has not published yet is relayed from the
                // log too; the bus's copy then comes at or below `relayed` and is skipped.
                if hub.blocking(|s| s.last_seq()).await.is_ok_and(|last| last > relayed) {
                    catch_up(&hub, &mut relayed).await;
                }
                continue;
            }
        };
        let msg = match received {
            Ok(msg) => msg,
            Err(RecvError::Lagged(missed)) => {
                let Some(hub) = hub.upgrade() else { return };
                tracing::warn!(
                    missed,
                    "The relay fell behind the event bus; catching up from the log."
                );
                catch_up(&hub, &mut relayed).await;
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(hub) = hub.upgrade() else { return };
        if let Some(seq) = msg.seq() {
            if seq <= relayed {
                continue;
            }
            // A gap: an event committed before this one has not come by (on a shared bus,
            // another node's event can arrive after a later one, or be lost with its node).
            // The log has it (persist before publish): relay both from there, in order.
            if seq > relayed + 1 {
                catch_up(&hub, &mut relayed).await;
                if seq <= relayed {
                    continue;
                }
                // Still ahead of the log after reading it to its end: no node logged this
                // (persist before publish), so it is not relayed and moves nothing; relaying
                // it would also hide every real event up to its seq.
                tracing::warn!(
                    seq,
                    logged = relayed,
                    "An event beyond the log's end was dropped."
                );
                continue;
            }
            relayed = seq;
        }
        fan_out(&hub, (*msg).clone());
    }
}

/// Relays the persisted events after `relayed` from the log (live-only ones missed while
/// behind are gone: the next ones replace them).
async fn catch_up(hub: &Hub, relayed: &mut u64) {
    loop {
        match hub.events_after(*relayed, CATCH_UP_PAGE).await {
            Ok(page) if page.is_empty() => return,
            Ok(page) => {
                for msg in page {
                    if let Some(seq) = msg.seq() {
                        *relayed = (*relayed).max(seq);
                    }
                    fan_out(hub, msg);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "The relay cannot read the event log.");
                return;
            }
        }
    }
}

fn fan_out(hub: &Hub, mut msg: ServerMessage) {
    match &mut msg {
        ServerMessage::CameraStatus(state) => {
            hub.note_site(&state.camera, &state.site, true);
            if let Ok(mut cams) = hub.cameras.lock()
                && (cams.len() < 100_000 || cams.contains_key(&state.camera))
            {
                cams.insert(state.camera.clone(), state.clone());
            }
        }
        ServerMessage::FightAlert(alert) => hub.note_site(&alert.camera, &alert.site, false),
        ServerMessage::MetricUpdate(metrics) => {
            // Each dashboard sees the count of its own node's connections.
            metrics.clients = hub.connections();
            // /metrics reports this node's process and cameras, not another node's.
            if metrics.node == hub.config.node
                && let Ok(mut last) = hub.last_metrics.lock()
            {
                *last = Some(metrics.clone());
            }
        }
        _ => {}
    }
    // No connection is fine: persisted events are in the log for later recovery.
    let _ = hub.events.send(Arc::new(Event::new(msg)));
}
