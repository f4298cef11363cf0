//! REST routes: alert history, snapshots, acknowledgement, health.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fightwatch_protocol::AlertStatus;
use fightwatch_store::AlertFilter;
use serde::Deserialize;

use crate::auth::Claims;
use crate::hub::{Hub, HubError};

/// A request's claims, or 401 (no token, a bad one, or one whose session ended).
async fn claims_of(
    hub: &Hub,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<Claims, ApiError> {
    hub.authenticate(headers, token)
        .await
        .map_err(|e| ApiError(StatusCode::UNAUTHORIZED, e.to_string()))
}

/// A request's claims when its role may view alerts, cameras and chat: 401 without a valid
/// token, 403 for a role that only ingests (detectors).
async fn viewer_of(
    hub: &Hub,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<Claims, ApiError> {
    let claims = claims_of(hub, headers, token).await?;
    if claims.role.can_view() {
        Ok(claims)
    } else {
        Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("the {} role may not view this", claims.role.as_str()),
        ))
    }
}

/// Runs a store query on the blocking pool (SQLite must not stall the async workers).
async fn query<T: Send + 'static>(
    hub: &Hub,
    f: impl FnOnce(&fightwatch_store::Store) -> Result<T, fightwatch_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = hub.store().clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(result) => result.map_err(|e| ApiError::from(HubError::from(e))),
        Err(_) => Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down".into(),
        )),
    }
}

