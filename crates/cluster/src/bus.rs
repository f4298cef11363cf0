//! The event bus on a Redis Stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fightwatch_alerts::{EventBus, Subscription};
use fightwatch_protocol::ServerMessage;
use fightwatch_store::{AlertStore, StoreError};
use hmac::{Hmac, Mac};
use redis::AsyncCommands;
use redis::streams::{StreamMaxlen, StreamRangeReply, StreamReadOptions, StreamReadReply};
use sha2::Sha256;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;

use crate::ClusterError;

/// Settings of a [`RedisBus`].
#[derive(Debug, Clone)]
pub struct RedisBusConfig {
    /// `redis://[:password@]host:port/db`.
    pub url: String,
    /// The stream's key; every node of one deployment uses the same.
    pub stream: String,
    /// Entries Redis keeps (approximately): the window a reconnecting reader can still read.
    pub max_len: usize,
    /// This node's name (its own entries are not read back).
    pub node: String,
    /// Events buffered per local subscriber.
    pub capacity: usize,
    /// How often the log is compared with what was delivered (the safety net).
    pub sweep_every: Duration,
    /// The cluster key: every entry carries an HMAC-SHA256 of its node and message under it,
    /// and entries without a valid one are dropped (see [`ClusterKey`]).
    pub key: ClusterKey,
}

/// The key that authenticates the nodes' stream entries. Redis is trusted to carry entries, not
/// to say what they hold: anyone who can write to it cannot forge one without this key.
#[derive(Clone)]
pub struct ClusterKey([u8; 32]);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(***)")
    }
}

impl ClusterKey {
    /// The fewest bytes a key given outright may have.
    pub const MIN_BYTES: usize = 32;
    /// The label that makes the bus key differ from the secret it is derived from.
    const LABEL: &[u8] = b"fightwatch cluster bus key v1";

    /// `FIGHTWATCH_CLUSTER_KEY` (at least 32 bytes) when set, else derived from the secret all
    /// nodes share (the JWT secret) with a label of its own, so the bus key is never the
    /// token-signing key itself.
    pub fn from_env_or_derive(shared_secret: &[u8]) -> Result<Self, ClusterError> {
        match std::env::var_os("FIGHTWATCH_CLUSTER_KEY") {
            Some(key) => Self::new(&key.into_encoded_bytes()),
            None => Ok(Self::derive(shared_secret)),
        }
    }

    /// The key from a secret given for the bus alone (`FIGHTWATCH_CLUSTER_KEY`), put through the
    /// same labelled HMAC; refused when shorter than [`Self::MIN_BYTES`].
    pub fn new(key: &[u8]) -> Result<Self, ClusterError> {
        if key.len() < Self::MIN_BYTES {
            return Err(ClusterError::Config(format!(
                "FIGHTWATCH_CLUSTER_KEY has {} bytes; it needs at least {} (e.g. `openssl rand -hex 32`)",
                key.len(),
                Self::MIN_BYTES
            )));
        }
        Ok(Self::derive(key))
    }

    /// HMAC-SHA256(secret, label).
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(Self::LABEL);
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, node: &str, message: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        // Length-prefixed, so no other (node, message) split gives the same bytes.
        mac.update(&(node.len() as u64).to_be_bytes());
        mac.update(node.as_bytes());
        mac.update(message.as_bytes());
        mac
    }

    /// The tag of an entry.
    pub(crate) fn sign(&self, node: &str, message: &str) -> Vec<u8> {
        self.mac(node, message).finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is the entry's tag (in constant time).
    pub(crate) fn verify(&self, node: &str, message: &str, tag: &[u8]) -> bool {
        self.mac(node, message).verify_slice(tag).is_ok()
    }
}

impl RedisBusConfig {
    /// Defaults for `url`, `node` and `key`: stream `fightwatch:events`, 100,000 entries, 1 s
    /// sweep.
    pub fn new(url: &str, node: &str, key: ClusterKey) -> Self {
        Self {
            url: url.into(),
            stream: "fightwatch:events".into(),
            max_len: 100_000,
            node: node.into(),
            capacity: 4096,
            sweep_every: Duration::from_secs(1),
            key,
        }
    }
}

