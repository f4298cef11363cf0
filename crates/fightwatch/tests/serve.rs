//! End-to-end: `fightwatch replay --serve` with the real binary, a real fixture, a real
//! WebSocket client and plain HTTP requests; then kill -9 and restart on the same data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, http_get, repo};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "e2e secret, at least sixteen chars";

fn serve(port: u16, data: &Path, clip: &str) -> Child {
    common::command(&[])
        .args([
            "replay",
            "--realtime",
            "--serve",
            "--json",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .arg(clip)
        .current_dir(repo())
        .env("FIGHTWATCH_JWT_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn token(role: &str, data: &Path) -> String {
    let out = common::command(&[])
        .args([
            "token",
            "--user",
            &format!("{role}-e2e"),
            "--role",
            role,
            "--data-dir",
        ])
        .arg(data)
        .env("FIGHTWATCH_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16, token: &str) -> Ws {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tokio_tungstenite::connect_async(format!(
            "ws://127.0.0.1:{port}/ws?token={token}&after_seq=0"
        ))
        .await
        {
            Ok((ws, _)) => return ws,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("server did not come up: {e}"),
        }
    }
}

async fn next_of(ws: &mut Ws, kind: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} in time"))
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_fight_reaches_dashboards_and_survives_a_kill() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = serve(port, data.path(), "fixtures/fight_frames");
    let viewer = token("viewer", data.path());
    let operator = token("operator", data.path());
    let mut ws = connect(port, &viewer).await;
    let mut ops = connect(port, &operator).await;
    let welcome = next_of(&mut ws, "welcome_message").await;
    assert_eq!(welcome["role"], "viewer");
    let alert = next_of(&mut ws, "fight_alert").await;
    assert_eq!(
        (alert["camera"].as_str(), alert["label"].as_str()),
        (Some("fight_frames"), Some("fight"))
    );
    let id = alert["id"].as_str().unwrap().to_string();

    // The snapshot URL serves a JPEG, and the alert is in the history.
    let (status, jpeg) = http_get(port, alert["snapshot_url"].as_str().unwrap(), &viewer);
    assert_eq!(status, 200);
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
    let (status, body) = http_get(port, "/api/alerts", &viewer);
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str())
    );
    assert_eq!(http_get(port, "/api/alerts", "forged").0, 401);

    // An acknowledgement from the operator's console reaches the viewer's.
    next_of(&mut ops, "fight_alert").await;
    ops.send(Message::Text(
        format!(r#"{{"type":"ack_alert","id":"{id}","note":"on it"}}"#).into(),
    ))
    .await
    .unwrap();
    loop {
        let u = next_of(&mut ws, "alert_update").await;
        if u["status"] == "acknowledged" {
            assert_eq!(
                (u["acked_by"].as_str(), u["note"].as_str()),
                (Some("operator-e2e"), Some("on it"))
            );
            break;
        }
    }

    // kill -9, restart on the same data: what a client received is still there.
    server.kill().unwrap();
    server.wait().unwrap();
    let mut server = serve(port, data.path(), "fixtures/walk_street.mp4");
    let mut ws = connect(port, &viewer).await;
    let again = next_of(&mut ws, "fight_alert").await; // replayed from the store (after_seq=0)
    assert_eq!(again["id"].as_str(), Some(id.as_str()));
    let (_, body) = http_get(port, &format!("/api/alerts/{id}"), &viewer);
    let stored: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored["status"], "acknowledged");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_alert_that_any_client_saw() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = || {
        common::command(&[])
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data.path())
            .env("FIGHTWATCH_JWT_SECRET", SECRET)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut server = start();
    let viewer = token("viewer", data.path());
    let detector = token("detector", data.path());
    let mut ws = connect(port, &viewer).await;
    next_of(&mut ws, "welcome_message").await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "fight_alert" {
                        seen.lock()
                            .unwrap()
                            .push(v["id"].as_str().unwrap().to_string());
                    }
                }
            }
        })
    };
    // Four detectors publish as fast as the rate limit allows; the server dies mid-burst.
    let mut publishers = Vec::new();
    for p in 0..4 {
        let mut d = connect(port, &detector).await;
        publishers.push(tokio::spawn(async move {
            for i in 0..200 {
                let msg =
                    format!(r#"{{"type":"fight_detected","camera":"burst-{p}-{i}","score":0.9}}"#);
                if d.send(Message::Text(msg.into())).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(55)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap(); // SIGKILL: no flush, no goodbye
    server.wait().unwrap();
    for p in publishers {
        let _ = p.await;
    }
    let _ = reader.await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() >= 20,
        "only {} alerts before the kill",
        seen.len()
    );

    let mut server = start();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stored: Vec<String> = loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let (status, body) = http_get(port, "/api/alerts?limit=1000", &viewer);
            if status == 200 {
                let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
                break list
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["id"].as_str().unwrap().to_string())
                    .collect();
            }
        }
        assert!(Instant::now() < deadline, "server did not restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let missing: Vec<&String> = seen.iter().filter(|id| !stored.contains(id)).collect();
    println!(
        "{} alerts seen before kill -9, {} stored after restart",
        seen.len(),
        stored.len()
    );
    assert!(
        missing.is_empty(),
        "alerts a client saw but the database lost: {missing:?}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
