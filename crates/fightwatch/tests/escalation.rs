//! End-to-end escalation with the real binary: an alert nobody acknowledges escalates at its
//! deadline (±1 s) and again at the interval; after kill -9 and a restart the next level comes
//! on time, not level 1 again; an acknowledged alert stops escalating.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Ws, free_port, repo};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "escalation test secret, long enough";

fn start(dir: &Path) -> common::KillOnDrop {
    common::run_service(dir, SECRET, &[])
}

fn token(data: &Path, user: &str, role: &str) -> String {
    common::data_token(data, SECRET, user, role)
}

async fn dashboard(port: u16, query: &str) -> Ws {
    common::ws_connect(port, query).await
}

/// The next message of `kind` about alert `id` (15 s at most).
async fn next_about(ws: &mut Ws, kind: &str, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} for {id} in time"))
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind && (id.is_empty() || v["id"] == id) {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_alerts_escalate_on_time_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{model}\"\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
             [evidence]\nclips = false\n[workflow]\nack_deadline_s = 2.0\nescalate_every_s = 3.0\n\
             [[cameras]]\nname = \"street\"\nsource = \"{clip}\"\nloop = false\nack_deadline_s = 60.0\n",
            model = repo().join("models/fight-demo").display(),
            clip = repo().join("fixtures/walk_street.mp4").display(),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut service = start(dir.path());
    let viewer = token(&data, "v", "viewer");
    let detector = token(&data, "door", "detector");
    let mut ws = dashboard(port, &format!("token={viewer}")).await;
    // The viewer is subscribed once its welcome arrives: an alert raised before that would
    // reach it only by replay, which a fresh dashboard does not ask for (CI saw that race).
    next_about(&mut ws, "welcome_message", "").await;
    let mut sensor = dashboard(port, &format!("token={detector}")).await;
    sensor
        .send(Message::Text(
            r#"{"type":"fight_detected","camera":"door","score":0.9}"#.into(),
        ))
        .await
        .unwrap();
    let alert = next_about(&mut ws, "fight_alert", "").await;
    let raised = Instant::now();
    let id = alert["id"].as_str().unwrap().to_string();
    let first = next_about(&mut ws, "alert_escalated", &id).await;
    let at1 = raised.elapsed().as_secs_f64();
    assert_eq!(first["level"], 1);
    assert!(
        (1.0..=3.3).contains(&at1),
        "level 1 after {at1:.2} s (deadline 2 s)"
    );
    let second = next_about(&mut ws, "alert_escalated", &id).await;
    let at2 = raised.elapsed().as_secs_f64();
    assert_eq!(second["level"], 2);
    assert!(
        (4.0..=6.3).contains(&at2),
        "level 2 after {at2:.2} s (deadline + 3 s)"
    );

    // kill -9, restart: the stored count goes on (level 3 at 8 s), nothing repeats.
    service.kill().unwrap();
    service.wait().unwrap();
    let mut service = start(dir.path());
    let mut ws = dashboard(port, &format!("token={viewer}&after_seq={}", second["seq"])).await;
    let third = next_about(&mut ws, "alert_escalated", &id).await;
    let at3 = raised.elapsed().as_secs_f64();
    assert_eq!(third["level"], 3, "{third}");
    assert!((7.0..=9.8).contains(&at3), "level 3 after {at3:.2} s");

    // Acknowledged: no more escalations. (The camera with its own 60 s deadline escalates none.)
    let operator = token(&data, "ops", "operator");
    let mut ops = dashboard(port, &format!("token={operator}")).await;
    ops.send(Message::Text(
        format!(r#"{{"type":"ack_alert","id":"{id}"}}"#).into(),
    ))
    .await
    .unwrap();
    next_about(&mut ws, "alert_update", &id).await;
    let quiet = tokio::time::timeout(
        Duration::from_secs(4),
        next_about(&mut ws, "alert_escalated", ""),
    )
    .await;
    assert!(quiet.is_err(), "an acknowledged alert escalated: {quiet:?}");
    let (_, body) = common::http_get(port, &format!("/api/alerts/{id}"), &viewer);
    let stored: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored["escalations"], 3);
    service.kill().unwrap();
    service.wait().unwrap();
}

