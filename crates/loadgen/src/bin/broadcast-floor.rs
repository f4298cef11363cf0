//! The floor of the broadcast benchmark (`scripts/bench_fanout.sh`): the least a WebSocket
//! broadcaster can do with tokio-tungstenite. No auth, no store, no rooms, no limits: every
//! `fight_detected` text is renamed `fight_alert` and sent to every connection as one shared
//! frame (`Utf8Bytes` is reference counted: no per-connection copy). Read buffers of 4 KiB.
//! Loopback only.
//!
//! ```text
//! broadcast-floor 127.0.0.1:9001
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    anyhow::ensure!(
        addr.starts_with("127.0.0.1:"),
        "loopback only: 127.0.0.1:PORT"
    );
    let listener = TcpListener::bind(&addr).await?;
    let (alerts, _) = broadcast::channel::<Message>(4096);
    loop {
        let (stream, _) = listener.accept().await?;
        let alerts = alerts.clone();
        tokio::spawn(async move {
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            let (mut sink, mut incoming) = ws.split();
            let mut feed = alerts.subscribe();
            if sink
                .send(Message::text(r#"{"type":"welcome_message"}"#))
                .await
                .is_err()
            {
                return;
            }
            loop {
                tokio::select! {
                    alert = feed.recv() => match alert {
                        Ok(frame) => if sink.send(frame).await.is_err() { break },
                        Err(_) => break,
                    },
                    msg = incoming.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            if let Some(rest) = t.strip_prefix(r#"{"type":"fight_detected""#) {
                                let _ = alerts.send(Message::text(format!(r#"{{"type":"fight_alert"{rest}"#)));
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
        });
    }
}
