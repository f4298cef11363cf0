//! `/socket.io/`: the seed guide's Socket.IO 4 clients (Engine.IO 4, Socket.IO protocol 5),
//! with the WebSocket protocol's checks, limits and event log.
//!
//! Two ways in, one behaviour:
//! - **A WebSocket from the start** (`?EIO=4&transport=websocket`, what clients with
//!   `transports: ["websocket"]` open): served by [`websocket`], the same task per connection
//!   as `/ws` with Socket.IO's framing ([`crate::ws::Wire::SocketIo`]), so a dashboard costs
//!   what a `/ws` one does (docs/performance.md).
//! - **HTTP long-polling, then the upgrade** (the clients' default): served by `socketioxide`
//!   (a session and its upgrade need Engine.IO's full state machine), with the fan-out task
//!   below.
//!
//! - **Admission** (a connect middleware, so a refusal is the client's `connect_error`): the
//!   `Origin` check, the token from the handshake's `auth.token` (or the console's cookie),
//!   then the same per-address and total connection counters as `/ws`.
//! - **Events** are docs/protocol.md's messages, each emitted as the event its `type` names,
//!   filtered per connection by the same [`View`] as `/ws`. One fan-out task hands every event
//!   to every dashboard in turn (as Socket.IO's own `io.emit` does): no task per dashboard,
//!   and a dashboard whose queue is full is disconnected (it reconnects with `after_seq`).
//! - **Recovery** is the event log's, not Socket.IO's in-memory one: `auth.after_seq` replays
//!   every stored event after it, once and in order, across restarts and nodes.
//! - **Client events** are the protocol's client messages, named after their `type`, with the
//!   same bodies (`join_room` / `leave_room` also take the bare room name, as the guide sends
//!   it); they run one after another per connection, and a Socket.IO acknowledgement, when the
//!   client asks for one, carries `{ok: true}` or `{ok: false, code, message}` (else a refusal
//!   comes as an `error` event).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fightwatch_protocol::{ClientMessage, ServerMessage};
use serde::Deserialize;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::Sid;

use crate::hub::{Event as HubEvent, Hub};
use crate::limits::Slot;
use crate::session::{NotAdmitted, View};

mod commands;
mod delivery;
mod gate;
pub(crate) mod packet;
mod websocket;

pub(crate) use gate::{Gate, gate};

use commands::{AckWanted, Answer, receive, run_commands};
use delivery::{cut_lagging, deliver, emit_message, event_raw, fan_out, leave, replay, sweep};

/// Where Socket.IO is served (its clients' default path).
pub(crate) const PATH: &str = "/socket.io/";
/// How long a replay waits for a client to take its queued events before giving up on it.
const REPLAY_STALL: Duration = Duration::from_secs(10);
/// Events read from the store per query while replaying.
const REPLAY_PAGE: usize = 500;
/// How long an Engine.IO session may live without joining a namespace.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often token expiry is checked for connections that receive nothing.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Engine.IO's heartbeat (Socket.IO's defaults): the server pings this often, and a client that
/// has not answered `PING_TIMEOUT` later is gone.
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(25);
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Connect attempts (`40`) a WebSocket may make before it is closed.
const CONNECT_ATTEMPTS: u32 = 3;

/// The handshake's `auth` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Handshake {
    token: Option<String>,
    after_seq: Option<u64>,
}

/// A refused handshake: its text is the client's `connect_error` message.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One connected Socket.IO dashboard.
struct Dashboard {
    state: Mutex<State>,
    /// Holds this connection's place among its address's connections.
    _slot: Option<Slot>,
    /// Counts it among the hub's connections, as `/ws` sessions are counted.
    _counted: tokio::sync::watch::Receiver<bool>,
}

struct State {
    view: View,
    /// While the connection's backlog is being replayed, live events wait here.
    replaying: Option<VecDeque<Arc<HubEvent>>>,
    /// Client messages waiting for the store, in the order they came.
    commands: VecDeque<(ClientMessage, Answer)>,
    /// Whether a task is working through `commands`.
    running: bool,
}

/// What the middleware admitted, handed to the connect handler through the socket's extensions.
#[derive(Clone)]
struct Admission(Arc<Dashboard>, Option<u64>);

/// The connected dashboards and their sockets.
#[derive(Default)]
struct Dashboards(Mutex<HashMap<Sid, (SocketRef, Arc<Dashboard>)>>);

impl Dashboards {
    fn get(&self, sid: Sid) -> Option<Arc<Dashboard>> {
        let all = self.0.lock().ok()?;
        all.get(&sid).map(|(_, d)| d.clone())
    }

