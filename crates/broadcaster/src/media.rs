//! Evidence routes: the incident clip (seekable), live view, and the signed export.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fightwatch_protocol::ErrorBody;
use tower::ServiceExt;

use crate::Hub;
use crate::extract::{ApiError, Operator, Viewer, VisibleCamera};
use crate::live::BOUNDARY;

/// The alert's incident clip (MP4, H.264). Supports `Range` (206 with `Content-Range`), so a
/// browser can seek.
#[utoipa::path(get, path = "/api/alerts/{id}/clip.mp4", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, content_type = "video/mp4", body = Vec<u8>),
        (status = 206, content_type = "video/mp4", body = Vec<u8>),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn clip(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let alert = crate::rest::visible_alert(&hub, &claims, id).await?;
    let file = alert
        .clip
        .map(|clip| clip.file)
        .ok_or_else(|| ApiError::not_found("alert has no clip (yet)"))?;
    serve_mp4(&hub, &file, request).await
}

/// The clip of a grouped detection recorded after its alert's own (`N.mp4`), as the update
/// that brought it names it.
pub(crate) async fn detection_clip(
    hub: &Hub,
    claims: &crate::auth::Claims,
    id: String,
    n: u32,
    request: Request,
) -> Result<Response, ApiError> {
    let alert = crate::rest::visible_alert(hub, claims, id).await?;
    let url = format!("/api/alerts/{}/detections/{n}.mp4", alert.id);
    let events = hub
        .blocking({
            let id = alert.id.clone();
            move |s| s.alert_events(&id)
        })
        .await?;
    let file = events
        .into_iter()
        .find_map(|(_, event)| match event {
            fightwatch_protocol::ServerMessage::AlertUpdate(u)
                if u.detection_clip_url.as_deref() == Some(url.as_str()) =>
            {
                u.detection_clip.map(|c| c.file)
            }
            _ => None,
        })
        .ok_or_else(|| ApiError::not_found("no such detection clip"))?;
    serve_mp4(hub, &file, request).await
}

/// The clip `file` of the media folder, or of the node that recorded it (in a cluster).
async fn serve_mp4(hub: &Hub, file: &str, request: Request) -> Result<Response, ApiError> {
    let path = hub
        .alerts
        .snapshots()
        .path(file)
        .ok_or_else(|| ApiError::not_found("no such clip"))?;
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return serve_file(&path, "video/mp4", request).await;
    }
    let range = request.headers().get(header::RANGE).cloned();
    hub.ask_peers(format!("/internal/media/{file}"), None, range)
        .await?
        .ok_or_else(|| ApiError::not_found("clip file is gone (retention)"))
}

/// A file of the media folder as `mime`: Range, If-Range and HEAD answered as a file server
/// does (tower-http's ServeFile), kept by the browser for a day.
pub(crate) async fn serve_file(
    path: &std::path::Path,
    mime: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let request = Request::from_parts(parts, Body::empty());
    let mut response = tower_http::services::ServeFile::new_with_mime(
        path,
        &mime.parse().map_err(|_| ApiError::internal())?,
    )
    .oneshot(request)
    .await
    .map_err(|_| ApiError::internal())?
    .map(Body::new);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=86400"),
    );
    Ok(response)
}

/// A camera's live view: `multipart/x-mixed-replace` JPEGs at the configured rate (default 5
/// per second), until the viewer leaves, its session ends, or the server stops. In a cluster,
/// a node that does not run the camera passes on the stream of the node that does.
#[utoipa::path(get, path = "/api/cameras/{name}/live.mjpeg", tag = "cameras",
    params(("name" = String, Path, description = "Camera name")),
    responses((status = 200, content_type = "multipart/x-mixed-replace", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn live(
    State(hub): State<Arc<Hub>>,
    VisibleCamera { claims, name }: VisibleCamera,
) -> Result<Response, ApiError> {
    if hub.feeds.live_source(&name).is_some() {
        let user = claims.sub.clone();
        return local_live(hub, &name, user, Some(claims)).await;
    }
    // Another node runs it: its stream, passed through, counted against this user here.
    let slot = admit(&hub, &claims.sub, true)?;
    let upstream = hub
        .ask_peers(
            format!("/internal/cameras/{name}/live.mjpeg"),
            Some(name.clone()),
            None,
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("camera {name} runs on no node now")))?;
    Ok(guard_stream(hub, claims, slot, upstream))
}

/// A place for one more live viewer, or the 429/503 that says why not.
pub(crate) fn admit(
    hub: &Hub,
    user: &str,
    user_limit: bool,
) -> Result<crate::live::ViewerSlot, ApiError> {
    hub.live
        .admit(user, user_limit)
        .map_err(|refused| match refused {
            crate::live::Refused::User => ApiError::retry_after(
                StatusCode::TOO_MANY_REQUESTS,
                5,
                "too many live views open for this user",
            ),
            crate::live::Refused::Node => ApiError::retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                5,
                "too many live viewers on this node",
            ),
        })
}

