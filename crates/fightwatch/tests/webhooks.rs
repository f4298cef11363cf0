//! End-to-end webhooks with the real binary and a real HTTP receiver on loopback: the receiver
//! is down while alerts are raised and resolved, fightwatch is killed with SIGKILL meanwhile and
//! restarted; when the receiver comes up every event arrives, signed, in order, and each once
//! (after dropping repeats by idempotency key).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::receiver::{Received, Receiver};
use common::{free_port, repo, text};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "webhook test secret, long enough";
const HOOK_SECRET: &str = "hook secret 0123456789";

fn start(dir: &Path) -> common::KillOnDrop {
    common::run_service(dir, SECRET, &[("HOOK_SECRET", HOOK_SECRET)])
}

fn token(data: &Path, user: &str, role: &str) -> String {
    common::data_token(data, SECRET, user, role)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_a_webhook_that_was_down_across_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hook_port) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{model}\"\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
             [evidence]\nclips = false\n[workflow]\nack_deadline_s = 0\ncamera_offline_s = 0\n\
             [[webhooks]]\nname = \"soc\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\nsecret_env = \"HOOK_SECRET\"\ntimeout_s = 2\n\
             [[cameras]]\nname = \"street\"\nsource = \"{clip}\"\nloop = false\n",
            model = repo().join("models/fight-demo").display(),
            clip = repo().join("fixtures/walk_street.mp4").display(),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut service = start(dir.path());
    let detector = token(&data, "door", "detector");
    let mut sensor = common::ws_connect(port, &format!("token={detector}")).await;
    // Three cameras: detections on one camera would count into one alert.
    for (camera, score) in [("door-1", "0.91"), ("door-2", "0.92"), ("door-3", "0.93")] {
        sensor
            .send(Message::Text(
                format!(r#"{{"type":"fight_detected","camera":"{camera}","score":{score}}}"#)
                    .into(),
            ))
            .await
            .unwrap();
    }
    // An operator resolves the second one (REST), while the receiver is still down.
    let operator = token(&data, "ops", "operator");
    let listed = Instant::now() + Duration::from_secs(20);
    let resolved = loop {
        assert!(Instant::now() < listed, "the three alerts were not stored");
        let (status, body) = common::http_get(port, "/api/alerts?limit=10", &operator);
        let list: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status == 200 && list.as_array().is_some_and(|l| l.len() == 3) {
            break list[1]["id"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = common::http_post(
        port,
        &format!("/api/alerts/{resolved}/resolve"),
        &operator,
        r#"{"outcome":"test"}"#,
    );
    assert_eq!(r.0, 200, "{}", text(&r.1));
    // Retrying meanwhile; then SIGKILL and a restart on the same data.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let admin = token(&data, "root", "admin");
    let (_, status) = common::http_get(port, "/api/integrations", &admin);
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status[0]["name"], "soc");
    assert!(
        status[0]["failed_attempts"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert_eq!(status[0]["retrying"], true, "{status}");
    assert_eq!(
        status[0]["endpoint"],
        format!("http://127.0.0.1:{hook_port}")
    );
    service.kill().unwrap();
    service.wait().unwrap();
    let mut service = start(dir.path());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (hook, server) = Receiver::start(hook_port);
    // 3 raised + 1 resolved, each once after dropping repeats.
    let deadline = Instant::now() + Duration::from_secs(60);
    let unique = loop {
        let got = hook.received();
        let mut by_key: BTreeMap<String, Received> = BTreeMap::new();
        for r in &got {
            let key = r.header("idempotency-key").to_string();
            if let Some(first) = by_key.get(&key) {
                assert_eq!(first.body, r.body, "a repeat carries the same event");
            } else {
                by_key.insert(key, r.clone());
            }
        }
        if by_key.len() >= 4 {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of 4 events arrived: {got:?}",
            by_key.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut seqs = Vec::new();
    let mut kinds = Vec::new();
    for r in &unique {
        let timestamp: u64 = r.header("x-fightwatch-timestamp").parse().unwrap();
        assert_eq!(
            r.header("x-fightwatch-signature"),
            fightwatch_integrations::signature(HOOK_SECRET, timestamp, &r.body),
            "the signature verifies"
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(r.header("idempotency-key"), format!("fightwatch-{seq}"));
        if !seqs.contains(&seq) {
            seqs.push(seq);
            kinds.push(v["kind"].as_str().unwrap().to_string());
        }
    }
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(seqs, sorted, "in log order");
    assert_eq!(kinds, ["raised", "raised", "raised", "resolved"]);
    server.abort();
    service.kill().unwrap();
    service.wait().unwrap();
}
