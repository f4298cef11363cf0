//! End-to-end: three `fightwatch serve` nodes on one PostgreSQL and one Redis (real servers on
//! loopback), dashboards on every node, detectors posting to every node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::free_port;
use fightwatch_testkit::{Postgres, Redis};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use common::cluster::{Node, SECRET, token, wait_listening};

fn start_node(name: &str, db: &str, redis: &str) -> Node {
    common::cluster::serve(name, db, redis)
}

/// Fresh PostgreSQL and Redis, a database `db` and a healthy `serve` node per name.
fn cluster(db: &str, names: &[&str]) -> (Postgres, Redis, String, Vec<Node>) {
    let (pg, redis) = (Postgres::start().unwrap(), Redis::start().unwrap());
    let url = pg.create_database(db).unwrap();
    let nodes: Vec<Node> = names
        .iter()
        .map(|n| start_node(n, &url, &redis.url()))
        .collect();
    for node in &nodes {
        wait_healthy(node);
    }
    (pg, redis, url, nodes)
}

/// Waits for the node, then checks that /healthz names it.
fn wait_healthy(node: &Node) {
    wait_listening(node);
    let (status, body) = common::http_get(node.port, "/healthz", "");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, v["node"].as_str()),
        (200, Some(node.name.as_str())),
        "{v}"
    );
}

/// POSTs `body` to `path`; returns (status, body), or `None` when the node cannot be reached.
fn post(port: u16, path: &str, token: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_string(),
    ))
}

/// POST /api/detections; true when the alert was accepted.
fn detect(port: u16, token: &str, camera: &str) -> bool {
    let body = format!(r#"{{"camera":"{camera}","score":0.9}}"#);
    matches!(
        post(port, "/api/detections", token, &body),
        Some((200..=299, _))
    )
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A dashboard on a node, once its welcome arrived: the session has its position then, so
/// every event committed after this returns reaches it (an event committed while it was still
/// connecting would be "before" a dashboard that asked for no history).
async fn dashboard(port: u16, token: &str, after_seq: Option<u64>) -> Ws {
    let resume = after_seq.map_or(String::new(), |s| format!("&after_seq={s}"));
    let url = format!("ws://127.0.0.1:{port}/ws?token={token}{resume}");
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    if after_seq.is_none() {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("\"welcome_message\"") => break,
                Ok(Some(Ok(_))) => continue,
                other => panic!("no welcome from the node: {other:?}"),
            }
        }
    }
    ws
}

/// A Socket.IO dashboard (`/socket.io/`, Engine.IO over a WebSocket) on a node, once its
/// welcome arrived.
async fn socketio_dashboard(port: u16, token: &str) -> Ws {
    use futures_util::SinkExt;
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    ws.send(Message::text(format!(r#"40{{"token":"{token}"}}"#)))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.starts_with(r#"42["welcome_message""#) => break,
            Ok(Some(Ok(Message::Text(t)))) if t.starts_with("44") => panic!("refused: {t}"),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no welcome from the node: {other:?}"),
        }
    }
    ws
}

/// Reads `fight_alert` seqs until `want` of them, the socket closes, or 60 s pass. Takes
/// fightwatch's messages and Socket.IO's event packets (`42["fight_alert",{…}]`) alike.
async fn collect(ws: &mut Ws, want: usize, seqs: &mut Vec<u64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seqs.len() < want {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            _ => return,
        };
        let v: serde_json::Value = match msg.strip_prefix("42") {
            Some(event) => serde_json::from_str::<serde_json::Value>(event).unwrap()[1].clone(),
            // Engine.IO's heartbeat, answered as a client must.
            None if msg.as_str() == "2" => {
                use futures_util::SinkExt;
                let _ = ws.send(Message::text("3")).await;
                continue;
            }
            // Other Socket.IO packets (the connect answer).
            None if !msg.starts_with('{') => continue,
            None => serde_json::from_str(&msg).unwrap(),
        };
        if v["type"] == "fight_alert" {
            seqs.push(v["seq"].as_u64().unwrap());
        }
    }
}

