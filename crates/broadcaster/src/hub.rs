//! The hub: the broadcaster's shared state. It relays the event bus to every connection and
//! keeps what the routes need (cameras, limits, sessions).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use fightwatch_alerts::{AlertError, AlertService};
use fightwatch_protocol::{
    AlertUpdate, CameraState, ChatMessage, Detection, FightAlert, Metrics, ServerMessage, now_ms,
};
use fightwatch_store::{AlertStore, NewAlert, StoreError};
use tokio::sync::broadcast;

use crate::auth::{Auth, AuthError, Claims};
use crate::limits::{Keyed, LoginLimits, PerAddress, Rate};

/// Server settings. Every limit is listed, with its default, in docs/security.md.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Origins allowed to open a WebSocket from a browser (`http://127.0.0.1:8080`); a request
    /// whose Origin is neither listed nor the server's own host is refused.
    pub allowed_origins: Vec<String>,
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
    /// Open HTTP connections (not counting upgraded WebSockets) in all; at the cap, accepting
    /// pauses (new connections wait in the listen backlog).
    pub max_http_connections: usize,
    /// Open HTTP connections from one address (IPv6: one /64).
    pub max_http_connections_per_ip: usize,
    /// Open WebSockets in all; more are refused with 503.
    pub max_websockets: usize,
    /// Connections the kernel holds for the server while it is not accepting (at the HTTP
    /// connection cap): a reconnect surge waits there instead of being refused.
    pub listen_backlog: u32,
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
    /// Detections (`fight_detected`, `POST /api/detections`) per detector user.
    pub detection_rate_per_user: Rate,
    /// Detections per camera name, all detectors together.
    pub detection_rate_per_camera: Rate,
    /// Camera names one detector may introduce (ones no camera state or alert named yet) per
    /// hour: each new name is a new alert with a snapshot.
    pub max_new_cameras_per_detector: usize,
    /// Rooms one WebSocket may join.
    pub max_rooms_per_connection: usize,
    /// The most events one resume may replay; a client further behind is told to reload.
    pub max_resume_events: u64,
    /// This node's name in a cluster (shown by /healthz); `None` when it runs alone.
    pub node: Option<String>,
    /// Frames per second of live view.
    pub live_fps: f64,
    /// Most live view streams open at once on this node.
    pub max_live_viewers: usize,
    /// Most live view streams one user may have open on this node.
    pub max_live_per_user: usize,
    /// A live viewer that has not taken a frame for this long is dropped (it stopped reading).
    pub live_stall_timeout: std::time::Duration,
    /// When unacknowledged alerts escalate (`None`: never). Checked by every node; each level
    /// is recorded once.
    pub escalation: Option<fightwatch_alerts::EscalationPolicy>,
    /// Webhooks every alert event is posted to (from the event log: nothing is lost).
    pub webhooks: Vec<fightwatch_integrations::WebhookTarget>,
    /// MQTT brokers every alert event and camera state is published to.
    pub mqtt: Vec<fightwatch_integrations::MqttTarget>,
    /// Web Push to subscribed browsers (`None`: off).
    pub push: Option<fightwatch_integrations::PushSettings>,
    /// Group a camera's detections into its open alert within this window (`None`: every
    /// detection raises an alert). Default 120 s, for every command that serves.
    pub group_window: Option<std::time::Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            client_queue: 1024,
            max_message_bytes: 64 * 1024,
            max_connections_per_ip: 256,
            static_dir: None,
            secure_cookies: false,
            max_http_connections: 1024,
            max_http_connections_per_ip: 64,
            listen_backlog: 4096,
            max_websockets: 10_000,
            header_read_timeout: std::time::Duration::from_secs(10),
            request_body_timeout: std::time::Duration::from_secs(10),
            login_rate_per_address: Rate::new(10, std::time::Duration::from_secs(6)),
            login_rate_per_user: Rate::new(5, std::time::Duration::from_secs(60)),
            concurrent_password_hashes: 2,
            message_rate_per_user: Rate::new(40, std::time::Duration::from_millis(50)),
            // 20 a second after a burst of 50: a detector box with a few dozen cameras in an
            // incident; not a flood of snapshots (audit round two, finding 3).
            detection_rate_per_user: Rate::new(50, std::time::Duration::from_millis(50)),
            detection_rate_per_camera: Rate::new(10, std::time::Duration::from_millis(500)),
            max_new_cameras_per_detector: 256,
            max_rooms_per_connection: 64,
            max_resume_events: 10_000,
            node: None,
            live_fps: 5.0,
            max_live_viewers: 64,
            max_live_per_user: 4,
            live_stall_timeout: std::time::Duration::from_secs(5),
            escalation: Some(fightwatch_alerts::EscalationPolicy::default()),
            webhooks: Vec::new(),
            mqtt: Vec::new(),
            push: None,
            group_window: Some(fightwatch_alerts::DEFAULT_GROUP_WINDOW),
        }
    }
}

