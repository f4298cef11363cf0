//! A duty that one node of the deployment does at a time (delivering to integrations): a lease
//! in Redis like a camera's, `fightwatch:duty:NAME`, taken when free and renewed while held.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::ClusterError;

/// One node's hold on a duty.
pub struct DutyLease {
    conn: ConnectionManager,
    key: String,
    node: String,
    lease: Duration,
    hold: redis::Script,
    release: redis::Script,
}

impl DutyLease {
    /// Connects to Redis for the duty `name` of node `node`; an unrenewed hold lasts `lease`.
    pub async fn connect(
        url: &str,
        name: &str,
        node: &str,
        lease: Duration,
    ) -> Result<Self, ClusterError> {
        let conn = crate::connect::open(url).await?.conn;
        Ok(Self {
            conn,
            key: format!("fightwatch:duty:{name}"),
            node: node.into(),
            lease,
            // Renew when ours, take when free: one round trip, no window between the two.
            hold: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                   redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 \
                 elseif redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 \
                 else return 0 end",
            ),
            release: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
            ),
        })
    }

    /// Takes the duty when nobody has it, renews it when this node has it: whether this node
    /// has it now.
    pub async fn hold(&mut self) -> Result<bool, redis::RedisError> {
        let held: i64 = self
            .hold
            .key(&self.key)
            .arg(&self.node)
            .arg(self.lease.as_millis() as u64)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(held == 1)
    }

    /// Hands the duty back (a clean stop), so another node takes it at once.
    pub async fn release(&mut self) -> Result<(), redis::RedisError> {
        let _: i64 = self
            .release
            .key(&self.key)
            .arg(&self.node)
            .invoke_async(&mut self.conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_node_at_a_time_and_the_next_when_it_dies() {
        let redis = fightwatch_testkit::Redis::start().expect("redis");
        let lease = Duration::from_millis(400);
        let mut a = DutyLease::connect(&redis.url(), "integrations", "a", lease)
            .await
            .expect("a");
        let mut b = DutyLease::connect(&redis.url(), "integrations", "b", lease)
            .await
            .expect("b");
        assert!(a.hold().await.expect("a holds"));
        assert!(!b.hold().await.expect("b waits"));
        assert!(a.hold().await.expect("a renews"));
        // a stops renewing (it died): b has the duty once the lease ran out.
        tokio::time::sleep(lease + Duration::from_millis(200)).await;
        assert!(b.hold().await.expect("b takes over"));
        assert!(!a.hold().await.expect("a sees b"));
        // A clean stop hands it over at once.
        b.release().await.expect("release");
        assert!(a.hold().await.expect("a again"));
    }
}