/// Events waiting for Redis, oldest first; bounded so an outage cannot exhaust memory.
struct Outbox {
    queue: Mutex<VecDeque<Signed>>,
    ready: Notify,
}

/// A message and its tag, ready for the stream.
#[derive(Clone, PartialEq)]
struct Signed {
    json: String,
    mac: Vec<u8>,
}

/// Entries kept while Redis is away (persisted events beyond it still reach other nodes: the
/// sweep reads them from the log).
const OUTBOX_LIMIT: usize = 50_000;

/// What the bus has done, for health and metrics.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Whether the last Redis command succeeded.
    pub connected: AtomicBool,
    /// Entries written to the stream.
    pub published: AtomicU64,
    /// Entries of other nodes read from the stream.
    pub received: AtomicU64,
    /// Entries dropped because their tag was missing or wrong (forged, or another key).
    pub rejected: AtomicU64,
    /// Persisted events delivered from the log because the stream had not brought them.
    pub swept: AtomicU64,
    /// Entries dropped from a full outbox.
    pub dropped: AtomicU64,
}

/// An [`EventBus`] shared by every node through a Redis Stream (see the crate docs).
pub struct RedisBus {
    local: broadcast::Sender<Arc<ServerMessage>>,
    outbox: Arc<Outbox>,
    store: Arc<dyn AlertStore>,
    node: String,
    key: ClusterKey,
    /// The highest seq handed to this node's subscribers.
    delivered: Arc<AtomicU64>,
    stats: Arc<BusStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl RedisBus {
    /// Connects (failing clearly when Redis cannot be reached) and starts the publisher, the
    /// reader and the sweep. Must be called inside a tokio runtime.
    pub async fn connect(
        config: RedisBusConfig,
        store: Arc<dyn AlertStore>,
    ) -> Result<Self, ClusterError> {
        let opened = crate::connect::open(&config.url).await?;
        let err = |e| opened.error(e);
        let mut publisher = opened.conn.clone();
        // Read from the stream's current end: older entries are history, which the log has.
        let last: StreamRangeReply = publisher
            .xrevrange_count(&config.stream, "+", "-", 1)
            .await
            .map_err(err)?;
        let start_id = last.ids.first().map_or("0-0".to_string(), |e| e.id.clone());
        let delivered = Arc::new(AtomicU64::new(
            fightwatch_store::on_blocking_pool(&store, |s| s.last_seq())
                .await
                .unwrap_or(0),
        ));
        let stats = Arc::new(BusStats::default());
        stats.connected.store(true, Ordering::Relaxed);
        let local = broadcast::channel(config.capacity.max(16)).0;
        let outbox = Arc::new(Outbox {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
        });
        let tasks = vec![
            tokio::spawn(publish_loop(
                publisher,
                config.clone(),
                Arc::clone(&outbox),
                Arc::clone(&stats),
            )),
            tokio::spawn(read_loop(
                opened.client.clone(),
                config.clone(),
                start_id,
                Arc::clone(&store),
                local.clone(),
                Arc::clone(&delivered),
                Arc::clone(&stats),
            )),
            tokio::spawn(sweep_loop(
                config.sweep_every,
                Arc::clone(&store),
                local.clone(),
                Arc::clone(&delivered),
                Arc::clone(&stats),
            )),
        ];
        tracing::info!(redis = %opened.target, stream = %config.stream, node = %config.node, "Event bus on Redis.");
        Ok(Self {
            local,
            outbox,
            store,
            node: config.node.clone(),
            key: config.key.clone(),
            delivered,
            stats,
            tasks,
        })
    }

    /// What the bus has done so far.
    pub fn stats(&self) -> &BusStats {
        &self.stats
    }

    /// Entries waiting for Redis.
    pub fn backlog(&self) -> usize {
        self.outbox.queue.lock().map_or(0, |q| q.len())
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl EventBus for RedisBus {
    fn publish(&self, msg: ServerMessage) {
        if let Some(seq) = msg.seq() {
            self.delivered.fetch_max(seq, Ordering::Relaxed);
        }
        let json = match serde_json::to_string(&msg) {
            Ok(json) => json,
            Err(e) => {
                tracing::error!(error = %e, "An event could not be serialised for the bus.");
                return;
            }
        };
        // This node's dashboards first, Redis or not.
        let _ = self.local.send(Arc::new(msg));
        let mac = self.key.sign(&self.node, &json);
        if let Ok(mut queue) = self.outbox.queue.lock() {
            if queue.len() >= OUTBOX_LIMIT {
                queue.pop_front();
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            queue.push_back(Signed { json, mac });
        }
        self.outbox.ready.notify_one();
    }

    fn subscribe(&self) -> Subscription {
        self.local.subscribe()
    }

    fn replay_after(&self, seq: u64, limit: usize) -> Result<Vec<ServerMessage>, StoreError> {
        self.store.events_after(seq, limit)
    }

    fn delivered_seq(&self) -> Option<u64> {
        Some(self.delivered.load(Ordering::Relaxed))
    }

    fn report(&self) -> Option<fightwatch_alerts::BusReport> {
        let s = &self.stats;
        Some(fightwatch_alerts::BusReport {
            connected: s.connected.load(Ordering::Relaxed),
            backlog: self.backlog() as u64,
            published: s.published.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            swept: s.swept.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
        })
    }
}

/// Writes the outbox to the stream in order; on failure keeps the batch and retries with
/// backoff (the connection manager reconnects underneath).
async fn publish_loop(
    mut conn: redis::aio::ConnectionManager,
    config: RedisBusConfig,
    outbox: Arc<Outbox>,
    stats: Arc<BusStats>,
) {
    let mut backoff = Backoff::default();
    loop {
        let batch: Vec<Signed> = match outbox.queue.lock() {
            Ok(queue) => queue.iter().take(256).cloned().collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            outbox.ready.notified().await;
            continue;
        }
        let mut pipe = redis::pipe();
        for entry in &batch {
            pipe.xadd_maxlen(
                &config.stream,
                StreamMaxlen::Approx(config.max_len),
                "*",
                &[
                    ("node", config.node.as_bytes()),
                    ("m", entry.json.as_bytes()),
                    ("mac", entry.mac.as_slice()),
                ],
            )
            .ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                if let Ok(mut queue) = outbox.queue.lock() {
                    // Entries dropped meanwhile shift the queue; remove what was sent.
                    for entry in &batch {
                        if queue.front() == Some(entry) {
                            queue.pop_front();
                        }
                    }
                }
                stats
                    .published
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                if !stats.connected.swap(true, Ordering::Relaxed) {
                    tracing::info!("Redis is back; the event backlog is sent.");
                }
                backoff.reset();
            }
            Err(e) => {
                if stats.connected.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "Redis is unreachable; events wait for it (this node's dashboards still get them).");
                }
                backoff.wait().await;
            }
        }
    }
}

/// Reads other nodes' entries; reconnects with backoff and goes on from the last entry read.
///
/// An entry counts only with a valid tag under the cluster key. Even then, a logged event's
/// payload is never relayed: its seq says which event to take from the log, and the log's
/// copy is what is delivered, so what dashboards get is what the log holds, and a seq the
/// log does not hold moves nothing. Live-only events (camera states, metrics) are relayed as
/// sent.
async fn read_loop(
    client: redis::Client,
    config: RedisBusConfig,
    mut last_id: String,
    store: Arc<dyn AlertStore>,
    local: broadcast::Sender<Arc<ServerMessage>>,
    delivered: Arc<AtomicU64>,
    stats: Arc<BusStats>,
) {
    let options = StreamReadOptions::default().block(1000).count(500);
    let connection = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let mut backoff = Backoff::default();
    loop {
        let mut conn = match client
            .get_multiplexed_async_connection_with_config(&connection)
            .await
        {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "The bus reader cannot reach Redis.");
                backoff.wait().await;
                continue;
            }
        };
        backoff.reset();
        loop {
            let reply: Option<StreamReadReply> = match conn
                .xread_options(&[&config.stream], &[&last_id], &options)
                .await
            {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::debug!(error = %e, "The bus reader lost Redis; reconnecting.");
                    break;
                }
            };
            let Some(reply) = reply else { continue };
            let mut announced = Vec::new();
            for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                last_id = entry.id.clone();
                let node: Option<String> = entry.get("node");
                let json: Option<String> = entry.get("m");
                let mac: Option<Vec<u8>> = entry.get("mac");
                let (Some(node), Some(json), Some(mac)) = (node, json, mac) else {
                    reject(&stats, &entry.id, "incomplete");
                    continue;
                };
                if !config.key.verify(&node, &json, &mac) {
                    reject(&stats, &entry.id, "bad tag");
                    continue;
                }
                if node == config.node {
                    continue;
                }
                match serde_json::from_str::<ServerMessage>(&json) {
                    Ok(msg) => {
                        stats.received.fetch_add(1, Ordering::Relaxed);
                        match msg.seq() {
                            Some(seq) => announced.push(seq),
                            None => {
                                let _ = local.send(Arc::new(msg));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(entry = %entry.id, error = %e, "An unreadable entry on the event stream was skipped.");
                    }
                }
            }
            deliver_logged(&store, announced, &local, &delivered).await;
        }
        backoff.wait().await;
    }
}

