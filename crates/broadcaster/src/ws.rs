//! `GET /ws`: one task per dashboard connection.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::rooms::is_feed_room;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fightwatch_protocol::{AlertUpdate, ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Claims;
use crate::extract::ApiError;
use crate::hub::Hub;

/// Close code for a client that fell too far behind; it should reconnect and `resume`.
pub const CLOSE_LAGGING: u16 = 4008;
/// Close code for a connection whose session ended (logout, user changed or deleted): sign in
/// again.
pub const CLOSE_REVOKED: u16 = 4001;
/// Close code for a message over the size limit (RFC 6455).
const CLOSE_TOO_BIG: u16 = 1009;
/// Heartbeat: a ping this often, and a client silent for `IDLE` is dropped.
const PING_EVERY: Duration = Duration::from_secs(20);
const IDLE: Duration = Duration::from_secs(60);
/// A client that takes longer than this to accept one message is cut (it can resume later).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read from the store per query while replaying.
const REPLAY_PAGE: usize = 500;

/// The instant a token that expires at `exp` (seconds since the epoch) ends.
pub(crate) fn token_end(exp: u64) -> tokio::time::Instant {
    let expires = std::time::UNIX_EPOCH + Duration::from_secs(exp);
    tokio::time::Instant::now()
        + expires
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
}

/// Query parameters of `/ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    after_seq: Option<u64>,
}

/// Refuses before the upgrade: cross-site origin (403), missing, bad or revoked token (401),
/// too many sockets from the address (429) or in all (503). Detectors may connect to report
/// detections but receive no events.
pub async fn handler(
    State(hub): State<Arc<Hub>>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if let Some(origin) = crate::guard::foreign_origin(&hub, &headers) {
        tracing::warn!(%origin, "Refused a cross-origin WebSocket.");
        return Err(ApiError::forbidden("origin not allowed"));
    }
    let claims = hub
        .authenticate(&headers, q.token.as_deref())
        .await
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    if hub.connections() >= hub.config.max_websockets {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections",
        ));
    }
    // Connections per client address (known when served by `crate::serve`).
    let slot = match peer {
        Some(axum::Extension(axum::extract::ConnectInfo(addr))) => {
            Some(hub.ws_per_ip.take(addr.ip()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many connections from this address",
                )
            })?)
        }
        None => None,
    };
    let max = hub.config.max_message_bytes;
    // Small per-connection buffers: tungstenite's default 128 KiB read buffer would cost
    // ~130 KiB per dashboard; what dashboards send is a few hundred bytes (longer messages are
    // read in several pieces). The write buffer is a threshold, not an allocation.
    Ok(ws
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let mut session = Session::new(hub, claims);
            if let Err(e) = session.run(socket, q.after_seq).await {
                tracing::debug!(user = %session.claims.sub, error = %e, "WebSocket session ended.");
            }
        }))
}

/// Alerts a connection remembers for routing updates that do not name their camera (stored by
/// older versions); an update of an older alert then reaches unrestricted clients only.
const ROUTED_ALERTS: usize = 1024;

struct Session {
    hub: Arc<Hub>,
    claims: Claims,
    rooms: HashSet<String>,
    /// The newest alerts this client was sent: id → (camera, site), to route their updates
    /// (at most [`ROUTED_ALERTS`]: a console open for weeks must not grow without bound).
    alerts: HashMap<String, (String, String)>,
    /// `alerts`' ids, oldest first.
    alert_order: VecDeque<String>,
    /// Highest seq sent: anything at or below it is never sent again.
    sent: u64,
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

impl Session {
    fn new(hub: Arc<Hub>, claims: Claims) -> Self {
        Self {
            hub,
            claims,
            rooms: HashSet::new(),
            alerts: HashMap::new(),
            alert_order: VecDeque::new(),
            sent: 0,
        }
    }

