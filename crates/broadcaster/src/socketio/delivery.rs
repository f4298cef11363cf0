//! Events to Socket.IO dashboards: the backlog replayed on connect, then the fan-out of live
//! events, and the sweep that ends connections whose token or session ended.

use std::sync::{Arc, Weak};
use std::time::Duration;

use fightwatch_protocol::ServerMessage;
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};
use tokio::sync::broadcast::error::RecvError;

use super::packet::event_name;
use super::{Dashboard, Dashboards, REPLAY_PAGE, REPLAY_STALL, SWEEP_EVERY};
use crate::hub::{Event as HubEvent, Hub};
use crate::session::{self, Admitted, Refusal, View};

/// Sends every stored event after `after` up to `position`, waiting for the client to take
/// them (the socket's queue is bounded); a client too far behind is told to reload from REST
/// instead ([`session::too_far_behind`]).
pub(super) async fn replay(
    hub: &Hub,
    dashboard: &Dashboard,
    socket: &SocketRef,
    after: u64,
    position: u64,
) -> Result<(), &'static str> {
    if let Ok(mut state) = dashboard.state.lock() {
        state.view.sent = after;
    }
    if let Some(refusal) = session::too_far_behind(hub, after, position) {
        if let Ok(mut state) = dashboard.state.lock() {
            state.view.sent = position;
        }
        return emit_message(socket, &refusal.to_message()).map_err(|_| "closed");
    }
    let mut cursor = after;
    loop {
        let page = match hub.events_after(cursor, REPLAY_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read history for a Socket.IO replay.");
                let refusal = Refusal::new("internal", "cannot read history");
                return emit_message(socket, &refusal.to_message()).map_err(|_| "closed");
            }
        };
        let Some(last) = page.last().and_then(ServerMessage::seq) else {
            return Ok(());
        };
        for msg in &page {
            let text = {
                let Ok(mut state) = dashboard.state.lock() else {
                    return Err("poisoned");
                };
                match state.view.admit(msg) {
                    None => continue,
                    Some(Admitted::AsIs(m)) => serde_json::to_string(m),
                    Some(Admitted::Narrowed(m)) => serde_json::to_string(&m),
                }
            };
            let raw = text
                .ok()
                .and_then(|t| RawValue::from_string(t).ok())
                .ok_or("unserialisable event")?;
            emit_waiting(socket, &raw).await?;
        }
        cursor = last;
    }
}

/// Emits `raw` (a message's JSON) as its event, waiting while the socket's queue is full.
pub(super) async fn emit_waiting(socket: &SocketRef, raw: &RawValue) -> Result<(), &'static str> {
    let name = event_name(raw.get()).ok_or("untyped event")?;
    let deadline = tokio::time::Instant::now() + REPLAY_STALL;
    loop {
        match socket.emit(name, raw) {
            Ok(()) => return Ok(()),
            Err(SendError::Socket(SocketError::InternalChannelFull))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                return Err("client stopped reading");
            }
            Err(_) => return Err("closed"),
        }
    }
}

/// Hands every relayed event to every dashboard, in turn.
pub(super) async fn fan_out(hub: Weak<Hub>, dashboards: Arc<Dashboards>) {
    // Not a `closing` receiver: those count the hub's connections (`sweep` sees shutdown).
    let (mut events, queue) = match hub.upgrade() {
        Some(hub) => (hub.events.subscribe(), hub.config.client_queue.max(16)),
        None => return,
    };
    loop {
        match events.recv().await {
            Ok(event) => {
                let now = fightwatch_protocol::now_ms() / 1000;
                // Named and checked once; each dashboard copies it into its own packet.
                let shared = event_raw(&event);
                for (socket, dashboard) in dashboards.all() {
                    offer(&socket, &dashboard, &event, shared, now, queue);
                }
            }
            // Every dashboard missed events: each reconnects and resumes from its last seq.
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "Socket.IO fan-out fell behind; disconnecting its dashboards so they resume."
                );
                for (socket, _) in dashboards.all() {
                    leave(&socket, "lagging", "lagging: reconnect with auth.after_seq");
                }
            }
            Err(RecvError::Closed) => break,
        }
    }
}

