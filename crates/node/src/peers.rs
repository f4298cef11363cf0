//! A cluster node's side of "any node serves everything": it announces where it answers (its
//! advertised address, in Redis, signed), and asks the other nodes, with requests signed by the
//! cluster key, for the media files it does not hold and for the thumbnails and live view of
//! the cameras they run ([`fightwatch_broadcaster::Peers`],
//! [`fightwatch_alerts::RemoteMedia`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use fightwatch_broadcaster::{PeerFuture, Peers};
use fightwatch_cluster::{ClusterKey, Peer, PeerDirectory};
use fightwatch_protocol::now_ms;

/// How long an announcement lasts unrenewed (renewed every second).
const ANNOUNCED_FOR: Duration = Duration::from_secs(5);
/// How long a node may take to answer (the headers; a stream may then last).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Headers of another node's answer passed on to the viewer.
const PASSED_ON: [header::HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::CACHE_CONTROL,
    header::LAST_MODIFIED,
];

/// The other nodes of this node's cluster.
#[derive(Clone)]
pub(crate) struct ClusterPeers(Arc<Inner>);

struct Inner {
    node: String,
    key: ClusterKey,
    directory: tokio::sync::Mutex<PeerDirectory>,
    client: reqwest::Client,
}

impl ClusterPeers {
    /// Connects to the cluster's Redis as node `node`.
    pub(crate) async fn connect(
        redis_url: &str,
        node: &str,
        key: ClusterKey,
    ) -> Result<Self, crate::ServerError> {
        let directory = PeerDirectory::connect(redis_url, node, key.clone()).await?;
        fightwatch_tls::install_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .read_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| crate::ServerError::Peers(format!("HTTP client: {e}")))?;
        Ok(Self(Arc::new(Inner {
            node: node.into(),
            key,
            directory: tokio::sync::Mutex::new(directory),
            client,
        })))
    }

    /// Announces `address` every second until `stop`, then takes the announcement back.
    pub(crate) async fn announce(
        self,
        address: String,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => {}
            }
            let announced = self
                .0
                .directory
                .lock()
                .await
                .announce(&address, ANNOUNCED_FOR)
                .await;
            if let Err(e) = announced {
                tracing::warn!(error = %e, "Announcing this node's address failed; retrying.");
            }
        }
        let _ = self.0.directory.lock().await.withdraw().await;
    }

    /// The nodes to ask for `target`: the one running `camera`, or every other node.
    async fn candidates(&self, camera: Option<&str>) -> Result<Vec<Peer>, String> {
        let mut directory = self.0.directory.lock().await;
        let peers = directory.peers().await.map_err(|e| e.to_string())?;
        Ok(match camera {
            None => peers,
            Some(camera) => {
                let owner = directory
                    .camera_owner(camera)
                    .await
                    .map_err(|e| e.to_string())?;
                peers
                    .into_iter()
                    .filter(|p| Some(&p.node) == owner.as_ref())
                    .collect()
            }
        })
    }

    /// GET `target` from `peer`, signed; its answer unless it was 404.
    async fn ask(
        &self,
        peer: &Peer,
        target: &str,
        range: Option<&HeaderValue>,
    ) -> Result<Option<reqwest::Response>, String> {
        let time = now_ms();
        let signature =
            self.0
                .key
                .sign_request(&self.0.node, &peer.node, &format!("GET {target}"), time);
        let mut request = self
            .0
            .client
            .get(format!("{}{target}", peer.address.trim_end_matches('/')))
            .header("x-fightwatch-node", &self.0.node)
            .header("x-fightwatch-time", time.to_string())
            .header("x-fightwatch-signature", signature);
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, request.send())
            .await
            .map_err(|_| format!("node {} did not answer in time", peer.node))?
            .map_err(|e| format!("node {}: {e}", peer.node))?;
        Ok((answer.status() != reqwest::StatusCode::NOT_FOUND).then_some(answer))
    }

    /// The first answer of the candidates for `target` that has it.
    async fn first(
        &self,
        target: &str,
        camera: Option<&str>,
        range: Option<&HeaderValue>,
    ) -> Result<Option<reqwest::Response>, String> {
        let mut unreachable = None;
        for peer in self.candidates(camera).await? {
            match self.ask(&peer, target, range).await {
                Ok(Some(answer)) => return Ok(Some(answer)),
                Ok(None) => {}
                Err(why) => unreachable = Some(why),
            }
        }
        match unreachable {
            Some(why) => Err(why),
            None => Ok(None),
        }
    }
}

/// Another node's answer as this node's response, its body streamed through.
fn response(answer: reqwest::Response) -> Response {
    let mut out = Response::builder().status(answer.status().as_u16());
    for name in PASSED_ON {
        if let Some(value) = answer.headers().get(&name) {
            out = out.header(name, value);
        }
    }
    out.body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

impl Peers for ClusterPeers {
    fn fetch(
        &self,
        target: String,
        camera: Option<String>,
        range: Option<HeaderValue>,
    ) -> PeerFuture {
        let this = self.clone();
        Box::pin(async move {
            Ok(this
                .first(&target, camera.as_deref(), range.as_ref())
                .await?
                .map(response))
        })
    }

    fn verify(&self, headers: &HeaderMap, target: &str) -> bool {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(from), Some(time), Some(signature)) = (
            text("x-fightwatch-node"),
            text("x-fightwatch-time").and_then(|t| t.parse().ok()),
            text("x-fightwatch-signature"),
        ) else {
            return false;
        };
        self.0.key.verify_request(
            from,
            &self.0.node,
            &format!("GET {target}"),
            time,
            signature,
        )
    }
}

impl fightwatch_alerts::RemoteMedia for ClusterPeers {
    fn read(&self, name: String) -> fightwatch_alerts::RemoteRead {
        let this = self.clone();
        Box::pin(async move {
            let target = format!("/internal/media/{name}");
            let Some(answer) = this.first(&target, None, None).await? else {
                return Ok(None);
            };
            if !answer.status().is_success() {
                return Err(format!(
                    "the node that holds it answered {}",
                    answer.status()
                ));
            }
            let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
            Ok(Some(bytes.to_vec()))
        })
    }
}