    fn visible(&mut self, msg: &ServerMessage) -> bool {
        if !self.claims.role.can_view() {
            return matches!(
                msg,
                ServerMessage::Error { .. } | ServerMessage::WelcomeMessage { .. }
            );
        }
        // Only `camera:` and `site:` rooms narrow the feed; chat rooms do not.
        let unfiltered = |rooms: &HashSet<String>| !rooms.iter().any(|r| is_feed_room(r));
        // Compared in place: no string is built per event and connection.
        let in_rooms = |rooms: &HashSet<String>, camera: &str, site: &str| {
            unfiltered(rooms)
                || rooms.iter().any(|r| {
                    r.strip_prefix("camera:") == Some(camera)
                        || r.strip_prefix("site:") == Some(site)
                })
        };
        match msg {
            ServerMessage::FightAlert(a) => {
                let ok =
                    self.claims.may_see(&a.camera) && in_rooms(&self.rooms, &a.camera, &a.site);
                if ok
                    && self
                        .alerts
                        .insert(a.id.clone(), (a.camera.clone(), a.site.clone()))
                        .is_none()
                {
                    self.alert_order.push_back(a.id.clone());
                    if self.alert_order.len() > ROUTED_ALERTS
                        && let Some(old) = self.alert_order.pop_front()
                    {
                        self.alerts.remove(&old);
                    }
                }
                ok
            }
            ServerMessage::AlertEscalated(e) => {
                self.claims.may_see(&e.camera) && in_rooms(&self.rooms, &e.camera, &e.site)
            }
            ServerMessage::AlertUpdate(u) if !u.camera.is_empty() => {
                self.claims.may_see(&u.camera) && in_rooms(&self.rooms, &u.camera, &u.site)
            }
            // Updates stored before they named their camera: route by the alert when this
            // connection saw it, else only to unrestricted, unfiltered clients.
            ServerMessage::AlertUpdate(u) => match self.alerts.get(&u.id) {
                Some((camera, site)) => {
                    self.claims.may_see(camera) && in_rooms(&self.rooms, camera, site)
                }
                None => self.claims.cameras.is_none() && unfiltered(&self.rooms),
            },
            ServerMessage::CameraStatus(c) => self.claims.may_see(&c.camera),
            ServerMessage::ReceiveMessage(m) => {
                crate::rooms::reaches(&self.rooms, &self.claims.sub, &m.room)
            }
            _ => true,
        }
    }

    async fn send(&mut self, sink: &mut Sink, msg: &ServerMessage) -> Result<(), axum::Error> {
        self.send_with(sink, msg, None).await
    }

