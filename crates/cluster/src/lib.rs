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
*/

mod bus;
mod connect;
mod duty;
mod error;
mod leases;

pub use bus::{BusStats, ClusterKey, RedisBus, RedisBusConfig};
pub use duty::DutyLease;
pub use error::ClusterError;
pub use leases::{
    CameraLeases, ClusterView, LeaseConfig, NodeInfo, cluster_view, cluster_view_blocking,
};
