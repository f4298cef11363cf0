//! Which node runs which camera: leases in Redis.
//!
//! Every node reads the same camera list. A camera runs where its lease is: the key
//! `fightwatch:lease:CAMERA` holds the node's name and expires after `lease` unless renewed
//! (`SET NX PX`, renewed every `tick`). A node that dies stops renewing; its leases expire and
//! the others take its cameras within `lease` + two ticks. Nodes announce themselves in a sorted
//! set scored by Redis's own clock (no host clocks compared), with how many cameras they run and
//! may run; each node aims for an even share and takes a camera nobody has taken for two ticks
//! even beyond that share, up to its capacity, so no camera stays dark while any node has room.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::ClusterError;

/// Settings of [`CameraLeases`].
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// `redis://…`.
    pub url: String,
    /// This node's name.
    pub node: String,
    /// Every camera of the deployment (the same list on every node).
    pub cameras: Vec<String>,
    /// Cameras this node may run (0: a dashboard-only node).
    pub max_cameras: usize,
    /// How long a lease lasts without renewal: the failover time, nearly.
    pub lease: Duration,
    /// How often leases are renewed and free cameras looked for.
    pub tick: Duration,
}

impl LeaseConfig {
    /// Leases of 4 s renewed every second.
    pub fn new(url: &str, node: &str, cameras: Vec<String>, max_cameras: usize) -> Self {
        Self {
            url: url.into(),
            node: node.into(),
            cameras,
            max_cameras,
            lease: Duration::from_secs(4),
            tick: Duration::from_secs(1),
        }
    }
}

/// The cluster as Redis sees it: [`cluster_view`].
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Nodes heard from lately, live or not.
    pub nodes: Vec<NodeInfo>,
    /// Each camera and the node holding its lease (`None`: dark), by name.
    pub cameras: Vec<(String, Option<String>)>,
}

/// What `fightwatch cluster status` shows of one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeInfo {
    /// Its name.
    pub node: String,
    /// Cameras it runs.
    pub cameras: usize,
    /// Cameras it may run.
    pub max_cameras: usize,
    /// The highest event seq it has delivered to its dashboards.
    pub delivered_seq: u64,
    /// Milliseconds since it last announced itself (by Redis's clock).
    pub seen_ms_ago: u64,
    /// Its lease time: heard from within it, the node is live.
    pub lease_ms: u64,
    /// Whether it was heard from within its lease time.
    pub live: bool,
}

const NODES: &str = "fightwatch:nodes";

pub(crate) fn lease_key(camera: &str) -> String {
    format!("fightwatch:lease:{camera}")
}

fn node_key(node: &str) -> String {
    format!("fightwatch:node:{node}")
}

/// This node's side of the camera leases.
pub struct CameraLeases {
    config: LeaseConfig,
    conn: ConnectionManager,
    owned: BTreeSet<String>,
    /// Consecutive ticks each camera was seen without an owner.
    free_for: HashMap<String, u32>,
    renew: redis::Script,
    release: redis::Script,
}

