//! The Redis bus between nodes, against real Redis and PostgreSQL servers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use fightwatch_alerts::{EventBus, Subscription};
use fightwatch_cluster::{ClusterKey, RedisBus, RedisBusConfig};
use fightwatch_protocol::{CameraState, CameraStatus, ServerMessage};
use fightwatch_store::{AlertStore, NewAlert, PostgresStore};
use fightwatch_testkit::{Postgres, Redis};

/// The key every node of these tests shares.
fn key() -> ClusterKey {
    ClusterKey::derive(b"the nodes' shared secret, long enough")
}

fn alert(camera: &str) -> NewAlert {
    NewAlert {
        camera: camera.into(),
        site: "hq".into(),
        label: "fight".into(),
        score: 0.9,
        started_at: 1,
        snapshot: None,
        source: "pipeline".into(),
        region: None,
        heatmap: None,
    }
}

async fn node(redis: &Redis, url: &str, name: &str) -> (Arc<dyn AlertStore>, RedisBus) {
    let store: Arc<dyn AlertStore> = Arc::new(PostgresStore::connect(url).unwrap());
    let mut config = RedisBusConfig::new(&redis.url(), name, key());
    config.sweep_every = Duration::from_millis(200);
    let bus = RedisBus::connect(config, Arc::clone(&store)).await.unwrap();
    (store, bus)
}

/// Raises an alert the way the journal does: commit, then publish.
async fn raise(store: &Arc<dyn AlertStore>, bus: &RedisBus, camera: &str) -> u64 {
    let store = Arc::clone(store);
    let camera = camera.to_string();
    let a = tokio::task::spawn_blocking(move || store.create_alert(&alert(&camera)))
        .await
        .unwrap()
        .unwrap();
    let seq = a.seq;
    bus.publish(ServerMessage::FightAlert(a));
    seq
}

async fn next(sub: &mut Subscription) -> Arc<ServerMessage> {
    tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("an event within 10 s")
        .expect("bus open")
}

/// The next event with a seq above `seq` (earlier ones may come again: at least once).
async fn next_after(sub: &mut Subscription, seq: u64) -> Arc<ServerMessage> {
    loop {
        let msg = next(sub).await;
        if msg.seq().is_none_or(|s| s > seq) {
            return msg;
        }
    }
}

