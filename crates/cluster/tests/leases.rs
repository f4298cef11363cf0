//! Camera leases between nodes, against a real Redis. Rounds are driven by hand (no timers):
//! what is checked is where cameras end up, not how fast.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use fightwatch_cluster::{CameraLeases, LeaseConfig, cluster_view};
use fightwatch_testkit::Redis;

fn cameras() -> Vec<String> {
    ["entrance", "lobby", "parking", "bar"]
        .map(String::from)
        .to_vec()
}

async fn node(redis: &Redis, name: &str, max: usize) -> CameraLeases {
    let mut config = LeaseConfig::new(&redis.url(), name, cameras(), max);
    config.lease = Duration::from_millis(1500);
    CameraLeases::connect(config).await.unwrap()
}

/// Rounds on every node, in turn.
async fn rounds(nodes: &mut [&mut CameraLeases], n: usize) -> Vec<Vec<String>> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.clear();
        for node in nodes.iter_mut() {
            held.push(node.tick(0).await.unwrap());
        }
    }
    held
}

fn assert_each_camera_once(held: &[Vec<String>]) {
    let mut count: HashMap<&String, usize> = HashMap::new();
    for c in held.iter().flatten() {
        *count.entry(c).or_default() += 1;
    }
    for camera in cameras() {
        assert_eq!(count.get(&camera), Some(&1), "{camera} in {held:?}");
    }
}

#[tokio::test]
async fn cameras_spread_over_nodes_once_each_and_move_when_a_node_dies() {
    let redis = Redis::start().unwrap();
    let (mut a, mut b, mut c) = (
        node(&redis, "a", 10).await,
        node(&redis, "b", 10).await,
        node(&redis, "c", 10).await,
    );
    let held = rounds(&mut [&mut a, &mut b, &mut c], 6).await;
    assert_each_camera_once(&held);
    assert!(
        held.iter().all(|h| h.len() <= 2),
        "an even spread: {held:?}"
    );
    let view = cluster_view(&redis.url(), &cameras()).await.unwrap();
    assert_eq!(view.nodes.iter().filter(|n| n.live).count(), 3);
    assert!(view.cameras.iter().all(|(_, n)| n.is_some()));
    // c dies (stops renewing): after its leases expire, a and b hold everything.
    let orphaned = c.owned();
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let held = rounds(&mut [&mut a, &mut b], 4).await;
    assert_each_camera_once(&held);
    for camera in &orphaned {
        assert!(
            held.iter().flatten().any(|h| h == camera),
            "{camera} was not taken over"
        );
    }
}

#[tokio::test]
async fn capacity_is_respected_and_no_camera_stays_dark_while_a_node_has_room() {
    let redis = Redis::start().unwrap();
    let (mut small, mut big, mut viewer) = (
        node(&redis, "small", 1).await,
        node(&redis, "big", 10).await,
        node(&redis, "dashboards-only", 0).await,
    );
    let held = rounds(&mut [&mut small, &mut big, &mut viewer], 6).await;
    assert_each_camera_once(&held);
    assert_eq!(held[0].len(), 1, "small holds at most 1");
    assert_eq!(held[1].len(), 3, "big takes what small cannot");
    assert!(held[2].is_empty(), "a dashboard-only node runs no camera");
}

#[tokio::test]
async fn a_clean_stop_hands_cameras_over_at_once_and_a_newcomer_gets_a_share() {
    let redis = Redis::start().unwrap();
    let mut a = node(&redis, "a", 10).await;
    let held = rounds(&mut [&mut a], 2).await;
    assert_eq!(held[0].len(), 4, "alone, a runs everything");
    let mut b = node(&redis, "b", 10).await;
    let held = rounds(&mut [&mut a, &mut b], 5).await;
    assert_each_camera_once(&held);
    assert_eq!(
        (held[0].len(), held[1].len()),
        (2, 2),
        "rebalanced: {held:?}"
    );
    a.release_all().await.unwrap();
    let held = rounds(&mut [&mut b], 3).await;
    assert_eq!(
        held[0].len(),
        4,
        "b took a's cameras without waiting for the leases"
    );
}
