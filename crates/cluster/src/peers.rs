//! Where each node answers the others: its address, announced in Redis beside the leases and
//! signed with the cluster key (Redis carries it but cannot forge it), so that a node can ask
//! the one that holds a media file or runs a camera; and the signature of those node-to-node
//! requests.

use std::collections::HashMap;
use std::time::Duration;

use fightwatch_protocol::now_ms;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::{ClusterError, ClusterKey};

/// The hash of announcements: node → `expires_ms|address|tag`.
const PEERS: &str = "fightwatch:peers";

/// How far a signed request's time may be from the receiver's clock.
pub const REQUEST_WINDOW: Duration = Duration::from_secs(30);

/// Another node and where it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its name.
    pub node: String,
    /// Its base URL (`http://10.0.0.5:8080`).
    pub address: String,
}

/// This node's view of the others.
pub struct PeerDirectory {
    conn: ConnectionManager,
    node: String,
    key: ClusterKey,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

impl ClusterKey {
    /// The signature node `from` puts on its request `target` (`GET /internal/…`) to node `to`
    /// at `time_ms`.
    pub fn sign_request(&self, from: &str, to: &str, target: &str, time_ms: u64) -> String {
        hex(&self.sign(from, &format!("request\n{to}\n{time_ms}\n{target}")))
    }

    /// Whether `signature` is node `from`'s on the request `target` to node `to` at `time_ms`,
    /// and that time is within [`REQUEST_WINDOW`] of now.
    pub fn verify_request(
        &self,
        from: &str,
        to: &str,
        target: &str,
        time_ms: u64,
        signature: &str,
    ) -> bool {
        let window = REQUEST_WINDOW.as_millis() as u64;
        if now_ms().abs_diff(time_ms) > window {
            return false;
        }
        unhex(signature).is_some_and(|tag| {
            self.verify(from, &format!("request\n{to}\n{time_ms}\n{target}"), &tag)
        })
    }

    fn announcement(node: &str, address: &str, expires_ms: u64) -> String {
        format!("peer\n{node}\n{expires_ms}\n{address}")
    }
}

impl PeerDirectory {
    /// Connects to Redis for node `node`.
    pub async fn connect(url: &str, node: &str, key: ClusterKey) -> Result<Self, ClusterError> {
        Ok(Self {
            conn: crate::connect::open(url).await?.conn,
            node: node.into(),
            key,
        })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The key requests are signed with.
    pub fn key(&self) -> &ClusterKey {
        &self.key
    }

    /// Says this node answers at `address` for the next `ttl` (renew it before then).
    pub async fn announce(
        &mut self,
        address: &str,
        ttl: Duration,
    ) -> Result<(), redis::RedisError> {
        let expires = now_ms() + ttl.as_millis() as u64;
        let tag = self.key.sign(
            &self.node,
            &ClusterKey::announcement(&self.node, address, expires),
        );
        let value = format!("{expires}|{address}|{}", hex(&tag));
        self.conn
            .hset::<_, _, _, ()>(PEERS, &self.node, value)
            .await
    }

    /// Takes this node's announcement back (a clean stop).
    pub async fn withdraw(&mut self) -> Result<(), redis::RedisError> {
        self.conn.hdel::<_, _, ()>(PEERS, &self.node).await
    }

    /// The other nodes announced and not expired, whose announcements carry the cluster key's
    /// tag (an entry anyone else wrote is ignored).
    pub async fn peers(&mut self) -> Result<Vec<Peer>, redis::RedisError> {
        let all: HashMap<String, String> = self.conn.hgetall(PEERS).await?;
        let now = now_ms();
        let mut peers: Vec<Peer> = all
            .into_iter()
            .filter(|(node, _)| *node != self.node)
            .filter_map(|(node, value)| {
                let mut parts = value.splitn(3, '|');
                let expires: u64 = parts.next()?.parse().ok()?;
                let address = parts.next()?.to_string();
                let tag = unhex(parts.next()?)?;
                let genuine = self
                    .key
                    .verify(&node, &ClusterKey::announcement(&node, &address, expires), &tag);
                if !genuine {
                    tracing::warn!(%node, "A peer announcement without the cluster key's tag was ignored.");
                }
                (genuine && expires > now).then_some(Peer { node, address })
            })
            .collect();
        peers.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(peers)
    }

    /// The node whose lease holds `camera` now, if any.
    pub async fn camera_owner(
        &mut self,
        camera: &str,
    ) -> Result<Option<String>, redis::RedisError> {
        self.conn.get(crate::leases::lease_key(camera)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_signed_for_one_receiver_path_and_moment() {
        let key = ClusterKey::derive(b"a shared secret of the deployment, long");
        let now = now_ms();
        let sig = key.sign_request("a", "b", "GET /internal/media/x.jpg", now);
        assert!(key.verify_request("a", "b", "GET /internal/media/x.jpg", now, &sig));
        assert!(!key.verify_request("a", "c", "GET /internal/media/x.jpg", now, &sig));
        assert!(!key.verify_request("a", "b", "GET /internal/media/y.jpg", now, &sig));
        assert!(!key.verify_request("c", "b", "GET /internal/media/x.jpg", now, &sig));
        assert!(!key.verify_request("a", "b", "GET /internal/media/x.jpg", now + 1, &sig));
        let old = now - 60_000;
        let stale = key.sign_request("a", "b", "GET /internal/media/x.jpg", old);
        assert!(!key.verify_request("a", "b", "GET /internal/media/x.jpg", old, &stale));
        let other = ClusterKey::derive(b"another deployment's secret, long enough");
        assert!(!other.verify_request("a", "b", "GET /internal/media/x.jpg", now, &sig));
        assert!(!key.verify_request("a", "b", "GET /internal/media/x.jpg", now, "zz"));
    }

    #[tokio::test]
    async fn peers_see_each_other_and_ignore_forged_or_expired_entries() {
        let redis = fightwatch_testkit::Redis::start().expect("redis");
        let key = ClusterKey::derive(b"a shared secret of the deployment, long");
        let mut a = PeerDirectory::connect(&redis.url(), "a", key.clone())
            .await
            .unwrap();
        let mut b = PeerDirectory::connect(&redis.url(), "b", key.clone())
            .await
            .unwrap();
        a.announce("http://10.0.0.1:8080", Duration::from_secs(5))
            .await
            .unwrap();
        b.announce("http://10.0.0.2:8080", Duration::from_secs(5))
            .await
            .unwrap();
        let seen = a.peers().await.unwrap();
        assert_eq!(
            seen,
            vec![Peer {
                node: "b".into(),
                address: "http://10.0.0.2:8080".into()
            }]
        );
        // Someone with Redis but not the key points "c" at itself: ignored.
        let far = now_ms() + 60_000;
        let forged = format!("{far}|http://evil:80|{}", hex(&[0u8; 32]));
        let mut conn = crate::connect::open(&redis.url()).await.unwrap().conn;
        conn.hset::<_, _, _, ()>(PEERS, "c", forged).await.unwrap();
        assert_eq!(a.peers().await.unwrap().len(), 1);
        // A withdrawn or expired node is gone.
        b.withdraw().await.unwrap();
        assert!(a.peers().await.unwrap().is_empty());
        b.announce("http://10.0.0.2:8080", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(a.peers().await.unwrap().is_empty());
    }
}
