//! WebSocket load and latency client for the fightwatch broadcaster.
//!
//! Connects N dashboards, then M publishers (detector role) send K `fight_detected` messages in
//! total, each for a unique camera name so every delivery can be matched to its send time.
//! Reports connect time, delivery latency p50/p99/max (publisher send → dashboard receive),
//! messages/s delivered, errors and missing deliveries; optionally the server's RSS per
//! connection (`--server-pid`). Loopback only: it refuses any other host.
//!
//! ```text
//! fightwatch-loadgen --url ws://127.0.0.1:8080/ws --clients 1000 --publishers 1 --alerts 100 \
//!     --token VIEWER_JWT --publisher-token DETECTOR_JWT [--publisher-token …] [--json]
//! fightwatch-loadgen --url ws://127.0.0.1:8080/ws --login-flood 10 --clients 48 \
//!     [--spread-addresses] --server-pid PID --json
//! ```
//!
//! `--login-flood` is the unauthenticated login attack of docs/security.md as a benchmark:
//! wrong passwords as fast as the server answers, `/healthz` latency and server memory.

mod login_flood;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// Load and latency test for the fightwatch WebSocket server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server WebSocket URL (loopback only). Repeatable: dashboards and publishers are spread
    /// over the servers round robin (several nodes of one deployment).
    #[arg(long = "url", default_value = "ws://127.0.0.1:8080/ws")]
    urls: Vec<String>,
    /// Dashboards to connect.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Publishing connections (detector role).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Alerts to publish in total.
    #[arg(long, default_value_t = 100)]
    alerts: usize,
    /// Alerts per second, all publishers together.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Token for the dashboards (viewer or above).
    #[arg(long, default_value = "")]
    token: String,
    /// Token for the publishers (detector or admin); not needed with --watch. Repeatable:
    /// publisher k uses the k-th (round robin). The server limits messages per user, so
    /// publishers of one user share its rate.
    #[arg(long = "publisher-token")]
    publisher_tokens: Vec<String>,
    /// Connections opened at once.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// The server's process id, to report its memory per connection. Repeatable: the memory
    /// of all of them, summed.
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Publish nothing: watch the alerts a running pipeline raises for this many seconds and
    /// report their latency from the confirming frame's capture (`started_at`) to arrival.
    #[arg(long, value_name = "SECONDS")]
    watch: Option<u64>,
    /// Post wrong passwords to /api/login from --clients connections for this many seconds,
    /// timing /healthz meanwhile (see docs/security.md).
    #[arg(long, value_name = "SECONDS")]
    login_flood: Option<u64>,
    /// Connections from many loopback addresses (127.0.X.Y) instead of one, as many clients
    /// would come: with --login-flood each attacker has its own (per-address limits do not
    /// hide the cost of hashing); dashboards come 50 to an address (a reconnect surge:
    /// `--connect-concurrency` as high as `--clients`).
    #[arg(long)]
    spread_addresses: bool,
    /// Wire format: `fightwatch` (JSON messages with a `type`) or `socketio` (Socket.IO 4 over
    /// a WebSocket: `42["event",data]` frames; `--url ws://HOST/socket.io/?EIO=4&transport=websocket`),
    /// to run the same load against a Socket.IO server (scripts/bench_fanout.sh).
    #[arg(long, value_enum, default_value_t = Dialect::Fightwatch)]
    dialect: Dialect,
}

/// How messages are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Dialect {
    /// fightwatch's own protocol (docs/protocol.md), and servers that speak it.
    Fightwatch,
    /// Socket.IO 4 (Engine.IO 4) over a WebSocket.
    Socketio,
}

