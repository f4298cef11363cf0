//! REST routes: alert history, snapshots, acknowledgement, login, cameras, health.
//!
//! Each handler names the role it needs in its signature ([`Viewer`], [`Operator`],
//! [`Detector`]), answers a `crates/protocol` type, and fails with an [`ApiError`]. The
//! `#[utoipa::path]` attributes make the OpenAPI document (`GET /api/openapi.json`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fightwatch_protocol::{
    AckRequest, AlertRecord, AlertStatus, AlertUpdate, AssignRequest, CameraView, ChatMessage,
    Detection, FightAlert, Health, LoginRequest, LoginResponse, Me, ResolveRequest, TimelineEntry,
    UserSummary,
};
use fightwatch_store::AlertFilter;
use serde::Deserialize;

use crate::extract::{
    Admin, ApiError, Authenticated, Body, Detector, Operator, Viewer, VisibleCamera,
};
use crate::hub::Hub;

/// A token in the query (`?token=`), for the routes that read it themselves.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

/// How long a console login lasts.
pub(crate) const LOGIN_TTL_S: u64 = 12 * 3600;

/// `GET /api/alerts` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertsQuery {
    /// Only this camera.
    camera: Option<String>,
    /// Only this status.
    #[param(value_type = Option<AlertStatus>)]
    status: Option<String>,
    /// Started at or after (ms since the epoch).
    since: Option<u64>,
    /// Started before (ms since the epoch).
    until: Option<u64>,
    /// Paging: the last seq of the previous page.
    before_seq: Option<u64>,
    /// At most this many (default 50, at most 1000).
    limit: Option<usize>,
}

/// Alert history, newest first, of the cameras the user may see.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", params(AlertsQuery),
    responses((status = 200, body = Vec<AlertRecord>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn alerts(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Vec<AlertRecord>>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(AlertStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("status {s:?}: use active, ended or acknowledged"))
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
    let list = hub.blocking(move |s| s.alerts(&filter)).await?;
    Ok(Json(
        list.into_iter()
            .filter(|a| claims.may_see(&a.camera))
            .collect(),
    ))
}

/// An alert the user may see; one of another camera is "no such alert" (ids cannot be probed).
pub(crate) async fn visible_alert(
    hub: &Hub,
    claims: &crate::Claims,
    id: String,
) -> Result<AlertRecord, ApiError> {
    Ok(hub.visible(claims, &id).await?)
}

/// One alert.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, body = AlertRecord), (status = 404, body = ErrorBody)))]
pub(crate) async fn alert(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Path(id): Path<String>,
) -> Result<Json<AlertRecord>, ApiError> {
    visible_alert(&hub, &claims, id).await.map(Json)
}

/// The alert's timeline, oldest first: raised, peak updates, ended, acknowledged.
#[utoipa::path(get, path = "/api/alerts/{id}/events", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, body = Vec<TimelineEntry>), (status = 404, body = ErrorBody)))]
pub(crate) async fn alert_events(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Path(id): Path<String>,
) -> Result<Json<Vec<TimelineEntry>>, ApiError> {
    let alert = visible_alert(&hub, &claims, id).await?;
    let events = hub.blocking(move |s| s.alert_events(&alert.id)).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|(at, event)| TimelineEntry { at, event })
            .collect(),
    ))
}

/// Who the request's token belongs to (the console asks on load: its cookie is HttpOnly, so
/// only the server can read it).
#[utoipa::path(get, path = "/api/me", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(Authenticated(c): Authenticated) -> Json<Me> {
    Json(Me {
        user: c.sub,
        role: c.role,
        cameras: c.cameras,
        expires_at: c.exp * 1000,
    })
}

/// Ends the request's session server-side (its token stops working on every route, and its
/// open WebSockets close) and clears the login cookie. Answers 204 even without a session.
#[utoipa::path(post, path = "/api/logout", tag = "session", security(()), responses((status = 204)))]
pub(crate) async fn logout(
    State(hub): State<Arc<Hub>>,
    headers: axum::http::HeaderMap,
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

/// Names and roles of the people who can chat (for private messages).
#[utoipa::path(get, path = "/api/users", tag = "chat",
    responses((status = 200, body = Vec<UserSummary>)))]
