//! Serving dashboards while the pipeline runs: incidents become stored, broadcast alerts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use fightwatch_broadcaster::{Auth, Hub, ServerConfig};
use fightwatch_protocol::IncidentEvent;
use fightwatch_store::{AlertFilter, NewAlert, Store};

/// Server options shared by `replay --serve` and `token`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Database, snapshots and the JWT secret live here.
    #[arg(long, default_value = "fightwatch-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Browser origins allowed to open WebSockets besides the server's own (repeatable).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Open WebSockets allowed from one IP address.
    #[arg(long, default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Open WebSockets allowed in all.
    #[arg(long, default_value_t = 10_000)]
    pub max_websockets: usize,
    /// Open HTTP connections (before any WebSocket upgrade) allowed from one IP address.
    #[arg(long, default_value_t = 64)]
    pub max_http_connections_per_ip: usize,
    /// The web console's built files, served at / when present.
    #[arg(long, default_value = "web/dist", value_name = "DIR")]
    pub web_dir: PathBuf,
    /// Site name given to the replayed cameras.
    #[arg(long, default_value = "replay")]
    pub site: String,
    /// Mark the login cookie Secure (browsers reach the server over HTTPS, e.g. through a TLS
    /// reverse proxy).
    #[arg(long)]
    pub secure_cookies: bool,
}

/// The HS256 secret: `FIGHTWATCH_JWT_SECRET`, else `DATA_DIR/jwt_secret`, created (0600) with
/// 32 bytes from the operating system's secure random source on first use. A secret shorter
/// than 32 bytes is refused, not used: an empty file would mean anyone can sign tokens.
/// Rotating it (delete the file, restart) signs everyone out.
pub fn jwt_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let min = Auth::MIN_SECRET_BYTES;
    if let Some(s) = std::env::var_os("FIGHTWATCH_JWT_SECRET") {
        let s = s.into_encoded_bytes();
        anyhow::ensure!(
            s.len() >= min,
            "FIGHTWATCH_JWT_SECRET has {} bytes; it must have at least {min} (e.g. `openssl rand -hex 32`)",
            s.len()
        );
        return Ok(s);
    }
    let path = data_dir.join("jwt_secret");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret = bytes.trim_ascii().to_vec();
            anyhow::ensure!(
                secret.len() >= min,
                "{} holds {} bytes; a JWT secret needs at least {min}. Delete the file to make a new \
                 one (this signs everyone out), or write {min}+ random bytes into it",
                path.display(),
                secret.len()
            );
            return Ok(secret);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    private_dir(data_dir)?;
    let secret = fightwatch_broadcaster::users::random_hex(32)
        .context("reading the system's secure random source")?;
    write_private(&path, &secret)?;
    Ok(secret.into_bytes())
}

