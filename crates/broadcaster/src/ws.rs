//! `GET /ws`: one task per dashboard connection.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fightwatch_protocol::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Claims;
use crate::hub::Hub;

/// Close code for a client that fell too far behind; it should reconnect and `resume`.
pub const CLOSE_LAGGING: u16 = 4008;
/// Heartbeat: a ping this often, and a client silent for `IDLE` is dropped.
const PING_EVERY: Duration = Duration::from_secs(20);
const IDLE: Duration = Duration::from_secs(60);
/// Token bucket per connection: this many messages per second, bursts up to `BURST`.
const RATE_PER_S: f64 = 20.0;
const BURST: f64 = 40.0;
/// A client that takes longer than this to accept one message is cut (it can resume later).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read from the store per query while replaying.
const REPLAY_PAGE: usize = 500;

/// Query parameters of `/ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    after_seq: Option<u64>,
}

/// Whether a browser `origin` may connect: listed, or the server's own host.
fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == origin || a == "*") {
        return true;
    }
    let bare = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    host.is_some_and(|h| h == bare)
}

/// Refuses before the upgrade: cross-site origin (403), missing or bad token (401). Detectors
/// may connect to report detections but receive no events.
pub async fn handler(
    State(hub): State<Arc<Hub>>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin_allowed(origin, host, &hub.config.allowed_origins) {
            tracing::warn!(%origin, "Refused a cross-origin WebSocket.");
            return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
        }
    }
    let claims = match hub.auth.check(&headers, q.token.as_deref()) {
        Ok(c) => c,
        Err(e) => return (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    };
    // Connections per client IP (known when served with connect info, as fightwatch does).
    let slot = match peer {
        Some(axum::Extension(axum::extract::ConnectInfo(addr))) => {
            match hub.take_ip_slot(addr.ip()) {
                Some(slot) => Some(slot),
                None => {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many connections from this address",
                    )
                        .into_response();
                }
            }
        }
        None => None,
    };
    let max = hub.config.max_message_bytes;
    // Small per-connection buffers: tungstenite's default 128 KiB read buffer would cost
    // ~130 KiB per dashboard; alert messages are a few hundred bytes.
    ws.read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let mut session = Session::new(hub, claims);
            if let Err(e) = session.run(socket, q.after_seq).await {
                tracing::debug!(user = %session.claims.sub, error = %e, "WebSocket session ended.");
            }
        })
}