pub(crate) async fn users(
    State(hub): State<Arc<Hub>>,
    Viewer(_): Viewer,
) -> Result<Json<Vec<UserSummary>>, ApiError> {
    let list = hub.blocking(|s| s.user_names()).await?;
    Ok(Json(
        list.into_iter()
            .filter(|(_, role)| role.can_view())
            .map(|(name, role)| UserSummary { name, role })
            .collect(),
    ))
}

/// The alert's snapshot JPEG.
#[utoipa::path(get, path = "/api/alerts/{id}/snapshot.jpg", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn snapshot(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let alert = visible_alert(&hub, &claims, id).await?;
    media_jpeg(&hub, alert.snapshot, "snapshot").await
}

/// The alert's heat map JPEG: its snapshot with the model's activation map laid over it and
/// the fight's region drawn.
#[utoipa::path(get, path = "/api/alerts/{id}/heatmap.jpg", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn heatmap(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let alert = visible_alert(&hub, &claims, id).await?;
    media_jpeg(&hub, alert.heatmap, "heat map").await
}

/// The JPEG `name` in the alert media folder, or of the node that wrote it (in a cluster);
/// `what` names it in a 404.
async fn media_jpeg(hub: &Hub, name: Option<String>, what: &str) -> Result<Response, ApiError> {
    let name = name.ok_or_else(|| ApiError::not_found(format!("alert has no {what}")))?;
    let path = hub
        .alerts
        .snapshots()
        .path(&name)
        .ok_or_else(|| ApiError::not_found(format!("alert has no {what}")))?;
    if let Ok(bytes) = tokio::fs::read(path).await {
        return Ok((
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "private, max-age=86400"),
            ],
            bytes,
        )
            .into_response());
    }
    hub.ask_peers(format!("/internal/media/{name}"), None, None)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{what} file is gone (retention)")))
}

