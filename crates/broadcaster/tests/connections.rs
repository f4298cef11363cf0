//! WebSocket connections over real TCP: who may connect (token, cookie, origin), how many,
//! and what malformed frames do (nothing to the server or other clients).
//!
//! Real servers on 127.0.0.1 with a SQLite store in a temp dir (tests/common); the audit's
//! attacks are in security.rs.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{SECRET, alert, connect, next, server, status_of, token};
use fightwatch_broadcaster::{Auth, Role, ServerConfig, app};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower::ServiceExt;

#[tokio::test]
async fn refusals_happen_before_the_upgrade() {
    let s = server().await;
    assert_eq!(status_of(connect(s.addr, "").await.err().unwrap()), 401);
    let forged = Auth::new(b"some other secret, 32 bytes long")
        .unwrap()
        .sign(&Auth::claims("x", Role::Admin, 60, None, "s".into()))
        .unwrap();
    assert_eq!(
        status_of(
            connect(s.addr, &format!("token={forged}"))
                .await
                .err()
                .unwrap()
        ),
        401
    );
    // Expired an hour ago (signed with the right secret).
    let claims = fightwatch_broadcaster::Claims {
        sub: "old".into(),
        role: Role::Viewer,
        exp: 1_000,
        cameras: None,
        jti: "old-session".into(),
        iat: 900,
    };
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(
        status_of(
            connect(s.addr, &format!("token={expired}"))
                .await
                .err()
                .unwrap()
        ),
        401
    );
    // Cross-site WebSocket hijacking: a browser page on another origin.
    let mut req = format!("ws://{}/ws?token={}", s.addr, token(&s.hub, Role::Viewer))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(
        status_of(tokio_tungstenite::connect_async(req).await.err().unwrap()),
        403
    );
    let mut req = format!("ws://{}/ws?token={}", s.addr, token(&s.hub, Role::Viewer))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "http://console.test".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
}

