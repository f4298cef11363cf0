//! The other nodes of a deployment: what this node asks them for (media files it does not hold,
//! the thumbnails and live view of cameras it does not run), and the internal routes it answers
//! their signed requests on. `crates/node` implements [`Peers`] over the cluster's peer
//! directory; a standalone node has none and answers 404 for what it does not hold.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Hub;
use crate::extract::ApiError;

/// What [`Peers::fetch`] comes back with: the answer of the node that had it (`None`: no node
/// had it), or why no node could be asked.
pub type PeerFuture = Pin<Box<dyn Future<Output = Result<Option<Response>, String>> + Send>>;

/// The other nodes of the deployment.
pub trait Peers: Send + Sync + 'static {
    /// GETs `target` (an internal route, `/internal/…`) from the node running `camera`, or,
    /// without a camera, from each other node in turn until one has it; its answer (status,
    /// headers, streamed body), `range` passed on.
    fn fetch(
        &self,
        target: String,
        camera: Option<String>,
        range: Option<HeaderValue>,
    ) -> PeerFuture;
    /// Whether `headers` carry a deployment node's signature of `GET target` addressed to this
    /// node, made within the last seconds.
    fn verify(&self, headers: &HeaderMap, target: &str) -> bool;
}

impl Hub {
    /// Asks the other nodes for `target` (see [`Peers::fetch`]); `Ok(None)` on a standalone
    /// node or when no node has it.
    pub(crate) async fn ask_peers(
        &self,
        target: String,
        camera: Option<String>,
        range: Option<HeaderValue>,
    ) -> Result<Option<Response>, ApiError> {
        let Some(peers) = self.peers.get() else {
            return Ok(None);
        };
        peers.fetch(target, camera, range).await.map_err(|why| {
            tracing::warn!(%why, "Another node could not be asked.");
            ApiError::retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                5,
                "the node that holds this is not reachable",
            )
        })
    }

    /// Lets this node ask others for what it does not hold, and answer their requests (once).
    pub fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }
}

/// Refuses a request to an internal route that no node of the deployment signed.
fn signed(hub: &Hub, headers: &HeaderMap, target: &str) -> Result<(), ApiError> {
    match hub.peers.get() {
        Some(peers) if peers.verify(headers, target) => Ok(()),
        Some(_) => {
            tracing::warn!(%target, "An unsigned or stale node-to-node request was refused.");
            Err(ApiError::forbidden("not a node of this deployment"))
        }
        None => Err(ApiError::not_found("not a cluster node")),
    }
}

/// `/internal/media/{file}`: a file of this node's media folder (clips with Range).
pub(crate) async fn media(
    State(hub): State<Arc<Hub>>,
    Path(file): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    signed(&hub, request.headers(), &format!("/internal/media/{file}"))?;
    let path = hub
        .alerts
        .snapshots()
        .path(&file)
        .ok_or_else(|| ApiError::not_found("no such file"))?;
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(ApiError::not_found("no such file"));
    }
    let mime = if file.ends_with(".mp4") {
        "video/mp4"
    } else {
        "image/jpeg"
    };
    crate::media::serve_file(&path, mime, request).await
}

/// `/internal/cameras/{name}/latest.jpg`: the thumbnail of a camera this node runs.
pub(crate) async fn latest(
    State(hub): State<Arc<Hub>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    signed(
        &hub,
        &headers,
        &format!("/internal/cameras/{name}/latest.jpg"),
    )?;
    let jpeg = hub
        .feeds
        .thumbnail(&name)
        .ok_or_else(|| ApiError::not_found(format!("no frame from camera {name} here")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg.as_slice().to_vec(),
    )
        .into_response())
}

/// `/internal/cameras/{name}/live.mjpeg`: the live view of a camera this node runs, for a
/// viewer of another node (which checked the user and counts the user's streams).
pub(crate) async fn live(
    State(hub): State<Arc<Hub>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    signed(
        &hub,
        &headers,
        &format!("/internal/cameras/{name}/live.mjpeg"),
    )?;
    let from = headers
        .get("x-fightwatch-node")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("node");
    crate::media::local_live(hub.clone(), &name, format!("node:{from}"), None).await
}
