/*!
WebSocket and HTTP server of fightwatch: pushes fight alerts to every dashboard.

The last stage of the pipeline (capture → inference → alerts → **broadcaster**). A [`Hub`]
persists every event in the [`fightwatch_store::Store`] *before* broadcasting it, so a
dashboard that reconnects and sends `resume { after_seq }` gets exactly what it missed: in
order, without gaps or duplicates, even while new alerts arrive during the replay.

[`app`] builds the axum router (used by `fightwatch` and by the tests alike):

| route | what |
|---|---|
| `POST /api/login` | `{"user","password"}` → token, also set as an HttpOnly cookie |
| `GET /ws` | WebSocket: `welcome_message`, `fight_alert`, `alert_update`, …; JWT required |
| `GET /api/alerts` | history, filters `camera`, `status`, `since`, `until`, paging `before_seq`, `limit` |
| `GET /api/alerts/{id}` | one alert |
| `GET /api/alerts/{id}/snapshot.jpg` | its snapshot |
| `POST /api/alerts/{id}/ack` | acknowledge (operator) |
| `GET /api/alerts/{id}/events` | the alert's timeline |
| `GET /api/me`, `POST /api/logout` | who is logged in; clear the login cookie |
| `GET /api/users` | user names and roles (for private messages) |
| `GET /api/rooms/{room}/messages` | chat history |
| `POST /api/detections` | an external detector's fight (detector role) |
| `GET /api/cameras` | cameras and their state |
| `GET /api/cameras/{name}/latest.jpg` | a recent thumbnail |
| `GET /metrics` | Prometheus metrics |
| `GET /healthz` | liveness and the last event's seq |
| anything else | the web console's files (`ServerConfig::static_dir`), when built |

Security: tokens are HS256 JWTs ([`Auth`]) from `Authorization: Bearer`, the `fightwatch_token`
cookie or `?token=`; a WebSocket is refused *before* the upgrade for a missing, expired or forged
token (401), a role that may not watch (403), or a browser Origin that is neither allowed nor the
server's own (403, cross-site WebSocket hijacking).
*/

mod auth;
mod hub;
mod rest;
pub mod users;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use auth::{Auth, AuthError, Claims, Role};
pub use hub::{DetectionError, Hub, HubError, ServerConfig};
pub use ws::CLOSE_LAGGING;

/// Serves `hub` on `listener` until `shutdown` completes, with client addresses known (for
/// the per-IP connection cap).
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Arc<Hub>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(hub).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The router: WebSocket, REST and health routes over `hub`.
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
    router.with_state(hub)
}

fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/ws", get(ws::handler))
        .route("/api/login", post(rest::login))
        .route("/api/alerts", get(rest::alerts))
        .route("/api/alerts/{id}", get(rest::alert))
        .route("/api/alerts/{id}/snapshot.jpg", get(rest::snapshot))
        .route("/api/alerts/{id}/ack", post(rest::ack))
        .route("/api/alerts/{id}/events", get(rest::alert_events))
        .route("/api/me", get(rest::me))
        .route("/api/logout", post(rest::logout))
        .route("/api/users", get(rest::users))
        .route("/api/rooms/{room}/messages", get(rest::messages))
        .route("/api/detections", post(rest::detections))
        .route("/api/cameras", get(rest::cameras))
        .route("/api/cameras/{name}/latest.jpg", get(rest::camera_latest))
        .route("/metrics", get(rest::prometheus))
        .route("/healthz", get(rest::healthz))
}
