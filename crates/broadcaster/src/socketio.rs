//! `/socket.io/`: the seed guide's Socket.IO 4 clients (Engine.IO 4, Socket.IO protocol 5,
//! WebSocket and HTTP long-polling, served by `socketioxide`), with the WebSocket protocol's
//! checks, limits and event log.
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
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use fightwatch_protocol::{ClientMessage, ServerMessage};
use serde::Deserialize;
use serde_json::value::RawValue;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts, Value};
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::broadcast::error::RecvError;

use crate::hub::{Event as HubEvent, Hub};
use crate::limits::Slot;
use crate::session::{self, Admitted, Refusal, View};

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

/// The request headers a Socket.IO connection needs: Engine.IO's (upgrade, polling body) and
/// the admission's (origin, token).
const KEPT_HEADERS: [axum::http::HeaderName; 11] = {
    use axum::http::header::*;
    [
        HOST,
        ORIGIN,
        COOKIE,
        AUTHORIZATION,
        UPGRADE,
        CONNECTION,
        SEC_WEBSOCKET_KEY,
        SEC_WEBSOCKET_VERSION,
        CONTENT_TYPE,
        CONTENT_LENGTH,
        axum::http::HeaderName::from_static("sec-fetch-site"),
    ]
};

/// What stands before the Socket.IO layer: Engine.IO sessions are made before any token is
/// seen (the token comes in the namespace connect), so new sessions are rate-limited per
/// address and in all, to what the connection caps allow per [`CONNECT_TIMEOUT`]: a client
/// cannot pile up sessions that never connect.
pub(crate) struct Gate {
    per_address: crate::limits::Keyed<std::net::IpAddr>,
    in_all: crate::limits::Keyed<()>,
}

impl Gate {
    pub(crate) fn new(hub: &Hub) -> Arc<Self> {
        let rate = |cap: usize| {
            let cap = u32::try_from(cap.max(1)).unwrap_or(u32::MAX);
            crate::limits::Rate::new(cap, CONNECT_TIMEOUT / cap)
        };
        Arc::new(Self {
            per_address: rate(hub.config.max_connections_per_ip).limiter(),
            in_all: rate(hub.config.max_websockets).limiter(),
        })
    }
}

/// The gate: new Engine.IO sessions within their rates (429 past them), and every
/// `/socket.io/` request [compacted](compact).
pub(crate) async fn gate(
    axum::extract::State(gate): axum::extract::State<Arc<Gate>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !req.uri().path().starts_with(PATH) {
        return next.run(req).await;
    }
    let opens_session = !req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("sid=")));
    if opens_session {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| crate::limits::client_key(c.0.ip()));
        let over = peer.is_some_and(|ip| crate::limits::check(&gate.per_address, &ip).is_err())
            || crate::limits::check(&gate.in_all, &()).is_err();
        if over {
            return crate::extract::ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too many new Socket.IO sessions: retry later",
            )
            .into_response();
        }
    }
    next.run(compact(req)).await
}

/// A `/socket.io/` request with its URI, the headers and the extensions it needs copied out of
/// the connection's read buffer: hyper's header values and URI (and axum's `OriginalUri`)
/// share that 8 KiB buffer, and Engine.IO keeps a session's request for as long as the session
/// lives, so without the copy each dashboard would hold the buffer (heaptrack: 8 KiB of the
/// 24.1 KiB per dashboard).
fn compact<B>(req: axum::http::Request<B>) -> axum::http::Request<B> {
    let (mut parts, body) = req.into_parts();
    let mut headers = axum::http::HeaderMap::with_capacity(KEPT_HEADERS.len());
    for name in KEPT_HEADERS {
        if let Some(value) = parts.headers.get(&name)
            && let Ok(copy) = axum::http::HeaderValue::from_bytes(value.as_bytes())
        {
            headers.insert(name, copy);
        }
    }
    parts.headers = headers;
    if let Ok(uri) = parts.uri.to_string().parse() {
        parts.uri = uri;
    }
    // Only what Engine.IO and the admission read.
    let mut extensions = axum::http::Extensions::new();
    if let Some(upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
        extensions.insert(upgrade);
    }
    if let Some(peer) = parts
        .extensions
        .remove::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        extensions.insert(peer);
    }
    parts.extensions = extensions;
    axum::http::Request::from_parts(parts, body)
}

