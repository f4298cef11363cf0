//! `fightwatch.toml`: the deployment (cameras, model, server, storage).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use std::time::Duration;

use fightwatch_alerts::{ArmedSchedule, Retention};
use fightwatch_broadcaster::{Rate, ServerConfig};
use fightwatch_capture::{CameraConfig, Pacing, PrivacyMask};
use fightwatch_inference::{GateConfig, IncidentConfig, IncidentOverrides, PipelineConfig};
use fightwatch_node::ServerOptions;
use fightwatch_node::{CameraSpec, ClipSettings};
use serde::Deserialize;

/// Where the server listens unless told otherwise (`[server] bind`, `--bind`).
pub const DEFAULT_BIND: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8080,
));
/// The data directory unless told otherwise (`[storage] data_dir`, `--data-dir`).
pub const DEFAULT_DATA_DIR: &str = "fightwatch-data";
/// The console's built files unless told otherwise (`[server] web_dir`, `--web-dir`).
pub const DEFAULT_WEB_DIR: &str = "web/dist";

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Model and inference settings.
    pub model: ModelSection,
    /// `[incident]` as written: each value given replaces the model package's default.
    #[serde(default, rename = "incident")]
    pub incident_set: IncidentOverrides,
    /// The incident settings in force: the built-in defaults, then the model package's own
    /// (once [`Config::load_model`] has read it), then `[incident]`'s.
    #[serde(skip)]
    pub incident: IncidentConfig,
    /// Windows and batching.
    #[serde(default)]
    pub pipeline: PipelineSection,
    /// The dashboard server.
    #[serde(default)]
    pub server: ServerSection,
    /// Where data lives.
    #[serde(default)]
    pub storage: StorageSection,
    /// Shared servers when this node is one of several.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Incident clips and live view.
    #[serde(default)]
    pub evidence: EvidenceSection,
    /// Acknowledgement deadlines and escalation.
    #[serde(default)]
    pub workflow: WorkflowSection,
    /// Webhooks every alert event is posted to.
    #[serde(default)]
    pub webhooks: Vec<WebhookSection>,
    /// MQTT brokers alert events and camera states are published to.
    #[serde(default)]
    pub mqtt: Vec<MqttSection>,
    /// Web Push to browsers that installed the console (off without this section).
    #[serde(default)]
    pub push: Option<PushSection>,
    /// `[sites.NAME]`: settings of a site (its time zone).
    #[serde(default)]
    pub sites: BTreeMap<String, SiteSection>,
    /// The cameras.
    pub cameras: Vec<CameraSection>,
}

/// `[cluster]` in a config file, `--node`/`--database-url`/`--redis-url` on `serve`: all three
/// make this process one node of a deployment (docs/deploy.md); none, a standalone node.
/// The URLs may also come from FIGHTWATCH_DATABASE_URL and FIGHTWATCH_REDIS_URL (keeping
/// passwords out of files and process lists).
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// This node's name, unique in the deployment.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// PostgreSQL shared by the nodes: postgres://user[:password]@host[:port]/database.
    #[arg(
        long,
        env = "FIGHTWATCH_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Redis shared by the nodes: redis://[:password@]host[:port]/db.
    #[arg(
        long,
        env = "FIGHTWATCH_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis_url: Option<String>,
    /// Cameras this node may run (`fightwatch run`; 0: dashboards only; default: all).
    #[arg(skip)]
    pub max_cameras: Option<usize>,
    /// Milliseconds a camera lease lasts unrenewed: about how long a dead node's cameras
    /// stay dark (default 4000; renewed every second).
    #[arg(skip)]
    pub lease_ms: Option<u64>,
}

impl ClusterSection {
    /// The cluster these settings describe, or `None` for a standalone node.
    pub fn options(&self) -> anyhow::Result<Option<fightwatch_node::ClusterOptions>> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let database_url = self
            .database_url
            .clone()
            .or_else(|| env("FIGHTWATCH_DATABASE_URL"));
        let redis_url = self
            .redis_url
            .clone()
            .or_else(|| env("FIGHTWATCH_REDIS_URL"));
        match (&self.node, database_url, redis_url) {
            (None, None, None) => Ok(None),
            (Some(node), Some(database_url), Some(redis_url)) => {
                anyhow::ensure!(
                    !node.is_empty()
                        && node.len() <= 64
                        && node
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                    "node name {node:?}: 1 to 64 letters, digits, '-', '_' or '.'"
                );
                Ok(Some(fightwatch_node::ClusterOptions {
                    node: node.clone(),
                    database_url,
                    redis_url,
                }))
            }
            (node, db, redis) => anyhow::bail!(
                "a cluster node needs all of node, database_url and redis_url; missing: {}",
                [
                    node.is_none().then_some("node"),
                    db.is_none().then_some("database_url"),
                    redis.is_none().then_some("redis_url"),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            ),
        }
    }
}

/// `[model]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Model package directory (relative to the config file).
    pub package: PathBuf,
    /// cpu, cuda[:N], tensorrt[:N], auto.
    #[serde(default = "default_device")]
    pub device: String,
    /// Threads per operator; 0: one per core.
    #[serde(default)]
    pub threads: usize,
}

fn default_device() -> String {
    "cpu".into()
}