    /// Sends `msg`, using `json` when it was serialised already.
    async fn send_with(
        &mut self,
        sink: &mut Sink,
        msg: &ServerMessage,
        json: Option<&axum::extract::ws::Utf8Bytes>,
    ) -> Result<(), axum::Error> {
        if let Some(seq) = msg.seq() {
            if seq <= self.sent {
                return Ok(());
            }
            self.sent = seq;
        }
        // Live-only messages (camera_status, metric_update) are filtered too: a restricted
        // user learns nothing of other cameras, a detector nothing at all.
        if !self.visible(msg) {
            return Ok(());
        }
        // A camera-restricted user's metrics name only its cameras.
        let narrowed = match (msg, &self.claims.cameras) {
            (ServerMessage::MetricUpdate(m), Some(_)) => {
                let mut m = m.clone();
                m.cameras.retain(|c| self.claims.may_see(&c.camera));
                Some(ServerMessage::MetricUpdate(m))
            }
            _ => None,
        };
        let (msg, json) = match &narrowed {
            Some(n) => (n, None),
            None => (msg, json),
        };
        let text = match json {
            Some(j) => j.clone(),
            None => serde_json::to_string(msg)
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "Cannot serialise a message.");
                    r#"{"type":"error","code":"internal","message":"internal error"}"#.into()
                })
                .into(),
        };
        match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text))).await {
            Ok(result) => result,
            Err(_) => Err(axum::Error::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "client stopped reading",
            ))),
        }
    }

    async fn error(
        &mut self,
        sink: &mut Sink,
        code: &str,
        message: String,
    ) -> Result<(), axum::Error> {
        self.send(
            sink,
            &ServerMessage::Error {
                code: code.into(),
                message,
            },
        )
        .await
    }

    /// Sends every stored event after `after`, page by page; a client further behind than
    /// `max_resume_events` is told to reload from REST instead (`resume_too_far`), so one
    /// resume cannot make the server read the whole log.
    async fn replay(
        &mut self,
        sink: &mut Sink,
        after: u64,
        position: u64,
    ) -> Result<(), axum::Error> {
        let behind = position.saturating_sub(after);
        if behind > self.hub.config.max_resume_events {
            self.sent = self.sent.max(position);
            return self
                .error(
                    sink,
                    "resume_too_far",
                    format!(
                        "{behind} events missed, more than {} a resume replays: reload from GET /api/alerts",
                        self.hub.config.max_resume_events
                    ),
                )
                .await;
        }
        let mut cursor = after;
        loop {
            let page = match self.hub.events_after(cursor, REPLAY_PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "Cannot read history for a replay.");
                    return self
                        .error(sink, "internal", "cannot read history".into())
                        .await;
                }
            };
            let Some(last) = page.last().and_then(ServerMessage::seq) else {
                return Ok(());
            };
            self.sent = self.sent.min(cursor);
            for msg in &page {
                self.send(sink, msg).await?;
            }
            cursor = last;
        }
    }

    async fn chat(&mut self, sink: &mut Sink, room: &str, text: &str) -> Result<(), axum::Error> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 2000 {
            return self
                .error(
                    sink,
                    "bad_message",
                    "a message is 1 to 2,000 characters".into(),
                )
                .await;
        }
        match self
            .hub
            .post_message(room, &self.claims.sub.clone(), text)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "Storing a chat message failed.");
                self.error(sink, "internal", "internal error".into()).await
            }
        }
    }

    /// Counts a message against the user's rate (over all of its connections, so reconnecting
    /// does not refill it).
    fn take_token(&self) -> bool {
        crate::limits::check(&self.hub.messages, &self.claims.sub).is_ok()
    }

    /// Whether this connection's session is still good; closes it (`CLOSE_REVOKED`) if not.
    async fn still_signed_in(&self, sink: &mut Sink) -> bool {
        if self.hub.session_is_live(&self.claims).await {
            return true;
        }
        let frame = CloseFrame {
            code: CLOSE_REVOKED,
            reason: "session ended: sign in again".into(),
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
        false
    }

    async fn run(&mut self, socket: WebSocket, after_seq: Option<u64>) -> Result<(), axum::Error> {
        // Subscribe, then read the position, then replay up to it: an event committed before
        // the position is replayed (when the client asked for it), one committed after arrives
        // live, and `sent` drops the one that is both (the relay may deliver an event committed
        // before the position after the subscription began).
        let (mut sink, mut stream) = socket.split();
        let mut rx = self.hub.events.subscribe();
        // Fail closed: without the position, "everything after 0" would be a lie.
        let position = match Box::pin(self.hub.blocking(|s| s.last_seq())).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read the last seq; closing.");
                let frame = CloseFrame {
                    code: 1011,
                    reason: "store unavailable".into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return Ok(());
            }
        };
        let mut closing = self.hub.closing.subscribe();
        let mut revocations = self.hub.revocations.subscribe();
        let session = format!("{:016x}", fastrand::u64(..));
        let welcome = ServerMessage::WelcomeMessage {
            session,
            user: self.claims.sub.clone(),
            role: self.claims.role,
            server_version: env!("CARGO_PKG_VERSION").into(),
            last_seq: position,
        };
        self.send(&mut sink, &welcome).await?;
        self.sent = after_seq.unwrap_or(position);
        Box::pin(self.replay(&mut sink, self.sent, position)).await?;
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut last_heard = Instant::now();
        // The token's own end: no event reaches a client whose token REST would refuse.
        let expiry = tokio::time::sleep_until(token_end(self.claims.exp));
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                () = &mut expiry => {
                    let frame = CloseFrame { code: CLOSE_REVOKED, reason: "token expired: sign in again".into() };
                    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                    return Ok(());
                }
                event = rx.recv() => match event {
                    Ok(event) => self.send_with(&mut sink, &event.msg, Some(&event.json)).await?,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(user = %self.claims.sub, missed = n, "Client fell behind; closing so it resumes.");
                        let frame = CloseFrame { code: CLOSE_LAGGING, reason: format!("lagging: resume after seq {}", self.sent).into() };
                        let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                        // Read until the client answers the close (or briefly): closing a socket
                        // with unread input makes the kernel reset it, and the client would lose
                        // the messages still in flight, the close frame among them.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = stream.next().await {} }).await;
                        return Ok(());
                    }
                    Err(RecvError::Closed) => {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "server shutting down".into() }))).await;
                        return Ok(());
                    }
                },
                incoming = stream.next() => {
                    last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => Box::pin(self.on_text(&mut sink, text.as_str())).await?,
                        Some(Ok(Message::Binary(_))) => {
                            if self.take_token() {
                                self.error(&mut sink, "bad_message", "binary frames are not accepted: send JSON text".into()).await?;
                            } else {
                                self.error(&mut sink, "rate_limited", "too many messages".into()).await?;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => return Ok(()),
                        Some(Ok(_)) => {}
                        Some(Err(e)) if is_too_big(e.to_string().as_str()) => {
                            let frame = CloseFrame { code: CLOSE_TOO_BIG, reason: format!("message over {} bytes", self.hub.config.max_message_bytes).into() };
                            let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                            return Ok(());
                        }
                        Some(Err(e)) => return Err(e),
                    }
                }
                Ok(()) = revocations.changed() => {
                    if !Box::pin(self.still_signed_in(&mut sink)).await {
                        return Ok(());
                    }
                }
                _ = closing.changed() => {
                    let frame = CloseFrame { code: 1001, reason: "server shutting down".into() };
                    let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(Some(frame)))).await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > IDLE {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "idle".into() }))).await;
                        return Ok(());
                    }
                    sink.send(Message::Ping(Vec::new().into())).await?;
                }
            }
        }
    }

    async fn on_text(&mut self, sink: &mut Sink, text: &str) -> Result<(), axum::Error> {
        if !self.take_token() {
            return self
                .error(sink, "rate_limited", "too many messages: slow down".into())
                .await;
        }
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => return self.error(sink, "bad_message", e.to_string()).await,
        };
        match msg {
            ClientMessage::JoinRoom { room } => self.join_room(sink, room).await,
            ClientMessage::LeaveRoom { room } => {
                self.rooms.remove(&room);
                Ok(())
            }
            ClientMessage::Resume { after_seq } => self.resume(sink, after_seq).await,
            ClientMessage::SendMessage { room, text } => self.send_message(sink, room, text).await,
            ClientMessage::PrivateMessage { to, text } => {
                self.private_message(sink, to, text).await
            }
            ClientMessage::FightDetected(detection) => self.fight_detected(sink, detection).await,
            ClientMessage::AckAlert { id, note } => {
                let claims = self.claims.clone();
                let hub = self.hub.clone();
                self.workflow(sink, hub.acknowledge(&claims, &id, note))
                    .await
            }
            ClientMessage::TakeAlert { id } => {
                let claims = self.claims.clone();
                let hub = self.hub.clone();
                self.workflow(sink, hub.assign(&claims, &id, None)).await
            }
            ClientMessage::AssignAlert { id, to } => {
                let claims = self.claims.clone();
                let hub = self.hub.clone();
                self.workflow(sink, hub.assign(&claims, &id, Some(&to)))
                    .await
            }
            ClientMessage::ResolveAlert {
                id,
                outcome,
                reason,
                note,
            } => {
                let claims = self.claims.clone();
                let hub = self.hub.clone();
                self.workflow(sink, hub.resolve(&claims, &id, outcome, reason, note))
                    .await
            }
        }
    }

    /// `join_room`: a room this user may use, within the per-connection limit.
    async fn join_room(&mut self, sink: &mut Sink, room: String) -> Result<(), axum::Error> {
        match crate::rooms::may_use(&self.hub, &self.claims, &room) {
            Ok(()) if self.rooms.contains(&room) => Ok(()),
            Ok(()) if self.rooms.len() >= self.hub.config.max_rooms_per_connection => {
                self.error(
                    sink,
                    "too_many_rooms",
                    format!(
                        "a connection joins at most {} rooms",
                        self.hub.config.max_rooms_per_connection
                    ),
                )
                .await
            }
            Ok(()) => {
                self.rooms.insert(room);
                Ok(())
            }
            // A room of a camera or site this user may not see, or someone else's
            // conversation: joining would let this client read it.
            Err(crate::rooms::RoomRefusal::Forbidden) => {
                self.error(sink, "forbidden", format!("{room:?} is not your room"))
                    .await
            }
            Err(crate::rooms::RoomRefusal::Malformed) => {
                self.error(
                    sink,
                    "bad_room",
                    "a room is camera:NAME, site:NAME, chat:SITE or a chat room name \
                     (letters, digits, - _ : ., up to 128)"
                        .into(),
                )
                .await
            }
        }
    }

    /// `resume`: what this client missed after `after_seq`, up to now.
    async fn resume(&mut self, sink: &mut Sink, after_seq: u64) -> Result<(), axum::Error> {
        let position = match Box::pin(self.hub.blocking(|s| s.last_seq())).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read the last seq.");
                return self.error(sink, "internal", "internal error".into()).await;
            }
        };
        self.replay(sink, after_seq, position).await
    }

    /// `send_message` to a room this client joined (viewers and up).
    async fn send_message(
        &mut self,
        sink: &mut Sink,
        room: String,
        text: String,
    ) -> Result<(), axum::Error> {
        if !self.claims.role.can_view() {
            return self
                .error(sink, "forbidden", "detectors cannot chat".into())
                .await;
        }
        if !self.rooms.contains(&room) {
            return self
                .error(
                    sink,
                    "bad_room",
                    format!("join {room:?} before posting to it"),
                )
                .await;
        }
        self.chat(sink, &room, &text).await
    }

    /// `private_message` to an existing user, in the pair's `dm:` room.
    async fn private_message(
        &mut self,
        sink: &mut Sink,
        to: String,
        text: String,
    ) -> Result<(), axum::Error> {
        if !self.claims.role.can_view() || !crate::users::valid_user_name(&to) {
            return self
                .error(
                    sink,
                    "bad_message",
                    "private messages go to a user name".into(),
                )
                .await;
        }
        let name = to.clone();
        match self.hub.blocking(move |s| s.user(&name)).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return self
                    .error(sink, "bad_message", format!("no user {to:?}"))
                    .await;
            }
            Err(e) => {
                tracing::error!(error = %e, "Cannot look a user up.");
                return self.error(sink, "internal", "internal error".into()).await;
            }
        }
        let room = fightwatch_protocol::private_room(&self.claims.sub, &to);
        self.chat(sink, &room, &text).await
    }

    /// `fight_detected` from a detector client: stored (grouped) and published like the
    /// pipeline's.
    async fn fight_detected(
        &mut self,
        sink: &mut Sink,
        detection: fightwatch_protocol::Detection,
    ) -> Result<(), axum::Error> {
        if !self.claims.role.can_detect() {
            return self
                .error(
                    sink,
                    "forbidden",
                    "fight_detected needs the detector role".into(),
                )
                .await;
        }
        match self
            .hub
            .detection(detection, &self.claims.sub.clone())
            .await
        {
            Ok(_) => Ok(()),
            Err(crate::HubError::Alerts(fightwatch_alerts::AlertError::Invalid(m))) => {
                self.error(sink, "bad_detection", m).await
            }
            Err(crate::HubError::Limited { message, .. }) => {
                self.error(sink, "rate_limited", message).await
            }
            Err(e) => {
                tracing::error!(error = %e, "Storing a detection failed.");
                self.error(sink, "internal", "internal error".into()).await
            }
        }
    }

    /// Runs a workflow change (acknowledge, take, assign, resolve) for an operator, answering
    /// its failure as an `error` message. The change itself reaches the client as its
    /// `alert_update` event.
    async fn workflow(
        &mut self,
        sink: &mut Sink,
        change: impl std::future::Future<Output = Result<AlertUpdate, crate::HubError>>,
    ) -> Result<(), axum::Error> {
        if !self.claims.role.can_ack() {
            return self
                .error(
                    sink,
                    "forbidden",
                    "the alert workflow needs the operator role".into(),
                )
                .await;
        }
        match change.await {
            Ok(_) => Ok(()),
            // Hidden and unknown alerts get the same answer: ids cannot be probed.
            Err(crate::HubError::Alerts(e)) if e.is_no_such_alert() => {
                self.error(sink, "not_found", "no such alert".into()).await
            }
            Err(crate::HubError::Alerts(fightwatch_alerts::AlertError::Invalid(m))) => {
                self.error(sink, "bad_message", m).await
            }
            Err(crate::HubError::Alerts(e)) if e.conflict().is_some() => {
                let why = e.conflict().unwrap_or_default().to_string();
                self.error(sink, "conflict", why).await
            }
            Err(e) => {
                tracing::error!(error = %e, "An alert workflow change failed.");
                self.error(sink, "internal", "internal error".into()).await
            }
        }
    }
}

/// Whether a read error is a message or frame over the size limit (tungstenite's "Space
/// limit exceeded: Message too long" and frame-size errors).
fn is_too_big(error: &str) -> bool {
    error.contains("Space limit exceeded")
}
