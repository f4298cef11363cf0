/*!
fightwatch on several nodes. The shared state lives in two well-kept servers, not in home-made
consensus: PostgreSQL holds every alert and the numbered event log
([`fightwatch_store::PostgresStore`]), Redis carries events between nodes ([`RedisBus`], on a
Redis Stream).

Delivery does not depend on Redis being up. A node's own events reach its own dashboards
directly; other nodes' events come over the stream; and a sweep compares the log's last
sequence number with what this node has delivered, so an event that missed the stream (Redis
restarted, its node died between commit and publish) still reaches every dashboard, from the
log, within a second. The broadcaster's relay puts events back in `seq` order and drops
repeats, so every dashboard gets each event once, in order, whichever node raised it.

A node joins with the deployment's Redis (`no_run`: it needs one), as `fightwatch-node`'s
`Server` does:

```no_run
use std::sync::Arc;

use fightwatch_cluster::{CameraLeases, ClusterKey, LeaseConfig, RedisBus, RedisBusConfig};
use fightwatch_store::{AlertStore, PostgresStore};

# let rt = tokio::runtime::Runtime::new()?;
# rt.block_on(async {
let store: Arc<dyn AlertStore> = Arc::new(PostgresStore::connect("postgres://fightwatch@db/fightwatch")?);
// Events on the stream are signed with a key every node shares.
let key = ClusterKey::from_env_or_derive(b"the deployment's JWT secret, 32 bytes or more")?;
let bus = RedisBus::connect(RedisBusConfig::new("redis://redis:6379", "node-a", key), store).await?;
// Cameras are shared out by leases: each node runs the ones it holds.
let cameras = vec!["lobby".to_string(), "gate".to_string()];
let leases = CameraLeases::connect(LeaseConfig::new("redis://redis:6379", "node-a", cameras, 8)).await?;
# drop((bus, leases));
# Ok::<(), Box<dyn std::error::Error>>(())
# })?;
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

mod bus;
mod connect;
mod duty;
mod error;
mod leases;
mod peers;

pub use bus::{BusStats, ClusterKey, RedisBus, RedisBusConfig};
pub use duty::DutyLease;
pub use error::ClusterError;
pub use leases::{
    CameraLeases, ClusterView, LeaseConfig, NodeInfo, cluster_view, cluster_view_blocking,
};
pub use peers::{Peer, PeerDirectory, REQUEST_WINDOW};