    fn all(&self) -> Vec<(SocketRef, Arc<Dashboard>)> {
        self.0
            .lock()
            .map(|all| all.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// The `/socket.io/` layer over `hub`'s events. Starts its fan-out task, so call it inside a
/// tokio runtime.
pub(crate) fn layer(hub: &Arc<Hub>) -> socketioxide::layer::SocketIoLayer {
    let max = hub.config.max_message_bytes;
    let (layer, io) = SocketIo::builder()
        .req_path(PATH.trim_end_matches('/'))
        .max_payload(max as u64)
        .ws_max_message_size(max)
        .ws_max_frame_size(max)
        // A small read buffer per connection: dashboards send little (longer messages are
        // read in several pieces).
        .ws_read_buffer_size(512)
        // A dashboard may fall as far behind as a `/ws` one before it is cut.
        .max_buffer_size(hub.config.client_queue.max(16))
        // An Engine.IO session that never joins a namespace is not kept long.
        .connect_timeout(CONNECT_TIMEOUT)
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        // No client message carries binary: one attachment, within the message size, may be
        // pending briefly (the parser's defaults, 10,000 attachments and 10 MB per
        // connection, would let 10,000 dashboards hold 100 GB).
        .with_parser(
            socketioxide::ParserConfig::common()
                .max_incoming_binaries(1)
                .max_incoming_binary_buf_size(max)
                .packet_completion_timeout(Duration::from_secs(5)),
        )
        .build_layer();
    let dashboards = Arc::new(Dashboards::default());
    let admit = {
        let hub = Arc::downgrade(hub);
        move |socket: SocketRef, TryData(auth): TryData<Handshake>| {
            let hub = hub.upgrade();
            async move {
                let hub = hub.ok_or_else(|| Refused("server shutting down".into()))?;
                admit(&hub, &socket, auth.unwrap_or_default()).await
            }
        }
    };
    let connected = {
        let (hub, dashboards) = (Arc::downgrade(hub), dashboards.clone());
        move |socket: SocketRef| {
            let hub = hub.upgrade();
            let dashboards = dashboards.clone();
            async move {
                if let Some(hub) = hub {
                    connected(hub, dashboards, socket).await;
                }
            }
        }
    };
    io.ns("/", connected.with(admit));
    tokio::spawn(fan_out(Arc::downgrade(hub), dashboards.clone()));
    tokio::spawn(sweep(Arc::downgrade(hub), dashboards));
    layer
}

/// The handshake's checks ([`session::admit`], as `/ws`'s); a refusal is the client's
/// `connect_error` with the reason.
async fn check(
    hub: &Hub,
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::IpAddr>,
    token: Option<&str>,
) -> Result<(crate::auth::Claims, Option<Slot>), Refused> {
    crate::session::admit(hub, headers, peer, token)
        .await
        .map_err(|refused| {
            Refused(match refused {
                NotAdmitted::Origin => "origin not allowed".into(),
                NotAdmitted::Auth(crate::AuthError::Missing) => {
                    "no token: connect with auth: { token }".into()
                }
                NotAdmitted::Auth(other) => other.to_string(),
                NotAdmitted::Full => "too many connections".into(),
                NotAdmitted::AddressFull => "too many connections from this address".into(),
            })
        })
}

/// The connect middleware of socketioxide's sessions: [`check`], then the dashboard handed to
/// the connect handler.
async fn admit(hub: &Arc<Hub>, socket: &SocketRef, auth: Handshake) -> Result<(), Refused> {
    let parts = socket.req_parts();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let (claims, slot) = check(hub, &parts.headers, peer, auth.token.as_deref()).await?;
    let dashboard = Dashboard {
        state: Mutex::new(State {
            view: View::new(claims),
            replaying: Some(VecDeque::new()),
            commands: VecDeque::new(),
            running: false,
        }),
        _slot: slot,
        _counted: hub.closing.subscribe(),
    };
    socket
        .extensions
        .insert(Admission(Arc::new(dashboard), auth.after_seq));
    Ok(())
}

/// A connection admitted: listen to it, then welcome it, replay what it missed and let the
/// live events it waited for through.
async fn connected(hub: Arc<Hub>, dashboards: Arc<Dashboards>, socket: SocketRef) {
    // Taken out of the socket, so the socket and its dashboard do not hold each other.
    let Some(Admission(dashboard, after_seq)) = socket.extensions.remove::<Admission>() else {
        let _ = socket.disconnect();
        return;
    };
    if let Ok(mut all) = dashboards.0.lock() {
        all.insert(socket.id, (socket.clone(), dashboard.clone()));
    }
    {
        let dashboards = dashboards.clone();
        socket.on_disconnect(move |socket: SocketRef| {
            if let Ok(mut all) = dashboards.0.lock() {
                all.remove(&socket.id);
            }
            async {}
        });
    }
    {
        let hub = hub.clone();
        socket.on_fallback(
            move |socket: SocketRef,
                  Event(name): Event,
                  TryData(data): TryData<serde_json::Value>,
                  AckWanted(wanted): AckWanted,
                  ack: AckSender| {
                let answer = Answer { ack, wanted };
                let data = data.map_err(|e| e.to_string());
                let work = dashboards
                    .get(socket.id)
                    .filter(|d| receive(&hub, d, &socket, &name, data, answer));
                let hub = hub.clone();
                async move {
                    if let Some(dashboard) = work {
                        run_commands(&hub, &dashboard, &socket).await;
                    }
                }
            },
        );
    }
    let position = match hub.blocking(|s| s.last_seq()).await {
        Ok(seq) => seq,
        Err(e) => {
            // Fail closed: without the position, "everything after 0" would be a lie.
            tracing::error!(error = %e, "Cannot read the last seq; closing a Socket.IO connection.");
            leave(&socket, "store_unavailable", "store unavailable");
            return;
        }
    };
    let welcome = {
        let Ok(state) = dashboard.state.lock() else {
            return;
        };
        ServerMessage::WelcomeMessage {
            session: socket.id.to_string(),
            user: state.view.claims.sub.clone(),
            role: state.view.claims.role,
            server_version: env!("CARGO_PKG_VERSION").into(),
            last_seq: position,
        }
    };
    if emit_message(&socket, &welcome).is_err() {
        return;
    }
    let after = after_seq.unwrap_or(position);
    if let Err(why) = replay(&hub, &dashboard, &socket, after, position).await {
        tracing::debug!(sid = %socket.id, %why, "Socket.IO replay ended the connection.");
        let _ = socket.disconnect();
        return;
    }
    // Live from here: what came during the replay first (duplicates drop by seq).
    let Ok(mut state) = dashboard.state.lock() else {
        return;
    };
    let waiting = state.replaying.take().unwrap_or_default();
    for event in waiting {
        if deliver(&mut state.view, &socket, &event, event_raw(&event)).is_err() {
            drop(state);
            cut_lagging(&socket, &dashboard);
            return;
        }
    }
}