/// Windows of one live camera that may wait for the model: one, so an overloaded box scores
/// each camera's newest window (two waiting doubled the lag: 3.1 s against 1.5 s at worst,
/// docs/performance.md "Cameras per box").
const LIVE_BACKLOG: usize = 1;

/// `[pipeline]`: how windows are cut and batched; defaults as `fightwatch replay`'s
/// ([`PipelineConfig::default`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    /// Seconds of media time between window starts.
    pub hop_s: f64,
    /// Most clips per model run.
    pub max_batch: usize,
    /// Leave windows unscored where nothing moved or the score is far below the threshold
    /// (docs/inference.md, "Which windows are scored"); false scores every window.
    pub gate: bool,
    /// A window whose frames changed less than this fraction of the picture is "still"
    /// (0: motion does not matter).
    pub still_below: f32,
    /// Below this smoothed score a camera is scored every `relaxed_hop_s`.
    pub relaxed_below: f32,
    /// Seconds between scored windows while far below the threshold.
    pub relaxed_hop_s: f64,
    /// Longest a camera goes unscored, seconds.
    pub max_unscored_s: f64,
}

impl Default for PipelineSection {
    fn default() -> Self {
        let d = PipelineConfig::default();
        let g = GateConfig::recommended();
        Self {
            hop_s: d.hop_s,
            max_batch: d.max_batch,
            gate: true,
            still_below: g.still_below.unwrap_or(0.0),
            relaxed_below: g.relaxed_below,
            relaxed_hop_s: g.relaxed_hop_s,
            max_unscored_s: g.max_unscored_s,
        }
    }
}

impl PipelineSection {
    /// The gate these settings describe.
    pub fn gate_config(&self) -> GateConfig {
        if !self.gate {
            return GateConfig::off();
        }
        GateConfig {
            still_below: (self.still_below > 0.0).then_some(self.still_below),
            relaxed_below: self.relaxed_below,
            relaxed_hop_s: self.relaxed_hop_s,
            max_unscored_s: self.max_unscored_s,
        }
    }
}

/// `[server]` in the config file, and the same settings as `serve`'s and `replay --serve`'s
/// options: one type, so both read them alike. Defaults are the server's own
/// ([`ServerConfig::default`]).
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address to listen on.
    #[arg(long, default_value_t = DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// Browser origins allowed to open WebSockets besides the server's own (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Open WebSockets allowed from one IP address.
    #[arg(long, default_value_t = ServerConfig::default().max_connections_per_ip)]
    pub max_connections_per_ip: usize,
    /// Open WebSockets allowed in all.
    #[arg(long, default_value_t = ServerConfig::default().max_websockets)]
    pub max_websockets: usize,
    /// Open HTTP connections (before any WebSocket upgrade) allowed from one IP address.
    #[arg(long, default_value_t = ServerConfig::default().max_http_connections_per_ip)]
    pub max_http_connections_per_ip: usize,
    /// Open HTTP connections (before any WebSocket upgrade) in all; at the cap, accepting
    /// pauses and new connections wait in the listen backlog.
    #[arg(long, default_value_t = ServerConfig::default().max_http_connections)]
    pub max_http_connections: usize,
    /// Connections the kernel holds while accepting pauses (capped by net.core.somaxconn).
    #[arg(long, default_value_t = ServerConfig::default().listen_backlog)]
    pub listen_backlog: u32,
    /// Detections a second one detector user may report (after a burst of 2.5 s worth).
    #[arg(long, default_value_t = ServerConfig::default().detection_rate_per_user.steady_per_second())]
    pub detection_rate: f64,
    /// Detections a second of one camera, all detectors together (after a burst of 5 s worth).
    #[arg(long, default_value_t = ServerConfig::default().detection_rate_per_camera.steady_per_second())]
    pub camera_detection_rate: f64,
    /// New camera names one detector may introduce an hour (each is a new alert).
    #[arg(long, default_value_t = ServerConfig::default().max_new_cameras_per_detector)]
    pub new_cameras_per_detector: usize,
    /// The web console's built files, served at / when present (in a config file: relative
    /// to the file).
    #[arg(long, default_value = DEFAULT_WEB_DIR, value_name = "DIR")]
    pub web_dir: PathBuf,
    /// Mark the login cookie Secure (browsers reach the server over HTTPS, e.g. through a TLS
    /// reverse proxy).
    #[arg(long)]
    pub secure_cookies: bool,
}

impl ServerSection {
    /// The server these settings describe, keeping its data in `data_dir`.
    pub fn options(&self, data_dir: &Path) -> ServerOptions {
        ServerOptions {
            bind: self.bind,
            data_dir: data_dir.to_path_buf(),
            config: ServerConfig {
                allowed_origins: self.allowed_origins.clone(),
                max_connections_per_ip: self.max_connections_per_ip,
                max_websockets: self.max_websockets,
                max_http_connections_per_ip: self.max_http_connections_per_ip,
                max_http_connections: self.max_http_connections,
                listen_backlog: self.listen_backlog,
                detection_rate_per_user: Rate::per_second(self.detection_rate, 2.5),
                detection_rate_per_camera: Rate::per_second(self.camera_detection_rate, 5.0),
                max_new_cameras_per_detector: self.new_cameras_per_detector,
                static_dir: Some(self.web_dir.clone()),
                secure_cookies: self.secure_cookies,
                ..ServerConfig::default()
            },
            cluster: None,
        }
    }
}