/// Creates `dir` readable by its owner only (it holds the database, snapshots and the
/// secret); warns when an existing one is open to others.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{mode:o}"),
                "The data directory is readable by other users; `chmod 700` it."
            );
            eprintln!(
                "fightwatch: warning: {} has mode {mode:o}: other users can read it (chmod 700 {0})",
                dir.display()
            );
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A running server.
pub struct Server {
    rt: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    alert_of_incident: HashMap<String, String>,
    site: String,
    camera_sites: HashMap<String, String>,
    process: ProcessSampler,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Opens the store and starts listening.
    pub fn start(args: &ServeArgs) -> anyhow::Result<Self> {
        private_dir(&args.data_dir)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("server")
            .enable_all()
            .build()
            .context("starting the server runtime")?;
        let db = args.data_dir.join("fightwatch.db");
        let store =
            Arc::new(Store::open(&db).with_context(|| format!("opening {}", db.display()))?);
        let mut config = ServerConfig::new(&args.data_dir);
        config.allowed_origins = args.allowed_origins.clone();
        config.max_connections_per_ip = args.max_connections_per_ip;
        config.static_dir = Some(args.web_dir.clone());
        config.secure_cookies = args.secure_cookies;
        config.max_websockets = args.max_websockets;
        config.max_http_connections_per_ip = args.max_http_connections_per_ip;
        if let Some(password) =
            fightwatch_broadcaster::users::bootstrap_admin(&store, &args.data_dir)?
        {
            // Printed once, as Frigate does; also in DATA_DIR/admin_password (0600).
            eprintln!(
                "fightwatch: first start: created user `admin` with password {password} (also in {})",
                args.data_dir.join("admin_password").display()
            );
        }
        let hub = Hub::new(store, Auth::new(&jwt_secret(&args.data_dir)?)?, config);
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(args.bind))
            .with_context(|| format!("listening on {}", args.bind))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(fightwatch_broadcaster::serve(
            listener,
            hub.clone(),
            async {
                let _ = rx.await;
            },
        ));
        tracing::info!(%addr, data_dir = %args.data_dir.display(), "Serving dashboards.");
        eprintln!(
            "fightwatch: serving on http://{addr} (WebSocket ws://{addr}/ws; mint a token with `fightwatch token --role viewer --user NAME --data-dir {}`)",
            args.data_dir.display()
        );
        Ok(Self {
            rt,
            hub,
            alert_of_incident: HashMap::new(),
            site: args.site.clone(),
            camera_sites: HashMap::new(),
            process: ProcessSampler::default(),
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Publishes a camera's state change.
    pub fn on_camera(&self, event: &fightwatch_capture::StatusEvent) {
        use fightwatch_capture::CameraStatus as S;
        let (status, error) = match &event.status {
            S::Online(_) => ("online", None),
            S::Reconnecting { error, .. } => ("reconnecting", Some(error.clone())),
            S::Offline { error } => ("offline", error.clone()),
            S::Ended => ("ended", None),
        };
        self.hub.camera_status(fightwatch_protocol::CameraState {
            camera: event.camera.to_string(),
            site: self
                .camera_sites
                .get(&*event.camera)
                .unwrap_or(&self.site)
                .clone(),
            status: status.into(),
            error,
            since: now_ms(),
        });
    }

    /// Keeps a camera's latest thumbnail.
    pub fn on_thumbnail(&self, camera: &str, jpeg: Arc<Vec<u8>>) {
        self.hub.camera_thumbnail(camera, jpeg);
    }

    /// Publishes a metric update with this process's CPU and memory.
    pub fn on_metrics(&mut self, cameras: Vec<fightwatch_protocol::CameraMetrics>) {
        let (cpu_percent, rss_bytes) = self.process.sample();
        self.hub.metrics(fightwatch_protocol::Metrics {
            at: now_ms(),
            cameras,
            cpu_percent,
            rss_bytes,
            clients: 0,
        });
    }

    /// The site of a camera's alerts (default: `--site`).
    pub fn set_camera_site(&mut self, camera: &str, site: &str) {
        self.camera_sites.insert(camera.into(), site.into());
    }

    /// Sets `flag` on Ctrl-C or SIGTERM.
    pub fn flag_on_signal(&self, flag: Arc<std::sync::atomic::AtomicBool>) {
        self.rt.spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("fightwatch: stopping (signal)");
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }

    /// Deletes alerts older than `days` (and their snapshots), and the oldest snapshots beyond
    /// `max_snapshot_bytes`, now and every hour. 0 disables either limit.
    pub fn retain(&self, days: u32, max_snapshot_bytes: u64) {
        if days == 0 && max_snapshot_bytes == 0 {
            return;
        }
        let hub = self.hub.clone();
        self.rt.spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                if max_snapshot_bytes > 0 {
                    let h = hub.clone();
                    match tokio::task::spawn_blocking(move || {
                        trim_snapshots(&h, max_snapshot_bytes)
                    })
                    .await
                    {
                        Ok(Ok(0)) => {}
                        Ok(Ok(n)) => tracing::info!(
                            removed = n,
                            "Snapshot space limit: removed the oldest snapshots."
                        ),
                        Ok(Err(e)) => tracing::error!(error = %e, "Snapshot retention failed."),
                        Err(_) => return,
                    }
                }
                if days == 0 {
                    continue;
                }
                let cutoff = now_ms().saturating_sub(u64::from(days) * 86_400_000);
                let store = hub.store().clone();
                match tokio::task::spawn_blocking(move || store.prune(cutoff)).await {
                    Ok(Ok(snapshots)) => {
                        for name in &snapshots {
                            let _ = std::fs::remove_file(hub.snapshot_dir().join(name));
                        }
                        if !snapshots.is_empty() {
                            tracing::info!(
                                removed = snapshots.len(),
                                "Retention removed old alerts."
                            );
                        }
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "Retention failed."),
                    Err(_) => return,
                }
            }
        });
    }

    /// Stores and broadcasts an incident event.
    ///
    /// An alert's `started_at` is the capture time of the frame that confirmed the fight
    /// (`frame_ms`), so a dashboard can tell how long the alert took to reach it.
    pub fn on_incident(
        &mut self,
        event: &IncidentEvent,
        snapshot: Option<Arc<Vec<u8>>>,
        frame_ms: Option<u64>,
    ) -> anyhow::Result<()> {
        match event {
            IncidentEvent::Started {
                incident,
                camera,
                score,
                label,
                ..
            } => {
                let alert = NewAlert {
                    camera: camera.clone(),
                    site: self.camera_sites.get(camera).unwrap_or(&self.site).clone(),
                    label: label.clone(),
                    score: *score,
                    started_at: frame_ms.unwrap_or_else(now_ms),
                    snapshot: None,
                    source: "pipeline".into(),
                };
                let created = self
                    .rt
                    .block_on(self.hub.raise_alert(alert, snapshot))
                    .context("storing an alert")?;
                self.alert_of_incident.insert(incident.clone(), created.id);
            }
            IncidentEvent::Updated { incident, peak, .. } => {
                if let Some(id) = self.alert_of_incident.get(incident) {
                    self.rt
                        .block_on(self.hub.update_alert(id, Some(*peak), None, None))
                        .context("updating an alert")?;
                }
            }
            IncidentEvent::Ended { incident, peak, .. } => {
                if let Some(id) = self.alert_of_incident.remove(incident) {
                    self.rt
                        .block_on(
                            self.hub
                                .update_alert(&id, Some(*peak), Some(now_ms()), None),
                        )
                        .context("ending an alert")?;
                }
            }
        }
        Ok(())
    }

    /// Ends the pipeline's alerts that a previous run left active. A clean stop ends every open
    /// incident; a crash or `kill -9` cannot, and its alerts would otherwise stay "active"
    /// forever on every console. (External detectors' alerts are theirs to end: left alone.)
    /// Call before the pipeline starts: this run's own incidents are not open yet.
    pub fn end_stale_alerts(&self) -> anyhow::Result<usize> {
        let store = self.hub.store().clone();
        let active = store
            .alerts(&AlertFilter {
                status: Some(fightwatch_protocol::AlertStatus::Active),
                limit: 1000,
                ..AlertFilter::default()
            })
            .context("listing active alerts")?;
        let stale: Vec<_> = active
            .into_iter()
            .filter(|a| a.source == "pipeline")
            .collect();
        for alert in &stale {
            self.rt
                .block_on(self.hub.update_alert(&alert.id, None, Some(now_ms()), None))
                .with_context(|| format!("ending alert {}", alert.id))?;
        }
        if !stale.is_empty() {
            tracing::warn!(
                alerts = stale.len(),
                "Ended alerts that a previous run left active (it did not stop cleanly)."
            );
        }
        Ok(stale.len())
    }

    /// Keeps serving until Ctrl-C or SIGTERM, then closes connections gracefully.
    pub fn serve_until_signal(mut self) -> anyhow::Result<()> {
        eprintln!("fightwatch: serving until Ctrl-C or SIGTERM");
        self.rt.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        })?;
        self.stop();
        Ok(())
    }

    fn stop(&mut self) {
        // Close the WebSockets first (axum's graceful shutdown does not track upgraded
        // connections), giving them a moment to send their close frames.
        self.hub.shutdown();
        let hub = self.hub.clone();
        self.rt.block_on(async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            while hub.connections() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = self.rt.block_on(task);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes the oldest snapshots until the snapshot folder is within `max_bytes`; returns how
/// many were removed. The alerts themselves stay (age retention removes them).
fn trim_snapshots(hub: &Hub, max_bytes: u64) -> anyhow::Result<usize> {
    let dir = hub.snapshot_dir();
    let mut total: u64 = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum(),
        Err(_) => return Ok(0),
    };
    let mut removed = 0;
    while total > max_bytes {
        let batch = hub.store().oldest_snapshots(64)?;
        if batch.is_empty() {
            break;
        }
        for (id, name) in batch {
            let path = dir.join(&name);
            total = total.saturating_sub(std::fs::metadata(&path).map_or(0, |m| m.len()));
            let _ = std::fs::remove_file(&path);
            hub.store().clear_snapshot(&id)?;
            removed += 1;
            if total <= max_bytes {
                break;
            }
        }
    }
    Ok(removed)
}

/// This process's CPU use between samples and its resident memory, from /proc.
#[derive(Default)]
struct ProcessSampler {
    last: Option<(std::time::Instant, u64)>,
}

impl ProcessSampler {
    /// (CPU percent of one core since the last sample, RSS bytes).
    fn sample(&mut self) -> (f64, u64) {
        // Linux reports CPU time in clock ticks of 1/100 s on every mainstream configuration.
        const TICKS_PER_S: f64 = 100.0;
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let ticks = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        let now = std::time::Instant::now();
        let cpu = match self.last {
            Some((t, prev)) => {
                (ticks.saturating_sub(prev) as f64 / TICKS_PER_S)
                    / now.duration_since(t).as_secs_f64().max(1e-3)
                    * 100.0
            }
            None => 0.0,
        };
        self.last = Some((now, ticks));
        let rss_kib = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        (cpu, rss_kib * 1024)
    }
}

/// `fightwatch token`: prints a signed JWT.
pub fn token(data_dir: &Path, user: &str, role: &str, ttl: &str) -> anyhow::Result<()> {
    let role: fightwatch_broadcaster::Role = role.parse().map_err(anyhow::Error::msg)?;
    let ttl_s = parse_duration(ttl)?;
    let auth = Auth::new(&jwt_secret(data_dir)?)?;
    let store = open_store(data_dir)?;
    let token = fightwatch_broadcaster::users::issue_token(&store, &auth, user, role, ttl_s, None)?;
    println!("{token}");
    Ok(())
}

/// The data directory's database, for the user and token commands.
fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    private_dir(data_dir)?;
    let db = data_dir.join("fightwatch.db");
    Store::open(&db).with_context(|| format!("opening {}", db.display()))
}

