//! `GET /ws`: one task per dashboard connection. The same task serves `/socket.io/`'s
//! WebSocket transport ([`Wire::SocketIo`]): only the framing differs.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fightwatch_protocol::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Claims;
use crate::extract::ApiError;
use crate::hub::{Event, Hub};
use crate::session::{self, Admitted, NotAdmitted, Refusal, View};
use crate::socketio::packet::{self, Inbound};

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
/// Close code for a server going away (RFC 6455).
const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a server that cannot go on (RFC 6455).
const CLOSE_INTERNAL: u16 = 1011;
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
    let peer = peer.map(|axum::Extension(axum::extract::ConnectInfo(addr))| addr.ip());
    let (claims, slot) = session::admit(&hub, &headers, peer, q.token.as_deref())
        .await
        .map_err(|refused| match refused {
            NotAdmitted::Origin => ApiError::forbidden("origin not allowed"),
            NotAdmitted::Auth(e) => ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()),
            NotAdmitted::Full => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "too many connections")
            }
            NotAdmitted::AddressFull => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address",
            ),
        })?;
    Ok(sized(ws, &hub).on_upgrade(move |socket| async move {
        let _slot = slot;
        let (sink, stream) = socket.split();
        let id = format!("{:016x}", fastrand::u64(..));
        Session::new(hub, claims, Wire::Json)
            .serve(sink, stream, q.after_seq, id)
            .await;
    }))
}

/// A dashboard's WebSocket buffers and limits (`/ws` and Socket.IO's WebSocket transport):
/// small buffers, as tungstenite's default 128 KiB read buffer would cost ~130 KiB per
/// dashboard and what dashboards send is a few hundred bytes (longer messages are read in
/// several pieces; the write buffer is a threshold, not an allocation); messages and frames
/// within `max_message_bytes`.
pub(crate) fn sized(upgrade: WebSocketUpgrade, hub: &Hub) -> WebSocketUpgrade {
    let max = hub.config.max_message_bytes;
    upgrade
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
}

/// How a connection's messages are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// docs/protocol.md's JSON messages, one per text frame (`/ws`).
    Json,
    /// The same messages as Socket.IO events over Engine.IO (`/socket.io/`'s WebSocket
    /// transport): `42["fight_alert",{…}]`, acknowledgements, Engine.IO's heartbeat.
    SocketIo,
}

impl Wire {
    /// How often the server pings, and how long a silent client is kept.
    fn heartbeat(self) -> (Duration, Duration) {
        match self {
            Wire::Json => (PING_EVERY, IDLE),
            Wire::SocketIo => (
                crate::socketio::PING_INTERVAL,
                crate::socketio::PING_INTERVAL + crate::socketio::PING_TIMEOUT,
            ),
        }
    }
}

/// One dashboard connection.
pub(crate) struct Session {
    hub: Arc<Hub>,
    view: View,
    wire: Wire,
}

pub(crate) type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
pub(crate) type Stream = futures_util::stream::SplitStream<WebSocket>;

/// Why the server ends a connection: the WebSocket close code, and the `error` code and text a
/// Socket.IO client gets before its disconnect.
struct Leave {
    close: u16,
    code: &'static str,
    reason: String,
}

impl Leave {
    fn new(close: u16, code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            close,
            code,
            reason: reason.into(),
        }
    }
}

impl Session {
    pub(crate) fn new(hub: Arc<Hub>, claims: Claims, wire: Wire) -> Self {
        Self {
            hub,
            view: View::new(claims),
            wire,
        }
    }

    /// Runs the connection until it ends; `id` is the session named in `welcome_message`.
    pub(crate) async fn serve(
        mut self,
        sink: Sink,
        stream: Stream,
        after_seq: Option<u64>,
        id: String,
    ) {
        if let Err(e) = self.run(sink, stream, after_seq, id).await {
            tracing::debug!(user = %self.view.claims.sub, wire = ?self.wire, error = %e, "WebSocket session ended.");
        }
    }