impl Dialect {
    /// Whether `text` is a load alert; its number.
    fn load_alert(self, text: &str) -> Option<usize> {
        let head = match self {
            Dialect::Fightwatch => r#"{"type":"fight_alert""#,
            Dialect::Socketio => r#"42["fight_alert""#,
        };
        // A substring scan, not a JSON parse: the client must not be the bottleneck.
        let rest = text
            .strip_prefix(head)?
            .split(r#""camera":"load-"#)
            .nth(1)?;
        rest.split('"').next()?.parse().ok()
    }

    /// The publisher's message for load alert `n`.
    fn detection(self, n: usize) -> String {
        let body = format!(r#""camera":"load-{n}","score":0.9,"site":"load""#);
        match self {
            Dialect::Fightwatch => format!(r#"{{"type":"fight_detected",{body}}}"#),
            Dialect::Socketio => format!(r#"42["fight_detected",{{{body}}}]"#),
        }
    }
}

impl Args {
    /// The first server (the one-server modes use it).
    fn url(&self) -> &str {
        self.urls
            .first()
            .map_or("ws://127.0.0.1:8080/ws", String::as_str)
    }

    /// The `i`-th connection's server.
    fn url_for(&self, i: usize) -> &str {
        self.urls
            .get(i % self.urls.len().max(1))
            .map_or(self.url(), String::as_str)
    }

    /// The servers' memory, summed (none given: `None`).
    fn servers_rss_kib(&self) -> Option<u64> {
        if self.server_pids.is_empty() {
            return None;
        }
        self.server_pids.iter().map(|p| rss_kib(*p)).sum()
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

async fn flood(args: &Args, secs: u64) -> anyhow::Result<()> {
    let addr = loopback_addr(args.url())?;
    let r = login_flood::run(
        addr,
        args.clients,
        secs,
        args.spread_addresses,
        args.server_pids.first().copied(),
    )
    .await;
    let statuses: serde_json::Map<String, serde_json::Value> = r
        .statuses
        .iter()
        .map(|(s, n)| (s.to_string(), (*n).into()))
        .collect();
    let grew_mib = match (r.rss_before_kib, r.rss_peak_kib) {
        (Some(b), Some(p)) => Some(p.saturating_sub(b) as f64 / 1024.0),
        _ => None,
    };
    let report = serde_json::json!({
        "mode": "login_flood",
        "seconds": secs,
        "connections": args.clients,
        "spread_addresses": args.spread_addresses,
        "login_statuses": statuses,
        "healthz_probes": r.healthz_ms.len(),
        "healthz_failures": r.healthz_failures,
        "healthz_p50_ms": percentile(&r.healthz_ms, 0.5),
        "healthz_p99_ms": percentile(&r.healthz_ms, 0.99),
        "healthz_max_ms": r.healthz_ms.last().copied().unwrap_or(f64::NAN),
        "server_rss_before_mib": r.rss_before_kib.map(|k| k as f64 / 1024.0),
        "server_rss_peak_mib": r.rss_peak_kib.map(|k| k as f64 / 1024.0),
        "server_rss_after_mib": r.rss_after_kib.map(|k| k as f64 / 1024.0),
        "server_rss_growth_mib": grew_mib,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// The socket address of a `ws://127.0.0.1:PORT/…` URL (binding a source address needs one).
fn loopback_addr(url: &str) -> anyhow::Result<std::net::SocketAddr> {
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .context("--url needs a host:port")?;
    authority
        .replace("localhost", "127.0.0.1")
        .parse()
        .with_context(|| format!("--url host {authority:?}: use 127.0.0.1:PORT"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Dashboards per source address with `--spread-addresses`.
const DASHBOARDS_PER_ADDRESS: usize = 50;

/// The loopback address dashboard `i` connects from with `--spread-addresses`.
fn spread_address(i: usize) -> std::net::IpAddr {
    let n = i / DASHBOARDS_PER_ADDRESS;
    std::net::IpAddr::from([127, 0, (10 + n / 200) as u8, (10 + n % 200) as u8])
}

async fn open(
    url: &str,
    token: &str,
    dialect: Dialect,
    from: Option<std::net::IpAddr>,
) -> anyhow::Result<Ws> {
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}token={token}");
    let (mut ws, _) = match from {
        None => tokio_tungstenite::connect_async(full).await?,
        Some(ip) => {
            let addr = loopback_addr(url)?;
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::new(ip, 0))?;
            let stream = socket.connect(addr).await?;
            tokio_tungstenite::client_async(full, tokio_tungstenite::MaybeTlsStream::Plain(stream))
                .await?
        }
    };
    if dialect == Dialect::Socketio {
        // Engine.IO's open packet, then joining the default namespace.
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.starts_with('0') => {}
            other => bail!("no Engine.IO open packet: {other:?}"),
        }
        // The token goes in the handshake's `auth`, as socket.io-client sends it.
        let connect = if token == "none" {
            "40".to_string()
        } else {
            format!("40{}", serde_json::json!({ "token": token }))
        };
        ws.send(Message::text(connect)).await?;
    }
    // The welcome message comes first (after Socket.IO's namespace answer).
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.contains("welcome_message") => return Ok(ws),
            Ok(Some(Ok(Message::Text(t))))
                if dialect == Dialect::Socketio && t.starts_with("40") => {}
            // Engine.IO heartbeat (some servers ping at once): answered, as a client must.
            Ok(Some(Ok(Message::Text(t)))) if dialect == Dialect::Socketio && t.as_str() == "2" => {
                ws.send(Message::text("3")).await?;
            }
            other => bail!("no welcome: {other:?}"),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for url in &args.urls {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':']).next())
            .unwrap_or("");
        if !["127.0.0.1", "localhost", "[", "::1"]
            .iter()
            .any(|h| host.starts_with(h))
        {
            bail!(
                "fightwatch-loadgen only targets loopback (127.0.0.1, localhost, ::1), not {host:?}"
            );
        }
    }
    let rss_before = args.servers_rss_kib();

    if let Some(secs) = args.watch {
        return watch(&args, secs).await;
    }
    if let Some(secs) = args.login_flood {
        return flood(&args, secs).await;
    }

    // 1. Dashboards.
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let connect_started = Instant::now();
    let mut connecting = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let (gate, url, token, dialect) = (
            gate.clone(),
            args.url_for(i).to_string(),
            args.token.clone(),
            args.dialect,
        );
        let from = args.spread_addresses.then(|| spread_address(i));
        connecting.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let t = Instant::now();
            let ws = open(&url, &token, dialect, from).await?;
            anyhow::Ok((ws, t.elapsed().as_secs_f64() * 1e3))
        }));
    }
    let mut dashboards = Vec::new();
    let mut connect_ms = Vec::new();
    let mut errors = 0usize;
    for c in connecting {
        match c.await? {
            Ok((ws, ms)) => {
                dashboards.push(ws);
                connect_ms.push(ms);
            }
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("connect failed: {e:#}");
                }
            }
        }
    }
    let connect_all_s = connect_started.elapsed().as_secs_f64();
    let rss_connected = args.servers_rss_kib();

