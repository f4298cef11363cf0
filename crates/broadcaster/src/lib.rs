/*!
WebSocket and HTTP server of fightwatch: pushes fight alerts to every dashboard.

The last stage of the pipeline (capture → inference → alerts → **broadcaster**). The alert
stage ([`fightwatch_alerts::AlertService`]) persists every event *before* publishing it on the
event bus; a [`Hub`] relays the bus to every connection, so a dashboard that reconnects and
sends `resume { after_seq }` gets exactly what it missed from the log: in order, without gaps
or duplicates, even while new alerts arrive during the replay.

This crate serves; it does not assemble: `fightwatch-node`'s `Server` opens the store, picks
the bus, starts the alert stage, integrations and the evidence key, then builds a [`Hub`] and
[`serve`]s it. [`CameraFeeds`] holds what this node's cameras show now (thumbnails, live frames).

[`app`] builds the axum router (used by `fightwatch` and by the tests alike):

| route | what |
|---|---|
| `POST /api/login` | `{"user","password"}` → token, also set as an HttpOnly cookie |
| `GET /ws` | WebSocket: `welcome_message`, `fight_alert`, `alert_update`, …; JWT required |
| `GET /api/alerts` | history, filters `camera`, `status`, `since`, `until`, paging `before_seq`, `limit` |
| `GET /api/alerts/{id}` | one alert |
| `GET /api/alerts/{id}/snapshot.jpg` | its snapshot |
| `GET /api/alerts/{id}/heatmap.jpg` | its snapshot with the model's heat map and region |
| `POST /api/alerts/{id}/ack` | acknowledge (operator) |
| `GET /api/alerts/{id}/events` | the alert's timeline |
| `GET /api/me`, `POST /api/logout` | who is logged in; end the session (revoked server-side) |
| `GET /api/users` | user names and roles (for private messages) |
| `GET /api/rooms/{room}/messages` | chat history |
| `POST /api/detections` | an external detector's fight (detector role) |
| `GET /api/cameras` | cameras and their state |
| `GET /api/cameras/{name}/latest.jpg` | a recent thumbnail |
| `GET /metrics` | Prometheus metrics (a token that sees every camera) |
| `GET /healthz` | liveness: `{"status":"ok"}` |
| `GET /api/openapi.json` | this API as an OpenAPI 3.1 document ([`openapi`]) |
| anything else | the web console's files (`ServerConfig::static_dir`), when built |

A hub over an embedded store, served on a free loopback port:

```
use std::io::{Read, Write};
use std::sync::Arc;

use fightwatch_alerts::{AlertService, LocalBus, MediaDir};
use fightwatch_broadcaster::{Auth, Hub, ServerConfig, listen, serve};
use fightwatch_store::{AlertStore, SqliteStore};

# let rt = tokio::runtime::Runtime::new()?;
# rt.block_on(async {
let dir = tempfile::tempdir()?;
let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open(&dir.path().join("db"))?);
let bus = Arc::new(LocalBus::new(store.clone(), 1024));
let alerts = AlertService::new(store, bus, MediaDir::new(dir.path().join("media")));
let auth = Auth::new(b"a secret of at least thirty-two bytes")?;
let hub = Hub::new(alerts, auth, ServerConfig::default());
let listener = listen("127.0.0.1:0".parse()?, 64)?;
let addr = listener.local_addr()?;
let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
let server = tokio::spawn(serve(listener, hub, async { let _ = stopped.await; }));
let reply = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply)
})
.await??;
assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
let _ = stop.send(());
server.await??;
# Ok::<(), Box<dyn std::error::Error>>(())
# })?;
# Ok::<(), Box<dyn std::error::Error>>(())
```

Security (docs/security.md has the threat model and every limit): tokens are HS256 JWTs
([`Auth`]) from `Authorization: Bearer`, the `fightwatch_token` cookie or `?token=`, each tied to
a server-side session that logout, a user change or deletion revokes ([`Hub::authenticate`]);
a WebSocket is refused *before* the upgrade for a missing, expired, forged or revoked token
(401), or a browser Origin that is neither allowed nor the server's own (403); state-changing
requests need an allowed Origin and a JSON body; [`serve`] caps connections and header time;
logins are rate-limited per address and per user name, with a fixed number of password hashes
at once.
*/

