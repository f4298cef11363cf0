//! A node: store, bus, alert stage and hub assembled from [`ServerOptions`], listening.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use fightwatch_alerts::{AlertService, EventBus, LocalBus, MediaDir, Retention};
use fightwatch_broadcaster::{Auth, CameraFeeds, Hub, ServerConfig};
use fightwatch_cluster::{ClusterKey, RedisBus, RedisBusConfig};

use crate::{DataDir, jwt_secret, open_store_at};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A file or directory of the data directory, or the listener.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The JWT secret is unusable (too short, missing where a cluster needs it).
    #[error("{0}")]
    Secret(String),
    /// The evidence signing key could not be read or made.
    #[error("evidence key: {0}")]
    EvidenceKey(#[from] fightwatch_evidence::EvidenceError),
    /// A webhook, MQTT or Web Push target is misconfigured, or the VAPID key unusable.
    #[error(transparent)]
    Integrations(#[from] fightwatch_integrations::IntegrationError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] fightwatch_store::StoreError),
    /// The first admin could not be created.
    #[error(transparent)]
    Users(#[from] fightwatch_broadcaster::users::UserError),
    /// The alert stage failed.
    #[error(transparent)]
    Alerts(#[from] fightwatch_alerts::AlertError),
    /// A cluster component (Redis) could not start.
    #[error(transparent)]
    Cluster(#[from] fightwatch_cluster::ClusterError),
    /// What other nodes reach this one with (its address, the HTTP client) is unusable.
    #[error("node to node: {0}")]
    Peers(String),
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// What a node needs to start.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Database, snapshots and the JWT secret live here.
    pub data_dir: PathBuf,
    /// The hub's settings (origins, limits, console files).
    pub config: ServerConfig,
    /// Shared servers of a multi-node deployment; `None`: SQLite in `data_dir`, in-process bus.
    pub cluster: Option<ClusterOptions>,
}

/// Where the nodes of one deployment meet.
#[derive(Clone)]
pub struct ClusterOptions {
    /// This node's name, unique in the deployment.
    pub node: String,
    /// `postgres://…`: alerts, the event log, chat, users, sessions.
    pub database_url: String,
    /// `redis://…`: the event bus.
    pub redis_url: String,
    /// The base URL other nodes reach this one at (`http://10.0.0.5:8080`), for the media and
    /// live views they ask it for; `None`: `http://` and the bound address (or this host's name
    /// when bound to all addresses).
    pub advertise_url: Option<String>,
}

impl std::fmt::Debug for ClusterOptions {
    // The URLs may hold passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterOptions")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A running node. Dropping it closes connections gracefully (1001) and stops the listener.
pub struct Server {
    rt: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// A cluster node's integrations duty: told to stop (and hand the duty back) on stop.
    duty: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    /// A cluster node's announcement of its address: taken back on stop.
    announcing: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Server {
    /// Opens the store (creating the first admin on first start), starts the alert stage and
    /// the hub, and listens.
    pub fn start(options: ServerOptions) -> Result<Self, ServerError> {
        let data = DataDir::new(&options.data_dir);
        data.create()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("server")
            .enable_all()
            .build()
            .map_err(io("starting the server runtime"))?;
        let cluster = options.cluster.as_ref();
        if cluster.is_some() && std::env::var_os("FIGHTWATCH_JWT_SECRET").is_none() {
            // A secret of one node's data dir would sign tokens the others reject.
            return Err(ServerError::Secret(
                "a cluster node needs FIGHTWATCH_JWT_SECRET, the same on every node (e.g. `openssl rand -hex 32`)"
                    .into(),
            ));
        }
        let store = open_store_at(&options.data_dir, cluster.map(|c| c.database_url.as_str()))?;
        if let Some(password) = fightwatch_broadcaster::users::bootstrap_admin(
            store.as_ref(),
            &data.admin_password_file(),
        )? {
            // Printed once, as Frigate does; also in DATA_DIR/admin_password (0600).
            eprintln!(
                "fightwatch: first start: created user `admin` with password {password} (also in {})",
                data.admin_password_file().display()
            );
        }
        let secret = jwt_secret(&options.data_dir)?;
        let auth = Auth::new(&secret).map_err(|e| ServerError::Secret(e.to_string()))?;
        let mut peers = None;
        let bus: Arc<dyn EventBus> = match cluster {
            None => Arc::new(LocalBus::new(store.clone(), options.config.client_queue)),
            Some(c) => {
                let key = ClusterKey::from_env_or_derive(&secret)?;
                peers = Some(rt.block_on(crate::peers::ClusterPeers::connect(
                    &c.redis_url,
                    &c.node,
                    key.clone(),
                ))?);
                let mut bus = RedisBusConfig::new(&c.redis_url, &c.node, key);
                bus.capacity = options.config.client_queue;
                Arc::new(rt.block_on(RedisBus::connect(bus, store.clone()))?)
            }
        };
        let mut config = options.config;
        if let Some(c) = cluster {
            config.node = Some(c.node.clone());
        }
        let alerts = AlertService::new(store, bus, MediaDir::new(data.media()));
        if let Some(peers) = &peers {
            alerts.set_remote_media(Arc::new(peers.clone()));
        }
        let escalation = config.escalation.clone();
        alerts.set_group_window(config.group_window);
        let webhooks = config.webhooks.clone();
        let mqtt = config.mqtt.clone();
        let push = config.push.clone();
        let hub = {
            let _inside = rt.enter();
            if let Some(policy) = escalation {
                alerts.escalate(policy);
            }
            Hub::new(alerts, auth, config)
        };
        let key = fightwatch_evidence::SigningKey::load_or_create(&data.evidence_key_file())?;
        tracing::info!(
            fingerprint = %key.public_key().fingerprint(),
            public_key = %key.public_key().to_hex(),
            "Evidence exports are signed with this Ed25519 key."
        );
        hub.set_evidence_key(key);
        hub.set_tune_dir(data.tune());
        let mut duty = None;
        if !webhooks.is_empty() || !mqtt.is_empty() || push.is_some() {
            let _inside = rt.enter();
            let bus = hub.alerts().bus().clone();
            let integrations = fightwatch_integrations::Integrations::new(
                hub.store().clone(),
                Some(Arc::new(move || bus.subscribe())),
            );
            for target in webhooks {
                integrations.add_webhook(target)?;
            }
            // A client id per node: two connections with one id take each other's place.
            let node = hub.config().node.clone().unwrap_or_else(|| {
                std::env::var("HOSTNAME").unwrap_or_else(|_| "fightwatch".into())
            });
            for target in mqtt {
                let client_id = format!("fightwatch-{node}-{}", target.name);
                integrations.add_mqtt(target, client_id)?;
            }
            if let Some(settings) = push {
                let key = Arc::new(fightwatch_integrations::VapidKey::load(
                    &data.vapid_key_file(),
                    cluster.is_some(),
                )?);
                integrations.add_web_push(settings.clone(), key.clone())?;
                hub.set_push(settings, key);
            }
            match cluster {
                None => integrations.run(),
                // One node delivers at a time (each would repeat every event otherwise).
                Some(c) => {
                    let (stop, stopped) = tokio::sync::oneshot::channel();
                    let task = tokio::spawn(integrations_duty(
                        integrations.clone(),
                        c.redis_url.clone(),
                        c.node.clone(),
                        stopped,
                    ));
                    duty = Some((stop, task));
                }
            }
            hub.set_integrations(integrations);
        }
        let listener = {
            let _inside = rt.enter();
            fightwatch_broadcaster::listen(options.bind, hub.config().listen_backlog)
        }
        .map_err(io(format!("listening on {}", options.bind)))?;
        let addr = listener
            .local_addr()
            .map_err(io("reading the bound address"))?;
        let announcing = match (peers, cluster) {
            (Some(peers), Some(c)) => {
                hub.set_peers(Arc::new(peers.clone()));
                let address = advertised(c, addr)?;
                tracing::info!(%address, "Other nodes reach this one here.");
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let task = rt.spawn(peers.announce(address, stopped));
                Some((stop, task))
            }
            _ => None,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(fightwatch_broadcaster::serve(
            listener,
            hub.clone(),
            async {
                let _ = rx.await;
            },
        ));
        tracing::info!(%addr, data_dir = %options.data_dir.display(), "Serving dashboards.");
        eprintln!(
            "fightwatch: serving on http://{addr} (WebSocket ws://{addr}/ws, Socket.IO http://{addr}/socket.io/; mint a token with `fightwatch token --role viewer --user NAME --data-dir {}`)",
            options.data_dir.display()
        );
        Ok(Self {
            rt,
            hub,
            shutdown: Some(tx),
            task: Some(task),
            duty,
            announcing,
        })
    }

    /// The alert stage.
    pub fn alerts(&self) -> &Arc<AlertService> {
        self.hub.alerts()
    }

    /// This node's cameras' thumbnails and newest frames, for its pipeline to fill.
    pub fn feeds(&self) -> &Arc<CameraFeeds> {
        self.hub.feeds()
    }

    /// This node's name in a cluster (`None`: a single node).
    pub fn node_name(&self) -> Option<&str> {
        self.hub.config().node.as_deref()
    }

    /// The server's runtime, for the node's own background work (camera leases).
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.rt.handle()
    }

    /// Ends the pipeline's alerts a killed run left active (see
    /// [`AlertService::end_stale`]); call before the pipeline starts.
    ///
    /// `cameras` are this node's: on a cluster node only their alerts are ended (the other
    /// nodes' cameras may be mid-incident); a standalone node ends every pipeline alert.
    pub fn end_stale_alerts(&self, cameras: &[String]) -> Result<usize, ServerError> {
        let only = self.hub.config().node.is_some().then_some(cameras);
        Ok(self.rt.block_on(self.alerts().end_stale(only))?)
    }

    /// Applies `retention` now and every hour.
    pub fn retain(&self, retention: Retention) {
        let _inside = self.rt.enter();
        self.alerts().retain(retention);
    }

    /// Sets `flag` on Ctrl-C or SIGTERM.
    pub fn flag_on_signal(&self, flag: Arc<std::sync::atomic::AtomicBool>) {
        self.rt.spawn(async move {
            if wait_for_signal().await.is_ok() {
                eprintln!("fightwatch: stopping (signal)");
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }

    /// Keeps serving until Ctrl-C or SIGTERM, then closes connections gracefully.
    pub fn serve_until_signal(mut self) -> std::io::Result<()> {
        eprintln!("fightwatch: serving until Ctrl-C or SIGTERM");
        self.rt.block_on(wait_for_signal())?;
        self.stop();
        Ok(())
    }

    fn stop(&mut self) {
        // Hand the integrations duty back first: another node delivers at once, instead of
        // after this node's lease runs out.
        if let Some((stop, task)) = self.duty.take() {
            let _ = stop.send(());
            // (The timer is made inside the runtime: it needs its reactor.)
            let _ = self.rt.block_on(async move {
                tokio::time::timeout(std::time::Duration::from_secs(2), task).await
            });
        }
        if let Some((stop, task)) = self.announcing.take() {
            let _ = stop.send(true);
            let _ = self.rt.block_on(async move {
                tokio::time::timeout(std::time::Duration::from_secs(1), task).await
            });
        }
        // Close the WebSockets first (graceful shutdown does not track upgraded connections),
        // giving them a moment to send their close frames.
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

/// Where other nodes reach this one: the setting, else `http://` and the bound address (this
/// host's name in place of an all-addresses bind).
fn advertised(
    cluster: &ClusterOptions,
    bound: std::net::SocketAddr,
) -> Result<String, ServerError> {
    if let Some(url) = &cluster.advertise_url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    if !bound.ip().is_unspecified() {
        return Ok(format!("http://{bound}"));
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            ServerError::Peers(
                "bound to all addresses with no advertise_url and no HOSTNAME: set [cluster] \
                 advertise_url to the URL other nodes reach this one at"
                    .into(),
            )
        })?;
    Ok(format!("http://{host}:{}", bound.port()))
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

/// Runs the integrations on this node while it holds the cluster's integrations duty (a Redis
/// lease, renewed every second, lasting 4 s): a node that dies hands them to another within
/// about 5 s, which resumes from the shared cursors; a node that stops cleanly (`stop`) hands
/// them back at once. While Redis cannot be reached a node keeps doing what it did: a repeat
/// is better than a silence.
async fn integrations_duty(
    integrations: fightwatch_integrations::Integrations,
    redis_url: String,
    node: String,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut lease = loop {
        let connect = fightwatch_cluster::DutyLease::connect(
            &redis_url,
            "integrations",
            &node,
            std::time::Duration::from_secs(4),
        );
        let failed = tokio::select! {
            _ = &mut stop => return,
            connected = connect => match connected {
                Ok(lease) => break lease,
                Err(e) => e,
            },
        };
        tracing::warn!(error = %failed, "Cannot reach Redis for the integrations duty; retrying.");
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        match lease.hold().await {
            Ok(true) if !integrations.is_running() => {
                tracing::info!(%node, "This node delivers to the integrations now.");
                integrations.run();
            }
            Ok(false) if integrations.is_running() => {
                tracing::warn!(%node, "Another node delivers to the integrations now.");
                integrations.stop();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Renewing the integrations duty failed."),
        }
    }
    // Stopped first, released second: no moment where two nodes deliver.
    integrations.stop();
    match tokio::time::timeout(std::time::Duration::from_secs(1), lease.release()).await {
        Ok(Ok(())) => tracing::info!(%node, "Handed the integrations duty back."),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Handing the integrations duty back failed; it lapses in 4 s.")
        }
        Err(_) => tracing::warn!("Handing the integrations duty back timed out; it lapses in 4 s."),
    }
}
