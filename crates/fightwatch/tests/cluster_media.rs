//! End-to-end (issue #27, point 1): any node serves every camera's media. Node `a` runs a
//! camera on a real fight clip (`fightwatch run`, clips on); node `b` only serves dashboards. A
//! viewer on `b` gets the alert's snapshot, its clip (with Range), the evidence export, the
//! camera's thumbnail and its live view, all held by `a` and asked of it over the signed
//! node-to-node routes; an unsigned request to those routes is refused; with `a` killed, `b`
//! says the media is not reachable instead of serving it (docs/deploy.md says what survives).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::cluster::{Node, token, wait_listening};
use common::{free_port, http_get, http_get_with, repo};
use fightwatch_testkit::{Postgres, Redis};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

/// `fightwatch run` as node `a`, running camera `street` (a looping fight clip) with incident
/// clips.
fn camera_node(db: &str, redis: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let toml = format!(
        "[model]\npackage = {:?}\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n\
         [storage]\ndata_dir = {:?}\n[evidence]\npre_roll_s = 2.0\npost_roll_s = 1.0\n\
         [cluster]\nnode = \"a\"\n\
         [[cameras]]\nname = \"street\"\nsource = {:?}\n",
        repo().join("models/fight-demo"),
        dir.path().join("data"),
        repo().join("fixtures/fight_mid_walk.mp4"),
    );
    let config = dir.path().join("fightwatch.toml");
    std::fs::write(&config, toml).unwrap();
    let mut command = common::command(&["run", "--config"]);
    command.arg(&config);
    common::cluster::spawn(command, "a", port, dir, db, redis)
}

/// Waits on a dashboard for the camera's first alert and the update that brings its clip.
async fn alert_with_clip(ws: &mut common::Ws) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut alert = None;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("an alert with its clip within 120 s");
        let Some(Ok(Message::Text(t))) = msg else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str() {
            Some("fight_alert") if alert.is_none() => alert = Some(v),
            Some("alert_update")
                if alert.as_ref().is_some_and(|a| a["id"] == v["id"]) && v["clip"].is_object() =>
            {
                return alert.unwrap();
            }
            _ => {}
        }
    }
}

/// The first bytes of a live view: a multipart part holding a JPEG.
fn first_live_bytes(port: u16, token: &str, camera: &str) -> Vec<u8> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /api/cameras/{camera}/live.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.windows(2).filter(|w| *w == [0xff, 0xd8]).count() >= 1 && got.len() > 4096 {
            break;
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_serves_every_cameras_media() {
    let (pg, redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
    let db = pg.create_database("media").unwrap();
    let mut a = camera_node(&db, &redis.url());
    let b = common::cluster::serve("b", &db, &redis.url());
    wait_listening(&a);
    wait_listening(&b);
    let viewer = token(&db, "viewer", "viewer");
    let operator = token(&db, "lead", "operator");
    let mut ws = common::ws_connect(b.port, &format!("token={viewer}")).await;
    let alert = alert_with_clip(&mut ws).await;
    let id = alert["id"].as_str().unwrap().to_string();

    // The snapshot and the clip, held by a, through b.
    let (status, head, jpeg) = http_get_with(
        b.port,
        &format!("/api/alerts/{id}/snapshot.jpg"),
        &viewer,
        "",
    );
    assert_eq!(status, 200, "{head}");
    assert!(jpeg.starts_with(&[0xff, 0xd8]), "a JPEG");
    let (status, head, part) = http_get_with(
        b.port,
        &format!("/api/alerts/{id}/clip.mp4"),
        &viewer,
        "Range: bytes=0-99\r\n",
    );
    assert_eq!(status, 206, "{head}");
    assert_eq!(part.len(), 100);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-range: bytes 0-99/"),
        "{head}"
    );
    assert_eq!(&part[4..8], b"ftyp", "an MP4");
    let (status, whole) = http_get(b.port, &format!("/api/alerts/{id}/clip.mp4"), &viewer);
    assert_eq!(status, 200);
    assert_eq!(&whole[..100], &part[..]);

    // The evidence export made on b holds a's files and verifies.
    let (status, head, zip) = http_get_with(
        b.port,
        &format!("/api/alerts/{id}/evidence.zip"),
        &operator,
        "",
    );
    assert_eq!(status, 200, "{head} {}", common::text(&zip));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evidence.zip");
    std::fs::write(&file, &zip).unwrap();
    let verified = common::command(&["verify", "--allow-unpinned"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        common::text(&verified.stderr)
    );
    let listing = common::text(&verified.stdout);
    assert!(
        listing.contains("clip.mp4") && listing.contains("snapshot.jpg"),
        "{listing}"
    );

    // The camera's thumbnail and live view, from the node that runs it.
    let (status, thumb) = http_get(b.port, "/api/cameras/street/latest.jpg", &viewer);
    assert_eq!(status, 200);
    assert!(thumb.starts_with(&[0xff, 0xd8]));
    let live = first_live_bytes(b.port, &viewer, "street");
    let text = String::from_utf8_lossy(&live[..live.len().min(400)]).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("multipart/x-mixed-replace"), "{text}");
    assert!(
        live.windows(2).any(|w| w == [0xff, 0xd8]),
        "a JPEG in the stream"
    );

    // The node-to-node routes take only a node's signed requests.
    let snapshot = alert["snapshot_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!snapshot.is_empty());
    for port in [a.port, b.port] {
        let (status, _) = http_get(port, "/internal/media/anything.jpg", &viewer);
        assert_eq!(status, 403, "an unsigned request");
        let (status, _, _) = http_get_with(
            port,
            "/internal/cameras/street/latest.jpg",
            "",
            "x-fightwatch-node: b\r\nx-fightwatch-time: 1\r\nx-fightwatch-signature: 00\r\n",
        );
        assert_eq!(status, 403, "a forged signature");
    }

    // a is gone: b does not serve a's files from anywhere else, and says so.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let (status, body) = http_get(b.port, &format!("/api/alerts/{id}/snapshot.jpg"), &viewer);
    assert!(
        status == 503 || status == 404,
        "{status} {}",
        common::text(&body)
    );
    drop(b);
}