impl Default for ServerSection {
    fn default() -> Self {
        let d = ServerConfig::default();
        Self {
            bind: DEFAULT_BIND,
            allowed_origins: d.allowed_origins,
            max_connections_per_ip: d.max_connections_per_ip,
            max_websockets: d.max_websockets,
            max_http_connections_per_ip: d.max_http_connections_per_ip,
            max_http_connections: d.max_http_connections,
            listen_backlog: d.listen_backlog,
            detection_rate: d.detection_rate_per_user.steady_per_second(),
            camera_detection_rate: d.detection_rate_per_camera.steady_per_second(),
            new_cameras_per_detector: d.max_new_cameras_per_detector,
            web_dir: DEFAULT_WEB_DIR.into(),
            secure_cookies: d.secure_cookies,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// Database, snapshots, secrets (relative to the config file).
    pub data_dir: PathBuf,
    /// Alerts older than this many days are deleted (0: keep forever).
    pub retention_days: u32,
    /// Snapshots beyond this many MiB are deleted, oldest first (0: no limit).
    pub max_snapshot_mb: u64,
}

impl StorageSection {
    /// What is kept, and for how long.
    pub fn retention(&self) -> Retention {
        Retention {
            days: self.retention_days,
            max_snapshot_bytes: self.max_snapshot_mb.saturating_mul(1024 * 1024),
        }
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            data_dir: DEFAULT_DATA_DIR.into(),
            retention_days: 30,
            max_snapshot_mb: 2048,
        }
    }
}

/// `[evidence]`: incident clips and live view.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceSection {
    /// Record a clip of every incident (pre-roll, incident, post-roll).
    pub clips: bool,
    /// Seconds of video before the incident's start.
    pub pre_roll_s: f64,
    /// Seconds of video after its end.
    pub post_roll_s: f64,
    /// Longest clip, seconds.
    pub max_clip_s: f64,
    /// Frames per second of live view (`/api/cameras/{name}/live.mjpeg`).
    pub live_fps: f64,
    /// Most live views open at once on this node, all users.
    pub live_viewers: usize,
    /// Most live views one user may have open on this node.
    pub live_per_user: usize,
}

impl Default for EvidenceSection {
    /// The libraries' defaults: the clips' from `ClipSettings`, live view's from `ServerConfig`.
    fn default() -> Self {
        let clip = ClipSettings::new("");
        let server = ServerConfig::default();
        Self {
            clips: true,
            pre_roll_s: clip.pre_roll.as_secs_f64(),
            post_roll_s: clip.post_roll.as_secs_f64(),
            max_clip_s: clip.max_length.as_secs_f64(),
            live_fps: server.live_fps,
            live_viewers: server.max_live_viewers,
            live_per_user: server.max_live_per_user,
        }
    }
}

impl EvidenceSection {
    fn check(&self) -> anyhow::Result<()> {
        let within = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        if !within(self.pre_roll_s, 0.0, 60.0) || !within(self.post_roll_s, 0.0, 60.0) {
            bail!("[evidence]: pre_roll_s and post_roll_s must be 0 to 60");
        }
        if !within(self.max_clip_s, 1.0, 3600.0) {
            bail!("[evidence]: max_clip_s must be 1 to 3600");
        }
        if !within(self.live_fps, 0.1, 30.0) {
            bail!("[evidence]: live_fps must be 0.1 to 30");
        }
        if !(1..=100_000).contains(&self.live_viewers)
            || !(1..=self.live_viewers).contains(&self.live_per_user)
        {
            bail!(
                "[evidence]: live_viewers must be 1 to 100000 and live_per_user 1 to live_viewers"
            );
        }
        Ok(())
    }

    /// Clip settings for media in `data_dir` (`None` when clips are off).
    pub fn clip_settings(&self, data_dir: &Path) -> Option<ClipSettings> {
        self.clips.then(|| ClipSettings {
            pre_roll: Duration::from_secs_f64(self.pre_roll_s),
            post_roll: Duration::from_secs_f64(self.post_roll_s),
            max_length: Duration::from_secs_f64(self.max_clip_s),
            ..ClipSettings::new(fightwatch_node::media_dir(data_dir))
        })
    }
}

/// One `[[webhooks]]` entry (docs/integrations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Unique name.
    pub name: String,
    /// `https://…`.
    pub url: String,
    /// HMAC-SHA256 key (at least 16 characters); better from the environment:
    /// `secret_env = "VAR"`.
    #[serde(default)]
    pub secret: Option<String>,
    /// The environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Only these sites (default all).
    #[serde(default)]
    pub sites: Vec<String>,
    /// Only these cameras (default all).
    #[serde(default)]
    pub cameras: Vec<String>,
    /// raised, escalated, resolved, updated (default: raised, escalated, resolved).
    #[serde(default)]
    pub events: Vec<String>,
    /// Seconds a POST may take (default 5).
    #[serde(default = "five")]
    pub timeout_s: f64,
}

fn five() -> f64 {
    5.0
}

/// `[push]`: Web Push to the console's service worker (docs/integrations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSection {
    /// Who runs this server, for push services: `mailto:…` or `https://…`.
    pub contact: String,
    /// Push services browsers' endpoints may point at (default: Google's, Mozilla's,
    /// Apple's and Microsoft's).
    #[serde(default)]
    pub endpoints: Option<Vec<String>>,
}