/// Maps internal errors to responses in one place; details go to the log, not the browser.
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.0, Json(serde_json::json!({"error": self.1}))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::Store(fightwatch_store::StoreError::NoSuchAlert(_)) => {
                Self(StatusCode::NOT_FOUND, "no such alert".into())
            }
            HubError::Invalid(message) => Self(StatusCode::BAD_REQUEST, message),
            other => {
                tracing::error!(error = %other, "Request failed.");
                Self(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AlertsQuery {
    token: Option<String>,
    camera: Option<String>,
    status: Option<String>,
    since: Option<u64>,
    until: Option<u64>,
    before_seq: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/alerts?camera=&status=&since=&until=&before_seq=&limit=`, newest first.
pub(crate) async fn alerts(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, ApiError> {
    let claims = viewer_of(&hub, &headers, q.token.as_deref()).await?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(AlertStatus::parse(s).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("status {s:?}: use active, ended or acknowledged"),
            )
        })?),
    };
    let filter = AlertFilter {
        camera: q.camera,
        status,
        since: q.since,
        until: q.until,
        before_seq: q.before_seq,
        limit: q.limit.unwrap_or(50),
    };
    let list = query(&hub, move |s| s.alerts(&filter)).await?;
    let visible: Vec<_> = list
        .into_iter()
        .filter(|a| claims.may_see(&a.camera))
        .collect();
    Ok(Json(visible).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

async fn visible_alert(
    hub: &Hub,
    headers: &HeaderMap,
    token: Option<&str>,
    id: String,
) -> Result<fightwatch_store::AlertRecord, ApiError> {
    let claims = viewer_of(hub, headers, token).await?;
    match query(hub, move |s| s.alert(&id)).await? {
        Some(a) if claims.may_see(&a.camera) => Ok(a),
        _ => Err(ApiError(StatusCode::NOT_FOUND, "no such alert".into())),
    }
}

/// `GET /api/alerts/{id}`.
pub(crate) async fn alert(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    match visible_alert(&hub, &headers, q.token.as_deref(), id).await {
        Ok(a) => Json(a).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/alerts/{id}/events`: the alert's timeline, `[{"at": ms, "event": {...}}]`, oldest
/// first (raised, peak updates, ended, acknowledged).
pub(crate) async fn alert_events(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let alert = visible_alert(&hub, &headers, q.token.as_deref(), id).await?;
    let events = query(&hub, move |s| s.alert_events(&alert.id)).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|(at, event)| serde_json::json!({"at": at, "event": event}))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// `GET /api/me`: who the request's token belongs to (the console asks on load: its cookie is
/// HttpOnly, so only the server can read it).
pub(crate) async fn me(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    match claims_of(&hub, &headers, q.token.as_deref()).await {
        Ok(c) => Json(serde_json::json!({
            "user": c.sub,
            "role": c.role.as_str(),
            "cameras": c.cameras,
            "expires_at": c.exp * 1000,
        }))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/logout`: ends the request's session server-side (its token stops working on
/// every route, and its open WebSockets close) and clears the login cookie.
pub(crate) async fn logout(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    if let Ok(claims) = hub.auth.check(&headers, q.token.as_deref()) {
        hub.revoke_session(&claims.jti).await?;
    }
    Ok((
        [(header::SET_COOKIE, login_cookie(&hub, "", 0))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// The login cookie: HttpOnly (no script reads it), SameSite=Strict, `Secure` when configured.
fn login_cookie(hub: &Hub, token: &str, max_age_s: u64) -> String {
    let secure = if hub.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "fightwatch_token={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}"
    )
}

/// `GET /api/users`: names and roles of the people who can chat (for private messages).
pub(crate) async fn users(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    viewer_of(&hub, &headers, q.token.as_deref()).await?;
    let list = query(&hub, |s| s.user_names()).await?;
    Ok(Json(
        list.into_iter()
            .filter(|(_, role)| role != "detector")
            .map(|(name, role)| serde_json::json!({"name": name, "role": role}))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// `GET /api/alerts/{id}/snapshot.jpg`.
pub(crate) async fn snapshot(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let alert = match visible_alert(&hub, &headers, q.token.as_deref(), id).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let Some(name) = alert.snapshot else {
        return ApiError(StatusCode::NOT_FOUND, "alert has no snapshot".into()).into_response();
    };
    match tokio::fs::read(hub.config.snapshot_dir.join(&name)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError(
            StatusCode::NOT_FOUND,
            "snapshot file is gone (retention)".into(),
        )
        .into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckBody {
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/alerts/{id}/ack` with `{"note": "..."}` (operators).
pub(crate) async fn ack(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    body: Option<Json<AckBody>>,
) -> Response {
    let claims = match claims_of(&hub, &headers, q.token.as_deref()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if !claims.role.can_ack() {
        return ApiError(
            StatusCode::FORBIDDEN,
            "acknowledging needs the operator role".into(),
        )
        .into_response();
    }
    let note = body.and_then(|b| b.0.note);
    match hub.acknowledge(&claims, &id, note).await {
        Ok(update) => Json(update).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET /healthz`: `{"status":"ok"}` while the store answers (no token needed, so it says
/// nothing more).
pub(crate) async fn healthz(State(hub): State<Arc<Hub>>) -> Response {
    match hub.blocking(|s| s.last_seq()).await {
        Ok(_) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable"})),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessagesQuery {
    token: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/rooms/{room}/messages?limit=100`: chat history, oldest first.
pub(crate) async fn messages(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(room): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<Response, ApiError> {
    let claims = viewer_of(&hub, &headers, q.token.as_deref()).await?;
    match crate::rooms::may_use(&hub, &claims, &room) {
        Ok(()) => {}
        Err(crate::rooms::RoomRefusal::Malformed) => {
            return Err(ApiError(StatusCode::BAD_REQUEST, "not a room name".into()));
        }
        Err(crate::rooms::RoomRefusal::Forbidden) => {
            return Err(ApiError(StatusCode::FORBIDDEN, "not your room".into()));
        }
    }
    let limit = q.limit.unwrap_or(100).min(1000);
    let list = query(&hub, move |s| s.messages(&room, limit)).await?;
    Ok(Json(list).into_response())
}

/// `POST /api/detections` with a `Detection` body (detector or admin role).
pub(crate) async fn detections(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    body: Result<Json<fightwatch_protocol::Detection>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let claims = match claims_of(&hub, &headers, q.token.as_deref()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if !matches!(claims.role, crate::Role::Detector | crate::Role::Admin) {
        return ApiError(
            StatusCode::FORBIDDEN,
            "detections need the detector role".into(),
        )
        .into_response();
    }
    let Json(detection) = match body {
        Ok(b) => b,
        Err(e) => return body_rejected(&e),
    };
    match hub.detection(detection, &claims.sub).await {
        Ok(alert) => (StatusCode::CREATED, Json(alert)).into_response(),
        Err(crate::hub::DetectionError::Invalid(m)) => {
            ApiError(StatusCode::BAD_REQUEST, m).into_response()
        }
        Err(crate::hub::DetectionError::Hub(e)) => ApiError::from(e).into_response(),
    }
}

/// A JSON body that could not be read: 413 when it is too large, else 400.
fn body_rejected(e: &axum::extract::rejection::JsonRejection) -> Response {
    let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError(status, e.body_text()).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    user: String,
    password: String,
}

/// How long a console login lasts.
const LOGIN_TTL_S: u64 = 12 * 3600;

fn too_many(retry_after_s: u64, message: &str) -> Response {
    let mut resp = ApiError(StatusCode::TOO_MANY_REQUESTS, message.into()).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, retry_after_s.into());
    resp
}

/// `POST /api/login` `{"user": …, "password": …}`: the token in the body and as an HttpOnly,
/// SameSite=Strict cookie (so the console's WebSocket needs no token in its URL), and the
/// server's last seq (the console replays from it, so nothing raised meanwhile is missed).
///
/// Nobody needs an account to call this, and each attempt costs an argon2 hash (19 MiB), so:
/// attempts are rate-limited per address and per (user name, address) (429 + `Retry-After`),
/// and only a few hashes run at once, on their own threads (a few more wait; beyond that 503).
pub(crate) async fn login(
    State(hub): State<Arc<Hub>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    body: Result<Json<LoginBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return body_rejected(&e),
    };
    let ip = crate::http::peer_of(peer.as_ref());
    if let Err(crate::limits::LoginRefusal::TooMany(wait)) = hub.login.attempt(&body.user, ip) {
        tracing::warn!(%ip, user = %body.user.chars().take(64).collect::<String>(), "Login attempts over the limit.");
        return too_many(wait, "too many login attempts: wait and try again");
    }
    let store = hub.store().clone();
    let Ok(checked) = hub
        .login
        .hashing
        .run(move || crate::users::login(&store, &body.user, &body.password))
        .await
    else {
        let mut resp =
            ApiError(StatusCode::SERVICE_UNAVAILABLE, "busy: try again".into()).into_response();
        resp.headers_mut().insert(header::RETRY_AFTER, 1u64.into());
        return resp;
    };
    let (user, role) = match checked {
        Ok(Some(found)) => found,
        Ok(None) => {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password".into(),
            )
            .into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "Login failed.");
            return ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
                .into_response();
        }
    };
    let issued = {
        let hub = hub.clone();
        let cameras = user.cameras.clone();
        let name = user.name.clone();
        tokio::task::spawn_blocking(move || {
            let token = hub.issue_token(&name, role, LOGIN_TTL_S, cameras)?;
            Ok::<_, HubError>((token, hub.store().last_seq()?))
        })
        .await
    };
    let (token, last_seq) = match issued {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return ApiError::from(e).into_response(),
        Err(_) => {
            return ApiError(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into())
                .into_response();
        }
    };
    (
        [(header::SET_COOKIE, login_cookie(&hub, &token, LOGIN_TTL_S))],
        Json(serde_json::json!({
            "token": token,
            "user": user.name,
            "role": role.as_str(),
            "expires_in": LOGIN_TTL_S,
            "last_seq": last_seq,
        })),
    )
        .into_response()
}

/// `GET /api/cameras`: every camera the user may see, with its state.
pub(crate) async fn cameras(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let claims = match viewer_of(&hub, &headers, q.token.as_deref()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let list: Vec<serde_json::Value> = match hub.cameras.lock() {
        Ok(cams) => cams
            .values()
            .filter(|(c, _)| claims.may_see(&c.camera))
            .map(|(c, thumb)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["latest_url"] = thumb
                    .as_ref()
                    .map(|_| format!("/api/cameras/{}/latest.jpg", c.camera))
                    .into();
                v
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Json(list).into_response()
}

/// `GET /api/cameras/{name}/latest.jpg`: the camera's latest thumbnail.
pub(crate) async fn camera_latest(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    match claims_of(&hub, &headers, q.token.as_deref()).await {
        Ok(c) if c.role.can_view() && c.may_see(&name) => {}
        Ok(_) => return ApiError(StatusCode::FORBIDDEN, "not your camera".into()).into_response(),
        Err(e) => return e.into_response(),
    }
    let jpeg = hub
        .cameras
        .lock()
        .ok()
        .and_then(|c| c.get(&name).and_then(|(_, t)| t.clone()));
    match jpeg {
        Some(j) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            j.as_slice().to_vec(),
        )
            .into_response(),
        None => ApiError(
            StatusCode::NOT_FOUND,
            format!("no frame from camera {name} yet"),
        )
        .into_response(),
    }
}

/// `GET /metrics`: Prometheus text exposition, for a token that may see every camera (it names
/// them all): viewer role or above, no camera list.
pub(crate) async fn prometheus(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    use std::fmt::Write;
    match viewer_of(&hub, &headers, q.token.as_deref()).await {
        Ok(c) if c.cameras.is_none() => {}
        Ok(_) => {
            return ApiError(
                StatusCode::FORBIDDEN,
                "metrics name every camera: they need a user who may see them all".into(),
            )
            .into_response();
        }
        Err(e) => return e.into_response(),
    }
    let mut out = String::new();
    let raised = hub.alerts_raised.load(std::sync::atomic::Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP fightwatch_alerts_raised_total Fight alerts raised since start.\n# TYPE fightwatch_alerts_raised_total counter\nfightwatch_alerts_raised_total {raised}"
    );
    let _ = writeln!(
        out,
        "# HELP fightwatch_clients Connected dashboards.\n# TYPE fightwatch_clients gauge\nfightwatch_clients {}",
        hub.connections()
    );
    if let Ok(Some(m)) = hub.last_metrics.lock().map(|m| m.clone()) {
        let _ = writeln!(
            out,
            "# TYPE fightwatch_process_cpu_percent gauge\nfightwatch_process_cpu_percent {}",
            m.cpu_percent
        );
        let _ = writeln!(
            out,
            "# TYPE fightwatch_process_rss_bytes gauge\nfightwatch_process_rss_bytes {}",
            m.rss_bytes
        );
        for (name, help) in [
            ("capture_fps", "Frames received per second."),
            ("inference_fps", "Windows scored per second."),
            ("inference_ms", "Mean model run time, ms."),
            (
                "dropped_frames_total",
                "Frames dropped because inference was behind.",
            ),
            ("queue_depth", "Frames waiting in the camera queue."),
        ] {
            let _ = writeln!(
                out,
                "# HELP fightwatch_camera_{name} {help}\n# TYPE fightwatch_camera_{name} gauge"
            );
            for c in &m.cameras {
                let v = match name {
                    "capture_fps" => c.capture_fps,
                    "inference_fps" => c.inference_fps,
                    "inference_ms" => c.inference_ms,
                    "dropped_frames_total" => c.dropped_frames as f64,
                    _ => c.queue_depth as f64,
                };
                let _ = writeln!(
                    out,
                    "fightwatch_camera_{name}{{camera=\"{}\"}} {v}",
                    c.camera.replace('"', "_")
                );
            }
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
