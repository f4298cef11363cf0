//! `/socket.io/?EIO=4&transport=websocket`: a Socket.IO client on a WebSocket from the start
//! (`transports: ["websocket"]`), served without socketioxide: the Engine.IO open packet and
//! the namespace connect here, then `/ws`'s own connection task with Socket.IO's framing.
//! A dashboard costs one task and one broadcast receiver, as on `/ws`, where a socketioxide
//! session costs three tasks and a channel (docs/performance.md).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use super::packet::{self, Inbound};
use super::{CONNECT_ATTEMPTS, CONNECT_TIMEOUT, Handshake, Refused, check};
use crate::auth::Claims;
use crate::hub::Hub;
use crate::limits::Slot;
use crate::ws::{Session, Sink, Stream, Wire};

/// Whether `uri` opens a Socket.IO connection straight on a WebSocket: Engine.IO 4, the
/// `websocket` transport, no session yet (an upgrade of a polling session carries its `sid`).
pub(crate) fn is_direct(uri: &axum::http::Uri) -> bool {
    let (mut eio4, mut websocket) = (false, false);
    for pair in uri.query().unwrap_or_default().split('&') {
        match pair {
            "EIO=4" => eio4 = true,
            "transport=websocket" => websocket = true,
            sid if sid.starts_with("sid=") => return false,
            _ => {}
        }
    }
    eio4 && websocket
}

/// Upgrades, then opens the Engine.IO session and waits for the namespace connect; an admitted
/// connection runs as a [`Session`] with [`Wire::SocketIo`]. `req` should be
/// [compacted](super::gate::compact): its headers are kept until the connect.
pub(crate) async fn serve(hub: Arc<Hub>, req: axum::extract::Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = parts.headers;
    crate::ws::sized(upgrade, &hub).on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let sid = new_sid();
        let admitted = handshake(&hub, &mut sink, &mut stream, &headers, peer, &sid).await;
        drop(headers);
        let Some((claims, slot, after_seq)) = admitted else {
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, sink.send(Message::Close(None))).await;
            return;
        };
        let _slot = slot;
        Session::new(hub, claims, Wire::SocketIo)
            .serve(sink, stream, after_seq, sid)
            .await;
    })
}

/// A random session id, as Engine.IO's (20 URL-safe characters).
fn new_sid() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(20)
        .collect()
}

/// Engine.IO's open packet, then packets until a namespace connect that [`check`] admits
/// (answered `40{"sid"}`); a refused one is answered `44{"message"}` (the client's
/// `connect_error`). `None`: the client left, sent something else, took longer than
/// [`CONNECT_TIMEOUT`], or was refused [`CONNECT_ATTEMPTS`] times.
async fn handshake(
    hub: &Hub,
    sink: &mut Sink,
    stream: &mut Stream,
    headers: &axum::http::HeaderMap,
    peer: Option<IpAddr>,
    sid: &str,
) -> Option<(Claims, Option<Slot>, Option<u64>)> {
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let send = async |sink: &mut Sink, text: String| {
        tokio::time::timeout_at(deadline, sink.send(Message::text(text)))
            .await
            .ok()?
            .ok()
    };
    let engine_sid = new_sid();
    send(
        sink,
        packet::open(&engine_sid, hub.config.max_message_bytes),
    )
    .await?;
    let mut refusals = 0;
    loop {
        let text = match tokio::time::timeout_at(deadline, stream.next())
            .await
            .ok()??
        {
            Ok(Message::Text(text)) => text,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(_) | Err(_) => return None,
        };
        match packet::parse(text.as_str()) {
            Inbound::Connect(auth) => {
                let admitted = match handshake_auth(auth) {
                    Ok(auth) => check(hub, headers, peer, auth.token.as_deref())
                        .await
                        .map(|(claims, slot)| (claims, slot, auth.after_seq)),
                    Err(refused) => Err(refused),
                };
                match admitted {
                    Ok(admitted) => {
                        send(sink, packet::connected(sid)).await?;
                        return Some(admitted);
                    }
                    Err(Refused(why)) => {
                        tracing::debug!(%why, "Refused a Socket.IO connect.");
                        send(sink, packet::connect_error(&why)).await?;
                        refusals += 1;
                        if refusals >= CONNECT_ATTEMPTS {
                            return None;
                        }
                    }
                }
            }
            Inbound::Ping => send(sink, "3".into()).await?,
            Inbound::Nothing => {}
            Inbound::Close | Inbound::Event { .. } | Inbound::Binary | Inbound::Malformed(_) => {
                return None;
            }
        }
    }
}

/// The connect's `auth` object (none: the cookie may carry the token).
fn handshake_auth(auth: Option<serde_json::Value>) -> Result<Handshake, Refused> {
    match auth {
        None => Ok(Handshake::default()),
        Some(auth) => serde_json::from_value(auth).map_err(|e| {
            Refused(format!(
                "bad auth: {e} (send {{ token: string, after_seq?: number }})"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fresh_engine_io_4_websockets_are_direct() {
        let direct = |uri: &str| is_direct(&uri.parse().unwrap());
        assert!(direct("/socket.io/?EIO=4&transport=websocket"));
        assert!(direct("/socket.io/?transport=websocket&EIO=4&t=abc"));
        assert!(!direct("/socket.io/?EIO=4&transport=websocket&sid=abc"));
        assert!(!direct("/socket.io/?EIO=4&transport=polling"));
        assert!(!direct("/socket.io/?EIO=3&transport=websocket"));
        assert!(!direct("/socket.io/"));
    }
}
