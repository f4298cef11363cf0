//! Helpers of the server tests: a real server (hyper listener, SQLite store in a temp dir) on a
//! port of 127.0.0.1, WebSocket clients, and a plain HTTP/1.1 client over TCP that can speak
//! from any loopback address (127.0.0.0/8) and send exactly the bytes a test wants.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use fightwatch_alerts::{AlertService, LocalBus, MediaDir};
use fightwatch_broadcaster::{Auth, Hub, Role, ServerConfig};
use fightwatch_store::{AlertStore, NewAlert, SqliteStore};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

pub const SECRET: &[u8] = b"test secret of thirty-two bytes!";

pub struct Server {
    pub hub: Arc<Hub>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// A server with the default limits, allowing the browser origin `http://console.test`.
pub async fn server() -> Server {
    server_with(|_| {}).await
}

/// A server whose configuration `tweak` adjusts first.
pub async fn server_with(tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    server_over(tweak, hub_at).await
}

/// A server over the hub `make` builds from the database path and the configuration.
pub async fn server_over(
    tweak: impl FnOnce(&mut ServerConfig),
    make: impl FnOnce(&std::path::Path, ServerConfig) -> Arc<Hub>,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig {
        allowed_origins: vec!["http://console.test".into()],
        ..ServerConfig::default()
    };
    tweak(&mut config);
    let hub = make(&dir.path().join("db"), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(fightwatch_broadcaster::serve(
        listener,
        hub.clone(),
        std::future::pending(),
    ));
    Server { hub, addr, dir }
}

/// A hub over the SQLite database at `db` (snapshots beside it), as `fightwatch serve` builds
/// it: store, in-process bus, alert stage. Call inside a tokio runtime.
pub fn hub_at(db: &std::path::Path, config: ServerConfig) -> Arc<Hub> {
    let capacity = config.client_queue;
    hub_with_bus(db, config, capacity)
}

/// [`hub_at`] with a bus that buffers `bus_capacity` events.
pub fn hub_with_bus(db: &std::path::Path, config: ServerConfig, bus_capacity: usize) -> Arc<Hub> {
    let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open(db).unwrap());
    let bus = Arc::new(LocalBus::new(store.clone(), bus_capacity));
    let snapshots = MediaDir::new(db.with_file_name("snapshots"));
    Hub::new(
        AlertService::new(store, bus, snapshots),
        Auth::new(SECRET).unwrap(),
        config,
    )
}

/// The HTTP status of a refused WebSocket handshake.
pub fn status_of(err: tokio_tungstenite::tungstenite::Error) -> u16 {
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

/// A token of a session of `{role}-user`.
pub fn token(hub: &Hub, role: Role) -> String {
    hub.issue_token(&format!("{}-user", role.as_str()), role, 3600, None)
        .unwrap()
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(
    addr: SocketAddr,
    query: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!("ws://{addr}/ws?{query}");
    tokio_tungstenite::connect_async(url)
        .await
        .map(|(ws, _)| ws)
}

/// Next JSON text message, skipping pings.
pub async fn next(ws: &mut Ws) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("message in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Sends a JSON text frame.
pub async fn send(ws: &mut Ws, json: serde_json::Value) {
    use futures_util::SinkExt;
    ws.send(Message::Text(json.to_string().into()))
        .await
        .unwrap();
}

/// Waits until the server has handled everything sent on `ws` so far: it handles a
/// connection's messages in order, so once the refusal of a malformed join is back, so are the
/// effects of the messages before it (joins, leaves).
pub async fn barrier(ws: &mut Ws) {
    send(
        ws,
        serde_json::json!({"type": "join_room", "room": "not a room"}),
    )
    .await;
    loop {
        if next(ws).await["code"] == "bad_room" {
            return;
        }
    }
}

/// The close code the server ends `ws` with (None: closed without a close frame), within `wait`.
pub async fn close_code(ws: &mut Ws, wait: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return None,
            Err(_) => panic!("the server did not close the connection within {wait:?}"),
        }
    }
}

/// A pipeline alert of `camera` at site `hq`.
pub fn alert(camera: &str) -> NewAlert {
    alert_at(camera, "hq")
}

/// A pipeline alert of `camera` at `site`.
pub fn alert_at(camera: &str, site: &str) -> NewAlert {
    NewAlert {
        camera: camera.into(),
        site: site.into(),
        label: "fight".into(),
        score: 0.9,
        started_at: 1,
        snapshot: None,
        source: "pipeline".into(),
        region: None,
        heatmap: None,
    }
}

/// An HTTP response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A TCP connection to `addr` from loopback address `from` (e.g. 127.0.0.2).
pub async fn tcp_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// One HTTP/1.1 request (`Connection: close`) from 127.0.0.1.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    http_from([127, 0, 0, 1].into(), addr, method, path, headers, body).await
}

/// One HTTP/1.1 request from loopback address `from`.
pub async fn http_from(
    from: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = tcp_from(from, addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("a reply in time")
        .unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