fn camera_status(camera: &str) -> ServerMessage {
    ServerMessage::CameraStatus(CameraState {
        camera: camera.into(),
        site: "hq".into(),
        status: CameraStatus::Online,
        error: None,
        since: 1,
        node: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_gets_every_other_nodes_events_and_its_own_once() {
    let (pg, redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
    let url = pg.create_database("bus").unwrap();
    let (store_a, bus_a) = node(&redis, &url, "a").await;
    let (store_b, bus_b) = node(&redis, &url, "b").await;
    let (mut sub_a, mut sub_b) = (bus_a.subscribe(), bus_b.subscribe());
    let s1 = raise(&store_a, &bus_a, "lobby").await;
    let s2 = raise(&store_b, &bus_b, "gate").await;
    bus_a.publish(camera_status("lobby"));
    // Each side: its own events directly, the other's over Redis (or, for persisted ones, from
    // the log if the sweep gets there first: delivery on the bus is at least once, and the
    // broadcaster's relay drops repeats by seq).
    let drain = |sub: &mut Subscription| {
        let mut out = Vec::new();
        while let Ok(msg) = sub.try_recv() {
            out.push(msg);
        }
        out
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    while tokio::time::Instant::now() < deadline && (seen_a.len() < 3 || seen_b.len() < 3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen_a.extend(drain(&mut sub_a));
        seen_b.extend(drain(&mut sub_b));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    seen_a.extend(drain(&mut sub_a));
    seen_b.extend(drain(&mut sub_b));
    for seen in [&seen_a, &seen_b] {
        let mut seqs: Vec<_> = seen.iter().filter_map(|m| m.seq()).collect();
        seqs.dedup();
        seqs.sort();
        seqs.dedup();
        assert_eq!(seqs, vec![s1, s2]);
        let statuses = seen
            .iter()
            .filter(|m| matches!(&***m, ServerMessage::CameraStatus(c) if c.camera == "lobby"))
            .count();
        assert_eq!(statuses, 1, "a live-only message arrives once on each node");
    }
    // A's own alert is never read back from Redis: once, from the publish itself.
    assert_eq!(seen_a.iter().filter(|m| m.seq() == Some(s1)).count(), 1);
    let received = |bus: &RedisBus| {
        bus.stats()
            .received
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(
        received(&bus_a),
        1,
        "only B's alert came over the stream to A"
    );
    assert_eq!(
        received(&bus_b),
        2,
        "A's alert and status came over the stream to B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_raised_while_redis_is_down_still_reach_other_nodes_and_the_bus_recovers() {
    let (pg, mut redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
    let url = pg.create_database("outage").unwrap();
    let (store_a, bus_a) = node(&redis, &url, "a").await;
    let (_store_b, bus_b) = node(&redis, &url, "b").await;
    let mut sub_b = bus_b.subscribe();
    redis.kill();
    let mut raised = Vec::new();
    for i in 0..5 {
        raised.push(raise(&store_a, &bus_a, &format!("cam{i}")).await);
    }
    // From the log (the sweep), in order, while Redis is away.
    let mut got = Vec::new();
    while got.len() < 5 {
        if let Some(seq) = next(&mut sub_b).await.seq() {
            got.push(seq);
        }
    }
    assert_eq!(got, raised);
    redis.restart().unwrap();
    // Live-only messages need the stream: they flow again once both sides reconnect.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        bus_a.publish(camera_status("lobby"));
        match tokio::time::timeout(Duration::from_millis(500), sub_b.recv()).await {
            Ok(Ok(msg)) if matches!(&*msg, ServerMessage::CameraStatus(_)) => break,
            _ if tokio::time::Instant::now() < deadline => {}
            other => panic!("the bus did not recover: {other:?}"),
        }
    }
    // The entry can reach b before a's write returns: a marks itself connected just after.
    let connected = || {
        bus_a
            .stats()
            .connected
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !connected() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(connected(), "a's publisher did not mark itself connected");
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn AlertStore> =
        Arc::new(fightwatch_store::SqliteStore::open(&dir.path().join("db")).unwrap());
    let config = RedisBusConfig::new(&format!("redis://:hunter2@127.0.0.1:{port}/"), "a", key());
    let err = RedisBus::connect(config, store)
        .await
        .err()
        .expect("no Redis");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// Whatever else is on the stream (a stray writer, an older or newer release) is skipped with a
/// warning; the events after it still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_stream_entries_are_skipped() {
    let (pg, redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
    let url = pg.create_database("junk").unwrap();
    let (store_a, bus_a) = node(&redis, &url, "a").await;
    let (_store_b, bus_b) = node(&redis, &url, "b").await;
    let mut sub_b = bus_b.subscribe();
    for fields in [
        vec!["node", "x", "m", "not json"],
        vec!["node", "x", "m", r#"{"type":"no_such_message"}"#],
        vec!["node", "x"],
        vec!["m", "{}"],
    ] {
        redis.xadd("fightwatch:events", &fields).unwrap();
    }
    let seq = raise(&store_a, &bus_a, "lobby").await;
    assert_eq!(next(&mut sub_b).await.seq(), Some(seq));
}

/// The second audit's forgeries (docs/security.md): a fake alert with the next seq, one with
/// seq 10^15, a fake camera state, and a validly signed entry whose payload is not in the log.
/// None reaches a subscriber, none stops later real events, and the unsigned ones are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stream_entries_are_dropped_and_silence_nothing() {
    let (pg, redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
    let url = pg.create_database("forged").unwrap();
    let (store_a, bus_a) = node(&redis, &url, "a").await;
    let (_store_b, bus_b) = node(&redis, &url, "b").await;
    let mut sub_b = bus_b.subscribe();
    let first = raise(&store_a, &bus_a, "lobby").await;
    let template = match &*next(&mut sub_b).await {
        ServerMessage::FightAlert(a) if a.seq == first => a.clone(),
        other => panic!("{other:?}"),
    };
    let forged_alert = |seq: u64| {
        let mut a = template.clone();
        a.seq = seq;
        a.camera = "forged".into();
        serde_json::to_string(&ServerMessage::FightAlert(a)).unwrap()
    };
    let mut forged_status = camera_status("lobby");
    if let ServerMessage::CameraStatus(c) = &mut forged_status {
        c.site = "elsewhere".into();
        c.status = CameraStatus::Offline;
    }
    let forged_status = serde_json::to_string(&forged_status).unwrap();
    // (a) the next seq, (b) seq 10^15, (c) a camera state; with no tag, and with a wrong one.
    for m in [
        forged_alert(first + 1),
        forged_alert(1_000_000_000_000_000),
        forged_status,
    ] {
        redis
            .xadd("fightwatch:events", &["node", "a", "m", &m])
            .unwrap();
        redis
            .xadd(
                "fightwatch:events",
                &["node", "a", "m", &m, "mac", &"0".repeat(32)],
            )
            .unwrap();
    }
    // A node with the key publishes a logged event the log does not hold: its payload is
    // never relayed, and its seq moves nothing.
    let (_store_c, bus_c) = node(&redis, &url, "c").await;
    let bogus: ServerMessage = serde_json::from_str(&forged_alert(2_000_000_000_000_000)).unwrap();
    bus_c.publish(bogus);

    let second = raise(&store_a, &bus_a, "gate").await;
    assert_eq!(second, first + 1, "the forged next seq took nothing");
    let got = next_after(&mut sub_b, first).await;
    match &*got {
        ServerMessage::FightAlert(a) => {
            assert_eq!(
                (a.seq, a.camera.as_str()),
                (second, "gate"),
                "the log's copy"
            );
        }
        other => panic!("a forged message reached a subscriber: {other:?}"),
    }
    // Nothing else came through: no forged status, no bogus alert.
    tokio::time::sleep(Duration::from_millis(700)).await;
    while let Ok(msg) = sub_b.try_recv() {
        // Delivery on the bus is at least once (reader and sweep may both bring an event).
        let repeat = matches!(&*msg, ServerMessage::FightAlert(a) if a.seq <= second && a.camera != "forged");
        assert!(
            repeat
                || !matches!(
                    &*msg,
                    ServerMessage::CameraStatus(_) | ServerMessage::FightAlert(_)
                ),
            "forged: {msg:?}"
        );
    }
    let rejected = bus_b
        .stats()
        .rejected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        rejected, 6,
        "every unsigned or wrongly signed entry is counted"
    );
    // And a third real event still flows.
    let third = raise(&store_a, &bus_a, "yard").await;
    assert_eq!(next_after(&mut sub_b, second).await.seq(), Some(third));
}