impl PushSection {
    fn settings(&self) -> anyhow::Result<fightwatch_integrations::PushSettings> {
        let defaults = fightwatch_integrations::PushSettings::default();
        let settings = fightwatch_integrations::PushSettings {
            contact: self.contact.clone(),
            endpoints: self.endpoints.clone().unwrap_or(defaults.endpoints),
        };
        settings.check()?;
        Ok(settings)
    }
}

/// One `[[mqtt]]` broker (docs/integrations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// Unique name (webhooks and brokers share the names).
    pub name: String,
    /// `mqtt://host[:port]`.
    pub url: String,
    /// Broker user.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the user's password (never in the file).
    #[serde(default)]
    pub password_env: Option<String>,
    /// First level of every topic (default `fightwatch`).
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Only these sites (default all).
    #[serde(default)]
    pub sites: Vec<String>,
    /// Only these cameras (default all).
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_topic_prefix() -> String {
    "fightwatch".into()
}

impl MqttSection {
    fn target(&self) -> anyhow::Result<fightwatch_integrations::MqttTarget> {
        let password = match &self.password_env {
            Some(var) => Some(
                std::env::var(var)
                    .with_context(|| format!("mqtt {}: ${var} is not set", self.name))?,
            ),
            None => None,
        };
        let target = fightwatch_integrations::MqttTarget {
            name: self.name.clone(),
            url: self.url.clone(),
            username: self.username.clone(),
            password,
            topic_prefix: self.topic_prefix.clone(),
            sites: self.sites.clone(),
            cameras: self.cameras.clone(),
        };
        target.check()?;
        Ok(target)
    }
}

impl WebhookSection {
    fn target(&self) -> anyhow::Result<fightwatch_integrations::WebhookTarget> {
        use fightwatch_integrations::EventKind;
        let secret = match (&self.secret, &self.secret_env) {
            (Some(s), None) => s.clone(),
            (None, Some(var)) => std::env::var(var)
                .with_context(|| format!("webhook {}: ${var} is not set", self.name))?,
            _ => bail!(
                "webhook {}: give secret or secret_env (one of them)",
                self.name
            ),
        };
        let events = self
            .events
            .iter()
            .map(|e| {
                EventKind::parse(e).with_context(|| {
                    format!(
                        "webhook {}: event {e:?} is not raised, escalated, resolved or updated",
                        self.name
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0 && self.timeout_s <= 60.0) {
            bail!("webhook {}: timeout_s must be 0 to 60", self.name);
        }
        let target = fightwatch_integrations::WebhookTarget {
            name: self.name.clone(),
            url: self.url.clone(),
            secret,
            sites: self.sites.clone(),
            cameras: self.cameras.clone(),
            events,
            timeout: Duration::from_secs_f64(self.timeout_s),
        };
        target.check()?;
        Ok(target)
    }
}

/// `[workflow]`: how long an alert may wait for an acknowledgement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowSection {
    /// Seconds to acknowledge an alert before it escalates (0: never escalate).
    pub ack_deadline_s: f64,
    /// Seconds between further escalations.
    pub escalate_every_s: f64,
    /// A camera down (reconnecting, failed) this many seconds raises a `camera_offline` alert,
    /// ended when it is back (0: never).
    pub camera_offline_s: f64,
    /// A detection on a camera whose alert is still open (not resolved) and was last seen
    /// this many seconds ago at most counts into that alert instead of raising another (0:
    /// every detection is an alert).
    pub group_window_s: f64,
}

impl Default for WorkflowSection {
    /// The libraries' defaults (escalation from `EscalationPolicy`, grouping from
    /// `ServerConfig`); `camera_offline_s` is the config's own (the library leaves it off).
    fn default() -> Self {
        let escalation = fightwatch_alerts::EscalationPolicy::default();
        Self {
            ack_deadline_s: escalation.deadline.as_secs_f64(),
            escalate_every_s: escalation.interval.as_secs_f64(),
            camera_offline_s: 30.0,
            // The library's default, so `serve` and `run` group alike.
            group_window_s: fightwatch_broadcaster::ServerConfig::default()
                .group_window
                .map_or(0.0, |w| w.as_secs_f64()),
        }
    }
}

/// A camera's `masks`: polygons checked while the file is read, so a bad one is an error
/// that names its line.
#[derive(Debug, Clone)]
pub struct Masks(pub PrivacyMask);

impl<'de> Deserialize<'de> for Masks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let polygons = Vec::<Vec<[f64; 2]>>::deserialize(d)?;
        PrivacyMask::new(polygons)
            .map(Masks)
            .map_err(serde::de::Error::custom)
    }
}

/// `[sites.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    /// IANA time zone (`Europe/Berlin`) of the site's armed hours (default: this machine's).
    pub time_zone: Option<String>,
}

