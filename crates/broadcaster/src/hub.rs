//! The hub: persists events, then fans them out to every connection.

use std::path::PathBuf;
use std::sync::Arc;

use fightwatch_protocol::{
    AlertUpdate, CameraState, ChatMessage, Detection, FightAlert, Metrics, ServerMessage,
};
use fightwatch_store::{NewAlert, Store, StoreError};
use tokio::sync::broadcast;

use crate::auth::Auth;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Origins allowed to open a WebSocket from a browser (`http://127.0.0.1:8080`); a request
    /// whose Origin is neither listed nor the server's own host is refused.
    pub allowed_origins: Vec<String>,
    /// Where snapshots are kept.
    pub snapshot_dir: PathBuf,
    /// Events a slow client may fall behind before it is disconnected (it then resumes).
    pub client_queue: usize,
    /// Largest accepted WebSocket message, bytes.
    pub max_message_bytes: usize,
    /// Open WebSockets allowed from one IP address; more are refused with 429.
    pub max_connections_per_ip: usize,
    /// The web console's built files (`web/dist`), served at `/` when the directory exists.
    pub static_dir: Option<PathBuf>,
}

impl ServerConfig {
    /// Defaults with snapshots under `data_dir/snapshots`.
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            allowed_origins: Vec::new(),
            snapshot_dir: data_dir.join("snapshots"),
            client_queue: 1024,
            max_message_bytes: 64 * 1024,
            max_connections_per_ip: 256,
            static_dir: None,
        }
    }
}

/// Errors of the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a snapshot failed.
    #[error("writing snapshot {path}: {source}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking task was cancelled (shutdown).
    #[error("store task cancelled")]
    Cancelled,
}

/// A camera's last state and thumbnail.
pub(crate) type CameraEntry = (CameraState, Option<Arc<Vec<u8>>>);

/// A persisted event on its way to the connections, with its JSON made once.
pub(crate) struct Event {
    pub(crate) msg: ServerMessage,
    pub(crate) json: axum::extract::ws::Utf8Bytes,
}

/// Why a detection was not turned into an alert.
#[derive(Debug, thiserror::Error)]
pub enum DetectionError {
    /// The detection itself is wrong (400).
    #[error("{0}")]
    Invalid(String),
    /// Storing it failed.
    #[error(transparent)]
    Hub(HubError),
}

/// Shared server state.
pub struct Hub {
    pub(crate) store: Arc<Store>,
    pub(crate) events: broadcast::Sender<Arc<Event>>,
    pub(crate) auth: Auth,
    pub(crate) config: ServerConfig,
    /// Held from the store write to the broadcast, so events go out in `seq` order: connections
    /// drop any event at or below the last seq they sent, so an event overtaken by a later one
    /// would be lost to them.
    publish: tokio::sync::Mutex<()>,
    /// Flips to true on shutdown: every connection closes with 1001.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
    /// Cameras as last reported, with their latest thumbnail.
    pub(crate) cameras: std::sync::Mutex<std::collections::BTreeMap<String, CameraEntry>>,
    /// The last metric update, for `/metrics`.
    pub(crate) last_metrics: std::sync::Mutex<Option<Metrics>>,
    /// Alerts raised since start, for `/metrics`.
    pub(crate) alerts_raised: std::sync::atomic::AtomicU64,
    /// Open WebSockets per client IP.
    pub(crate) per_ip: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One counted connection of an IP; dropping it frees the slot.
pub(crate) struct IpSlot {
    hub: Arc<Hub>,
    ip: std::net::IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.hub.per_ip.lock()
            && let Some(n) = m.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Hub {
    /// Takes a connection slot for `ip`, or `None` when it has too many open.
    pub(crate) fn take_ip_slot(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<IpSlot> {
        let mut m = self.per_ip.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= self.config.max_connections_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            hub: self.clone(),
            ip,
        })
    }
}

impl Hub {
    /// A hub over `store`.
    pub fn new(store: Arc<Store>, auth: Auth, config: ServerConfig) -> Arc<Self> {
        let (events, _) = broadcast::channel(config.client_queue.max(16));
        let (closing, _) = tokio::sync::watch::channel(false);
        Arc::new(Self {
            store,
            events,
            auth,
            config,
            publish: tokio::sync::Mutex::new(()),
            closing,
            cameras: Default::default(),
            last_metrics: Default::default(),
            alerts_raised: Default::default(),
            per_ip: Default::default(),
        })
    }

    /// Records and broadcasts a camera's new state (live only).
    pub fn camera_status(&self, state: CameraState) {
        if let Ok(mut cams) = self.cameras.lock() {
            let thumb = cams.get(&state.camera).and_then(|(_, t)| t.clone());
            cams.insert(state.camera.clone(), (state.clone(), thumb));
        }
        self.broadcast(ServerMessage::CameraStatus(state));
    }

    /// Keeps a camera's latest thumbnail for `GET /api/cameras/{name}/latest.jpg`.
    pub fn camera_thumbnail(&self, camera: &str, jpeg: Arc<Vec<u8>>) {
        if let Ok(mut cams) = self.cameras.lock()
            && let Some(entry) = cams.get_mut(camera)
        {
            entry.1 = Some(jpeg);
        }
    }

