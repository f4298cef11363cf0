//! End-to-end: two `fightwatch run` nodes on one PostgreSQL and one Redis, both configured with
//! the same webhook. Only the node holding the integrations duty delivers (no event twice);
//! when it is killed with SIGKILL the other takes the duty and resumes from the shared cursor;
//! when it stops cleanly (SIGTERM) it hands the duty back at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::cluster::{Node, token, wait_listening};
use common::receiver::Receiver;
use common::{free_port, repo};
use fightwatch_testkit::{Postgres, Redis};

fn start(name: &str, db: &str, redis: &str, hook_port: u16) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let toml = format!(
        "[model]\npackage = {:?}\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n\
         [storage]\ndata_dir = {:?}\n[evidence]\nclips = false\n\
         [workflow]\nack_deadline_s = 0\ncamera_offline_s = 0\ngroup_window_s = 0\n\
         [cluster]\nnode = {name:?}\n\
         [[webhooks]]\nname = \"soc\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nsecret = \"cluster hook secret 0123\"\n\
         [[cameras]]\nname = \"street\"\nsource = {:?}\nloop = false\n",
        repo().join("models/fight-demo"),
        dir.path().join("data"),
        repo().join("fixtures/walk_street.mp4"),
    );
    let config = dir.path().join("fightwatch.toml");
    std::fs::write(&config, toml).unwrap();
    let mut command = common::command(&["run", "--config"]);
    command.arg(&config);
    common::cluster::spawn(command, name, port, dir, db, redis)
}

/// Posts a detection on `camera` to a node.
fn detect(port: u16, token: &str, camera: &str) {
    let (code, body) = common::http_post(
        port,
        "/api/detections",
        token,
        &format!(r#"{{"camera":"{camera}","score":0.9}}"#),
    );
    assert_eq!(code, 201, "{}", common::text(&body));
}

/// Waits until the receiver has `n` distinct events; their keys, and how many arrived in all.
async fn delivered(hook: &Receiver, n: usize) -> (BTreeSet<String>, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = hook.received();
        let keys: BTreeSet<String> = got
            .iter()
            .map(|r| r.header("idempotency-key").to_string())
            .collect();
        if keys.len() >= n {
            return (keys, got.len());
        }
        assert!(Instant::now() < deadline, "{} of {n} events", keys.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL, Redis, a webhook receiver and two listening nodes `a` and `b`.
struct Deployment {
    _pg: Postgres,
    redis: Redis,
    db: String,
    hook: Receiver,
    _hook_task: tokio::task::JoinHandle<()>,
    nodes: Vec<Node>,
}

impl Deployment {
    fn start(database: &str) -> Self {
        let (pg, redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
        let db = pg.create_database(database).unwrap();
        let hook_port = free_port();
        let (hook, hook_task) = Receiver::start(hook_port);
        let nodes: Vec<Node> = ["a", "b"]
            .iter()
            .map(|n| start(n, &db, &redis.url(), hook_port))
            .collect();
        for node in &nodes {
            wait_listening(node);
        }
        Self {
            _pg: pg,
            redis,
            db,
            hook,
            _hook_task: hook_task,
            nodes,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_delivers_and_another_takes_over_when_it_dies() {
    let Deployment {
        _pg,
        redis: _redis,
        db,
        hook,
        _hook_task,
        mut nodes,
    } = Deployment::start("hooks");
    let detector = token(&db, "door", "detector");
    let admin = token(&db, "root", "admin");
    // Both nodes have started their duty loops (a node delivers within a second of starting).
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..4 {
        detect(nodes[i % 2].port, &detector, &format!("door-{i}"));
    }
    let (keys, arrived) = delivered(&hook, 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.received().len(), arrived, "nothing more");
    assert_eq!(arrived, 4, "each event once, not once per node: {keys:?}");

    // Which node delivers: /api/integrations counts on that node only.
    let delivering: Vec<usize> = (0..2)
        .filter(|&i| {
            let (_, body) = common::http_get(nodes[i].port, "/api/integrations", &admin);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            v[0]["delivered"].as_u64().unwrap_or(0) > 0
        })
        .collect();
    assert_eq!(delivering.len(), 1, "one node delivers");
    let mut dead = nodes.remove(delivering[0]);
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let killed = Instant::now();
    let survivor = &nodes[0];
    for i in 4..8 {
        detect(survivor.port, &detector, &format!("door-{i}"));
    }
    let (keys, arrived) = delivered(&hook, 8).await;
    println!(
        "the other node delivered 4 more {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(keys.len(), 8);
    assert!(
        arrived <= 9,
        "at most the event in flight repeated: {arrived}"
    );
}

/// Race (c) of issue #27: a node stopped with SIGTERM hands the integrations duty back as it
/// exits (the Redis lease is gone, or already the other node's, the moment the process has
/// exited), instead of leaving it to lapse for 4 s while nobody delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopping_cleanly_hands_the_duty_over() {
    let Deployment {
        _pg,
        redis,
        db,
        hook,
        _hook_task,
        mut nodes,
    } = Deployment::start("duty");
    let key = "fightwatch:duty:integrations";
    let deadline = Instant::now() + Duration::from_secs(30);
    let holder = loop {
        if let Some(node) = redis.get(key).unwrap() {
            break node;
        }
        assert!(Instant::now() < deadline, "no node took the duty");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let index = nodes.iter().position(|n| n.name == holder).unwrap();
    let mut stopping = nodes.remove(index);
    std::process::Command::new("kill")
        .args(["-TERM", &stopping.child.id().to_string()])
        .status()
        .unwrap();
    let status = stopping.child.wait().unwrap();
    assert!(status.success(), "a clean stop: {status}");
    let now = redis.get(key).unwrap();
    assert_ne!(
        now.as_deref(),
        Some(holder.as_str()),
        "the stopped node still holds the duty"
    );
    // And the other node delivers.
    let detector = token(&db, "door", "detector");
    detect(nodes[0].port, &detector, "door-after");
    let (keys, _) = delivered(&hook, 1).await;
    assert_eq!(keys.len(), 1);
}
