//! Live view viewers for `scripts/bench_live.sh`: N viewers of one camera for S seconds, by
//! MJPEG (`/api/cameras/NAME/live.mjpeg`) or fMP4 over WebSocket (`/api/cameras/NAME/live.ws`),
//! each with its own token (the server limits live views per user). Counts what each received:
//! bytes and pictures (JPEG parts, or fMP4 fragments). One JSON line. Loopback only; every
//! viewer stops by itself after S seconds.
//!
//! ```text
//! live-viewers --port 8080 --camera cam --kind ws --seconds 10 TOKEN…
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// `multipart/x-mixed-replace` JPEGs.
    Mjpeg,
    /// Fragmented MP4 over WebSocket.
    Ws,
}

/// Live view viewers of one camera (loopback only).
#[derive(Debug, Parser)]
struct Args {
    /// The server's port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// The camera.
    #[arg(long)]
    camera: String,
    /// How the viewers watch.
    #[arg(long, value_enum)]
    kind: Kind,
    /// How long each viewer watches.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// One token per viewer.
    tokens: Vec<String>,
}

#[derive(Debug, Default)]
struct Received {
    bytes: u64,
    pictures: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 600.0) {
        bail!("--seconds must be in (0, 600]");
    }
    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let viewers = args.tokens.iter().map(|token| {
        let (port, camera, token) = (args.port, args.camera.clone(), token.clone());
        tokio::spawn(async move {
            match args.kind {
                Kind::Mjpeg => mjpeg(port, &camera, &token, until).await,
                Kind::Ws => fmp4(port, &camera, &token, until).await,
            }
        })
    });
    let mut got = Vec::new();
    for v in viewers.collect::<Vec<_>>() {
        got.push(v.await.context("a viewer panicked")??);
    }
    let bytes: u64 = got.iter().map(|r| r.bytes).sum();
    let line = serde_json::json!({
        "kind": format!("{:?}", args.kind).to_lowercase(),
        "viewers": got.len(),
        "seconds": args.seconds,
        "pictures_per_viewer": got.iter().map(|r| r.pictures).collect::<Vec<_>>(),
        "kbit_s_per_viewer": if got.is_empty() { 0.0 } else {
            (bytes as f64 * 8.0 / 1000.0 / args.seconds / got.len() as f64).round()
        },
    });
    println!("{line}");
    Ok(())
}

async fn mjpeg(port: u16, camera: &str, token: &str, until: Instant) -> anyhow::Result<Received> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        format!("GET /api/cameras/{camera}/live.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut got = Received::default();
    let mut buf = vec![0u8; 1 << 16];
    let marker = b"Content-Type: image/jpeg";
    let mut tail = Vec::new();
    loop {
        let n = match tokio::time::timeout_at(until.into(), s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => return Ok(got),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e.into()),
        };
        got.bytes += n as u64;
        tail.extend_from_slice(&buf[..n]);
        while let Some(i) = tail.windows(marker.len()).position(|w| w == marker) {
            got.pictures += 1;
            tail.drain(..i + marker.len());
        }
        let keep = tail.len().saturating_sub(marker.len());
        tail.drain(..keep);
    }
}

async fn fmp4(port: u16, camera: &str, token: &str, until: Instant) -> anyhow::Result<Received> {
    let url = format!("ws://127.0.0.1:{port}/api/cameras/{camera}/live.ws?token={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .with_context(|| format!("connecting to {camera}'s live video"))?;
    let mut got = Received::default();
    loop {
        match tokio::time::timeout_at(until.into(), ws.next()).await {
            Err(_) | Ok(None) => return Ok(got),
            Ok(Some(Ok(Message::Binary(b)))) => {
                got.bytes += b.len() as u64;
                got.pictures += 1;
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                if t.contains("unavailable") {
                    bail!("no live video: {t}");
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
        }
    }
}