/// The snapshot (`N.jpg`) or clip (`N.mp4`, Range supported) of the alert's `N`th grouped
/// detection, when it brought one.
#[utoipa::path(get, path = "/api/alerts/{id}/detections/{file}", tag = "alerts",
    params(("id" = String, Path, description = "Alert id"),
        ("file" = String, Path, description = "`N.jpg` or `N.mp4`: the alert's Nth detection (2 and up)")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>),
        (status = 206, content_type = "video/mp4", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn detection_media(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Path((id, file)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let number = |ext: &str| {
        file.strip_suffix(ext)
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n >= 2)
    };
    if let Some(n) = number(".mp4") {
        return crate::media::detection_clip(&hub, &claims, id, n, request).await;
    }
    let n = number(".jpg").ok_or_else(|| ApiError::not_found("no such detection"))?;
    let alert = visible_alert(&hub, &claims, id).await?;
    let name = alert
        .snapshot
        .and_then(|primary| fightwatch_alerts::MediaDir::detection_name(&primary, n));
    media_jpeg(&hub, name, "detection snapshot").await
}

/// Acknowledges an alert (operators), with an optional note.
#[utoipa::path(post, path = "/api/alerts/{id}/ack", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")), request_body = Option<AckRequest>,
    responses((status = 200, body = AlertUpdate), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn ack(
    State(hub): State<Arc<Hub>>,
    Operator(claims): Operator,
    Path(id): Path<String>,
    body: Option<Body<AckRequest>>,
) -> Result<Json<AlertUpdate>, ApiError> {
    let note = body.and_then(|Body(b)| b.note);
    Ok(Json(hub.acknowledge(&claims, &id, note).await?))
}

/// Takes an alert: the caller (an operator) becomes its assignee.
#[utoipa::path(post, path = "/api/alerts/{id}/take", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, body = AlertUpdate), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn take(
    State(hub): State<Arc<Hub>>,
    Operator(claims): Operator,
    Path(id): Path<String>,
) -> Result<Json<AlertUpdate>, ApiError> {
    Ok(Json(hub.assign(&claims, &id, None).await?))
}

/// Assigns an alert to an operator who may see its camera.
#[utoipa::path(post, path = "/api/alerts/{id}/assign", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")), request_body = AssignRequest,
    responses((status = 200, body = AlertUpdate), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn assign(
    State(hub): State<Arc<Hub>>,
    Operator(claims): Operator,
    Path(id): Path<String>,
    Body(body): Body<AssignRequest>,
) -> Result<Json<AlertUpdate>, ApiError> {
    Ok(Json(hub.assign(&claims, &id, Some(&body.to)).await?))
}

/// Resolves an alert with its outcome: `confirmed`, `false_alarm` (with a `reason`) or `test`.
#[utoipa::path(post, path = "/api/alerts/{id}/resolve", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")), request_body = ResolveRequest,
    responses((status = 200, body = AlertUpdate), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn resolve(
    State(hub): State<Arc<Hub>>,
    Operator(claims): Operator,
    Path(id): Path<String>,
    Body(body): Body<ResolveRequest>,
) -> Result<Json<AlertUpdate>, ApiError> {
    Ok(Json(
        hub.resolve(&claims, &id, body.outcome, body.reason, body.note)
            .await?,
    ))
}

/// `{"status":"ok"}` while the store answers (no token needed, so it says nothing more).
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(crate) async fn healthz(State(hub): State<Arc<Hub>>) -> (StatusCode, Json<Health>) {
    let (code, status) = match hub.blocking(|s| s.last_seq()).await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    (
        code,
        Json(Health {
            status: status.into(),
            node: hub.config.node.clone(),
        }),
    )
}

/// `GET /api/rooms/{room}/messages` paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessagesQuery {
    /// At most this many of the newest (default 100, at most 1000).
    limit: Option<usize>,
}

/// A chat room's history, oldest first.
#[utoipa::path(get, path = "/api/rooms/{room}/messages", tag = "chat",
    params(("room" = String, Path, description = "`site:NAME`, a chat room or `dm:A:B`"),
        MessagesQuery),
    responses((status = 200, body = Vec<ChatMessage>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn messages(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Path(room): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<Json<Vec<ChatMessage>>, ApiError> {
    match crate::rooms::may_use(&hub, &claims, &room) {
        Ok(()) => {}
        Err(crate::rooms::RoomRefusal::Malformed) => {
            return Err(ApiError::bad_request("not a room name"));
        }
        Err(crate::rooms::RoomRefusal::Forbidden) => {
            return Err(ApiError::forbidden("not your room"));
        }
    }
    let limit = q.limit.unwrap_or(100).min(1000);
    Ok(Json(hub.blocking(move |s| s.messages(&room, limit)).await?))
}

/// An external detector's fight: it becomes a `fight_alert` like the pipeline's (201), or,
/// while the camera's alert is open within the group window, counts into it (200 with the
/// `alert_update`).
#[utoipa::path(post, path = "/api/detections", tag = "alerts", request_body = Detection,
    responses((status = 201, body = FightAlert), (status = 200, body = AlertUpdate),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub(crate) async fn detections(
    State(hub): State<Arc<Hub>>,
    Detector(claims): Detector,
    Body(detection): Body<Detection>,
) -> Result<Response, ApiError> {
    Ok(match hub.detection(detection, &claims.sub).await? {
        fightwatch_alerts::Raised::New(alert) => (StatusCode::CREATED, Json(alert)).into_response(),
        fightwatch_alerts::Raised::Grouped(update) => {
            (StatusCode::OK, Json(update)).into_response()
        }
    })
}

/// Signs in: the token in the body and as an HttpOnly, SameSite=Strict cookie (so the
/// console's WebSocket needs no token in its URL), and the server's last seq (the console
/// replays from it, so nothing raised meanwhile is missed).
///
/// Nobody needs an account to call this, and each attempt costs an argon2 hash (19 MiB), so:
/// attempts are rate-limited per address and per (user name, address) (429 + `Retry-After`),
/// and only a few hashes run at once, on their own threads (a few more wait; beyond that 503).
#[utoipa::path(post, path = "/api/login", tag = "session", security(()), request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn login(
    State(hub): State<Arc<Hub>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Body(body): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = crate::http::peer_of(peer.as_ref());
    if let Err(crate::limits::LoginRefusal::TooMany(wait)) = hub.login.attempt(&body.user, ip) {
        tracing::warn!(%ip, user = %body.user.chars().take(64).collect::<String>(), "Login attempts over the limit.");
        return Err(ApiError::retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            "too many login attempts: wait and try again",
        ));
    }
    let store = hub.store().clone();
    let checked = hub
        .login
        .hashing
        .run(move || crate::users::login(store.as_ref(), &body.user, &body.password))
        .await
        .map_err(|_| {
            ApiError::retry_after(StatusCode::SERVICE_UNAVAILABLE, 1, "busy: try again")
        })?;
    let (user, role) = match checked {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "Login failed.");
            return Err(ApiError::internal());
        }
    };
    let (auth, name, cameras) = (hub.auth.clone(), user.name.clone(), user.cameras.clone());
    let (issued, last_seq) = hub
        .blocking(move |s| {
            let token = crate::users::issue_token(s, &auth, &name, role, LOGIN_TTL_S, cameras);
            Ok((token, s.last_seq()?))
        })
        .await?;
    let token = issued.map_err(|e| {
        tracing::error!(error = %e, "Issuing a login token failed.");
        ApiError::internal()
    })?;
    Ok((
        [(header::SET_COOKIE, login_cookie(&hub, &token, LOGIN_TTL_S))],
        Json(LoginResponse {
            token,
            user: user.name,
            role,
            expires_in: LOGIN_TTL_S,
            last_seq,
        }),
    )
        .into_response())
}

/// Every camera the user may see, with its state.
#[utoipa::path(get, path = "/api/cameras", tag = "cameras",
    responses((status = 200, body = Vec<CameraView>)))]