#[tokio::test]
async fn login_sets_a_cookie_that_opens_the_websocket() {
    let s = server().await;
    fightwatch_broadcaster::users::add_user(
        s.hub.store().as_ref(),
        "ops",
        Role::Operator,
        "correct horse",
        None,
    )
    .unwrap();
    let router = app(s.hub.clone());
    let login = |body: &'static str| {
        Request::post("/api/login")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let r = router
        .clone()
        .oneshot(login(r#"{"user":"ops","password":"wrong password"}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = router
        .clone()
        .oneshot(login(r#"{"user":"ops"}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = router
        .oneshot(login(r#"{"user":"ops","password":"correct horse"}"#))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["role"], "operator");
    let mut req = format!("ws://{}/ws", s.addr).into_client_request().unwrap();
    req.headers_mut()
        .insert("cookie", cookie.split(';').next().unwrap().parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next(&mut ws).await["user"], "ops");

    // The console learns who is logged in from the cookie it cannot read itself.
    let cookie = cookie.split(';').next().unwrap().to_string();
    let get = |path: &str, cookie: Option<&str>| {
        let mut r = Request::get(path);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.body(Body::empty()).unwrap()
    };
    let router = app(s.hub.clone());
    let r = router
        .clone()
        .oneshot(get("/api/me", Some(&cookie)))
        .await
        .unwrap();
    let me: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        (me["user"].as_str(), me["role"].as_str()),
        (Some("ops"), Some("operator"))
    );
    let r = router.clone().oneshot(get("/api/me", None)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = router
        .clone()
        .oneshot(get("/api/users", Some(&cookie)))
        .await
        .unwrap();
    let users: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        users,
        serde_json::json!([{"name": "ops", "role": "operator"}])
    );
    let r = router
        .oneshot(
            Request::post("/api/logout")
                .header("cookie", &cookie)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("fightwatch_token=;") && cleared.contains("Max-Age=0"));
}

#[tokio::test]
async fn connections_per_ip_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        max_connections_per_ip: 3,
        ..ServerConfig::default()
    };
    let hub = common::hub_at(&dir.path().join("db"), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let q = format!("token={}", token(&hub, Role::Viewer));
    tokio::spawn(fightwatch_broadcaster::serve(
        listener,
        hub,
        std::future::pending(),
    ));
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(addr, &q).await.unwrap();
        next(&mut ws).await;
        open.push(ws);
    }
    assert_eq!(status_of(connect(addr, &q).await.err().unwrap()), 429);
    drop(open.pop()); // a slot frees when the server sees the connection end
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while connect(addr, &q).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn malformed_and_random_frames_leave_the_server_and_other_clients_fine() {
    let s = server().await;
    let mut bystander = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    next(&mut bystander).await;
    // The bystander keeps reading (and so answering pings) on its own task.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = bystander.next().await {
            if let Message::Text(t) = msg {
                let _ = seen_tx.send(serde_json::from_str::<serde_json::Value>(&t).unwrap());
            }
        }
    });
    let mut fuzzer = connect(s.addr, &format!("token={}", token(&s.hub, Role::Operator)))
        .await
        .unwrap();
    next(&mut fuzzer).await;
    for bad in [
        r#"{"type":"nope"}"#,
        "{",
        r#"{"type":"resume","after_seq":"x"}"#,
        r#"{"type":"join_room","room":"a b"}"#,
    ] {
        fuzzer.send(Message::Text(bad.into())).await.unwrap();
        let e = next(&mut fuzzer).await;
        assert_eq!(e["type"], "error", "{bad}");
    }
    // A bounded fuzz run: 2,000 random frames as fast as they go. Past the rate limit they are
    // answered with rate_limited errors; none may take the server down.
    let mut rng = 0x1234_5678_u64;
    let mut codes = std::collections::HashMap::<String, usize>::new();
    for i in 0..2000u32 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let len = (rng % 64) as usize;
        let alphabet = b" {}[]\":,typejoin_roomack_alert0123";
        let text: String = (0..len)
            .map(|k| char::from(alphabet[((rng >> (k % 50)) % alphabet.len() as u64) as usize]))
            .collect();
        fuzzer
            .send(Message::Text(text.into()))
            .await
            .unwrap_or_else(|e| panic!("server dropped the fuzzer after {i} frames: {e}"));
        while let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(0), fuzzer.next()).await
        {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            *codes
                .entry(v["code"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
    }
    println!("fuzz replies by code: {codes:?}");
    assert!(codes.contains_key("rate_limited"), "{codes:?}");
    // An oversized frame (64 KiB limit) ends that connection only.
    let _ = fuzzer.send(Message::Text("x".repeat(100_000).into())).await;
    s.hub.raise_alert(alert("lobby"), None).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["type"], "fight_alert");
    assert!(
        connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
            .await
            .is_ok()
    );
}

/// Audit round two, finding 13: at the HTTP connection cap, accepting pauses and the next
/// connection waits in the kernel's backlog until a place frees; it is not closed.
#[tokio::test]
async fn at_the_http_connection_cap_new_connections_wait_and_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        max_http_connections: 4,
        ..ServerConfig::default()
    };
    let hub = common::hub_at(&dir.path().join("db"), config);
    let listener = fightwatch_broadcaster::listen("127.0.0.1:0".parse().unwrap(), 64).unwrap();
    let addr = listener.local_addr().unwrap();
    let q = format!("token={}", token(&hub, Role::Viewer));
    tokio::spawn(fightwatch_broadcaster::serve(
        listener,
        hub,
        std::future::pending(),
    ));
    // Four connections that send nothing hold every place for a second.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let waiting = tokio::spawn(async move {
        let mut ws = connect(addr, &q).await?;
        next(&mut ws).await;
        Ok::<_, tokio_tungstenite::tungstenite::Error>(ws)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "served while every place was taken");
    drop(idle);
    let ws = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once places freed")
        .unwrap();
    assert!(ws.is_ok(), "refused: {:?}", ws.err());
    assert!(started.elapsed() >= Duration::from_secs(1));
}