impl CameraLeases {
    /// Connects to Redis (failing clearly when it cannot be reached).
    pub async fn connect(config: LeaseConfig) -> Result<Self, ClusterError> {
        let conn = crate::connect::open(&config.url).await?.conn;
        Ok(Self {
            config,
            conn,
            owned: BTreeSet::new(),
            free_for: HashMap::new(),
            renew: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
            ),
            release: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
            ),
        })
    }

    /// The cameras this node holds now.
    pub fn owned(&self) -> Vec<String> {
        self.owned.iter().cloned().collect()
    }

    /// One round: announce this node, renew its leases, take free cameras up to its share
    /// (or beyond it for cameras free for two ticks), hand one back when it holds more than
    /// its share and another node has room. Returns the cameras held afterwards. On a Redis
    /// error the node keeps what it holds (a lease it could not renew expires by itself, and
    /// the next successful round finds it gone).
    pub async fn tick(&mut self, delivered_seq: u64) -> Result<Vec<String>, redis::RedisError> {
        let ms = self.config.lease.as_millis() as u64;
        let now = self.server_ms().await?;
        // Renew; a lease someone else holds now (it expired meanwhile) is lost.
        for camera in self.owned.clone() {
            let renewed: i64 = self
                .renew
                .key(lease_key(&camera))
                .arg(&self.config.node)
                .arg(ms)
                .invoke_async(&mut self.conn)
                .await?;
            if renewed == 0 {
                tracing::warn!(%camera, "Lost the camera's lease.");
                self.owned.remove(&camera);
            }
        }
        self.announce(now, delivered_seq).await?;
        let nodes = self.nodes_at(now).await?;
        let capable = nodes.iter().filter(|n| n.max_cameras > 0).count().max(1);
        let total = self.config.cameras.len();
        let share = total.div_ceil(capable);
        let owners = self.owners().await?;
        let free: Vec<String> = self
            .config
            .cameras
            .iter()
            .filter(|c| owners.get(*c).is_none_or(Option::is_none))
            .cloned()
            .collect();
        for camera in &self.config.cameras {
            if free.contains(camera) {
                *self.free_for.entry(camera.clone()).or_default() += 1;
            } else {
                self.free_for.remove(camera);
            }
        }
        // Different nodes try free cameras in different orders: fewer collisions.
        let mut order = free;
        order.sort_by_key(|c| fnv(&format!("{}/{c}", self.config.node)));
        let max = self.config.max_cameras;
        for camera in &order {
            let long_free = self.free_for.get(camera).copied().unwrap_or(0) >= 2;
            let room = self.owned.len() < max.min(share) || (long_free && self.owned.len() < max);
            if room && self.acquire(camera, ms).await? {
                tracing::info!(%camera, "Took the camera's lease.");
                self.owned.insert(camera.clone());
            }
        }
        // Hand one back if over the share while another node could take it.
        let someone_has_room = nodes
            .iter()
            .any(|n| n.node != self.config.node && n.cameras < n.max_cameras.min(share));
        if self.owned.len() > share
            && someone_has_room
            && let Some(camera) = self.owned.iter().next_back().cloned()
        {
            self.release(&camera).await?;
            tracing::info!(%camera, "Handed the camera back to balance the nodes.");
            self.owned.remove(&camera);
        }
        self.announce(now, delivered_seq).await?;
        Ok(self.owned())
    }

    /// Runs a round every `tick` until `stop`, calling `changed` with the cameras held
    /// whenever they differ from the last call (and once at the start); stops early when
    /// `changed` returns false. Gives every lease back at the end.
    pub async fn run(
        mut self,
        delivered_seq: impl Fn() -> u64 + Send,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        mut changed: impl FnMut(Vec<String>) -> bool + Send,
    ) {
        let mut last: Option<Vec<String>> = None;
        let mut interval = tokio::time::interval(self.config.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            interval.tick().await;
            match self.tick(delivered_seq()).await {
                Ok(held) if last.as_ref() != Some(&held) => {
                    last = Some(held.clone());
                    if !changed(held) {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "A camera lease round failed; retrying."),
            }
        }
        if let Err(e) = self.release_all().await {
            tracing::warn!(error = %e, "Could not hand the camera leases back.");
        }
    }

    /// Gives every lease back (a clean stop: the others take the cameras at once).
    pub async fn release_all(&mut self) -> Result<(), redis::RedisError> {
        for camera in std::mem::take(&mut self.owned) {
            self.release(&camera).await?;
        }
        let _: () = self.conn.zrem(NODES, &self.config.node).await?;
        Ok(())
    }

    /// Deletes the camera's lease if it is still this node's.
    async fn release(&mut self, camera: &str) -> Result<(), redis::RedisError> {
        let _: i64 = self
            .release
            .key(lease_key(camera))
            .arg(&self.config.node)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn acquire(&mut self, camera: &str, ms: u64) -> Result<bool, redis::RedisError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(lease_key(camera))
            .arg(&self.config.node)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut self.conn)
            .await?;
        Ok(set.is_some())
    }

    async fn announce(&mut self, now: u64, delivered_seq: u64) -> Result<(), redis::RedisError> {
        let key = node_key(&self.config.node);
        let ms = self.config.lease.as_millis() as u64;
        redis::pipe()
            .zadd(NODES, &self.config.node, now)
            .ignore()
            .hset_multiple(
                &key,
                &[
                    ("cameras", self.owned.len() as u64),
                    ("max_cameras", self.config.max_cameras as u64),
                    ("delivered_seq", delivered_seq),
                    ("lease_ms", ms),
                ],
            )
            .ignore()
            .pexpire(&key, (ms * 10) as i64)
            .ignore()
            .query_async::<()>(&mut self.conn)
            .await
    }

    async fn server_ms(&mut self) -> Result<u64, redis::RedisError> {
        server_ms(&mut self.conn).await
    }

    async fn nodes_at(&mut self, now: u64) -> Result<Vec<NodeInfo>, redis::RedisError> {
        live_nodes(&mut self.conn, now, self.config.lease).await
    }

    async fn owners(&mut self) -> Result<HashMap<String, Option<String>>, redis::RedisError> {
        owners(&mut self.conn, &self.config.cameras).await
    }
}

