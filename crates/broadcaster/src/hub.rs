//! The hub: persists events, then fans them out to every connection.

use std::path::PathBuf;
use std::sync::Arc;

use fightwatch_protocol::{
    AlertUpdate, CameraState, ChatMessage, Detection, FightAlert, Metrics, ServerMessage,
};
use fightwatch_store::{NewAlert, Store, StoreError};
use tokio::sync::broadcast;

use crate::auth::{Auth, AuthError, Claims};
use crate::limits::{Keyed, LoginLimits, PerAddress, Rate};

/// Server settings. Every limit is listed, with its default, in docs/security.md.
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
    /// Mark the login cookie `Secure` (set when browsers reach the server over HTTPS, e.g.
    /// behind a TLS reverse proxy).
    pub secure_cookies: bool,
    /// Open HTTP connections (not counting WebSockets) in all; more are closed at once.
    pub max_http_connections: usize,
    /// Open HTTP connections from one address (IPv6: one /64).
    pub max_http_connections_per_ip: usize,
    /// Open WebSockets in all; more are refused with 503.
    pub max_websockets: usize,
    /// A connection must send a request's headers within this (slow-header attacks).
    pub header_read_timeout: std::time::Duration,
    /// A request's body must arrive within this.
    pub request_body_timeout: std::time::Duration,
    /// Login attempts per client address.
    pub login_rate_per_address: Rate,
    /// Login attempts per user name and client address.
    pub login_rate_per_user: Rate,
    /// Password hashes (argon2, 19 MiB each) computed at once, on as many dedicated threads;
    /// up to 8 times as many logins wait, more are refused (503).
    pub concurrent_password_hashes: usize,
    /// WebSocket messages per user, over all of its connections.
    pub message_rate_per_user: Rate,
    /// Rooms one WebSocket may join.
    pub max_rooms_per_connection: usize,
    /// The most events one resume may replay; a client further behind is told to reload.
    pub max_resume_events: u64,
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
            secure_cookies: false,
            max_http_connections: 1024,
            max_http_connections_per_ip: 64,
            max_websockets: 10_000,
            header_read_timeout: std::time::Duration::from_secs(10),
            request_body_timeout: std::time::Duration::from_secs(10),
            login_rate_per_address: Rate::new(10, std::time::Duration::from_secs(6)),
            login_rate_per_user: Rate::new(5, std::time::Duration::from_secs(60)),
            concurrent_password_hashes: 2,
            message_rate_per_user: Rate::new(40, std::time::Duration::from_millis(50)),
            max_rooms_per_connection: 64,
            max_resume_events: 10_000,
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
    /// A token could not be made.
    #[error("issuing a token: {0}")]
    Token(String),
    /// The request itself is wrong (400).
    #[error("{0}")]
    Invalid(String),
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
    /// Open WebSockets per client address.
    pub(crate) ws_per_ip: Arc<PerAddress>,
    /// Open HTTP connections per client address.
    pub(crate) http_per_ip: Arc<PerAddress>,
    /// Login attempt limits and the password-hashing gate.
    pub(crate) login: LoginLimits,
    /// WebSocket messages per user name.
    pub(crate) messages: Keyed<String>,
    /// Grows whenever a session is revoked (here or by another process): open WebSockets then
    /// check that theirs is still good.
    pub(crate) revocations: tokio::sync::watch::Sender<u64>,
    /// The site of every camera seen (camera states, alerts): what a camera-restricted user's
    /// site rooms are.
    pub(crate) camera_sites: std::sync::Mutex<std::collections::HashMap<String, String>>,
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
            publish: tokio::sync::Mutex::new(()),
            closing,
            cameras: Default::default(),
            last_metrics: Default::default(),
            alerts_raised: Default::default(),
            ws_per_ip: PerAddress::new(config.max_connections_per_ip),
            http_per_ip: PerAddress::new(config.max_http_connections_per_ip),
            login: LoginLimits::new(&config),
            messages: config.message_rate_per_user.limiter(),
            revocations: tokio::sync::watch::channel(0).0,
            camera_sites: Default::default(),
            config,
        })
    }

    /// A token for a new session of `user`: the session is stored, then the token signed.
    pub fn issue_token(
        &self,
        user: &str,
        role: crate::Role,
        ttl_s: u64,
        cameras: Option<Vec<String>>,
    ) -> Result<String, HubError> {
        crate::users::issue_token(&self.store, &self.auth, user, role, ttl_s, cameras).map_err(
            |e| match e {
                crate::users::UserError::Store(e) => HubError::Store(e),
                other => HubError::Token(other.to_string()),
            },
        )
    }

    /// The claims of a request's token: signature and expiry checked, and its session still
    /// good (not logged out, its user not changed or deleted since). Fails closed: a store
    /// error refuses.
    pub async fn authenticate(
        &self,
        headers: &axum::http::HeaderMap,
        query_token: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let claims = self.auth.check(headers, query_token)?;
        if self.session_is_live(&claims).await {
            Ok(claims)
        } else {
            Err(AuthError::Revoked)
        }
    }

    /// Whether the session of `claims` is still good.
    pub(crate) async fn session_is_live(&self, claims: &Claims) -> bool {
        let jti = claims.jti.clone();
        let now = now_ms();
        match self.blocking(move |s| s.session(&jti)).await {
            Ok(Some(session)) => session.user == claims.sub && session.is_valid(now),
            Ok(None) => false,
            Err(e) => {
                tracing::error!(error = %e, "Cannot check a session; refusing.");
                false
            }
        }
    }

    /// Revokes a session (logout) and tells its open WebSockets at once.
    pub async fn revoke_session(&self, jti: &str) -> Result<(), HubError> {
        let jti = jti.to_string();
        self.blocking(move |s| s.revoke_session(&jti)).await?;
        self.revocations.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Housekeeping while serving: notices sessions revoked by other processes (`fightwatch
    /// user ...`) within a second, and forgets idle rate-limit keys.
    pub(crate) async fn maintain(self: Arc<Self>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut last = None;
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            ticks += 1;
            if let Ok(revision) = self.blocking(|s| s.revocation_revision()).await {
                if last.is_some_and(|l| l != revision) {
                    self.revocations.send_modify(|n| *n += 1);
                }
                last = Some(revision);
            }
            if ticks.is_multiple_of(60) {
                self.login.forget_idle();
                self.messages.retain_recent();
                self.messages.shrink_to_fit();
            }
        }
    }

    /// The sites a user may see: `None` for every site (an unrestricted user), else the sites
    /// of its cameras.
    pub(crate) fn sites_of(&self, claims: &Claims) -> Option<std::collections::HashSet<String>> {
        let cameras = claims.cameras.as_ref()?;
        let known = self
            .camera_sites
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        Some(
            cameras
                .iter()
                .filter_map(|c| known.get(c).cloned())
                .collect(),
        )
    }

    fn note_site(&self, camera: &str, site: &str) {
        if let Ok(mut m) = self.camera_sites.lock() {
            // Bounded: camera and site names are length-checked, and this many cameras is
            // far beyond any deployment.
            if m.len() < 100_000 || m.contains_key(camera) {
                m.insert(camera.to_string(), site.to_string());
            }
        }
    }

    /// Records and broadcasts a camera's new state (live only).
    pub fn camera_status(&self, state: CameraState) {
        self.note_site(&state.camera, &state.site);
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

    pub(crate) fn broadcast(&self, msg: ServerMessage) {
        // Serialised once here, not once per dashboard.
        let json = serde_json::to_string(&msg).unwrap_or_default().into();
        // No subscriber is fine: the event is in the store for later recovery.
        let _ = self.events.send(Arc::new(Event { msg, json }));
    }

    pub(crate) async fn blocking<T: Send + 'static>(
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
        self.note_site(&alert.camera, &alert.site);
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

    /// Acknowledges an alert for the user of `claims`. An alert of a camera the user may not
    /// see is treated exactly like one that does not exist (`NoSuchAlert`), so ids cannot be
    /// probed.
    pub async fn acknowledge(
        &self,
        claims: &Claims,
        id: &str,
        note: Option<String>,
    ) -> Result<AlertUpdate, HubError> {
        let lookup = id.to_string();
        let visible = self
            .blocking(move |s| s.alert(&lookup))
            .await?
            .is_some_and(|a| claims.may_see(&a.camera));
        if !visible {
            return Err(HubError::Store(StoreError::NoSuchAlert(id.to_string())));
        }
        if note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(HubError::Invalid(format!(
                "a note has at most {MAX_NOTE_CHARS} characters"
            )));
        }
        self.update_alert(id, None, None, Some((claims.sub.clone(), note)))
            .await
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
        // Every field is stored, broadcast to every dashboard and kept in memory: bound them.
        bounded_name("camera", &d.camera, MAX_NAME_BYTES)?;
        if let Some(site) = &d.site {
            bounded_name("site", site, MAX_NAME_BYTES)?;
        }
        if let Some(label) = &d.label {
            bounded_name("label", label, MAX_LABEL_BYTES)?;
        }
        if d.snapshot_jpeg
            .as_ref()
            .is_some_and(|s| s.len() > MAX_SNAPSHOT_BASE64_BYTES)
        {
            return Err(DetectionError::Invalid(format!(
                "snapshot_jpeg is over {} KiB of base64",
                MAX_SNAPSHOT_BASE64_BYTES / 1024
            )));
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
        let now = now_ms();
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

/// Longest acknowledgement note, characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// Longest camera or site name of a detection, bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest label of a detection, bytes.
pub const MAX_LABEL_BYTES: usize = 32;
/// Largest snapshot of a detection: 512 KiB of base64 (384 KiB of JPEG).
pub const MAX_SNAPSHOT_BASE64_BYTES: usize = 512 * 1024;

/// A detection's name field: 1 to `max` bytes, no control characters.
fn bounded_name(field: &str, value: &str, max: usize) -> Result<(), DetectionError> {
    if value.trim().is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(DetectionError::Invalid(format!(
            "{field} must be 1 to {max} bytes without control characters"
        )));
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_millis() as u64)
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