mod auth;
mod extract;
mod feeds;
mod guard;
mod http;
mod hub;
mod limits;
mod live;
mod live_video;
mod media;
mod metrics;
pub mod openapi;
mod peers;
mod push;
mod relay;
mod rest;
mod rooms;
mod session;
mod socketio;
mod tune;
pub mod users;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use auth::{Auth, AuthError, Claims, Role};
pub use feeds::CameraFeeds;
pub use http::{listen, serve};
pub use hub::{Hub, HubError, ServerConfig};
pub use limits::Rate;
pub use peers::{PeerFuture, Peers};
pub use ws::{CLOSE_LAGGING, CLOSE_REVOKED};

/// Largest request body, except detections (which may carry a snapshot).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The router: WebSocket, REST and health routes over `hub`, with the cross-site checks, body
/// limits and security headers every route gets.
pub fn app(hub: Arc<Hub>) -> Router {
    let console = hub
        .config
        .static_dir
        .clone()
        .filter(|d| d.join("index.html").is_file());
    let router = routes();
    let router = match console {
        // Unknown paths get index.html: the console routes on the client side.
        Some(dir) => router.fallback_service(
            tower_http::services::ServeDir::new(&dir)
                .fallback(tower_http::services::ServeFile::new(dir.join("index.html"))),
        ),
        None => router,
    };
    // Socket.IO answers `/socket.io/` itself (no route matches it, so it wraps the fallback
    // too); everything else passes through.
    let mut router = router
        .layer(socketio::layer(&hub))
        .layer(axum::middleware::from_fn_with_state(
            socketio::Gate::new(&hub),
            socketio::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            guard::state_changes,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            hub.config.request_body_timeout,
        ));
    for (name, value) in guard::headers() {
        router = router
            .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(name, value));
    }
    router.with_state(hub)
}

fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/ws", get(ws::handler))
        .route("/api/login", post(rest::login))
        .route("/api/alerts", get(rest::alerts))
        .route("/api/alerts/{id}", get(rest::alert))
        .route("/api/alerts/{id}/snapshot.jpg", get(rest::snapshot))
        .route("/api/alerts/{id}/heatmap.jpg", get(rest::heatmap))
        .route(
            "/api/alerts/{id}/detections/{file}",
            get(rest::detection_media),
        )
        .route("/api/alerts/{id}/clip.mp4", get(media::clip))
        .route("/api/alerts/{id}/evidence.zip", get(media::evidence))
        .route("/api/alerts/{id}/ack", post(rest::ack))
        .route("/api/alerts/{id}/take", post(rest::take))
        .route("/api/alerts/{id}/assign", post(rest::assign))
        .route("/api/alerts/{id}/resolve", post(rest::resolve))
        .route("/api/alerts/{id}/events", get(rest::alert_events))
        .route("/api/me", get(rest::me))
        .route("/api/logout", post(rest::logout))
        .route("/api/users", get(rest::users))
        .route("/api/rooms/{room}/messages", get(rest::messages))
        .route(
            "/api/detections",
            post(rest::detections).layer(DefaultBodyLimit::max(
                fightwatch_alerts::detection::MAX_SNAPSHOT_BASE64_BYTES + 4096,
            )),
        )
        .route("/api/cameras", get(rest::cameras))
        .route("/api/cameras/{name}/latest.jpg", get(rest::camera_latest))
        .route("/api/cameras/{name}/live.mjpeg", get(media::live))
        .route("/api/cameras/{name}/live.ws", get(live_video::live_video))
        .route("/metrics", get(rest::prometheus))
        .route("/api/integrations", get(rest::integrations))
        .route("/api/push", get(push::info))
        .route("/api/tune", get(tune::report))
        .route("/api/tune/{file}", get(tune::plot))
        .route(
            "/api/push/subscriptions",
            post(push::subscribe).delete(push::unsubscribe),
        )
        .route("/healthz", get(rest::healthz))
        // Node to node (signed with the cluster key): what this node holds, for another's user.
        .route("/internal/media/{file}", get(peers::media))
        .route("/internal/cameras/{name}/latest.jpg", get(peers::latest))
        .route("/internal/cameras/{name}/live.mjpeg", get(peers::live))
        .route("/api/openapi.json", get(openapi::serve))
}