/// The handshake's checks, in `/ws`'s order; a refusal is the client's `connect_error`.
async fn admit(hub: &Arc<Hub>, socket: &SocketRef, auth: Handshake) -> Result<(), Refused> {
    let parts = socket.req_parts();
    if let Some(origin) = crate::guard::foreign_origin(hub, &parts.headers) {
        tracing::warn!(%origin, "Refused a cross-origin Socket.IO connection.");
        return Err(Refused("origin not allowed".into()));
    }
    let claims = hub
        .authenticate(&parts.headers, auth.token.as_deref())
        .await
        .map_err(|e| match e {
            crate::AuthError::Missing => Refused("no token: connect with auth: { token }".into()),
            other => Refused(other.to_string()),
        })?;
    if hub.connections() >= hub.config.max_websockets {
        return Err(Refused("too many connections".into()));
    }
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    let slot = match peer {
        Some(axum::extract::ConnectInfo(addr)) => Some(
            hub.ws_per_ip
                .take(addr.ip())
                .ok_or_else(|| Refused("too many connections from this address".into()))?,
        ),
        None => None,
    };
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
                    .and_then(|d| receive(&hub, &d, &socket, &name, data, answer).map(|()| d));
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

/// Sends every stored event after `after` up to `position`, waiting for the client to take
/// them (the socket's queue is bounded); a client further behind than `max_resume_events` is
/// told to reload from REST instead (`resume_too_far`).
async fn replay(
    hub: &Hub,
    dashboard: &Dashboard,
    socket: &SocketRef,
    after: u64,
    position: u64,
) -> Result<(), &'static str> {
    let behind = position.saturating_sub(after);
    if let Ok(mut state) = dashboard.state.lock() {
        state.view.sent = after;
    }
    if behind > hub.config.max_resume_events {
        let refusal = Refusal::new(
            "resume_too_far",
            format!(
                "{behind} events missed, more than {} a resume replays: reload from GET /api/alerts",
                hub.config.max_resume_events
            ),
        );
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
async fn emit_waiting(socket: &SocketRef, raw: &RawValue) -> Result<(), &'static str> {
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
async fn fan_out(hub: Weak<Hub>, dashboards: Arc<Dashboards>) {
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
fn offer(
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
fn deliver(
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
fn event_raw(event: &HubEvent) -> Option<(&str, &RawValue)> {
    let json: &str = event.json.as_str();
    let raw: &RawValue = serde_json::from_str(json).ok()?;
    Some((event_name(json)?, raw))
}

/// The `type` of a message's JSON (serde writes the tag first).
fn event_name(json: &str) -> Option<&str> {
    json.strip_prefix(r#"{"type":""#)?.split('"').next()
}

/// Emits `msg` as the event its `type` names.
fn emit_message(socket: &SocketRef, msg: &ServerMessage) -> Result<(), SendError> {
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
fn leave(socket: &SocketRef, code: &'static str, message: &str) {
    let _ = emit_message(socket, &Refusal::new(code, message).to_message());
    let _ = socket.clone().disconnect();
}

/// A dashboard that does not keep up: cut, so it reconnects and resumes from its last seq.
fn cut_lagging(socket: &SocketRef, dashboard: &Dashboard) {
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
async fn sweep(hub: Weak<Hub>, dashboards: Arc<Dashboards>) {
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

/// Whether the client asked for an acknowledgement.
struct AckWanted(bool);

impl<A: socketioxide::adapter::Adapter> FromMessageParts<A> for AckWanted {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket<A>>,
        _: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(Self(ack_id.is_some()))
    }
}

/// How a client message is answered: its acknowledgement, or an `error` event on refusal.
struct Answer {
    ack: AckSender,
    wanted: bool,
}

impl Answer {
    fn give(self, socket: &SocketRef, result: Result<(), Refusal>) {
        let sent = match (&result, self.wanted) {
            (Ok(()), true) => self.ack.send(&serde_json::json!({ "ok": true })),
            (Err(r), true) => self.ack.send(&serde_json::json!({
                "ok": false, "code": r.code, "message": r.message,
            })),
            (Ok(()), false) => Ok(()),
            (Err(r), false) => emit_message(socket, &r.to_message()),
        };
        if let Err(e) = sent {
            tracing::debug!(sid = %socket.id, error = %e, "Cannot answer a Socket.IO client.");
        }
    }
}

/// A client event: parsed and prepared at once (so joins and posts keep their order); what
/// needs the store is queued. `Some` when a task must work through the queue.
fn receive(
    hub: &Hub,
    dashboard: &Dashboard,
    socket: &SocketRef,
    name: &str,
    data: Result<serde_json::Value, String>,
    answer: Answer,
) -> Option<()> {
    let msg = data.and_then(|data| client_message(name, data));
    let mut state = dashboard.state.lock().ok()?;
    if state.view.claims.exp <= fightwatch_protocol::now_ms() / 1000 {
        drop(state);
        answer.give(
            socket,
            Err(Refusal::new(
                "token_expired",
                "token expired: sign in again",
            )),
        );
        return None;
    }
    match session::prepare(hub, &mut state.view, msg) {
        Ok(None) => {
            drop(state);
            answer.give(socket, Ok(()));
            None
        }
        Ok(Some(ClientMessage::Resume { .. })) => {
            drop(state);
            answer.give(
                socket,
                Err(Refusal::new(
                    "bad_message",
                    "on Socket.IO, missed events come on reconnecting with auth.after_seq",
                )),
            );
            None
        }
        Ok(Some(msg)) => {
            state.commands.push_back((msg, answer));
            if state.running {
                return None;
            }
            state.running = true;
            Some(())
        }
        Err(refusal) => {
            drop(state);
            answer.give(socket, Err(refusal));
            None
        }
    }
}

/// Works through a dashboard's queued client messages, one at a time.
async fn run_commands(hub: &Arc<Hub>, dashboard: &Dashboard, socket: &SocketRef) {
    loop {
        let (next, claims) = {
            let Ok(mut state) = dashboard.state.lock() else {
                return;
            };
            match state.commands.pop_front() {
                Some(next) => (next, state.view.claims.clone()),
                None => {
                    state.running = false;
                    return;
                }
            }
        };
        let (msg, answer) = next;
        let result = session::execute(hub, &claims, msg).await;
        answer.give(socket, result);
    }
}

/// The protocol's client message for Socket.IO event `name` with body `data`: the body with
/// `type` added (`join_room` / `leave_room` also take the bare room name).
fn client_message(name: &str, data: serde_json::Value) -> Result<ClientMessage, String> {
    let body = match data {
        serde_json::Value::Object(mut body) => {
            body.insert("type".into(), name.into());
            serde_json::Value::Object(body)
        }
        serde_json::Value::String(room) if name == "join_room" || name == "leave_room" => {
            serde_json::json!({ "type": name, "room": room })
        }
        serde_json::Value::Null => serde_json::json!({ "type": name }),
        _ => {
            return Err(format!(
                "{name:?} takes a JSON object, as docs/protocol.md says"
            ));
        }
    };
    serde_json::from_value(body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_events_become_protocol_messages() {
        assert_eq!(
            client_message("join_room", "camera:lobby".into()),
            Ok(ClientMessage::JoinRoom {
                room: "camera:lobby".into()
            })
        );
        assert_eq!(
            client_message(
                "send_message",
                serde_json::json!({"room": "ops", "text": "hi"})
            ),
            Ok(ClientMessage::SendMessage {
                room: "ops".into(),
                text: "hi".into()
            })
        );
        // The body cannot smuggle another type in: the event name wins.
        assert!(matches!(
            client_message(
                "leave_room",
                serde_json::json!({"type": "fight_detected", "room": "ops"})
            ),
            Ok(ClientMessage::LeaveRoom { .. })
        ));
        assert!(client_message("send_message", "hi".into()).is_err());
        assert!(client_message("no_such_event", serde_json::json!({})).is_err());
        assert!(client_message("join_room", serde_json::json!([1, 2])).is_err());
    }

    #[test]
    fn event_names_come_from_the_type_tag() {
        assert_eq!(
            event_name(r#"{"type":"fight_alert","id":"a"}"#),
            Some("fight_alert")
        );
        assert_eq!(event_name(r#"{"id":"a","type":"fight_alert"}"#), None);
    }
}
