//! `[server]`, `[cluster]`, `[storage]` and `[evidence]` of a node's configuration file: the
//! settings this crate composes a node from, with their defaults and checks. `[server]` and
//! `[cluster]` are command-line options too (cargo feature `cli`: clap), so `fightwatch serve`
//! and a config file read them alike.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fightwatch_alerts::Retention;
use fightwatch_broadcaster::{Rate, ServerConfig};
use serde::Deserialize;

use crate::{ClipSettings, ClusterOptions, NodeError, ServerOptions, media_dir};

/// Where the server listens unless told otherwise (`[server] bind`, `--bind`).
pub const DEFAULT_BIND: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
/// The data directory unless told otherwise (`[storage] data_dir`, `--data-dir`).
pub const DEFAULT_DATA_DIR: &str = "fightwatch-data";
/// The console's built files unless told otherwise (`[server] web_dir`, `--web-dir`).
pub const DEFAULT_WEB_DIR: &str = "web/dist";

fn invalid(section: &'static str, message: impl Into<String>) -> NodeError {
    NodeError::Settings {
        section,
        message: message.into(),
    }
}

/// `[server]`, and `serve`'s and `replay --serve`'s options: the dashboard server. Defaults are
/// the server's own ([`ServerConfig::default`]).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = DEFAULT_BIND))]
    pub bind: SocketAddr,
    /// Browser origins allowed to open WebSockets besides the server's own (repeatable).
    #[cfg_attr(feature = "cli", arg(long = "allow-origin", value_name = "ORIGIN"))]
    pub allowed_origins: Vec<String>,
    /// Open WebSockets allowed from one IP address.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().max_connections_per_ip))]
    pub max_connections_per_ip: usize,
    /// Open WebSockets allowed in all.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().max_websockets))]
    pub max_websockets: usize,
    /// Open HTTP connections (before any WebSocket upgrade) allowed from one IP address.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().max_http_connections_per_ip))]
    pub max_http_connections_per_ip: usize,
    /// Open HTTP connections (before any WebSocket upgrade) in all; at the cap, accepting
    /// pauses and new connections wait in the listen backlog.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().max_http_connections))]
    pub max_http_connections: usize,
    /// Connections the kernel holds while accepting pauses (capped by net.core.somaxconn).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().listen_backlog))]
    pub listen_backlog: u32,
    /// Detections a second one detector user may report (after a burst of 2.5 s worth).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().detection_rate_per_user.steady_per_second()))]
    pub detection_rate: f64,
    /// Detections a second of one camera, all detectors together (after a burst of 5 s worth).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().detection_rate_per_camera.steady_per_second()))]
    pub camera_detection_rate: f64,
    /// New camera names one detector may introduce an hour (each is a new alert).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = ServerConfig::default().max_new_cameras_per_detector))]
    pub new_cameras_per_detector: usize,
    /// The web console's built files, served at / when present (in a config file: relative
    /// to the file).
    #[cfg_attr(feature = "cli", arg(long, default_value = DEFAULT_WEB_DIR, value_name = "DIR"))]
    pub web_dir: PathBuf,
    /// Mark the login cookie Secure (browsers reach the server over HTTPS, e.g. through a TLS
    /// reverse proxy).
    #[cfg_attr(feature = "cli", arg(long))]
    pub secure_cookies: bool,
}