fn assert_in_order_once(seqs: &[u64], what: &str) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{what}: out of order or repeated: {:?}",
        seqs.windows(2).find(|w| w[0] >= w[1])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_on_every_node_gets_every_alert_once_in_seq_order() {
    let (pg, _redis, db, nodes) = cluster("cluster", &["a", "b", "c"]);
    let viewer = token(&db, "viewer-e2e", "viewer");
    // Two `/ws` dashboards and one Socket.IO dashboard on each node: Socket.IO gets other
    // nodes' events through the same bus.
    let mut dashboards = Vec::new();
    let mut names = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            dashboards.push(dashboard(node.port, &viewer, None).await);
            names.push(format!("/ws dashboard on node {}", node.name));
        }
        dashboards.push(socketio_dashboard(node.port, &viewer).await);
        names.push(format!("Socket.IO dashboard on node {}", node.name));
    }
    // 6 detectors, 2 per node, 1,002 alerts at once.
    const PER_PUBLISHER: usize = 167;
    let publishers: Vec<_> = (0..6)
        .map(|p| {
            let token = token(&db, &format!("detector-{p}"), "detector");
            let port = nodes[p % 3].port;
            std::thread::spawn(move || {
                (0..PER_PUBLISHER)
                    .filter(|i| detect(port, &token, &format!("cam-{p}-{i}")))
                    .count()
            })
        })
        .collect();
    let total = 6 * PER_PUBLISHER;
    let collectors: Vec<_> = dashboards
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                collect(&mut ws, total, &mut seqs).await;
                seqs
            })
        })
        .collect();
    let accepted: usize = publishers.into_iter().map(|p| p.join().unwrap()).sum();
    assert_eq!(accepted, total, "every detection accepted");
    let stored = stored_seqs(&pg, "cluster");
    assert_eq!(stored.len(), total);
    for (c, what) in collectors.into_iter().zip(names) {
        let seqs = c.await.unwrap();
        assert_eq!(seqs.len(), total, "{what}: got {} of {total}", seqs.len());
        assert_in_order_once(&seqs, &what);
        assert_eq!(
            seqs.iter().copied().collect::<HashSet<_>>(),
            stored,
            "{what}"
        );
    }
}

/// Race (a) of issue #27: detections of one camera posted to two nodes at the same instant
/// are one alert (grouping decides and writes in one transaction under a per-camera lock),
/// counting every detection; before, each node could read "no open alert" and raise its own.
#[test]
fn simultaneous_detections_of_one_camera_on_two_nodes_raise_one_alert() {
    let (pg, _redis, db, nodes) = cluster("grouping", &["a", "b"]);
    const PER_NODE: usize = 4;
    let tokens: Vec<String> = (0..2 * PER_NODE)
        .map(|d| token(&db, &format!("detector-{d}"), "detector"))
        .collect();
    for round in 0..3 {
        let camera = format!("hall-{round}");
        let start = std::sync::Arc::new(std::sync::Barrier::new(2 * PER_NODE));
        let posts: Vec<_> = (0..2 * PER_NODE)
            .map(|d| {
                let token = tokens[d].clone();
                let (port, start, camera) = (nodes[d % 2].port, start.clone(), camera.clone());
                std::thread::spawn(move || {
                    start.wait();
                    detect(port, &token, &camera)
                })
            })
            .collect();
        let accepted = posts
            .into_iter()
            .filter_map(|p| p.join().unwrap().then_some(()))
            .count();
        assert_eq!(
            accepted,
            2 * PER_NODE,
            "round {round}: every detection accepted"
        );
        let rows = pg
            .psql(
                "grouping",
                &format!("SELECT count FROM alerts WHERE camera = '{camera}'"),
            )
            .unwrap();
        assert_eq!(
            rows.lines().map(str::trim).collect::<Vec<_>>(),
            vec![(2 * PER_NODE).to_string()],
            "round {round}: one alert counting every detection"
        );
    }
}