    /// Writes one frame, giving up on a client that does not take it in time.
    async fn write(&self, sink: &mut Sink, msg: Message) -> Result<(), axum::Error> {
        match tokio::time::timeout(SEND_TIMEOUT, sink.send(msg)).await {
            Ok(result) => result,
            Err(_) => Err(axum::Error::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "client stopped reading",
            ))),
        }
    }

    /// Tells the client why and closes: a close frame with the code on `/ws`; an `error` event,
    /// Socket.IO's disconnect and a normal close on Socket.IO.
    async fn leave(&mut self, sink: &mut Sink, why: Leave) {
        let frame = match self.wire {
            Wire::Json => CloseFrame {
                code: why.close,
                reason: why.reason.into(),
            },
            Wire::SocketIo => {
                let _ = self
                    .send(sink, &Refusal::new(why.code, why.reason).to_message())
                    .await;
                let _ = self.write(sink, Message::text(packet::DISCONNECT)).await;
                CloseFrame {
                    code: 1000,
                    reason: "".into(),
                }
            }
        };
        let _ = self.write(sink, Message::Close(Some(frame))).await;
    }

    async fn send(&mut self, sink: &mut Sink, msg: &ServerMessage) -> Result<(), axum::Error> {
        self.send_with(sink, msg, None).await
    }

    /// Sends `msg` if this view may see it, framed once for all connections when `shared` (its
    /// event) is given and the view sends it as it is.
    async fn send_with(
        &mut self,
        sink: &mut Sink,
        msg: &ServerMessage,
        shared: Option<&Event>,
    ) -> Result<(), axum::Error> {
        let (msg, shared) = match self.view.admit(msg) {
            None => return Ok(()),
            Some(Admitted::AsIs(msg)) => (Cow::Borrowed(msg), shared),
            Some(Admitted::Narrowed(n)) => (Cow::Owned(*n), None),
        };
        let framed = shared.and_then(|event| match self.wire {
            Wire::Json => Some(event.json.clone()),
            Wire::SocketIo => event.socketio().cloned(),
        });
        let text = match framed {
            Some(text) => text,
            None => {
                let json = serde_json::to_string(&*msg).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "Cannot serialise a message.");
                    r#"{"type":"error","code":"internal","message":"internal error"}"#.into()
                });
                match self.wire {
                    Wire::Json => json.into(),
                    Wire::SocketIo => packet::event(&json).unwrap_or_default().into(),
                }
            }
        };
        self.write(sink, Message::Text(text)).await
    }

    async fn error(
        &mut self,
        sink: &mut Sink,
        code: &'static str,
        message: String,
    ) -> Result<(), axum::Error> {
        self.send(sink, &Refusal::new(code, message).to_message())
            .await
    }

    /// Sends every stored event after `after`, page by page; a client too far behind is told
    /// to reload from REST instead ([`session::too_far_behind`]).
    async fn replay(
        &mut self,
        sink: &mut Sink,
        after: u64,
        position: u64,
    ) -> Result<(), axum::Error> {
        if let Some(refusal) = session::too_far_behind(&self.hub, after, position) {
            self.view.sent = self.view.sent.max(position);
            return self.send(sink, &refusal.to_message()).await;
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
            self.view.sent = self.view.sent.min(cursor);
            for msg in &page {
                self.send(sink, msg).await?;
            }
            cursor = last;
        }
    }

    /// Whether this connection's session is still good; closes it (`CLOSE_REVOKED`) if not.
    async fn still_signed_in(&mut self, sink: &mut Sink) -> bool {
        if self.hub.session_is_live(&self.view.claims).await {
            return true;
        }
        let why = Leave::new(CLOSE_REVOKED, "revoked", "session ended: sign in again");
        self.leave(sink, why).await;
        false
    }

    async fn run(
        &mut self,
        mut sink: Sink,
        mut stream: Stream,
        after_seq: Option<u64>,
        id: String,
    ) -> Result<(), axum::Error> {
        // Subscribe, then read the position, then replay up to it: an event committed before
        // the position is replayed (when the client asked for it), one committed after arrives
        // live, and `sent` drops the one that is both (the relay may deliver an event committed
        // before the position after the subscription began).
        let mut rx = self.hub.events.subscribe();
        // Fail closed: without the position, "everything after 0" would be a lie.
        let position = match Box::pin(self.hub.blocking(|s| s.last_seq())).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read the last seq; closing.");
                let why = Leave::new(CLOSE_INTERNAL, "store_unavailable", "store unavailable");
                self.leave(&mut sink, why).await;
                return Ok(());
            }
        };
        let mut closing = self.hub.closing.subscribe();
        let mut revocations = self.hub.revocations.subscribe();
        let welcome = ServerMessage::WelcomeMessage {
            session: id,
            user: self.view.claims.sub.clone(),
            role: self.view.claims.role,
            server_version: env!("CARGO_PKG_VERSION").into(),
            last_seq: position,
        };
        self.send(&mut sink, &welcome).await?;
        self.view.sent = after_seq.unwrap_or(position);
        Box::pin(self.replay(&mut sink, self.view.sent, position)).await?;
        let (ping_every, idle) = self.wire.heartbeat();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let mut last_heard = Instant::now();
        // The token's own end: no event reaches a client whose token REST would refuse.
        let expiry = tokio::time::sleep_until(token_end(self.view.claims.exp));
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                () = &mut expiry => {
                    let why = Leave::new(CLOSE_REVOKED, "token_expired", "token expired: sign in again");
                    self.leave(&mut sink, why).await;
                    return Ok(());
                }
                event = rx.recv() => match event {
                    Ok(event) => self.send_with(&mut sink, &event.msg, Some(&event)).await?,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(user = %self.view.claims.sub, missed = n, "Client fell behind; closing so it resumes.");
                        let reason = match self.wire {
                            Wire::Json => format!("lagging: resume after seq {}", self.view.sent),
                            Wire::SocketIo => format!("lagging: reconnect with auth.after_seq {}", self.view.sent),
                        };
                        self.leave(&mut sink, Leave::new(CLOSE_LAGGING, "lagging", reason)).await;
                        // Read until the client answers the close (or briefly): closing a socket
                        // with unread input makes the kernel reset it, and the client would lose
                        // the messages still in flight, the close frame among them.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = stream.next().await {} }).await;
                        return Ok(());
                    }
                    Err(RecvError::Closed) => {
                        self.leave(&mut sink, Leave::new(CLOSE_GOING_AWAY, "shutting_down", "server shutting down")).await;
                        return Ok(());
                    }
                },
                incoming = stream.next() => {
                    last_heard = Instant::now();
                    let go_on = match incoming {
                        Some(Ok(Message::Text(text))) => match self.wire {
                            Wire::Json => Box::pin(self.on_text(&mut sink, text.as_str())).await?,
                            Wire::SocketIo => Box::pin(self.on_packet(&mut sink, text.as_str())).await?,
                        },
                        Some(Ok(Message::Binary(_))) => Box::pin(self.on_binary(&mut sink)).await?,
                        Some(Ok(Message::Close(_))) | None => false,
                        Some(Ok(_)) => true,
                        Some(Err(e)) if is_too_big(e.to_string().as_str()) => {
                            let reason = format!("message over {} bytes", self.hub.config.max_message_bytes);
                            self.leave(&mut sink, Leave::new(CLOSE_TOO_BIG, "too_big", reason)).await;
                            false
                        }
                        Some(Err(e)) => return Err(e),
                    };
                    if !go_on {
                        return Ok(());
                    }
                }
                Ok(()) = revocations.changed() => {
                    if !Box::pin(self.still_signed_in(&mut sink)).await {
                        return Ok(());
                    }
                }
                _ = closing.changed() => {
                    let why = Leave::new(CLOSE_GOING_AWAY, "shutting_down", "server shutting down");
                    let _ = tokio::time::timeout(Duration::from_secs(2), self.leave(&mut sink, why)).await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        self.leave(&mut sink, Leave::new(CLOSE_GOING_AWAY, "idle", "idle")).await;
                        return Ok(());
                    }
                    let ping = match self.wire {
                        Wire::Json => Message::Ping(Vec::new().into()),
                        Wire::SocketIo => Message::text(packet::PING),
                    };
                    self.write(&mut sink, ping).await?;
                }
            }
        }
    }

    /// A `/ws` message. False when the connection should end.
    async fn on_text(&mut self, sink: &mut Sink, text: &str) -> Result<bool, axum::Error> {
        let parsed = serde_json::from_str::<ClientMessage>(text).map_err(|e| e.to_string());
        if let Some(refusal) = self.command(sink, parsed).await? {
            self.send(sink, &refusal.to_message()).await?;
        }
        Ok(true)
    }

    /// An Engine.IO / Socket.IO packet. False when the connection should end.
    async fn on_packet(&mut self, sink: &mut Sink, text: &str) -> Result<bool, axum::Error> {
        let (ack, parsed) = match packet::parse(text) {
            Inbound::Event { ack, name, data } => (ack, packet::client_message(&name, data)),
            Inbound::Ping => {
                self.write(sink, Message::text("3")).await?;
                return Ok(true);
            }
            Inbound::Nothing | Inbound::Connect(_) => return Ok(true),
            Inbound::Close => return Ok(false),
            Inbound::Binary => return self.on_binary(sink).await,
            Inbound::Malformed(why) => {
                self.leave(sink, Leave::new(1002, "bad_message", why)).await;
                return Ok(false);
            }
        };
        let refusal = self.command(sink, parsed).await?;
        match (ack, refusal) {
            (Some(id), refusal) => {
                let answer = packet::ack(id, &packet::answer(refusal.as_ref()));
                self.write(sink, Message::text(answer)).await?;
            }
            (None, Some(r)) => self.send(sink, &r.to_message()).await?,
            (None, None) => {}
        }
        Ok(true)
    }

    /// A binary frame: refused on `/ws`; on Socket.IO (whose binary frames are a binary
    /// event's attachments, which no client message has) the connection ends.
    async fn on_binary(&mut self, sink: &mut Sink) -> Result<bool, axum::Error> {
        let why = "binary frames are not accepted: send JSON text";
        match self.wire {
            Wire::Json => {
                let refused = session::prepare(&self.hub, &mut self.view, Err(why.into()));
                if let Err(refusal) = refused {
                    self.send(sink, &refusal.to_message()).await?;
                }
                Ok(true)
            }
            Wire::SocketIo => {
                self.leave(sink, Leave::new(1003, "bad_message", why)).await;
                Ok(false)
            }
        }
    }

    /// Runs one client message through the session core; the refusal, if it was refused.
    async fn command(
        &mut self,
        sink: &mut Sink,
        parsed: Result<ClientMessage, String>,
    ) -> Result<Option<Refusal>, axum::Error> {
        let answer = match session::prepare(&self.hub, &mut self.view, parsed) {
            Ok(None) => Ok(()),
            Ok(Some(ClientMessage::Resume { after_seq })) if self.wire == Wire::Json => {
                self.resume(sink, after_seq).await?;
                Ok(())
            }
            Ok(Some(ClientMessage::Resume { .. })) => Err(packet::resume_refused()),
            Ok(Some(msg)) => session::execute(&self.hub, &self.view.claims, msg).await,
            Err(refusal) => Err(refusal),
        };
        Ok(answer.err())
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
}

/// Whether a read error is a message or frame over the size limit (tungstenite's "Space
/// limit exceeded: Message too long" and frame-size errors).
fn is_too_big(error: &str) -> bool {
    error.contains("Space limit exceeded")
}
