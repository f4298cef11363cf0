//! `GET /ws`: one task per dashboard connection.

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
use crate::hub::Hub;
use crate::session::{self, Admitted, Refusal, View};

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
                tracing::debug!(user = %session.view.claims.sub, error = %e, "WebSocket session ended.");
            }
        }))
}

struct Session {
    hub: Arc<Hub>,
    view: View,
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

impl Session {
    fn new(hub: Arc<Hub>, claims: Claims) -> Self {
        Self {
            hub,
            view: View::new(claims),
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
        let (msg, json) = match self.view.admit(msg) {
            None => return Ok(()),
            Some(Admitted::AsIs(msg)) => (Cow::Borrowed(msg), json),
            Some(Admitted::Narrowed(n)) => (Cow::Owned(*n), None),
        };
        let text = match json {
            Some(j) => j.clone(),
            None => serde_json::to_string(&*msg)
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
    async fn still_signed_in(&self, sink: &mut Sink) -> bool {
        if self.hub.session_is_live(&self.view.claims).await {
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
            user: self.view.claims.sub.clone(),
            role: self.view.claims.role,
            server_version: env!("CARGO_PKG_VERSION").into(),
            last_seq: position,
        };
        self.send(&mut sink, &welcome).await?;
        self.view.sent = after_seq.unwrap_or(position);
        Box::pin(self.replay(&mut sink, self.view.sent, position)).await?;
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut last_heard = Instant::now();
        // The token's own end: no event reaches a client whose token REST would refuse.
        let expiry = tokio::time::sleep_until(token_end(self.view.claims.exp));
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
                        tracing::warn!(user = %self.view.claims.sub, missed = n, "Client fell behind; closing so it resumes.");
                        let frame = CloseFrame { code: CLOSE_LAGGING, reason: format!("lagging: resume after seq {}", self.view.sent).into() };
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
                            let refused = session::prepare(&self.hub, &mut self.view, Err("binary frames are not accepted: send JSON text".into()));
                            if let Err(refusal) = refused {
                                self.send(&mut sink, &refusal.to_message()).await?;
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
        let parsed = serde_json::from_str::<ClientMessage>(text).map_err(|e| e.to_string());
        let answer = match session::prepare(&self.hub, &mut self.view, parsed) {
            Ok(None) => Ok(()),
            Ok(Some(ClientMessage::Resume { after_seq })) => {
                return self.resume(sink, after_seq).await;
            }
            Ok(Some(msg)) => session::execute(&self.hub, &self.view.claims, msg).await,
            Err(refusal) => Err(refusal),
        };
        match answer {
            Ok(()) => Ok(()),
            Err(refusal) => self.send(sink, &refusal.to_message()).await,
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
}

/// Whether a read error is a message or frame over the size limit (tungstenite's "Space
/// limit exceeded: Message too long" and frame-size errors).
fn is_too_big(error: &str) -> bool {
    error.contains("Space limit exceeded")
}
