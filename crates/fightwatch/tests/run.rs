//! End-to-end: `fightwatch run --config` as a service: a looping camera, an alert on a
//! dashboard, a clean stop on SIGTERM; and config errors that name the line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fightwatch, free_port, http_get, repo, text};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "service test secret, long enough";

/// A `fightwatch run` configuration in a temp dir: one camera `yard` on `clip`, data in `data/`.
struct ServiceConfig {
    dir: tempfile::TempDir,
    port: u16,
}

impl ServiceConfig {
    fn new(clip: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(
            dir.path().join("fightwatch.toml"),
            format!(
                "[model]\npackage = \"{model}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
                 [[cameras]]\nname = \"yard\"\nsource = \"{clip}\"\nsite = \"depot\"\n",
                model = repo().join("models/fight-demo").display(),
                clip = repo().join(clip).display(),
            ),
        )
        .unwrap();
        Self { dir, port }
    }

    /// Starts the service (stderr piped, for the tests that read it).
    fn start(&self) -> std::process::Child {
        common::command(&[])
            .args(["run", "--config"])
            .arg(self.dir.path().join("fightwatch.toml"))
            .env("FIGHTWATCH_JWT_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn viewer_token(&self) -> String {
        let out = common::command(&[])
            .args(["token", "--user", "v", "--role", "viewer", "--data-dir"])
            // The service's database: the token's session must be where the service looks.
            .arg(self.dir.path().join("data"))
            .env("FIGHTWATCH_JWT_SECRET", SECRET)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A dashboard WebSocket, once the service listens (20 s at most).
    async fn dashboard(&self, token: &str) -> Ws {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match tokio_tungstenite::connect_async(format!(
                "ws://127.0.0.1:{}/ws?token={token}",
                self.port
            ))
            .await
            {
                Ok((ws, _)) => return ws,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("service did not come up: {e}"),
            }
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next `fight_alert` on `ws` (20 s at most).
async fn next_alert(ws: &mut Ws) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an alert in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "fight_alert" {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_alerts_dashboards_and_stops_cleanly() {
    let service_config = ServiceConfig::new("fixtures/fight_frames");
    let (dir, port) = (&service_config.dir, service_config.port);
    let mut service = service_config.start();
    let token = service_config.viewer_token();
    let mut ws = service_config.dashboard(&token).await;
    let alert = next_alert(&mut ws).await;
    assert_eq!(
        (alert["camera"].as_str(), alert["site"].as_str()),
        (Some("yard"), Some("depot"))
    );
    // Health of the pipeline: a metric update every second, camera state, thumbnail, Prometheus.
    let metrics = loop {
        if let Some(Ok(Message::Text(t))) = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("metrics in time")
        {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "metric_update" {
                break v;
            }
        }
    };
    assert_eq!(metrics["cameras"][0]["camera"], "yard");
    assert!(
        metrics["cameras"][0]["capture_fps"].as_f64().unwrap() > 5.0,
        "{metrics}"
    );
    assert!(
        metrics["rss_bytes"].as_u64().unwrap() > 1_000_000
            && metrics["clients"].as_u64() == Some(1),
        "{metrics}"
    );
    let (status, body) = http_get(port, "/api/cameras", &token);
    assert_eq!(status, 200);
    let cams: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (cams[0]["camera"].as_str(), cams[0]["status"].as_str()),
        (Some("yard"), Some("online"))
    );
    let (status, jpeg) = http_get(port, cams[0]["latest_url"].as_str().unwrap(), &token);
    assert_eq!((status, &jpeg[..3]), (200, &[0xFF, 0xD8, 0xFF][..]));
    let (_, prom) = http_get(port, "/metrics", &token);
    let prom = String::from_utf8(prom).unwrap();
    assert!(
        prom.contains("fightwatch_camera_capture_fps{camera=\"yard\"}")
            && prom.contains("fightwatch_alerts_raised_total"),
        "{prom}"
    );
    assert!(
        dir.path().join("data/fightwatch.db").is_file(),
        "data_dir is relative to the config file"
    );
    // First start created the admin account and said so once.
    assert!(dir.path().join("data/admin_password").is_file());

    // SIGTERM: cameras stop, the socket is closed with 1001, the process exits 0.
    let t = Instant::now();
    Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status()
        .unwrap();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            _ => break None,
        }
    };
    let status = service.wait().unwrap();
    assert!(status.success(), "exit {status:?}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stopping took {:?}",
        t.elapsed()
    );
    assert_eq!(closed, Some(1001));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut service.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("created user `admin` with password"), "{err}");
}

#[test]
fn config_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[model]\npackage = \"m\"\n\n[[cameras]]\nname = \"a\"\nsorce = \"x\"\n",
    )
    .unwrap();
    let out = fightwatch(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("line 6") && err.contains("sorce"),
        "{err}"
    );
    let out = fightwatch(&["run", "--config", "/nonexistent/fightwatch.toml"]);
    assert!(text(&out.stderr).contains("/nonexistent/fightwatch.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_left_active_by_a_killed_service_are_ended_at_the_next_start() {
    let config = ServiceConfig::new("fixtures/fight_street.mp4");
    let token = config.viewer_token();
    let alert_status = |id: &str| {
        let (status, body) = http_get(config.port, &format!("/api/alerts/{id}"), &token);
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["status"].as_str().unwrap().to_string()
    };
    let mut service = config.start();
    // The fight clip raises an alert that is still going when the service is killed.
    let mut ws = config.dashboard(&token).await;
    let id = next_alert(&mut ws).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    service.kill().unwrap(); // SIGKILL: no chance to end the incident
    service.wait().unwrap();
    let mut service = config.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", config.port)).is_err() {
        assert!(Instant::now() < deadline, "service did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(alert_status(&id), "ended");
    service.kill().unwrap();
    service.wait().unwrap();
}