/// Delivers the log's copies of the events whose seqs other nodes announced (in order; a seq
/// the log does not hold is skipped: the sweep would find it if it is committed later).
async fn deliver_logged(
    store: &Arc<dyn AlertStore>,
    mut announced: Vec<u64>,
    local: &broadcast::Sender<Arc<ServerMessage>>,
    delivered: &AtomicU64,
) {
    announced.sort_unstable();
    announced.dedup();
    let (Some(&first), Some(&last)) = (announced.first(), announced.last()) else {
        return;
    };
    let mut after = first.saturating_sub(1);
    while after < last {
        let page = match fightwatch_store::on_blocking_pool(store, move |s| {
            s.events_after(after, 500)
        })
        .await
        {
            Ok(page) if !page.is_empty() => page,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "The bus reader cannot read the event log; the sweep will deliver.");
                return;
            }
        };
        for msg in page {
            let Some(seq) = msg.seq() else { continue };
            if seq > last {
                return;
            }
            after = seq;
            if announced.binary_search(&seq).is_ok() {
                delivered.fetch_max(seq, Ordering::Relaxed);
                let _ = local.send(Arc::new(msg));
            }
        }
    }
}

/// Counts and logs (the first, then every 1,000th) an entry dropped as unauthenticated.
fn reject(stats: &BusStats, id: &str, why: &str) {
    let n = stats.rejected.fetch_add(1, Ordering::Relaxed);
    if n.is_multiple_of(1000) {
        tracing::warn!(entry = %id, why, rejected = n + 1, "An event stream entry without a valid cluster tag was dropped: something other than a node writes to Redis, or the nodes' keys differ.");
    }
}