/// Race (b) of issue #27: three nodes starting together on an empty database make one
/// `admin`; the one node that made it holds its password (DATA_DIR/admin_password), and that
/// password logs in on every node.
#[test]
fn nodes_starting_together_on_an_empty_database_make_one_admin() {
    let (_pg, _redis, _db, nodes) = cluster("first", &["a", "b", "c"]);
    let passwords: Vec<String> = nodes
        .iter()
        .filter_map(|n| std::fs::read_to_string(n._dir.path().join("admin_password")).ok())
        .collect();
    assert_eq!(passwords.len(), 1, "one node made the admin: {passwords:?}");
    let body = format!(r#"{{"user":"admin","password":"{}"}}"#, passwords[0].trim());
    for node in &nodes {
        let (status, reply) = post(node.port, "/api/login", "", &body).unwrap();
        assert_eq!(status, 200, "node {}: {reply}", node.name);
    }
}

fn stored_seqs(pg: &Postgres, db: &str) -> HashSet<u64> {
    pg.psql(db, "SELECT seq FROM alerts")
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// kill -9 a node in the middle of a burst: every alert a dashboard saw is in PostgreSQL, and
/// its dashboards resume on another node (`after_seq`) with no gap and no repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_nodes_dashboards_resume_on_another_without_gap_or_repeat() {
    let (pg, _redis, db, mut nodes) = cluster("failover", &["a", "b"]);
    let viewer = token(&db, "viewer-e2e", "viewer");
    let mut on_b = dashboard(nodes[1].port, &viewer, None).await;
    // Detectors post to both nodes until told to stop; those on b fail once it is dead.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publishers: Vec<_> = (0..2)
        .map(|p| {
            let token = token(&db, &format!("detector-{p}"), "detector");
            let port = nodes[p].port;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 400 {
                    if !detect(port, &token, &format!("cam-{p}-{i}")) {
                        break; // its node is gone
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    collect(&mut on_b, 100, &mut seen).await;
    let killed_at = Instant::now();
    nodes[1].child.kill().unwrap(); // SIGKILL
    nodes[1].child.wait().unwrap();
    // Whatever else b sent before dying (the socket ends).
    collect(&mut on_b, usize::MAX, &mut seen).await;
    let closed_in = killed_at.elapsed();
    let last = *seen.last().unwrap();
    let mut on_a = dashboard(nodes[0].port, &viewer, Some(last)).await;
    // The first alert on the new node (replayed or new).
    let mut resumed = Vec::new();
    collect(&mut on_a, 1, &mut resumed).await;
    eprintln!(
        "kill -9 → socket closed in {closed_in:?}; reconnected to another node and got the next alert after {:?} (no client backoff)",
        killed_at.elapsed()
    );

    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in publishers {
        p.join().unwrap();
    }
    let stored = stored_seqs(&pg, "failover");
    collect(
        &mut on_a,
        stored.iter().filter(|s| **s > last).count(),
        &mut resumed,
    )
    .await;
    let mut all = seen.clone();
    all.extend(&resumed);
    assert_in_order_once(&all, "dashboard moved from b to a");
    assert!(
        seen.iter().all(|s| stored.contains(s)),
        "an alert a dashboard saw is missing from PostgreSQL"
    );
    assert_eq!(
        all.iter().copied().collect::<HashSet<_>>(),
        stored,
        "the moved dashboard has every alert"
    );
}

/// Per-camera permissions and revocation hold across nodes: a user created and later revoked
/// through the shared database, logged in on one node, sees only its camera's alerts raised on
/// another, and its dashboard is closed when it is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn camera_permissions_and_revocation_hold_across_nodes() {
    let (pg, _redis, db, nodes) = cluster("perms", &["a", "b"]);
    let cli = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = common::command(args)
            .args(["--data-dir", "/nonexistent-cluster-data"])
            .env("FIGHTWATCH_DATABASE_URL", &db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", common::text(&out.stderr));
    };
    cli(
        &[
            "user",
            "add",
            "guard",
            "--role",
            "viewer",
            "--password-stdin",
            "--camera",
            "gate",
        ],
        "a long enough password\n",
    );
    let (status, body) = post(
        nodes[1].port,
        "/api/login",
        "",
        r#"{"user":"guard","password":"a long enough password"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let guard: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut ws = dashboard(nodes[1].port, guard["token"].as_str().unwrap(), None).await;
    let detector = token(&db, "detector-0", "detector");
    for camera in ["lobby", "gate", "lobby", "gate"] {
        assert!(detect(nodes[0].port, &detector, camera));
    }
    let mut seqs = Vec::new();
    collect(&mut ws, 2, &mut seqs).await;
    let gate: Vec<u64> = pg
        .psql(
            "perms",
            "SELECT seq FROM alerts WHERE camera = 'gate' ORDER BY seq",
        )
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(
        seqs, gate,
        "only the gate's alerts, raised on the other node"
    );
    cli(&["user", "revoke", "guard"], "");
    // Closed within a few seconds (each node polls the shared revocation counter).
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the revoked dashboard is closed");
    assert_eq!(closed, Some(fightwatch_broadcaster::CLOSE_REVOKED));
}

/// Redis and then PostgreSQL restarted in the middle of a run: every alert a detector got a
/// success for reaches every dashboard, in order, once; the nodes recover by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_survive_redis_and_postgres_restarts() {
    let (mut pg, mut redis, db, nodes) = cluster("restarts", &["a", "b"]);
    let viewer = token(&db, "viewer-e2e", "viewer");
    let detector = token(&db, "detector-0", "detector");
    let mut dashboards = Vec::new();
    for node in &nodes {
        dashboards.push(dashboard(node.port, &viewer, None).await);
    }
    let burst = |tag: &str, n: usize| -> usize {
        (0..n)
            .filter(|i| detect(nodes[i % 2].port, &detector, &format!("{tag}-{i}")))
            .count()
    };
    let mut accepted = burst("before", 10);
    redis.kill();
    accepted += burst("redis-down", 10);
    redis.restart().unwrap();
    accepted += burst("redis-back", 10);
    pg.kill().unwrap();
    let refused_while_down = 4 - burst("pg-down", 4);
    pg.restart().unwrap();
    // The nodes' pools reconnect by themselves: detections succeed again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while burst("probe", 2) < 2 {
        assert!(
            Instant::now() < deadline,
            "the nodes did not recover from the restart"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    accepted += burst("after", 10);
    let stored = stored_seqs(&pg, "restarts");
    assert!(
        stored.len() >= accepted,
        "{} stored, {accepted} accepted",
        stored.len()
    );
    assert_eq!(
        refused_while_down, 4,
        "no success reported while PostgreSQL was down"
    );
    for (i, mut ws) in dashboards.into_iter().enumerate() {
        let mut seqs = Vec::new();
        collect(&mut ws, stored.len(), &mut seqs).await;
        let what = format!("dashboard on node {}", nodes[i].name);
        assert_in_order_once(&seqs, &what);
        assert_eq!(
            seqs.iter().copied().collect::<HashSet<_>>(),
            stored,
            "{what}"
        );
    }
    // Each node's /metrics carries its name and the bus, connected again.
    let admin = token(&db, "admin-e2e", "admin");
    for node in &nodes {
        let connected = format!("fightwatch_bus_connected{{node=\"{}\"}} 1", node.name);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = common::http_get(node.port, "/metrics", &admin);
            let text = String::from_utf8(body).unwrap();
            assert_eq!(status, 200, "{text}");
            if text.lines().any(|l| l == connected) {
                break;
            }
            assert!(Instant::now() < deadline, "no {connected:?} in\n{text}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Unreachable shared servers at start: a clear error naming the server, exit status 1.
#[test]
fn a_node_without_its_servers_says_which_one_and_exits() {
    let closed = free_port();
    let redis = format!("redis://127.0.0.1:{closed}/");
    // `fightwatch serve` as a cluster node: exit status and error output.
    let serve = |db: &str, secret: Option<&str>| {
        let mut command = common::command(&["serve", "--bind", "127.0.0.1:0", "--node", "a"]);
        command
            .args(["--data-dir", "/nonexistent-cluster-data"])
            .env("FIGHTWATCH_DATABASE_URL", db)
            .env("FIGHTWATCH_REDIS_URL", &redis)
            .env_remove("FIGHTWATCH_JWT_SECRET");
        if let Some(secret) = secret {
            command.env("FIGHTWATCH_JWT_SECRET", secret);
        }
        let out = command.output().unwrap();
        (out.status.code(), common::text(&out.stderr))
    };
    let started = Instant::now();
    let (code, err) = serve(
        &format!("postgres://fightwatch:pw@127.0.0.1:{closed}/x"),
        Some(SECRET),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("postgres://127.0.0.1:{closed}/x")),
        "{err}"
    );
    assert!(!err.contains("pw@"), "no password in messages: {err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The database is there, Redis is not.
    let pg = Postgres::start().unwrap();
    let db = pg.create_database("noredis").unwrap();
    let (code, err) = serve(&db, Some(SECRET));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("Redis {redis}")), "{err}");
    // And a cluster node without a shared token secret refuses to start.
    let (code, err) = serve(&db, None);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("FIGHTWATCH_JWT_SECRET"), "{err}");
}

/// The next `fight_alert` or `camera_status` on `ws` (10 s at most; `None` if none came).
async fn next_event(ws: &mut Ws, within: Duration) -> Option<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        };
        let v: serde_json::Value = serde_json::from_str(&msg).unwrap();
        if v["type"] == "fight_alert" || v["type"] == "camera_status" {
            return Some(v);
        }
    }
}

/// Audit round two, finding 2, against two real nodes: a forged entry with the next seq, one
/// with seq 10^15 and a forged camera state reach no dashboard on either node, and real alerts
/// after them reach every dashboard, including one that connects afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_redis_entries_reach_no_dashboard_and_silence_nothing() {
    let (_pg, redis, db, nodes) = cluster("forged", &["a", "b"]);
    let viewer = token(&db, "viewer-forged", "viewer");
    let detector = token(&db, "detector-forged", "detector");
    let mut on_a = dashboard(nodes[0].port, &viewer, None).await;
    let mut on_b = dashboard(nodes[1].port, &viewer, None).await;
    assert!(detect(nodes[0].port, &detector, "lobby"));
    let first = next_event(&mut on_b, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(first["camera"], "lobby");
    next_event(&mut on_a, Duration::from_secs(10))
        .await
        .unwrap();
    let seq = first["seq"].as_u64().unwrap();
    let forged = |seq: u64| {
        let mut a = first.clone();
        a["seq"] = seq.into();
        a["camera"] = "forged".into();
        a["id"] = "a999999".into();
        a.to_string()
    };
    let status =
        serde_json::json!({"type": "camera_status", "camera": "lobby", "site": "elsewhere",
        "status": "offline", "error": "forged", "since": 1})
        .to_string();
    for m in [forged(seq + 1), forged(1_000_000_000_000_000), status] {
        for node in ["a", "b"] {
            let mac = "f".repeat(64);
            for fields in [
                vec!["node", node, "m", &m],
                vec!["node", node, "m", &m, "mac", &mac],
            ] {
                redis.xadd("fightwatch:events", &fields).unwrap();
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(detect(nodes[1].port, &detector, "gate"));
    let mut late = dashboard(nodes[0].port, &viewer, None).await;
    assert!(detect(nodes[0].port, &detector, "yard"));
    for (ws, what) in [(&mut on_a, "a"), (&mut on_b, "b")] {
        let got: Vec<String> = [
            next_event(ws, Duration::from_secs(10)).await,
            next_event(ws, Duration::from_secs(10)).await,
        ]
        .into_iter()
        .map(|v| {
            v.map_or("nothing".into(), |v| {
                format!("{}:{}", v["type"], v["camera"])
            })
        })
        .collect();
        assert_eq!(
            got,
            [r#""fight_alert":"gate""#, r#""fight_alert":"yard""#],
            "dashboard on {what}"
        );
    }
    let v = next_event(&mut late, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        v["camera"], "yard",
        "a dashboard connected after the forgeries"
    );
    // Nothing forged is in what the nodes show either.
    let (_, cameras) = common::http_get(nodes[1].port, "/api/cameras", &viewer);
    assert!(!common::text(&cameras).contains("elsewhere"));
}