/// Errors of the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The alert stage or the store failed, or refused the request.
    #[error(transparent)]
    Alerts(#[from] AlertError),
    /// Over a rate or count limit (docs/security.md); try again after `retry_after_s`.
    #[error("{message}")]
    Limited {
        /// What was exceeded, for the client.
        message: String,
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// A token could not be made.
    #[error("issuing a token: {0}")]
    Token(String),
}

impl From<StoreError> for HubError {
    fn from(e: StoreError) -> Self {
        Self::Alerts(AlertError::Store(e))
    }
}

/// An event on its way to the connections, with its JSON made once.
pub(crate) struct Event {
    pub(crate) msg: ServerMessage,
    pub(crate) json: axum::extract::ws::Utf8Bytes,
    /// The same as a Socket.IO event packet, made by the first Socket.IO connection that
    /// sends it and shared by the rest.
    socketio: std::sync::OnceLock<Option<axum::extract::ws::Utf8Bytes>>,
}

impl Event {
    pub(crate) fn new(msg: ServerMessage) -> Self {
        // Serialised once here, not once per dashboard.
        let json = serde_json::to_string(&msg).unwrap_or_default().into();
        Self {
            msg,
            json,
            socketio: std::sync::OnceLock::new(),
        }
    }

    /// The event as a Socket.IO packet (`42["fight_alert",{…}]`).
    pub(crate) fn socketio(&self) -> Option<&axum::extract::ws::Utf8Bytes> {
        self.socketio
            .get_or_init(|| crate::socketio::packet::event(self.json.as_str()).map(Into::into))
            .as_ref()
    }
}

/// Shared server state.
pub struct Hub {
    pub(crate) alerts: Arc<AlertService>,
    /// This node's cameras' thumbnails and newest frames.
    pub(crate) feeds: Arc<crate::CameraFeeds>,
    /// The bus relayed to every connection, serialised once per event.
    pub(crate) events: broadcast::Sender<Arc<Event>>,
    pub(crate) auth: Auth,
    pub(crate) config: ServerConfig,
    /// Flips to true on shutdown: every connection closes with 1001.
    pub(crate) closing: tokio::sync::watch::Sender<bool>,
    /// Cameras as last reported on the bus.
    pub(crate) cameras: std::sync::Mutex<std::collections::BTreeMap<String, CameraState>>,
    /// The last metric update, for `/metrics`.
    pub(crate) last_metrics: std::sync::Mutex<Option<Metrics>>,
    /// Open WebSockets per client address.
    pub(crate) ws_per_ip: Arc<PerAddress>,
    /// Open HTTP connections per client address.
    pub(crate) http_per_ip: Arc<PerAddress>,
    /// Login attempt limits and the password-hashing gate.
    pub(crate) login: LoginLimits,
    /// WebSocket messages per user name.
    pub(crate) messages: Keyed<String>,
    detections_per_user: Keyed<String>,
    detections_per_camera: Keyed<String>,
    /// Camera names each detector introduced this hour.
    detector_cameras: std::sync::Mutex<HashMap<String, std::collections::HashSet<String>>>,
    /// Grows whenever a session is revoked (here or by another process): open WebSockets then
    /// check that theirs is still good.
    pub(crate) revocations: tokio::sync::watch::Sender<u64>,
    /// The site of every camera seen (camera states, alerts): what a camera-restricted user's
    /// site rooms are.
    pub(crate) camera_sites: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Live view streams of this node's cameras.
    pub(crate) live: crate::live::LiveStreams,
    /// The key evidence exports are signed with (set by `fightwatch_node::Server::start`).
    pub(crate) evidence_key: std::sync::OnceLock<Arc<fightwatch_evidence::SigningKey>>,
    /// The other nodes of a cluster (none: standalone).
    pub(crate) peers: std::sync::OnceLock<Arc<dyn crate::Peers>>,
    /// Where `fightwatch tune` leaves its report (`DATA_DIR/tune`).
    tune_dir: std::sync::OnceLock<std::path::PathBuf>,
    /// Web Push settings and key, when it is on.
    push: std::sync::OnceLock<(
        fightwatch_integrations::PushSettings,
        Arc<fightwatch_integrations::VapidKey>,
    )>,
    /// Evidence exports in progress (each holds its clip in memory).
    pub(crate) exports: tokio::sync::Semaphore,
    /// Webhook delivery (set by `fightwatch_node::Server::start`).
    pub(crate) integrations: std::sync::OnceLock<fightwatch_integrations::Integrations>,
}

impl Hub {
    /// A hub serving what `alerts` stores and publishes. Starts relaying its bus, so call it
    /// inside a tokio runtime.
    pub fn new(alerts: Arc<AlertService>, auth: Auth, config: ServerConfig) -> Arc<Self> {
        let (events, _) = broadcast::channel(config.client_queue.max(16));
        let (closing, _) = tokio::sync::watch::channel(false);
        let subscription = alerts.bus().subscribe();
        let hub = Arc::new(Self {
            alerts,
            feeds: Arc::default(),
            events,
            auth,
            closing,
            cameras: Default::default(),
            last_metrics: Default::default(),
            ws_per_ip: PerAddress::new(config.max_connections_per_ip),
            http_per_ip: PerAddress::new(config.max_http_connections_per_ip),
            login: LoginLimits::new(&config),
            messages: config.message_rate_per_user.limiter(),
            detections_per_user: config.detection_rate_per_user.limiter(),
            detections_per_camera: config.detection_rate_per_camera.limiter(),
            detector_cameras: Default::default(),
            revocations: tokio::sync::watch::channel(0).0,
            camera_sites: Default::default(),
            live: crate::live::LiveStreams::new(
                config.live_fps,
                config.max_live_viewers,
                config.max_live_per_user,
            ),
            evidence_key: std::sync::OnceLock::new(),
            peers: std::sync::OnceLock::new(),
            push: std::sync::OnceLock::new(),
            tune_dir: std::sync::OnceLock::new(),
            exports: tokio::sync::Semaphore::new(2),
            integrations: std::sync::OnceLock::new(),
            config,
        });
        tokio::spawn(crate::relay::run(Arc::downgrade(&hub), subscription));
        hub
    }

    /// Signs evidence exports with `key` (once; later calls are ignored).
    pub fn set_evidence_key(&self, key: fightwatch_evidence::SigningKey) {
        let _ = self.evidence_key.set(Arc::new(key));
    }

    /// Where `fightwatch tune` leaves its report, for the console's tuning page (once).
    pub fn set_tune_dir(&self, dir: std::path::PathBuf) {
        let _ = self.tune_dir.set(dir);
    }

    /// Where `fightwatch tune` leaves its report.
    pub(crate) fn tune_dir(&self) -> Option<&std::path::Path> {
        self.tune_dir.get().map(std::path::PathBuf::as_path)
    }

    /// Turns Web Push on (once): subscriptions are taken, and the sender runs.
    pub fn set_push(
        &self,
        settings: fightwatch_integrations::PushSettings,
        key: Arc<fightwatch_integrations::VapidKey>,
    ) {
        let _ = self.push.set((settings, key));
    }

    /// Web Push settings and key, when it is on.
    pub(crate) fn push(
        &self,
    ) -> Option<&(
        fightwatch_integrations::PushSettings,
        Arc<fightwatch_integrations::VapidKey>,
    )> {
        self.push.get()
    }

    /// Delivers alert events to the configured webhooks from now on (once).
    pub fn set_integrations(&self, integrations: fightwatch_integrations::Integrations) {
        let _ = self.integrations.set(integrations);
    }

    /// Each webhook's delivery state.
    pub fn integrations(&self) -> Vec<fightwatch_integrations::TargetStatus> {
        self.integrations
            .get()
            .map(fightwatch_integrations::Integrations::status)
            .unwrap_or_default()
    }

    /// Live view streams open now.
    pub fn live_viewers(&self) -> usize {
        self.live.viewers()
    }

    /// Live view JPEGs encoded since start, all cameras.
    pub fn live_frames_encoded(&self) -> u64 {
        self.live.encoded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token for a new session of `user`: the session is stored, then the token signed.
    pub fn issue_token(
        &self,
        user: &str,
        role: crate::Role,
        ttl_s: u64,
        cameras: Option<Vec<String>>,
    ) -> Result<String, HubError> {
        crate::users::issue_token(
            self.store().as_ref(),
            &self.auth,
            user,
            role,
            ttl_s,
            cameras,
        )
        .map_err(|e| match e {
            crate::users::UserError::Store(e) => HubError::from(e),
            other => HubError::Token(other.to_string()),
        })
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
                for limiter in [
                    &self.messages,
                    &self.detections_per_user,
                    &self.detections_per_camera,
                ] {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
            if ticks.is_multiple_of(3600)
                && let Ok(mut m) = self.detector_cameras.lock()
            {
                m.clear();
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

    /// Records `camera`'s site. From a camera's state (the configuration of the node that runs
    /// it) the site always counts; from an alert (`configured` false) only when the camera has
    /// none yet, so a detection cannot move a camera to another site (and so widen which
    /// `chat:SITE` rooms its restricted users may read).
    pub(crate) fn note_site(&self, camera: &str, site: &str, configured: bool) {
        if let Ok(mut m) = self.camera_sites.lock() {
            if !configured && m.contains_key(camera) {
                return;
            }
            // Bounded: camera and site names are length-checked, and this many cameras is
            // far beyond any deployment.
            if m.len() < 100_000 || m.contains_key(camera) {
                m.insert(camera.to_string(), site.to_string());
            }
        }
    }

    /// The site `camera` is known at, if any.
    pub(crate) fn site_of(&self, camera: &str) -> Option<String> {
        self.camera_sites.lock().ok()?.get(camera).cloned()
    }

    /// Publishes a camera's new state (live only).
    pub fn camera_status(&self, state: CameraState) {
        self.alerts.camera_status(state);
    }

    /// Publishes a metric update (the relay fills in the connection count).
    pub fn metrics(&self, metrics: Metrics) {
        self.alerts.metrics(metrics);
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

    /// The alert stage this hub serves.
    /// The settings the hub was made with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// This node's cameras' thumbnails and newest frames (the pipeline fills them).
    pub fn feeds(&self) -> &Arc<crate::CameraFeeds> {
        &self.feeds
    }

    /// The alert stage.
    pub fn alerts(&self) -> &Arc<AlertService> {
        &self.alerts
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn AlertStore> {
        self.alerts.store()
    }

    /// Runs a store call on the blocking pool.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn AlertStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, HubError> {
        Ok(fightwatch_alerts::blocking(self.store(), f).await?)
    }

    /// Persists a new alert (and its snapshot), then publishes it.
    pub async fn raise_alert(
        &self,
        alert: NewAlert,
        snapshot: Option<Arc<Vec<u8>>>,
    ) -> Result<FightAlert, HubError> {
        let raised = self.alerts.raise(alert, snapshot).await?;
        // The relay notes it too, but later: a restricted user's `chat:SITE` must not depend
        // on whether the relay has read this alert yet.
        self.note_site(&raised.camera, &raised.site, false);
        Ok(raised)
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
        self.visible(claims, id).await?;
        Ok(self.alerts.acknowledge(id, &claims.sub, note).await?)
    }

    /// The alert `id` if `claims` may see it; else "no such alert" (ids cannot be probed).
    pub(crate) async fn visible(
        &self,
        claims: &Claims,
        id: &str,
    ) -> Result<fightwatch_store::AlertRecord, HubError> {
        let lookup = id.to_string();
        match self.blocking(move |s| s.alert(&lookup)).await? {
            Some(a) if claims.may_see(&a.camera) => Ok(a),
            _ => Err(StoreError::NoSuchAlert(id.to_string()).into()),
        }
    }

    /// Assigns an alert to `to` (`None`: the caller takes it). The assignee must be an
    /// operator or admin who may see the alert's camera.
    pub async fn assign(
        &self,
        claims: &Claims,
        id: &str,
        to: Option<&str>,
    ) -> Result<AlertUpdate, HubError> {
        let alert = self.visible(claims, id).await?;
        let user = match to {
            None => claims.sub.clone(),
            Some(name) => {
                let lookup = name.to_string();
                let target = self.blocking(move |s| s.user(&lookup)).await?;
                let fits = target.as_ref().is_some_and(|u| {
                    u.role.can_ack() && u.cameras.as_ref().is_none_or(|c| c.contains(&alert.camera))
                });
                if !fits {
                    return Err(HubError::Alerts(AlertError::Invalid(format!(
                        "{name} is not an operator who may see camera {}",
                        alert.camera
                    ))));
                }
                name.to_string()
            }
        };
        Ok(self.alerts.assign(id, &user).await?)
    }

    /// Resolves an alert the caller may see.
    pub async fn resolve(
        &self,
        claims: &Claims,
        id: &str,
        outcome: fightwatch_protocol::Outcome,
        reason: Option<fightwatch_protocol::FalseAlarmReason>,
        note: Option<String>,
    ) -> Result<AlertUpdate, HubError> {
        self.visible(claims, id).await?;
        Ok(self
            .alerts
            .resolve(id, &claims.sub, outcome, reason, note)
            .await?)
    }

    /// Persists a chat message, then publishes it.
    pub async fn post_message(
        &self,
        room: &str,
        from: &str,
        text: &str,
    ) -> Result<ChatMessage, HubError> {
        let (room, from, text) = (room.to_string(), from.to_string(), text.to_string());
        Ok(self
            .alerts
            .journal()
            .record(
                move |s| s.add_message(&room, &from, &text),
                ServerMessage::ReceiveMessage,
            )
            .await?)
    }

    /// Turns an external detection into an alert, like the pipeline's (or groups it into the
    /// camera's open alert).
    pub async fn detection(
        &self,
        d: Detection,
        source: &str,
    ) -> Result<fightwatch_alerts::Raised, HubError> {
        let mut d = d;
        // Names are checked before the limits keep or count them.
        fightwatch_alerts::detection::check_fields(&d)?;
        // A known camera keeps its site, whatever the detector says.
        let known = self.site_of(&d.camera);
        self.admit_detection(&d.camera, source, known.is_some())?;
        if let Some(site) = known {
            d.site = Some(site);
        }
        Ok(self.alerts.detection(d, source).await?)
    }

    /// Whether `detector` may report a detection of `camera` now: its own rate, the camera's
    /// rate, and (for a camera nobody named yet) how many new names it introduced this hour.
    fn admit_detection(&self, camera: &str, detector: &str, known: bool) -> Result<(), HubError> {
        let limited = |message: String, retry_after_s| {
            tracing::debug!(detector, camera, %message, "Detection refused.");
            HubError::Limited {
                message,
                retry_after_s,
            }
        };
        let max = self.config.max_new_cameras_per_detector;
        let new_name = |m: &HashMap<String, std::collections::HashSet<String>>| {
            !known && m.get(detector).is_none_or(|mine| !mine.contains(camera))
        };
        let full = |m: &HashMap<String, std::collections::HashSet<String>>| {
            new_name(m) && m.get(detector).is_some_and(|mine| mine.len() >= max)
        };
        if self.detector_cameras.lock().is_ok_and(|m| full(&m)) {
            return Err(limited(
                format!(
                    "detector {detector} named {max} new cameras this hour, the most allowed: add the camera to the configuration, or wait"
                ),
                3600,
            ));
        }
        crate::limits::check(&self.detections_per_user, &detector.to_string()).map_err(|wait| {
            limited(
                format!("too many detections from {detector}: slow down"),
                wait,
            )
        })?;
        crate::limits::check(&self.detections_per_camera, &camera.to_string()).map_err(|wait| {
            limited(
                format!("too many detections of camera {camera}: slow down"),
                wait,
            )
        })?;
        if let Ok(mut m) = self.detector_cameras.lock()
            && new_name(&m)
        {
            m.entry(detector.to_string())
                .or_default()
                .insert(camera.to_string());
        }
        Ok(())
    }

    /// Events after `after_seq` from the store, oldest first.
    pub async fn events_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<ServerMessage>, HubError> {
        let bus = self.alerts.bus().clone();
        Ok(
            tokio::task::spawn_blocking(move || bus.replay_after(after_seq, limit))
                .await
                .map_err(|_| AlertError::Cancelled)?
                .map_err(AlertError::from)?,
        )
    }
}