impl ServerSettings {
    /// The server these settings describe, keeping its data in `data_dir` (standalone: the
    /// caller adds `[cluster]`'s).
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

impl Default for ServerSettings {
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

/// `[cluster]`, and `--node`/`--database-url`/`--redis-url` of `serve`: all three make this
/// process one node of a deployment (docs/deploy.md); none, a standalone node. The URLs may
/// also come from FIGHTWATCH_DATABASE_URL and FIGHTWATCH_REDIS_URL (keeping passwords out of
/// files and process lists).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// This node's name, unique in the deployment.
    #[cfg_attr(feature = "cli", arg(long, value_name = "NAME"))]
    pub node: Option<String>,
    /// PostgreSQL shared by the nodes: postgres://user[:password]@host[:port]/database.
    #[cfg_attr(
        feature = "cli",
        arg(
            long,
            env = "FIGHTWATCH_DATABASE_URL",
            hide_env_values = true,
            value_name = "URL"
        )
    )]
    pub database_url: Option<String>,
    /// Redis shared by the nodes: redis://[:password@]host[:port]/db.
    #[cfg_attr(
        feature = "cli",
        arg(
            long,
            env = "FIGHTWATCH_REDIS_URL",
            hide_env_values = true,
            value_name = "URL"
        )
    )]
    pub redis_url: Option<String>,
    /// The base URL other nodes reach this one at (`http://10.0.0.5:8080`), for the media and
    /// live views of its cameras they ask it for (default: `http://` and the bind address).
    #[cfg_attr(
        feature = "cli",
        arg(long, env = "FIGHTWATCH_ADVERTISE_URL", value_name = "URL")
    )]
    pub advertise_url: Option<String>,
    /// Cameras this node may run (`fightwatch run`; 0: dashboards only; default: all).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub max_cameras: Option<usize>,
    /// Milliseconds a camera lease lasts unrenewed: about how long a dead node's cameras
    /// stay dark (default 4000; renewed every second).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub lease_ms: Option<u64>,
}

impl ClusterSettings {
    /// The cluster these settings describe, or `None` for a standalone node.
    pub fn options(&self) -> Result<Option<ClusterOptions>, NodeError> {
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
                let valid = !node.is_empty()
                    && node.len() <= 64
                    && node
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !valid {
                    return Err(invalid(
                        "cluster",
                        format!("node name {node:?}: 1 to 64 letters, digits, '-', '_' or '.'"),
                    ));
                }
                let advertise_url = self
                    .advertise_url
                    .clone()
                    .or_else(|| env("FIGHTWATCH_ADVERTISE_URL"));
                if let Some(url) = &advertise_url {
                    let valid = (url.starts_with("http://") || url.starts_with("https://"))
                        && !url.contains(['?', '#', ' ']);
                    if !valid {
                        return Err(invalid(
                            "cluster",
                            format!("advertise_url {url:?}: http(s)://host:port, no query"),
                        ));
                    }
                }
                Ok(Some(ClusterOptions {
                    node: node.clone(),
                    database_url,
                    redis_url,
                    advertise_url,
                }))
            }
            (node, db, redis) => {
                let missing = [
                    node.is_none().then_some("node"),
                    db.is_none().then_some("database_url"),
                    redis.is_none().then_some("redis_url"),
                ];
                let missing: Vec<_> = missing.into_iter().flatten().collect();
                Err(invalid(
                    "cluster",
                    format!(
                        "a cluster node needs all of node, database_url and redis_url; missing: {}",
                        missing.join(", ")
                    ),
                ))
            }
        }
    }
}

/// `[storage]`: where data lives, and how long it is kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Database, snapshots, secrets (in a config file: relative to the file).
    pub data_dir: PathBuf,
    /// Alerts older than this many days are deleted (0: keep forever).
    pub retention_days: u32,
    /// Snapshots and clips beyond this many MiB are deleted, oldest first (0: no limit).
    pub max_snapshot_mb: u64,
}

impl StorageSettings {
    /// What is kept, and for how long.
    pub fn retention(&self) -> Retention {
        Retention {
            days: self.retention_days,
            max_snapshot_bytes: self.max_snapshot_mb.saturating_mul(1024 * 1024),
        }
    }
}

impl Default for StorageSettings {
    /// `fightwatch-data`, 30 days, 2 GiB of media.
    fn default() -> Self {
        Self {
            data_dir: DEFAULT_DATA_DIR.into(),
            retention_days: 30,
            max_snapshot_mb: 2048,
        }
    }
}

/// `[evidence]`: incident clips and live view.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceSettings {
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