/// `fightwatch user delete NAME`: removes the user and ends its sessions (a running server
/// closes their WebSockets within a second).
pub fn delete_user(data_dir: &Path, name: &str) -> anyhow::Result<()> {
    let store = open_store(data_dir)?;
    anyhow::ensure!(store.delete_user(name)?, "no user {name:?}");
    eprintln!("fightwatch: user {name} deleted; its sessions are revoked");
    Ok(())
}

/// `fightwatch user revoke NAME`: ends every session of a user (logs it out everywhere).
pub fn revoke_user(data_dir: &Path, name: &str) -> anyhow::Result<()> {
    let store = open_store(data_dir)?;
    let n = store.revoke_user_sessions(name)?;
    eprintln!("fightwatch: revoked {n} session(s) of {name}");
    Ok(())
}

/// `90`, `90s`, `15m`, `1h`, `7d` → seconds.
fn parse_duration(s: &str) -> anyhow::Result<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?}: use e.g. 90s, 15m, 1h, 7d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => anyhow::bail!("bad duration {s:?}: use e.g. 90s, 15m, 1h, 7d"),
    };
    Ok(n * mult)
}

/// `fightwatch user add NAME --role ROLE --password-stdin`.
pub fn add_user(
    data_dir: &Path,
    name: &str,
    role: &str,
    cameras: Option<Vec<String>>,
) -> anyhow::Result<()> {
    let role: fightwatch_broadcaster::Role = role.parse().map_err(anyhow::Error::msg)?;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    let store = open_store(data_dir)?;
    let db = data_dir.join("fightwatch.db");
    fightwatch_broadcaster::users::add_user(&store, name, role, password, cameras)?;
    eprintln!(
        "fightwatch: user {name} ({}) saved in {}",
        role.as_str(),
        db.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_beyond_the_space_limit_go_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
        let hub = Hub::new(
            store.clone(),
            Auth::new(b"0123456789abcdef0123456789abcdef").unwrap(),
            ServerConfig::new(dir.path()),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for i in 0..3 {
            let alert = NewAlert {
                camera: format!("c{i}"),
                site: "s".into(),
                label: "fight".into(),
                score: 0.9,
                started_at: i,
                snapshot: None,
                source: "test".into(),
            };
            rt.block_on(hub.raise_alert(alert, Some(Arc::new(vec![0xFF; 1000]))))
                .unwrap();
        }
        assert_eq!(trim_snapshots(&hub, 1500).unwrap(), 2);
        let left = store.oldest_snapshots(10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, "a3", "the newest snapshot stays");
        assert_eq!(std::fs::read_dir(hub.snapshot_dir()).unwrap().count(), 1);
        assert_eq!(trim_snapshots(&hub, 1500).unwrap(), 0);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("1h").unwrap(), 3600);
        assert!(parse_duration("1w").is_err() && parse_duration("h").is_err());
    }
}