/// One `[[cameras]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSection {
    /// Unique name.
    pub name: String,
    /// rtsp://, http(s)://, usb:N, a file or an image folder.
    pub source: String,
    /// Site (for `site:` rooms).
    #[serde(default = "default_site")]
    pub site: String,
    /// Frames per second analysed (default: every frame).
    #[serde(default)]
    pub analysis_fps: Option<f64>,
    /// Recorded files: play at recorded speed (default true).
    #[serde(default = "yes")]
    pub realtime: bool,
    /// Recorded files: start again at the end (default true, like a camera that never stops).
    #[serde(default = "yes", rename = "loop")]
    pub loop_file: bool,
    /// Privacy masks: polygons of `[x, y]` points, fractions of the frame (0–1), blacked out
    /// of snapshots, clips, live view and thumbnails.
    #[serde(default)]
    pub masks: Option<Masks>,
    /// Black the masks out of the model's input too (default: the model sees everything).
    #[serde(default)]
    pub mask_inference: bool,
    /// This camera's acknowledgement deadline, seconds (default: `[workflow]`'s).
    #[serde(default)]
    pub ack_deadline_s: Option<f64>,
    /// `[cameras.incident]`: this camera's own incident settings (each replaces `[incident]`'s;
    /// `fightwatch tune --apply` writes them).
    #[serde(default)]
    pub incident: IncidentOverrides,
    /// Armed hours in the site's time zone (`["Mon-Fri 18:00-07:00", "Sat,Sun 00:00-24:00"]`);
    /// outside them a fight raises no alert. Default: always armed.
    #[serde(default)]
    pub armed: Vec<String>,
}

fn default_site() -> String {
    "default".into()
}

fn yes() -> bool {
    true
}

