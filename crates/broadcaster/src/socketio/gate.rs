//! What stands before the Socket.IO layer: new Engine.IO sessions within their rates, and
//! requests copied out of hyper's connection buffer.

use std::sync::Arc;

use super::{CONNECT_TIMEOUT, PATH};
use crate::hub::Hub;

/// The request headers a Socket.IO connection needs: Engine.IO's (upgrade, polling body) and
/// the admission's (origin, token).
pub(super) const KEPT_HEADERS: [axum::http::HeaderName; 11] = {
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
    /// For the connections served by [`super::websocket`].
    hub: std::sync::Weak<Hub>,
}

impl Gate {
    pub(crate) fn new(hub: &Arc<Hub>) -> Arc<Self> {
        let rate = |cap: usize| {
            let cap = u32::try_from(cap.max(1)).unwrap_or(u32::MAX);
            crate::limits::Rate::new(cap, CONNECT_TIMEOUT / cap)
        };
        Arc::new(Self {
            per_address: rate(hub.config.max_connections_per_ip).limiter(),
            in_all: rate(hub.config.max_websockets).limiter(),
            hub: Arc::downgrade(hub),
        })
    }
}

/// The gate: new Engine.IO sessions within their rates (429 past them), every `/socket.io/`
/// request [compacted](compact), and WebSockets opened without a polling session served by
/// [`super::websocket`] (the rest go on to socketioxide).
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
    if super::websocket::is_direct(req.uri()) {
        return match gate.hub.upgrade() {
            Some(hub) => super::websocket::serve(hub, compact(req)).await,
            None => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        };
    }
    next.run(compact(req)).await
}

/// A `/socket.io/` request with its URI, the headers and the extensions it needs copied out of
/// the connection's read buffer: hyper's header values and URI (and axum's `OriginalUri`)
/// share that 8 KiB buffer, and Engine.IO keeps a session's request for as long as the session
/// lives, so without the copy each dashboard would hold the buffer (heaptrack: 8 KiB of the
/// 24.1 KiB per dashboard).
pub(super) fn compact<B>(req: axum::http::Request<B>) -> axum::http::Request<B> {
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