    // 2. Every dashboard records when each load alert arrives, and in which order.
    let (received_tx, mut received_rx) =
        tokio::sync::mpsc::unbounded_channel::<(usize, usize, Instant)>();
    let mut readers = Vec::new();
    let dashboards_connected = dashboards.len();
    for (d, mut ws) in dashboards.into_iter().enumerate() {
        let received = received_tx.clone();
        let dialect = args.dialect;
        readers.push(tokio::spawn(async move {
            let mut errors = 0usize;
            while let Some(msg) = ws.next().await {
                match msg {
                    Ok(Message::Text(t)) => {
                        let at = Instant::now();
                        if let Some(n) = dialect.load_alert(&t) {
                            let _ = received.send((d, n, at));
                        } else if dialect == Dialect::Socketio && t.as_str() == "2" {
                            // Engine.IO ping: answer, or the server drops us.
                            let _ = ws.send(Message::text("3")).await;
                        }
                    }
                    Ok(Message::Close(_)) => break,
                    Ok(_) => {}
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            errors
        }));
    }

    // 3. Publishers.
    let mut pubs = Vec::new();
    anyhow::ensure!(
        !args.publisher_tokens.is_empty(),
        "--publisher-token is needed to publish"
    );
    for k in 0..args.publishers.max(1) {
        let token = &args.publisher_tokens[k % args.publisher_tokens.len()];
        pubs.push(
            open(args.url_for(k), token, args.dialect, None)
                .await
                .context("publisher connection")?,
        );
    }
    let sent_at: Arc<Mutex<HashMap<usize, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let publish_started = Instant::now();
    let mut tick = tokio::time::interval(interval);
    for n in 0..args.alerts {
        tick.tick().await;
        let k = n % pubs.len();
        let p = &mut pubs[k];
        let msg = args.dialect.detection(n);
        sent_at.lock().await.insert(n, Instant::now());
        if p.send(Message::Text(msg.into())).await.is_err() {
            errors += 1;
        }
    }
    let publish_s = publish_started.elapsed().as_secs_f64();
    // 4. Wait for deliveries (or the timeout), then close everything.
    let expected = args.alerts * readers.len();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut received = Vec::with_capacity(expected);
    loop {
        while let Ok(r) = received_rx.try_recv() {
            received.push(r);
        }
        let got = received.len();
        let in_flight = readers.iter().filter(|r| !r.is_finished()).count();
        if got >= expected || Instant::now() > deadline || in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered_s = publish_started.elapsed().as_secs_f64();
    // What the server answered the publishers: an `error` (rate_limited, bad_detection) means
    // that alert was never raised, so its deliveries are missing for a known reason.
    let mut refused = 0usize;
    for p in &mut pubs {
        while let Ok(Some(Ok(msg))) =
            tokio::time::timeout(Duration::from_millis(200), p.next()).await
        {
            if let Message::Text(t) = msg
                && serde_json::from_str::<serde_json::Value>(&t).is_ok_and(|v| v["type"] == "error")
            {
                refused += 1;
            }
        }
    }

    // Dashboards the server closed before the end (lagging, errors): each loses the rest.
    let closed_early = readers.iter().filter(|r| r.is_finished()).count();
    for r in &readers {
        r.abort();
    }
    while let Ok(r) = received_rx.try_recv() {
        received.push(r);
    }
    let sent_at = sent_at.lock().await.clone();
    // Every dashboard must see the alerts in one and the same order (the server's).
    let mut orders = vec![Vec::new(); dashboards_connected];
    for (d, n, _) in &received {
        orders[*d].push(*n);
    }
    let reference = orders
        .iter()
        .find(|o| o.len() == args.alerts)
        .cloned()
        .unwrap_or_default();
    let out_of_order = orders
        .iter()
        .filter(|o| {
            let mut expected = reference.iter().filter(|n| o.contains(n));
            o.iter().any(|n| expected.next() != Some(n))
        })
        .count();
    let mut latencies: Vec<f64> = received
        .iter()
        .filter_map(|(_, n, at)| {
            sent_at
                .get(n)
                .map(|s| at.duration_since(*s).as_secs_f64() * 1e3)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    connect_ms.sort_by(f64::total_cmp);
    let rss_per_conn = match (rss_before, rss_connected) {
        (Some(a), Some(b)) if !connect_ms.is_empty() => {
            Some((b.saturating_sub(a)) as f64 / connect_ms.len() as f64)
        }
        _ => None,
    };
    let report = serde_json::json!({
        "clients": args.clients,
        "connected": connect_ms.len(),
        "connect_all_s": connect_all_s,
        "connect_ms_p50": percentile(&connect_ms, 0.5),
        "connect_ms_p99": percentile(&connect_ms, 0.99),
        "alerts": args.alerts,
        "publish_s": publish_s,
        "deliveries": received.len(),
        "missing_deliveries": expected.saturating_sub(received.len()),
        "dashboards_out_of_order": out_of_order,
        "latency_ms_p50": percentile(&latencies, 0.5),
        "latency_ms_p99": percentile(&latencies, 0.99),
        "latency_ms_max": latencies.last().copied().unwrap_or(f64::NAN),
        "messages_per_s": received.len() as f64 / delivered_s.max(1e-9),
        "errors": errors,
        "publishes_refused": refused,
        "dashboards_closed_early": closed_early,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_connected": rss_connected,
        "server_rss_kib_per_connection": rss_per_conn,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if report["missing_deliveries"].as_u64() != Some(0)
        || out_of_order > 0
        || errors > 0
        || refused > 0
    {
        std::process::exit(1);
    }
    Ok(())
}

/// Frame-to-dashboard latency of the alerts a running pipeline raises.
async fn watch(args: &Args, secs: u64) -> anyhow::Result<()> {
    let mut readers = Vec::new();
    for _ in 0..args.clients.max(1) {
        let mut ws = open(args.url(), &args.token, args.dialect, None).await?;
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let until = tokio::time::Instant::now() + Duration::from_secs(secs);
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(until, ws.next()).await {
                if let Message::Text(t) = msg {
                    let now_ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64() * 1e3);
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
                        && v["type"] == "fight_alert"
                        && let Some(started) = v["started_at"].as_f64()
                    {
                        latencies.push(now_ms - started);
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for r in readers {
        all.extend(r.await?);
    }
    all.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "clients": args.clients.max(1),
        "watched_s": secs,
        "alerts_received": all.len(),
        "frame_to_dashboard_ms_p50": percentile(&all, 0.5),
        "frame_to_dashboard_ms_p99": percentile(&all, 0.99),
        "frame_to_dashboard_ms_max": all.last().copied().unwrap_or(f64::NAN),
    });
    println!("{report}");
    Ok(())
}
