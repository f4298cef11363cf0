//! End-to-end live video: `fightwatch run` with an H.264 camera and a masked one, and real
//! WebSocket clients of `/api/cameras/{name}/live.ws`. The H.264 camera's socket carries its
//! own video as fMP4 that FFmpeg decodes frame for frame; the masked camera has none (MJPEG,
//! with the mask burnt in, is checked in evidence.rs); the route checks who asks, from where,
//! and how many views a user holds. (Chromium plays it: web/e2e/live.test.mjs.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, repo};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "live video test secret, long enough";

fn config(dir: &Path, port: u16) {
    std::fs::write(
        dir.join("fightwatch.toml"),
        format!(
            r#"[model]
package = "{model}"
threads = 1
[server]
bind = "127.0.0.1:{port}"
[storage]
data_dir = "data"
[evidence]
clips = false

[[cameras]]
name = "street"
source = "{street}"

[[cameras]]
name = "masked"
source = "{masked}"
masks = [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]]
"#,
            model = repo().join("models/fight-demo").display(),
            street = repo().join("fixtures/fight_mid_walk.mp4").display(),
            masked = repo().join("fixtures/fight_street.mp4").display(),
        ),
    )
    .unwrap();
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A live video socket, or the HTTP status that refused it.
async fn open(port: u16, camera: &str, token: &str, origin: Option<&str>) -> Result<Socket, u16> {
    let mut request = format!("ws://127.0.0.1:{port}/api/cameras/{camera}/live.ws?token={token}")
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// The first text message, then `want` binary messages (the init segment and fragments).
async fn receive(ws: &mut Socket, want: usize) -> (serde_json::Value, Vec<Vec<u8>>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first = None;
    let mut binary = Vec::new();
    while binary.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if first.is_none() {
                    first = Some(v.clone());
                }
                if v["type"] == "unavailable" {
                    return (v, binary);
                }
            }
            Ok(Some(Ok(Message::Binary(b)))) => binary.push(b.to_vec()),
            Ok(Some(Ok(_))) => {}
            other => panic!("socket ended after {} messages: {other:?}", binary.len()),
        }
    }
    (first.unwrap(), binary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_video_is_the_cameras_own_h264_for_those_who_may_see_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    config(dir.path(), port);
    let data = dir.path().join("data");
    let _service = common::run_service(dir.path(), SECRET, &[]);
    let viewer = common::data_token(&data, SECRET, "v", "viewer");
    common::ws_connect(port, &format!("token={viewer}")).await; // up

    // The H.264 camera: announced, an init segment, then fragments FFmpeg decodes one frame each.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (first, binary) = loop {
        let mut ws = open(port, "street", &viewer, None).await.unwrap();
        let (first, binary) = receive(&mut ws, 41).await;
        // The camera may not have started yet.
        if first["type"] == "stream" || Instant::now() > deadline {
            break (first, binary);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(first["type"], "stream", "{first}");
    assert_eq!(first["codec"], "avc1.64001e");
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert_eq!(&binary[0][4..8], b"ftyp");
    let file = dir.path().join("live.mp4");
    std::fs::write(&file, binary.concat()).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "h264,40",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The masked camera has no video of its own to send: the console uses MJPEG.
    let mut ws = open(port, "masked", &viewer, None).await.unwrap();
    let (first, _) = receive(&mut ws, 1).await;
    assert_eq!(first["type"], "unavailable", "{first}");
    assert!(
        first["reason"].as_str().unwrap().contains("privacy mask"),
        "{first}"
    );

    // Who asks, and from where.
    assert_eq!(
        open(port, "street", "not-a-token", None).await.err(),
        Some(401)
    );
    let guard = common::account_token(&data, port, "guard", "viewer", &["masked"]);
    assert_eq!(open(port, "street", &guard, None).await.err(), Some(403));
    assert_eq!(
        open(port, "street", &viewer, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    // One user holds a few live views (MJPEG and video count together), not every place.
    let mut mine = Vec::new();
    for _ in 0..4 {
        mine.push(open(port, "street", &viewer, None).await.unwrap());
    }
    assert_eq!(open(port, "street", &viewer, None).await.err(), Some(429));
    drop(mine);
}