    /// Broadcasts a metric update, filling in the connection count.
    pub fn metrics(&self, mut metrics: Metrics) {
        metrics.clients = self.connections();
        if let Ok(mut last) = self.last_metrics.lock() {
            *last = Some(metrics.clone());
        }
        self.broadcast(ServerMessage::MetricUpdate(metrics));
    }

    /// Tells every connection to close (1001, "server shutting down").
    pub fn shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// Connections still open.
    pub fn connections(&self) -> usize {
        self.closing.receiver_count()
    }

    /// The token signer.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Where snapshots are kept.
    pub fn snapshot_dir(&self) -> &std::path::Path {
        &self.config.snapshot_dir
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn broadcast(&self, msg: ServerMessage) {
        // Serialised once here, not once per dashboard.
        let json = serde_json::to_string(&msg).unwrap_or_default().into();
        // No subscriber is fine: the event is in the store for later recovery.
        let _ = self.events.send(Arc::new(Event { msg, json }));
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, HubError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|_| HubError::Cancelled)?
            .map_err(HubError::from)
    }

    /// Persists a new alert (and its snapshot), then broadcasts it.
    pub async fn raise_alert(
        &self,
        mut alert: NewAlert,
        snapshot: Option<Arc<Vec<u8>>>,
    ) -> Result<FightAlert, HubError> {
        if let Some(jpeg) = snapshot {
            // Random suffix: two alerts of one camera in the same millisecond keep both files.
            let name = format!(
                "{}-{}-{:08x}.jpg",
                sanitize(&alert.camera),
                alert.started_at,
                fastrand::u32(..)
            );
            let path = self.config.snapshot_dir.join(&name);
            let dir = self.config.snapshot_dir.clone();
            let p = path.clone();
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&p, jpeg.as_slice())
            })
            .await
            .map_err(|_| HubError::Cancelled)?
            .map_err(|source| HubError::Snapshot { path, source })?;
            alert.snapshot = Some(name);
        }
        let _order = self.publish.lock().await;
        let created = self.blocking(move |s| s.create_alert(&alert)).await?;
        self.alerts_raised
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.broadcast(ServerMessage::FightAlert(created.clone()));
        Ok(created)
    }

    /// Persists an alert change, then broadcasts it.
    pub async fn update_alert(
        &self,
        id: &str,
        peak: Option<f32>,
        ended_at: Option<u64>,
        ack: Option<(String, Option<String>)>,
    ) -> Result<AlertUpdate, HubError> {
        let id = id.to_string();
        let _order = self.publish.lock().await;
        let update = self
            .blocking(move |s| {
                s.update_alert(
                    &id,
                    peak,
                    ended_at,
                    ack.as_ref().map(|(u, n)| (u.as_str(), n.as_deref())),
                )
            })
            .await?;
        self.broadcast(ServerMessage::AlertUpdate(update.clone()));
        Ok(update)
    }

    /// Persists a chat message, then broadcasts it.
    pub async fn post_message(
        &self,
        room: &str,
        from: &str,
        text: &str,
    ) -> Result<ChatMessage, HubError> {
        let (room, from, text) = (room.to_string(), from.to_string(), text.to_string());
        let _order = self.publish.lock().await;
        let msg = self
            .blocking(move |s| s.add_message(&room, &from, &text))
            .await?;
        self.broadcast(ServerMessage::ReceiveMessage(msg.clone()));
        Ok(msg)
    }

    /// Turns an external detection into an alert, like the pipeline's.
    pub async fn detection(
        &self,
        d: Detection,
        source: &str,
    ) -> Result<FightAlert, DetectionError> {
        if !(0.0..=1.0).contains(&d.score) {
            return Err(DetectionError::Invalid(format!(
                "score {} is not between 0 and 1",
                d.score
            )));
        }
        if d.camera.is_empty() || d.camera.len() > 128 {
            return Err(DetectionError::Invalid(
                "camera must be 1 to 128 characters".into(),
            ));
        }
        let snapshot = match d.snapshot_jpeg {
            Some(b64) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| {
                        DetectionError::Invalid(format!("snapshot_jpeg is not base64: {e}"))
                    })?;
                if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                    return Err(DetectionError::Invalid(
                        "snapshot_jpeg is not a JPEG".into(),
                    ));
                }
                Some(Arc::new(bytes))
            }
            None => None,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_millis() as u64);
        let alert = NewAlert {
            camera: d.camera,
            site: d.site.unwrap_or_else(|| "default".into()),
            label: d.label.unwrap_or_else(|| "fight".into()),
            score: d.score,
            started_at: now,
            snapshot: None,
            source: source.into(),
        };
        self.raise_alert(alert, snapshot)
            .await
            .map_err(DetectionError::Hub)
    }

    /// Events after `after_seq` from the store, oldest first.
    pub async fn events_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<ServerMessage>, HubError> {
        self.blocking(move |s| s.events_after(after_seq, limit))
            .await
    }
}

/// A file-name-safe version of a camera name.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