/// Redis's clock, in ms (every node compares against the same clock).
async fn server_ms(conn: &mut ConnectionManager) -> Result<u64, redis::RedisError> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(secs * 1000 + micros / 1000)
}

/// Nodes heard from within `lease`, with what they announced (nodes silent for ten lease
/// times are forgotten).
async fn live_nodes(
    conn: &mut ConnectionManager,
    now: u64,
    lease: Duration,
) -> Result<Vec<NodeInfo>, redis::RedisError> {
    let ms = lease.as_millis() as u64;
    let _: () = conn
        .zrembyscore(NODES, "-inf", now.saturating_sub(ms * 10) as f64)
        .await?;
    nodes_since(conn, now, now.saturating_sub(ms)).await
}

/// Every node heard from since `since` (Redis's clock, ms).
async fn nodes_since(
    conn: &mut ConnectionManager,
    now: u64,
    since: u64,
) -> Result<Vec<NodeInfo>, redis::RedisError> {
    let seen: Vec<(String, f64)> = conn
        .zrangebyscore_withscores(NODES, since as f64, "+inf")
        .await?;
    let mut out = Vec::with_capacity(seen.len());
    for (node, at) in seen {
        let fields: HashMap<String, u64> = conn.hgetall(node_key(&node)).await?;
        let seen_ms_ago = now.saturating_sub(at as u64);
        let lease_ms = fields.get("lease_ms").copied().unwrap_or(4000);
        out.push(NodeInfo {
            cameras: fields.get("cameras").copied().unwrap_or(0) as usize,
            max_cameras: fields.get("max_cameras").copied().unwrap_or(0) as usize,
            delivered_seq: fields.get("delivered_seq").copied().unwrap_or(0),
            seen_ms_ago,
            lease_ms,
            live: seen_ms_ago <= lease_ms,
            node,
        });
    }
    Ok(out)
}

/// Each camera's lease holder.
async fn owners(
    conn: &mut ConnectionManager,
    cameras: &[String],
) -> Result<HashMap<String, Option<String>>, redis::RedisError> {
    if cameras.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<String> = cameras.iter().map(|c| lease_key(c)).collect();
    let holders: Vec<Option<String>> = conn.mget(&keys).await?;
    Ok(cameras.iter().cloned().zip(holders).collect())
}

/// The cluster as Redis sees it now: the nodes heard from lately (live or not) and each
/// camera's holder (of `cameras`, or, when that is empty, of every camera with a lease).
pub async fn cluster_view(url: &str, cameras: &[String]) -> Result<ClusterView, ClusterError> {
    let opened = crate::connect::open(url).await?;
    let err = |e| opened.error(e);
    let mut conn = opened.conn.clone();
    let now = server_ms(&mut conn).await.map_err(err)?;
    // Recently silent nodes too (marked not live): a dead node is worth seeing.
    let nodes = nodes_since(&mut conn, now, 0).await.map_err(err)?;
    let cameras = if cameras.is_empty() {
        // KEYS is fine here: one key per camera, and only this command asks.
        // No list given: the cameras that have a lease now.
        let keys: Vec<String> = conn.keys("fightwatch:lease:*").await.map_err(err)?;
        let mut names: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix("fightwatch:lease:").map(String::from))
            .collect();
        names.sort();
        names
    } else {
        cameras.to_vec()
    };
    let owners = owners(&mut conn, &cameras).await.map_err(err)?;
    let mut cameras: Vec<(String, Option<String>)> = owners.into_iter().collect();
    cameras.sort();
    Ok(ClusterView { nodes, cameras })
}

/// [`cluster_view`] for code without a runtime (the `fightwatch cluster status` command).
pub fn cluster_view_blocking(url: &str, cameras: &[String]) -> Result<ClusterView, ClusterError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Redis {
            target: crate::connect::describe(url),
            source: redis::RedisError::from(e),
        })?;
    runtime.block_on(cluster_view(url, cameras))
}

/// FNV-1a: a stable, cheap hash for the per-node trying order.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