struct Session {
    hub: Arc<Hub>,
    claims: Claims,
    rooms: HashSet<String>,
    /// Alerts this client was sent: id → (camera, site), to route their updates.
    alerts: HashMap<String, (String, String)>,
    /// Highest seq sent: anything at or below it is never sent again.
    sent: u64,
    tokens: f64,
    refilled: Instant,
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

impl Session {
    fn new(hub: Arc<Hub>, claims: Claims) -> Self {
        Self {
            hub,
            claims,
            rooms: HashSet::new(),
            alerts: HashMap::new(),
            sent: 0,
            tokens: BURST,
            refilled: Instant::now(),
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
        let in_rooms = |rooms: &HashSet<String>, camera: &str, site: &str| {
            unfiltered(rooms)
                || rooms.contains(&format!("camera:{camera}"))
                || rooms.contains(&format!("site:{site}"))
        };
        match msg {
            ServerMessage::FightAlert(a) => {
                let ok =
                    self.claims.may_see(&a.camera) && in_rooms(&self.rooms, &a.camera, &a.site);
                if ok {
                    self.alerts
                        .insert(a.id.clone(), (a.camera.clone(), a.site.clone()));
                }
                ok
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
                self.rooms.contains(&m.room) || is_participant(&m.room, &self.claims.sub)
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
            if !self.visible(msg) {
                return Ok(());
            }
        }
        let text = match json {
            Some(j) => j.clone(),
            None => serde_json::to_string(msg)
                .unwrap_or_else(|e| {
                    format!(r#"{{"type":"error","code":"internal","message":"{e}"}}"#)
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

    /// Sends every stored event after `after`, page by page.
    async fn replay(&mut self, sink: &mut Sink, after: u64) -> Result<(), axum::Error> {
        let mut cursor = after;
        loop {
            let page = match self.hub.events_after(cursor, REPLAY_PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    return self
                        .error(sink, "internal", format!("cannot read history: {e}"))
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
            Err(e) => self.error(sink, "internal", e.to_string()).await,
        }
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.refilled).as_secs_f64() * RATE_PER_S).min(BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn run(&mut self, socket: WebSocket, after_seq: Option<u64>) -> Result<(), axum::Error> {
        // Read the position, then subscribe, then replay from the position: an event committed
        // in between is in the store (replayed) or in the subscription (live), and `sent`
        // drops the one that is in both.
        let position = match tokio::task::spawn_blocking({
            let store = self.hub.store.clone();
            move || store.last_seq()
        })
        .await
        {
            Ok(Ok(seq)) => seq,
            _ => 0,
        };
        let mut rx = self.hub.events.subscribe();
        let mut closing = self.hub.closing.subscribe();
        let (mut sink, mut stream) = socket.split();
        let session = format!("{:016x}", fastrand::u64(..));
        let welcome = ServerMessage::WelcomeMessage {
            session,
            user: self.claims.sub.clone(),
            role: self.claims.role.as_str().into(),
            server_version: env!("CARGO_PKG_VERSION").into(),
            last_seq: position,
        };
        self.send(&mut sink, &welcome).await?;
        self.sent = after_seq.unwrap_or(position);
        self.replay(&mut sink, self.sent).await?;
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
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
                        Some(Ok(Message::Text(text))) => self.on_text(&mut sink, text.as_str()).await?,
                        Some(Ok(Message::Binary(_))) => self.error(&mut sink, "bad_message", "binary frames are not accepted: send JSON text".into()).await?,
                        Some(Ok(Message::Close(_))) | None => return Ok(()),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(e),
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
                .error(
                    sink,
                    "rate_limited",
                    format!("more than {RATE_PER_S} messages per second"),
                )
                .await;
        }
        let msg: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => return self.error(sink, "bad_message", e.to_string()).await,
        };
        match msg {
            ClientMessage::JoinRoom { room } => {
                if room.starts_with("dm:") && !is_participant(&room, &self.claims.sub) {
                    // Someone else's conversation: joining would let this client read it.
                    self.error(
                        sink,
                        "forbidden",
                        format!("{room:?} is not your conversation"),
                    )
                    .await
                } else if valid_room(&room) {
                    self.rooms.insert(room);
                    Ok(())
                } else {
                    self.error(
                        sink,
                        "bad_room",
                        format!("room {room:?}: use camera:NAME, site:NAME or a chat room name"),
                    )
                    .await
                }
            }
            ClientMessage::LeaveRoom { room } => {
                self.rooms.remove(&room);
                Ok(())
            }
            ClientMessage::Resume { after_seq } => self.replay(sink, after_seq).await,
            ClientMessage::SendMessage { room, text } => {
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
            ClientMessage::PrivateMessage { to, text } => {
                if !self.claims.role.can_view() || !valid_room(&to) {
                    return self
                        .error(
                            sink,
                            "bad_message",
                            "private messages go to a user name".into(),
                        )
                        .await;
                }
                let room = fightwatch_protocol::private_room(&self.claims.sub, &to);
                self.chat(sink, &room, &text).await
            }
            ClientMessage::FightDetected(detection) => {
                if !matches!(self.claims.role, crate::Role::Detector | crate::Role::Admin) {
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
                    Err(crate::hub::DetectionError::Invalid(m)) => {
                        self.error(sink, "bad_detection", m).await
                    }
                    Err(e) => self.error(sink, "internal", e.to_string()).await,
                }
            }
            ClientMessage::AckAlert { id, note } => {
                if !self.claims.role.can_ack() {
                    return self
                        .error(
                            sink,
                            "forbidden",
                            "acknowledging needs the operator role".into(),
                        )
                        .await;
                }
                match self
                    .hub
                    .update_alert(&id, None, None, Some((self.claims.sub.clone(), note)))
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => self.error(sink, "ack_failed", e.to_string()).await,
                }
            }
        }
    }
}

/// Whether joining `room` narrows the alert feed.
fn is_feed_room(room: &str) -> bool {
    room.starts_with("camera:") || room.starts_with("site:")
}

/// Whether `user` is one of the two people of a `dm:A:B` room.
fn is_participant(room: &str, user: &str) -> bool {
    room.strip_prefix("dm:")
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(a, b)| a == user || b == user)
}

fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= 128
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let allowed = vec!["https://console.example".to_string()];
        assert!(origin_allowed("https://console.example", None, &allowed));
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &allowed
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080"),
            &allowed
        ));
    }

    #[test]
    fn rooms() {
        assert!(valid_room("camera:lobby-1") && valid_room("site:hq") && valid_room("ops"));
        assert!(!valid_room("") && !valid_room("a b") && !valid_room(&"x".repeat(200)));
    }
}