/// Delivers from the log any persisted event the stream has not brought (see the crate docs).
async fn sweep_loop(
    every: Duration,
    store: Arc<dyn AlertStore>,
    local: broadcast::Sender<Arc<ServerMessage>>,
    delivered: Arc<AtomicU64>,
    stats: Arc<BusStats>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(last) = fightwatch_store::on_blocking_pool(&store, |s| s.last_seq()).await else {
            continue;
        };
        let mut after = delivered.load(Ordering::Relaxed);
        while after < last {
            let page = match fightwatch_store::on_blocking_pool(&store, move |s| {
                s.events_after(after, 500)
            })
            .await
            {
                Ok(page) if !page.is_empty() => page,
                _ => break,
            };
            for msg in page {
                if let Some(seq) = msg.seq() {
                    after = after.max(seq);
                    // Only what nobody delivered meanwhile.
                    if delivered.fetch_max(seq, Ordering::Relaxed) < seq {
                        stats.swept.fetch_add(1, Ordering::Relaxed);
                        let _ = local.send(Arc::new(msg));
                    }
                }
            }
        }
    }
}

/// 100 ms doubling to 2 s, ±25 % so that nodes do not reconnect in step.
struct Backoff(fightwatch_retry::Retry);

impl Default for Backoff {
    fn default() -> Self {
        Self(fightwatch_retry::Retry::new(fightwatch_retry::Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            jitter: 0.25,
        }))
    }
}

impl Backoff {
    async fn wait(&mut self) {
        tokio::time::sleep(self.0.next_delay()).await;
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}
