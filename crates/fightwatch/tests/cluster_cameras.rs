//! End-to-end: `fightwatch run` on three nodes sharing one camera list through PostgreSQL and
//! Redis (real servers on loopback). Each camera runs on exactly one node; kill -9 a node and
//! its cameras run elsewhere within the lease time, which a dashboard sees as camera states
//! naming the new node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cluster::{Node, token, wait_listening};
use common::{free_port, repo};
use fightwatch_testkit::{Postgres, Redis};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

const CAMERAS: [(&str, &str); 4] = [
    ("entrance", "fixtures/fight_mid_walk.mp4"),
    ("lobby", "fixtures/crossing_crowd.mp4"),
    ("yard", "fixtures/fight_mid_talk.mkv"),
    ("parking", "fixtures/fight_parking.avi"),
];
/// Lease time in these tests: a dead node's cameras move within about this + 2 s.
const LEASE_MS: u64 = 3000;

fn start(name: &str, db: &str, redis: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let repo = repo();
    let mut toml = format!(
        "[model]\npackage = {:?}\nthreads = 1\n\n[server]\nbind = \"127.0.0.1:{port}\"\n\n\
         [storage]\ndata_dir = {:?}\n\n[cluster]\nnode = {name:?}\nlease_ms = {LEASE_MS}\n",
        repo.join("models/fight-demo"),
        dir.path().join("data"),
    );
    for (camera, file) in CAMERAS {
        toml += &format!(
            "\n[[cameras]]\nname = {camera:?}\nsource = {:?}\nanalysis_fps = 10\n",
            repo.join(file)
        );
    }
    let config = dir.path().join("fightwatch.toml");
    std::fs::write(&config, toml).unwrap();
    let mut command = common::command(&["run", "--config"]);
    command.arg(&config).env(
        "ORT_DYLIB_PATH",
        repo.join(".cache/onnxruntime/libonnxruntime.so"),
    );
    common::cluster::spawn(command, name, port, dir, db, redis)
}

/// Each camera's holder, as Redis says.
async fn holders(redis: &Redis) -> HashMap<String, Option<String>> {
    let names: Vec<String> = CAMERAS.iter().map(|(c, _)| c.to_string()).collect();
    fightwatch_cluster::cluster_view(&redis.url(), &names)
        .await
        .unwrap()
        .cameras
        .into_iter()
        .collect()
}

/// Waits until every camera is held by one of `alive`.
async fn all_held_by(redis: &Redis, alive: &[&str], within: Duration) -> HashMap<String, String> {
    let deadline = Instant::now() + within;
    loop {
        let h = holders(redis).await;
        if h.values()
            .all(|n| n.as_deref().is_some_and(|n| alive.contains(&n)))
        {
            return h.into_iter().map(|(c, n)| (c, n.unwrap())).collect();
        }
        assert!(
            Instant::now() < deadline,
            "cameras not all held by {alive:?}: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_camera_runs_on_one_node_and_a_dead_nodes_cameras_move_within_the_lease() {
    let (pg, redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
    let db = pg.create_database("cameras").unwrap();
    let mut nodes: Vec<Node> = ["a", "b", "c"]
        .iter()
        .map(|n| start(n, &db, &redis.url()))
        .collect();
    for node in &nodes {
        wait_listening(node);
    }
    let held = all_held_by(&redis, &["a", "b", "c"], Duration::from_secs(60)).await;
    // Spread: with 3 nodes and 4 cameras nobody needs more than 2 (rebalancing settles it).
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let h = all_held_by(&redis, &["a", "b", "c"], Duration::from_secs(10)).await;
        let most = ["a", "b", "c"]
            .iter()
            .map(|n| h.values().filter(|v| v == n).count())
            .max()
            .unwrap();
        if most <= 2 {
            break h;
        }
        assert!(
            Instant::now() < deadline,
            "not spread: {h:?} (first {held:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A dashboard on a node that stays: camera states name the node running each camera.
    let victim = ["a", "b", "c"]
        .into_iter()
        .max_by_key(|n| held.values().filter(|v| v == n).count())
        .unwrap();
    let watcher = nodes.iter().find(|n| n.name != victim).unwrap().port;
    let url = format!(
        "ws://127.0.0.1:{watcher}/ws?token={}",
        token(&db, "viewer-e2e", "viewer")
    );
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    let moved: Vec<String> = held
        .iter()
        .filter(|(_, n)| n.as_str() == victim)
        .map(|(c, _)| c.clone())
        .collect();
    let i = nodes.iter().position(|n| n.name == victim).unwrap();
    let killed_at = Instant::now();
    nodes[i].child.kill().unwrap(); // SIGKILL
    nodes[i].child.wait().unwrap();
    let alive: Vec<&str> = ["a", "b", "c"]
        .into_iter()
        .filter(|n| *n != victim)
        .collect();
    let after = all_held_by(&redis, &alive, Duration::from_secs(10)).await;
    let leased_in = killed_at.elapsed();
    // And the cameras produce frames there: an `online` state from the new node.
    let mut online: HashMap<String, String> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while moved.iter().any(|c| online.get(c) != after.get(c)) {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            other => panic!(
                "camera states of {moved:?} from their new nodes: {other:?}, seen {online:?}"
            ),
        };
        let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
        if v["type"] == "camera_status" && v["status"] == "online" {
            online.insert(
                v["camera"].as_str().unwrap().into(),
                v["node"].as_str().unwrap_or_default().into(),
            );
        }
    }
    let running_in = killed_at.elapsed();
    eprintln!(
        "failover of {moved:?} from {victim}: leases in {leased_in:?}, online in {running_in:?}"
    );
    assert!(running_in < Duration::from_secs(10), "{running_in:?}");

    // `fightwatch cluster status` says the same.
    let out = common::command(&["cluster", "status", "--json"])
        .env("FIGHTWATCH_REDIS_URL", redis.url())
        .env("FIGHTWATCH_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    let mut live: Vec<&str> = nodes
        .iter()
        .filter(|n| n["live"] == true)
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    live.sort();
    assert_eq!(live, alive, "{v}");
    assert!(
        nodes
            .iter()
            .any(|n| n["node"] == victim && n["live"] == false),
        "{v}"
    );
    for camera in v["cameras"].as_array().unwrap() {
        let holder = after.get(camera["camera"].as_str().unwrap()).unwrap();
        assert_eq!(camera["node"].as_str(), Some(holder.as_str()), "{v}");
    }
    assert_eq!(v["cameras"].as_array().unwrap().len(), CAMERAS.len());
    assert!(v["last_seq"].is_u64(), "{v}");
}