impl Config {
    /// Reads and checks `path`; relative paths in it are made relative to its directory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // toml's message names the line and column and shows the offending text.
        let mut config: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.model.package.is_relative() {
            config.model.package = base.join(&config.model.package);
        }
        for c in &mut config.cameras {
            let is_path = !c.source.contains("://") && !c.source.starts_with("usb:");
            let path = c
                .source
                .strip_prefix("file:")
                .or_else(|| c.source.strip_prefix("dir:"))
                .unwrap_or(&c.source);
            if is_path && Path::new(path).is_relative() {
                let prefix = &c.source[..c.source.len() - path.len()];
                c.source = format!("{prefix}{}", base.join(path).display());
            }
        }
        if config.server.web_dir.is_relative() {
            config.server.web_dir = base.join(&config.server.web_dir);
        }
        if config.storage.data_dir.is_relative() {
            config.storage.data_dir = base.join(&config.storage.data_dir);
        }
        config.incident = config.incident_set.apply(IncidentConfig::default());
        config
            .check()
            .with_context(|| format!("{}: invalid configuration", path.display()))?;
        Ok(config)
    }

    /// The server this file describes.
    pub fn server_options(&self) -> anyhow::Result<ServerOptions> {
        let mut options = self.server.options(&self.storage.data_dir);
        options.config.live_fps = self.evidence.live_fps;
        options.config.max_live_viewers = self.evidence.live_viewers;
        options.config.max_live_per_user = self.evidence.live_per_user;
        options.config.group_window = (self.workflow.group_window_s > 0.0)
            .then(|| Duration::from_secs_f64(self.workflow.group_window_s));
        options.config.webhooks = self
            .webhooks
            .iter()
            .map(WebhookSection::target)
            .collect::<anyhow::Result<_>>()?;
        options.config.mqtt = self
            .mqtt
            .iter()
            .map(MqttSection::target)
            .collect::<anyhow::Result<_>>()?;
        options.config.push = self.push.as_ref().map(PushSection::settings).transpose()?;
        options.config.escalation =
            (self.workflow.ack_deadline_s > 0.0).then(|| fightwatch_alerts::EscalationPolicy {
                deadline: Duration::from_secs_f64(self.workflow.ack_deadline_s),
                interval: Duration::from_secs_f64(self.workflow.escalate_every_s),
                per_camera: self
                    .cameras
                    .iter()
                    .filter_map(|c| {
                        Some((c.name.clone(), Duration::from_secs_f64(c.ack_deadline_s?)))
                    })
                    .collect(),
            });
        options.cluster = self.cluster.options().context("[cluster]")?;
        Ok(options)
    }

    /// How long a camera may be down before its `camera_offline` alert.
    pub fn camera_offline_after(&self) -> Option<Duration> {
        (self.workflow.camera_offline_s > 0.0)
            .then(|| Duration::from_secs_f64(self.workflow.camera_offline_s))
    }

    /// Each camera with armed hours, and its schedule.
    pub fn schedules(&self) -> anyhow::Result<Vec<(String, ArmedSchedule)>> {
        self.cameras
            .iter()
            .filter(|c| !c.armed.is_empty())
            .map(|c| {
                let zone = self.sites.get(&c.site).and_then(|s| s.time_zone.as_deref());
                let schedule = ArmedSchedule::parse(&c.armed, zone)
                    .with_context(|| format!("camera {}: armed", c.name))?;
                Ok((c.name.clone(), schedule))
            })
            .collect()
    }

    /// A camera's incident settings: `[incident]` with its own in place.
    pub fn incident_of(&self, camera: &CameraSection) -> IncidentConfig {
        camera.incident.apply(self.incident)
    }

    /// The pipeline settings for live cameras (`run`): like [`Config::pipeline_config`], but a
    /// camera's analysis never falls more than a window behind it (older ones are dropped).
    pub fn live_pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            max_backlog: Some(LIVE_BACKLOG),
            ..self.pipeline_config()
        }
    }

    /// The pipeline settings.
    pub fn pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            incident: self.incident,
            camera_incident: self
                .cameras
                .iter()
                .filter(|c| c.incident != IncidentOverrides::default())
                .map(|c| (c.name.clone(), self.incident_of(c)))
                .collect(),
            hop_s: self.pipeline.hop_s,
            gate: self.pipeline.gate_config(),
            max_batch: self.pipeline.max_batch.max(1),
            ..PipelineConfig::default()
        }
    }

    /// How long alerts and snapshots are kept.
    pub fn retention(&self) -> Retention {
        self.storage.retention()
    }

    /// Loads the model package `[model]` names, on its device, and puts its incident defaults
    /// under `[incident]`'s (checked again: a model's start threshold may not suit a site's end
    /// threshold).
    pub fn load_model(
        &mut self,
        global: &crate::cli::GlobalArgs,
    ) -> anyhow::Result<fightwatch_inference::ModelPackage> {
        let model = crate::model_cmd::load_package(
            global,
            &self.model.package,
            self.model.device.parse().map_err(anyhow::Error::msg)?,
            self.model.threads,
        )?;
        self.use_model_defaults(model.config())?;
        Ok(model)
    }

    /// Puts `model`'s incident defaults under `[incident]`'s values, and checks the result.
    pub fn use_model_defaults(
        &mut self,
        model: &fightwatch_inference::ModelConfig,
    ) -> anyhow::Result<()> {
        self.incident = self.incident_set.apply(model.incident_defaults());
        self.check()
            .with_context(|| format!("[incident] over the defaults of model {}", model.model.name))
    }

    /// The cameras.
    pub fn camera_specs(&self) -> Vec<CameraSpec> {
        self.cameras
            .iter()
            .map(|c| CameraSpec {
                capture: CameraConfig {
                    analysis_fps: c.analysis_fps,
                    pacing: if c.realtime {
                        Pacing::Realtime
                    } else {
                        Pacing::AsFastAsPossible
                    },
                    loop_file: c.loop_file,
                    mask: c.masks.as_ref().map(|m| m.0.clone()),
                    mask_inference: c.mask_inference,
                    ..CameraConfig::new(&c.name, &c.source)
                },
                site: c.site.clone(),
                clips: self.evidence.clip_settings(&self.storage.data_dir),
            })
            .collect()
    }

    fn check(&self) -> anyhow::Result<()> {
        self.incident
            .validate()
            .map_err(|e| anyhow::anyhow!("[incident]: {e}"))?;
        if self.pipeline.hop_s.is_nan() || self.pipeline.hop_s <= 0.0 {
            bail!("[pipeline]: hop_s must be > 0");
        }
        if let Err(e) = self.pipeline.gate_config().validate() {
            bail!("[pipeline]: {e}");
        }
        self.evidence.check()?;
        let mut hooks = HashSet::new();
        for name in self
            .webhooks
            .iter()
            .map(|w| &w.name)
            .chain(self.mqtt.iter().map(|m| &m.name))
        {
            if !hooks.insert(name) {
                bail!(
                    "integration name {name:?} is used twice ([[webhooks]] and [[mqtt]] share names)"
                );
            }
        }
        let seconds = |v: f64| v.is_finite() && (0.0..=86_400.0).contains(&v);
        let ok = seconds(self.workflow.ack_deadline_s)
            && seconds(self.workflow.camera_offline_s)
            && seconds(self.workflow.group_window_s)
            && seconds(self.workflow.escalate_every_s)
            && self.workflow.escalate_every_s >= 1.0
            && self
                .cameras
                .iter()
                .all(|c| c.ack_deadline_s.is_none_or(seconds));
        if !ok {
            bail!(
                "[workflow]: ack_deadline_s and camera_offline_s must be 0 to 86400 (per camera too), escalate_every_s 1 to 86400"
            );
        }
        if self.cameras.is_empty() {
            bail!("no [[cameras]]");
        }
        let mut names = HashSet::new();
        for c in &self.cameras {
            if !names.insert(&c.name) {
                bail!("camera name {:?} is used twice", c.name);
            }
            if c.analysis_fps.is_some_and(|f| f.is_nan() || f <= 0.0) {
                bail!("camera {}: analysis_fps must be > 0", c.name);
            }
            self.incident_of(c)
                .validate()
                .map_err(|e| anyhow::anyhow!("camera {}: [cameras.incident]: {e}", c.name))?;
        }
        for (site, s) in &self.sites {
            if !self.cameras.iter().any(|c| &c.site == site) {
                bail!("[sites.{site}]: no camera is in site {site:?}");
            }
            if let Some(zone) = &s.time_zone {
                ArmedSchedule::parse(&["daily 00:00-24:00"], Some(zone))
                    .with_context(|| format!("[sites.{site}]"))?;
            }
        }
        self.schedules()?;
        if let Some(push) = &self.push {
            push.settings().context("[push]")?;
        }
        self.model
            .device
            .parse::<fightwatch_inference::Device>()
            .map_err(anyhow::Error::msg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        std::fs::write(&p, include_str!("../../../docs/fightwatch.example.toml")).unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.cameras.len(), 4);
        assert!(c.model.package.ends_with("models/fight-demo"));
        assert!(
            c.cameras[0]
                .source
                .starts_with(&dir.path().display().to_string()),
            "{}",
            c.cameras[0].source
        );
        std::fs::write(
            &p,
            "[model]\npackage = \"m\"\n\n[[cameras]]\nname = \"a\"\nsourse = \"x\"\n",
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("line 6") && e.contains("sourse"), "{e}");
        std::fs::write(&p, "[model]\npackage = \"m\"\n[[cameras]]\nname = \"a\"\nsource = \"x\"\n[[cameras]]\nname = \"a\"\nsource = \"y\"\n").unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("used twice"), "{e}");
    }

    #[test]
    fn masks_and_evidence_settings_are_checked_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let camera = "[[cameras]]\nname = \"a\"\nsource = \"x\"\n";
        std::fs::write(
            &p,
            format!("[model]\npackage = \"m\"\n{camera}masks = [[[0.0, 0.0], [0.5, 0.5]]]\n"),
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(
            e.contains("line 6") && e.contains("polygon 1 has 2 points"),
            "{e}"
        );
        std::fs::write(
            &p,
            format!(
                "[model]\npackage = \"m\"\n{camera}masks = [[[0.0, 0.0], [1.2, 0.0], [0.0, 1.0]]]\n"
            ),
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("line 6") && e.contains("point 2"), "{e}");
        std::fs::write(
            &p,
            format!("[model]\npackage = \"m\"\n[evidence]\npre_roll_s = -1\n{camera}"),
        )
        .unwrap();
        let e = format!("{:#}", Config::load(&p).unwrap_err());
        assert!(e.contains("pre_roll_s"), "{e}");
        std::fs::write(
            &p,
            format!("[model]\npackage = \"m\"\n{camera}masks = [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]]]\nmask_inference = true\n"),
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        let spec = &c.camera_specs()[0];
        assert_eq!(
            spec.capture.mask.as_ref().map(|m| m.polygons().len()),
            Some(1)
        );
        assert!(spec.capture.mask_inference);
        let clips = spec.clips.as_ref().unwrap();
        assert_eq!(clips.pre_roll, std::time::Duration::from_secs(5));
        assert!(clips.dir.ends_with("snapshots"));
    }

    /// `fightwatch serve` (the CLI's server section, library defaults) and `fightwatch run` (a
    /// config file that sets nothing) serve with the same settings.
    #[test]
    fn serve_and_run_get_the_same_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        std::fs::write(
            &p,
            "[model]\npackage = \"m\"\n[[cameras]]\nname = \"a\"\nsource = \"x\"\n",
        )
        .unwrap();
        let run = Config::load(&p).unwrap().server_options().unwrap().config;
        let serve = ServerSection::default().options(dir.path()).config;
        let library = ServerConfig::default();
        assert_eq!(run.group_window, serve.group_window);
        assert_eq!(serve.group_window, library.group_window);
        assert_eq!(
            (run.live_fps, run.max_live_viewers, run.max_live_per_user),
            (
                serve.live_fps,
                serve.max_live_viewers,
                serve.max_live_per_user
            )
        );
        assert_eq!(
            run.escalation.is_some(),
            serve.escalation.is_some(),
            "escalation on in one and off in the other"
        );
    }

    /// A model package's own start threshold is the default; `[incident]` replaces it, a
    /// camera's own replaces both, and a site end threshold the model's start would undercut is
    /// refused.
    #[test]
    fn a_models_incident_defaults_sit_under_the_sites() {
        let demo = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fight-demo/model.toml"),
        )
        .unwrap()
        .replace("name = \"fight-demo\"", "name = \"m\"");
        let model = |threshold: f32| {
            fightwatch_inference::ModelConfig::parse(
                &format!("{demo}\n[incident]\nstart_threshold = {threshold}\n"),
                "model.toml",
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let load = |site: &str| {
            std::fs::write(
                &p,
                format!(
                    "[model]\npackage = \"m\"\n[incident]\n{site}\n                     [[cameras]]\nname = \"a\"\nsource = \"x\"\n                     [cameras.incident]\nmin_windows = 3\n                     [[cameras]]\nname = \"b\"\nsource = \"y\"\n                     [cameras.incident]\nstart_threshold = 0.9\n"
                ),
            )
            .unwrap();
            Config::load(&p).unwrap()
        };
        let mut c = load("");
        assert_eq!(c.incident.start_threshold, 0.6);
        c.use_model_defaults(&model(0.67).unwrap()).unwrap();
        let pipeline = c.pipeline_config();
        assert_eq!(pipeline.incident.start_threshold, 0.67);
        assert_eq!(
            (
                pipeline.incident_for("a").start_threshold,
                pipeline.incident_for("a").min_windows
            ),
            (0.67, 3)
        );
        assert_eq!(pipeline.incident_for("b").start_threshold, 0.9);
        let mut c = load("start_threshold = 0.75");
        c.use_model_defaults(&model(0.67).unwrap()).unwrap();
        assert_eq!(c.pipeline_config().incident.start_threshold, 0.75);
        // A package whose start threshold is under the built-in end threshold (0.4) is refused.
        assert!(model(0.3).is_err());
        let mut c = load("end_threshold = 0.5");
        let e = format!(
            "{:#}",
            c.use_model_defaults(&model(0.45).unwrap()).unwrap_err()
        );
        assert!(e.contains("over the defaults of model m"), "{e}");
    }

    #[test]
    fn cameras_have_their_own_incident_settings_and_armed_hours() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let load = |camera: &str, extra: &str| {
            std::fs::write(
                &p,
                format!(
                    "[model]\npackage = \"m\"\n[incident]\nstart_threshold = 0.6\n{extra}\n\
                     [[cameras]]\nname = \"a\"\nsource = \"x\"\nsite = \"hq\"\n{camera}\n\
                     [[cameras]]\nname = \"b\"\nsource = \"y\"\n"
                ),
            )
            .unwrap();
            Config::load(&p).map_err(|e| format!("{e:#}"))
        };
        let c = load(
            "armed = [\"Mon-Fri 18:00-07:00\"]\n[cameras.incident]\nstart_threshold = 0.8\nmin_windows = 3\n",
            "[sites.hq]\ntime_zone = \"Europe/Berlin\"\n",
        )
        .unwrap();
        let pipeline = c.pipeline_config();
        let a = pipeline.incident_for("a");
        assert_eq!((a.start_threshold, a.min_windows), (0.8, 3));
        assert_eq!(a.end_threshold, c.incident.end_threshold);
        assert_eq!(pipeline.incident_for("b"), c.incident);
        assert!(!pipeline.camera_incident.contains_key("b"));
        let schedules = c.schedules().unwrap();
        assert_eq!(schedules.len(), 1);
        assert_eq!(schedules[0].0, "a");
        for (camera, extra, want) in [
            (
                "[cameras.incident]\nend_threshold = 0.9\n",
                "",
                "camera a: [cameras.incident]: end threshold",
            ),
            ("[cameras.incident]\nthreshold = 0.9\n", "", "unknown field"),
            ("armed = [\"Mon-Fri 18-07\"]\n", "", "camera a: armed"),
            (
                "armed = [\"daily 00:00-24:00\"]\n",
                "[sites.hq]\ntime_zone = \"Mars/Base\"\n",
                "Mars/Base",
            ),
            ("", "[sites.hqq]\n", "no camera is in site \"hqq\""),
        ] {
            let e = load(camera, extra).unwrap_err();
            assert!(e.contains(want), "{camera:?} {extra:?}: {e}");
        }
    }

    #[test]
    fn incident_and_pipeline_sections_are_the_library_types_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fightwatch.toml");
        let load = |extra: &str| {
            std::fs::write(
                &p,
                format!(
                    "[model]\npackage = \"m\"\n{extra}\n[[cameras]]\nname = \"a\"\nsource = \"x\"\n"
                ),
            )
            .unwrap();
            Config::load(&p).map_err(|e| format!("{e:#}"))
        };
        let c = load(
            "[incident]\nstart_threshold = 0.7\nsmoothing = { kind = \"ema\", alpha = 0.5 }\n[pipeline]\nhop_s = 1.0\n",
        )
        .unwrap();
        let pipeline = c.pipeline_config();
        assert_eq!(pipeline.incident.start_threshold, 0.7);
        assert_eq!(pipeline.hop_s, 1.0);
        assert_eq!(pipeline.max_batch, PipelineConfig::default().max_batch);
        assert_eq!(
            c.incident.smoothing,
            fightwatch_inference::Smoothing::Ema { alpha: 0.5 }
        );
        for (extra, want) in [
            ("[incident]\nstart_threshold = 0.3\n", "end threshold"),
            ("[incident]\nmin_windows = 0\n", "min_windows"),
            ("[pipeline]\nhop_s = 0.0\n", "hop_s must be > 0"),
            (
                "[pipeline]\nstill_below = 2.0\n",
                "still_below must be between 0 and 1",
            ),
            (
                "[pipeline]\nrelaxed_hop_s = -1.0\n",
                "relaxed_hop_s must be between 0 and 3600",
            ),
            ("[pipeline]\ngate = \"yes\"\n", "invalid type"),
            // The old place of the window settings names the line.
            ("[incident]\nhop_s = 0.5\n", "hop_s"),
        ] {
            let e = load(extra).unwrap_err();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::ClusterSection;

    fn section(node: Option<&str>, db: Option<&str>, redis: Option<&str>) -> ClusterSection {
        ClusterSection {
            node: node.map(Into::into),
            database_url: db.map(Into::into),
            redis_url: redis.map(Into::into),
            ..ClusterSection::default()
        }
    }

    #[test]
    fn cluster_settings_are_all_or_none_and_the_node_name_is_checked() {
        // (This test reads no FIGHTWATCH_* variables: CI does not set them.)
        assert!(section(None, None, None).options().unwrap().is_none());
        let full = section(Some("node-a"), Some("postgres://h/db"), Some("redis://h/"));
        let options = full.options().unwrap().unwrap();
        assert_eq!(options.node, "node-a");
        let err = section(Some("node-a"), None, Some("redis://h/"))
            .options()
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing: database_url"), "{err}");
        for bad in ["", "a b", "../x", &"n".repeat(65)] {
            let err = section(Some(bad), Some("postgres://h/db"), Some("redis://h/")).options();
            assert!(err.is_err(), "node name {bad:?} accepted");
        }
        // The URLs (which may hold passwords) stay out of Debug output.
        assert!(!format!("{options:?}").contains("postgres://"));
    }
}