/// A camera that goes dark (nothing at its RTSP address) raises a `camera_offline` alert after
/// the configured time, and the alert ends when the camera comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dark_camera_raises_camera_offline_until_it_is_back() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let (port, rtsp_port) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{model}\"\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
             [evidence]\nclips = false\n[workflow]\nack_deadline_s = 0\ncamera_offline_s = 2.0\n\
             [[cameras]]\nname = \"dark\"\nsource = \"rtsp://127.0.0.1:{rtsp_port}/cam\"\nsite = \"yard\"\n",
            model = repo().join("models/fight-demo").display(),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut service = start(dir.path());
    let viewer = token(&data, "v", "viewer");
    let mut ws = dashboard(port, &format!("token={viewer}&after_seq=0")).await;
    let alert = next_about(&mut ws, "fight_alert", "").await;
    assert_eq!(
        (
            alert["label"].as_str(),
            alert["camera"].as_str(),
            alert["site"].as_str()
        ),
        (Some("camera_offline"), Some("dark"), Some("yard"))
    );
    let id = alert["id"].as_str().unwrap().to_string();
    // The camera comes back: its alert ends.
    let mut rtsp = std::process::Command::new("/usr/bin/python3")
        .arg(repo().join("scripts/rtsp_server.py"))
        .arg(repo().join("fixtures/walk_street.mp4"))
        .args(["--port", &rtsp_port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(rtsp.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready"), "{line}");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        assert!(
            Instant::now() < deadline,
            "the alert did not end when the camera came back"
        );
        let u = tokio::time::timeout(
            Duration::from_secs(40),
            next_about(&mut ws, "alert_update", &id),
        )
        .await
        .expect("an update");
        if u["status"] == "ended" {
            break;
        }
    }
    let _ = rtsp.kill();
    let _ = rtsp.wait();
    service.kill().unwrap();
    service.wait().unwrap();
}

/// A looping fight clip raises one alert whose count grows, not an alert per incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_fight_is_one_alert_with_a_growing_count() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{model}\"\nthreads = 1\n[incident]\ncooldown_s = 0.5\nend_threshold = 0.6\n\
             [server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
             [evidence]\npre_roll_s = 1.0\npost_roll_s = 1.0\n[workflow]\nack_deadline_s = 0\ngroup_window_s = 60\n\
             [[cameras]]\nname = \"bar\"\nsource = \"{clip}\"\n",
            model = repo().join("models/fight-demo").display(),
            // A fight in the middle of walking: each loop is a new incident.
            clip = repo().join("fixtures/fight_mid_walk.mp4").display(),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut service = start(dir.path());
    let viewer = token(&data, "v", "viewer");
    let mut ws = dashboard(port, &format!("token={viewer}")).await;
    let alert = next_about(&mut ws, "fight_alert", "").await;
    let id = alert["id"].as_str().unwrap().to_string();
    // Three loops of 10 s: the count grows, and no other alert is raised. The first clip is
    // finished before the second loop's fight: that detection gets a clip of its own.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut count = 1;
    let mut detection_clip = None;
    while count < 3 || detection_clip.is_none() {
        assert!(
            Instant::now() < deadline,
            "the count stayed at {count}, detection clip {detection_clip:?}"
        );
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(left, ws.next()).await else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str() {
            Some("fight_alert") => panic!("a second alert for one camera's fights: {v}"),
            Some("alert_update") => {
                assert_eq!(v["id"], id.as_str());
                count = count.max(v["count"].as_u64().unwrap());
                if let Some(url) = v["detection_clip_url"].as_str() {
                    detection_clip = Some(url.to_string());
                }
            }
            _ => {}
        }
    }
    let (_, body) = common::http_get(port, "/api/alerts?camera=bar", &viewer);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert!(list[0]["count"].as_u64().unwrap() >= 3, "{list}");
    let url = detection_clip.unwrap();
    assert!(
        url.starts_with(&format!("/api/alerts/{id}/detections/")),
        "{url}"
    );
    let (code, mp4) = common::http_get(port, &url, &viewer);
    assert_eq!(code, 200);
    assert_eq!(&mp4[4..8], b"ftyp", "an MP4");
    assert!(
        list[0]["clip"]["file"].is_string(),
        "the alert keeps its own clip: {list}"
    );
    service.kill().unwrap();
    service.wait().unwrap();
}