/// The live view of camera `name`, which this node runs, for `user`; with `session`, it ends
/// when that session does (a viewer of another node: that node ends it).
pub(crate) async fn local_live(
    hub: Arc<Hub>,
    name: &str,
    user: String,
    session: Option<crate::Claims>,
) -> Result<Response, ApiError> {
    let source = hub
        .feeds
        .live_source(name)
        .map(|feed| feed.frame)
        .ok_or_else(|| ApiError::not_found(format!("camera {name} does not run on this node")))?;
    let slot = admit(&hub, &user, session.is_some())?;
    let frames = hub.live.subscribe(name, source).map_err(|e| {
        tracing::error!(error = %e, "Cannot start a live view encoder.");
        ApiError::internal()
    })?;
    let stall = hub.config.live_stall_timeout;
    let viewer = LiveViewer {
        frames,
        ended: Box::pin(crate::live::view_ends(hub, session)),
        user,
        _slot: slot,
    };
    // A task hands frames to the response one at a time. The body is polled only as the
    // socket drains, so a viewer that stops reading leaves a frame untaken: after `stall` the
    // task ends, giving back its place, the encoder and the user's quota, and the body ends.
    let (tx, rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(1);
    tokio::spawn(viewer.pump(tx, stall));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let part = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(part), rx))
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Another node's live stream passed to this node's viewer: it holds the viewer's `slot`, and
/// ends when the viewer's session does (revoked, or its token expired) or the server stops.
fn guard_stream(
    hub: Arc<Hub>,
    claims: crate::Claims,
    slot: crate::live::ViewerSlot,
    upstream: Response,
) -> Response {
    use futures_util::StreamExt;
    let (parts, body) = upstream.into_parts();
    let ended = Box::pin(crate::live::view_ends(hub, Some(claims)));
    let stream = body.into_data_stream().take_until(ended).map(move |chunk| {
        let _holds = &slot;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// One live viewer's stream state.
struct LiveViewer {
    frames: tokio::sync::watch::Receiver<Option<axum::body::Bytes>>,
    /// Ends when the viewer's session does, or the server stops.
    ended: std::pin::Pin<Box<dyn std::future::Future<Output = crate::live::ViewEnd> + Send>>,
    /// Who watches (for the log).
    user: String,
    _slot: crate::live::ViewerSlot,
}

impl LiveViewer {
    /// Sends the newest frame whenever the response can take one, until the viewer leaves,
    /// stops reading for `stall`, its session ends (revoked, or its token expired), or the
    /// server stops.
    async fn pump(
        mut self,
        tx: tokio::sync::mpsc::Sender<axum::body::Bytes>,
        stall: std::time::Duration,
    ) {
        loop {
            tokio::select! {
                changed = self.frames.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = &mut self.ended => return,
            }
            // A new frame: wait for room (the previous one taken), newest wins meanwhile.
            let permit = tokio::select! {
                permit = tokio::time::timeout(stall, tx.reserve()) => match permit {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return, // the viewer left
                    Err(_) => {
                        tracing::info!(user = %self.user, stalled_s = stall.as_secs_f64(), "A live viewer stopped reading; dropped.");
                        return;
                    }
                },
                _ = &mut self.ended => return,
            };
            if let Some(part) = self.frames.borrow_and_update().clone() {
                permit.send(part);
            }
        }
    }
}

/// A signed evidence export of the alert (operators): ZIP of `clip.mp4`, `snapshot.jpg`,
/// `heatmap.jpg`, `timeline.json`, `manifest.json` (each file's SHA-256) and `manifest.sig`
/// (Ed25519, this server's key). The export is recorded in the alert's timeline; `fightwatch
/// verify` checks a file.
#[utoipa::path(get, path = "/api/alerts/{id}/evidence.zip", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, content_type = "application/zip", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn evidence(
    State(hub): State<Arc<Hub>>,
    Operator(claims): Operator,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    // A GET that records who exported: a page of another origin (even of the same site, which
    // the login cookie's SameSite does not cover) must not make a signed-in browser do it.
    if let Some(why) = crate::guard::not_same_origin(&hub, &headers) {
        tracing::warn!(%why, user = %claims.sub, "Refused a cross-origin evidence export.");
        return Err(ApiError::forbidden("evidence exports are same-origin only"));
    }
    let alert = crate::rest::visible_alert(&hub, &claims, id).await?;
    let key = hub.evidence_key.get().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server has no evidence signing key",
        )
    })?;
    // Each export holds its clip in memory: a few at a time.
    let _permit = hub.exports.try_acquire().map_err(|_| {
        ApiError::retry_after(StatusCode::SERVICE_UNAVAILABLE, 5, "exports are busy")
    })?;
    let node = hub
        .config
        .node
        .clone()
        .unwrap_or_else(|| "fightwatch".into());
    let zip = hub
        .alerts
        .export(&alert.id, &claims.sub, key, &node)
        .await
        .map_err(|e| ApiError::from(crate::HubError::from(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"fightwatch-{}-evidence.zip\"",
                    alert.id
                ),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        zip,
    )
        .into_response())
}