/// One event for one dashboard: queued while it replays (up to `queue` events), else sent if it
/// may see it.
pub(super) fn offer(
    socket: &SocketRef,
    dashboard: &Dashboard,
    event: &Arc<HubEvent>,
    shared: Option<(&str, &RawValue)>,
    now: u64,
    queue: usize,
) {
    let Ok(mut state) = dashboard.state.lock() else {
        return;
    };
    // The token's own end: no event reaches a client whose token REST would refuse.
    if state.view.claims.exp <= now {
        drop(state);
        leave(socket, "token_expired", "token expired: sign in again");
        return;
    }
    match &mut state.replaying {
        Some(waiting) if waiting.len() < queue => waiting.push_back(event.clone()),
        Some(_) => {
            drop(state);
            cut_lagging(socket, dashboard);
        }
        None => {
            if deliver(&mut state.view, socket, event, shared).is_err() {
                drop(state);
                cut_lagging(socket, dashboard);
            }
        }
    }
}

/// Sends `event` (`shared`: its name and JSON) if this view may see it; `Err` when the
/// socket's queue is full.
pub(super) fn deliver(
    view: &mut View,
    socket: &SocketRef,
    event: &HubEvent,
    shared: Option<(&str, &RawValue)>,
) -> Result<(), ()> {
    let result = match (view.admit(&event.msg), shared) {
        (None, _) => return Ok(()),
        (Some(Admitted::AsIs(_)), Some((name, raw))) => socket.emit(name, raw),
        (Some(Admitted::AsIs(msg)), None) => emit_message(socket, msg),
        (Some(Admitted::Narrowed(msg)), _) => emit_message(socket, &msg),
    };
    match result {
        Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(()),
        // Closed: its disconnect handler removes it.
        _ => Ok(()),
    }
}

/// An event's name and JSON, borrowed from the text made once for all connections.
pub(super) fn event_raw(event: &HubEvent) -> Option<(&str, &RawValue)> {
    let json: &str = event.json.as_str();
    let raw: &RawValue = serde_json::from_str(json).ok()?;
    Some((event_name(json)?, raw))
}

/// Emits `msg` as the event its `type` names.
pub(super) fn emit_message(socket: &SocketRef, msg: &ServerMessage) -> Result<(), SendError> {
    let json = serde_json::to_string(msg).unwrap_or_else(|e| {
        tracing::error!(error = %e, "Cannot serialise a message.");
        r#"{"type":"error","code":"internal","message":"internal error"}"#.into()
    });
    let name = event_name(&json).unwrap_or("error");
    match serde_json::from_str::<&RawValue>(&json) {
        Ok(raw) => socket.emit(name, raw),
        Err(e) => {
            tracing::error!(error = %e, "A message's JSON does not parse.");
            Ok(())
        }
    }
}

/// Tells the client why (an `error` event) and disconnects it.
pub(super) fn leave(socket: &SocketRef, code: &'static str, message: &str) {
    let _ = emit_message(socket, &Refusal::new(code, message).to_message());
    let _ = socket.clone().disconnect();
}

/// A dashboard that does not keep up: cut, so it reconnects and resumes from its last seq.
pub(super) fn cut_lagging(socket: &SocketRef, dashboard: &Dashboard) {
    let sent = dashboard.state.lock().map(|s| s.view.sent).unwrap_or(0);
    tracing::warn!(sid = %socket.id, sent, "Socket.IO client fell behind; disconnecting so it resumes.");
    leave(
        socket,
        "lagging",
        &format!("lagging: reconnect with auth.after_seq {sent}"),
    );
}

/// Checks token expiry where no event does, sessions on revocation, and shutdown (each
/// connection then leaves with `shutting_down`).
pub(super) async fn sweep(hub: Weak<Hub>, dashboards: Arc<Dashboards>) {
    let mut revocations = match hub.upgrade() {
        Some(hub) => hub.revocations.subscribe(),
        None => return,
    };
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        let revoked = tokio::select! {
            changed = revocations.changed() => {
                if changed.is_err() {
                    return;
                }
                true
            }
            _ = every.tick() => false,
        };
        let Some(hub) = hub.upgrade() else {
            return;
        };
        if *hub.closing.borrow() {
            for (socket, _) in dashboards.all() {
                leave(&socket, "shutting_down", "server shutting down");
            }
            continue;
        }
        let now = fightwatch_protocol::now_ms() / 1000;
        for (socket, dashboard) in dashboards.all() {
            // One that went before its disconnect handler was in place.
            if !socket.connected() {
                if let Ok(mut all) = dashboards.0.lock() {
                    all.remove(&socket.id);
                }
                continue;
            }
            let Ok(claims) = dashboard.state.lock().map(|s| s.view.claims.clone()) else {
                continue;
            };
            if claims.exp <= now {
                leave(&socket, "token_expired", "token expired: sign in again");
            } else if revoked && !hub.session_is_live(&claims).await {
                leave(&socket, "revoked", "session ended: sign in again");
            }
        }
    }
}