pub(crate) async fn cameras(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
) -> Json<Vec<CameraView>> {
    let states: Vec<_> = hub
        .cameras
        .lock()
        .map(|cams| {
            cams.values()
                .filter(|c| claims.may_see(&c.camera))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Json(
        states
            .into_iter()
            .map(|state| CameraView {
                latest_url: hub
                    .feeds
                    .thumbnail(&state.camera)
                    .map(|_| format!("/api/cameras/{}/latest.jpg", state.camera)),
                state,
            })
            .collect(),
    )
}

/// The camera's latest thumbnail (JPEG, at most 480 pixels wide).
#[utoipa::path(get, path = "/api/cameras/{name}/latest.jpg", tag = "cameras",
    params(("name" = String, Path, description = "Camera name")),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn camera_latest(
    State(hub): State<Arc<Hub>>,
    VisibleCamera { name, .. }: VisibleCamera,
) -> Result<Response, ApiError> {
    let Some(jpeg) = hub.feeds.thumbnail(&name) else {
        // Another node may run it.
        let target = format!("/internal/cameras/{name}/latest.jpg");
        return hub
            .ask_peers(target, Some(name.clone()), None)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no frame from camera {name} yet")));
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg.as_slice().to_vec(),
    )
        .into_response())
}

/// Each webhook's delivery state (admins): cursor, delivered, failed attempts, retrying,
/// last error.
#[utoipa::path(get, path = "/api/integrations", tag = "operations",
    responses((status = 200, body = Vec<fightwatch_protocol::TargetStatus>), (status = 403, body = ErrorBody)))]
pub(crate) async fn integrations(
    State(hub): State<Arc<Hub>>,
    Admin(admin): Admin,
) -> Result<Response, ApiError> {
    // It names every receiver: who looked is worth a line in the log.
    tracing::info!(user = %admin.sub, "The integrations' state was read.");
    Ok(Json(hub.integrations()).into_response())
}

/// Prometheus text exposition, for a user who may see every camera (it names them all).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 403, body = ErrorBody)))]
pub(crate) async fn prometheus(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
) -> Result<Response, ApiError> {
    if claims.cameras.is_some() {
        return Err(ApiError::forbidden(
            "metrics name every camera: they need a user who may see them all",
        ));
    }
    Ok((
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(&hub),
    )
        .into_response())
}

use fightwatch_protocol::ErrorBody;