impl Default for EvidenceSettings {
    /// Clips on, as long as [`ClipSettings::new`]'s; live view as [`ServerConfig::default`]'s.
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

impl EvidenceSettings {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), NodeError> {
        let within = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        let problem = if !within(self.pre_roll_s, 0.0, 60.0) || !within(self.post_roll_s, 0.0, 60.0)
        {
            "pre_roll_s and post_roll_s must be 0 to 60"
        } else if !within(self.max_clip_s, 1.0, 3600.0) {
            "max_clip_s must be 1 to 3600"
        } else if !within(self.live_fps, 0.1, 30.0) {
            "live_fps must be 0.1 to 30"
        } else if !(1..=100_000).contains(&self.live_viewers)
            || !(1..=self.live_viewers).contains(&self.live_per_user)
        {
            "live_viewers must be 1 to 100000 and live_per_user 1 to live_viewers"
        } else {
            return Ok(());
        };
        Err(invalid("evidence", problem))
    }

    /// Clip settings for media in `data_dir` (`None` when clips are off).
    pub fn clip_settings(&self, data_dir: &Path) -> Option<ClipSettings> {
        self.clips.then(|| ClipSettings {
            pre_roll: Duration::from_secs_f64(self.pre_roll_s),
            post_roll: Duration::from_secs_f64(self.post_roll_s),
            max_length: Duration::from_secs_f64(self.max_clip_s),
            ..ClipSettings::new(media_dir(data_dir))
        })
    }

    /// Puts the live-view limits into a server's settings.
    pub fn apply_live(&self, config: &mut ServerConfig) {
        config.live_fps = self.live_fps;
        config.max_live_viewers = self.live_viewers;
        config.max_live_per_user = self.live_per_user;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(node: Option<&str>, db: Option<&str>, redis: Option<&str>) -> ClusterSettings {
        ClusterSettings {
            node: node.map(Into::into),
            database_url: db.map(Into::into),
            redis_url: redis.map(Into::into),
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn defaults_are_the_libraries() {
        let options = ServerSettings::default().options(Path::new("d"));
        let library = ServerConfig::default();
        assert_eq!(options.bind, DEFAULT_BIND);
        assert_eq!(options.config.max_websockets, library.max_websockets);
        assert_eq!(
            options.config.detection_rate_per_user.steady_per_second(),
            library.detection_rate_per_user.steady_per_second()
        );
        let evidence = EvidenceSettings::default();
        assert!(evidence.check().is_ok());
        let clips = evidence.clip_settings(Path::new("d")).unwrap();
        assert_eq!(clips.pre_roll, ClipSettings::new("").pre_roll);
        assert_eq!(clips.dir, media_dir(Path::new("d")));
        assert_eq!(
            StorageSettings::default().retention().max_snapshot_bytes,
            2 << 30
        );
    }

    #[test]
    fn evidence_limits_are_checked() {
        for bad in [
            EvidenceSettings {
                pre_roll_s: 61.0,
                ..EvidenceSettings::default()
            },
            EvidenceSettings {
                max_clip_s: 0.5,
                ..EvidenceSettings::default()
            },
            EvidenceSettings {
                live_fps: f64::NAN,
                ..EvidenceSettings::default()
            },
            EvidenceSettings {
                live_per_user: 0,
                ..EvidenceSettings::default()
            },
        ] {
            let err = bad.check().unwrap_err().to_string();
            assert!(err.starts_with("[evidence]: "), "{err}");
        }
    }

    #[test]
    fn cluster_settings_are_all_or_none_and_the_node_name_is_checked() {
        // (This test reads no FIGHTWATCH_* variables: CI does not set them.)
        assert!(cluster(None, None, None).options().unwrap().is_none());
        let full = cluster(Some("node-a"), Some("postgres://h/db"), Some("redis://h/"));
        let options = full.options().unwrap().unwrap();
        assert_eq!(options.node, "node-a");
        let err = cluster(Some("node-a"), None, Some("redis://h/"))
            .options()
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing: database_url"), "{err}");
        for bad in ["", "a b", "../x", &"n".repeat(65)] {
            let err = cluster(Some(bad), Some("postgres://h/db"), Some("redis://h/")).options();
            assert!(err.is_err(), "node name {bad:?} accepted");
        }
        // The URLs (which may hold passwords) stay out of Debug output.
        assert!(!format!("{options:?}").contains("postgres://"));
    }
}
