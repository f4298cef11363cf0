//! The server with real WebSocket clients (tokio-tungstenite) on a port of 127.0.0.1, a real
//! SQLite store in a temp dir, and REST routes through `oneshot` (the audit's attacks, over
//! real TCP, are in security.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{SECRET, alert, barrier, connect, next, server, token};
use fightwatch_broadcaster::{Auth, Hub, Role, ServerConfig, app};
use fightwatch_store::{NewAlert, Store};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower::ServiceExt;

fn status_of(err: tokio_tungstenite::tungstenite::Error) -> u16 {
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

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
async fn alerts_reach_dashboards_after_they_are_stored_and_rest_serves_them() {
    let s = server().await;
    let mut ws = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    let welcome = next(&mut ws).await;
    assert_eq!(
        (
            welcome["type"].as_str(),
            welcome["role"].as_str(),
            welcome["last_seq"].as_u64()
        ),
        (Some("welcome_message"), Some("viewer"), Some(0))
    );
    let jpeg = Arc::new(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
    let raised = s
        .hub
        .raise_alert(alert("lobby"), Some(jpeg.clone()))
        .await
        .unwrap();
    let got = next(&mut ws).await;
    assert_eq!(
        (
            got["type"].as_str(),
            got["seq"].as_u64(),
            got["camera"].as_str()
        ),
        (Some("fight_alert"), Some(1), Some("lobby"))
    );
    // Persisted before it was broadcast.
    assert!(s.hub.store().alert(&raised.id).unwrap().is_some());

    let router = app(s.hub.clone());
    let get = |uri: String| {
        Request::get(uri)
            .header(
                "authorization",
                format!("Bearer {}", token(&s.hub, Role::Viewer)),
            )
            .body(Body::empty())
            .unwrap()
    };
    let resp = router
        .clone()
        .oneshot(get("/api/alerts?camera=lobby".into()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let list: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(list[0]["id"], raised.id.as_str());
    let url = got["snapshot_url"].as_str().unwrap().to_string();
    let resp = router.clone().oneshot(get(url)).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .as_ref(),
        jpeg.as_slice()
    );
    let resp = router
        .clone()
        .oneshot(Request::get("/api/alerts").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    for (uri, want) in [
        ("/api/alerts?status=bogus", StatusCode::BAD_REQUEST),
        ("/api/alerts?until=yesterday", StatusCode::BAD_REQUEST),
        ("/api/alerts/a999/events", StatusCode::NOT_FOUND),
    ] {
        let resp = router.clone().oneshot(get(uri.into())).await.unwrap();
        assert_eq!(resp.status(), want, "{uri}");
    }
    // Detectors report alerts; they may not read alerts, people or chat.
    for uri in ["/api/alerts", "/api/users", "/api/rooms/chat:hq/messages"] {
        let resp = router
            .clone()
            .oneshot(
                Request::get(uri)
                    .header(
                        "authorization",
                        format!("Bearer {}", token(&s.hub, Role::Detector)),
                    )
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{uri}");
    }
}

#[tokio::test]
async fn detectors_raise_alerts_like_the_pipeline_and_see_nothing() {
    let s = server().await;
    let mut viewer = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    next(&mut viewer).await;
    let mut detector = connect(s.addr, &format!("token={}", token(&s.hub, Role::Detector)))
        .await
        .unwrap();
    assert_eq!(next(&mut detector).await["role"], "detector");
    let jpeg = "/9j/4AAQSkZJRg=="; // base64 of a JPEG header
    detector
        .send(Message::Text(format!(r#"{{"type":"fight_detected","camera":"yard","score":0.97,"snapshot_jpeg":"{jpeg}"}}"#).into()))
        .await
        .unwrap();
    let a = next(&mut viewer).await;
    assert_eq!(
        (
            a["type"].as_str(),
            a["camera"].as_str(),
            a["source"].as_str()
        ),
        (Some("fight_alert"), Some("yard"), Some("detector-user"))
    );
    assert!(a["snapshot_url"].is_string());
    // The detector is sent no alerts (ingest only), only errors for bad input.
    detector
        .send(Message::Text(
            r#"{"type":"fight_detected","camera":"yard","score":7}"#.into(),
        ))
        .await
        .unwrap();
    let e = next(&mut detector).await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("bad_detection"))
    );
    // Viewers may not report; the REST route checks the body.
    viewer
        .send(Message::Text(
            r#"{"type":"fight_detected","camera":"yard","score":0.5}"#.into(),
        ))
        .await
        .unwrap();
    assert_eq!(next(&mut viewer).await["code"], "forbidden");
    let router = app(s.hub.clone());
    let post = |tok: String, body: &'static str| {
        Request::post("/api/detections")
            .header("authorization", format!("Bearer {tok}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let r = router
        .clone()
        .oneshot(post(
            token(&s.hub, Role::Detector),
            r#"{"camera":"gate","score":0.9}"#,
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = router
        .clone()
        .oneshot(post(
            token(&s.hub, Role::Detector),
            r#"{"camera":"gate","score":0.9,"extra":1}"#,
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = router
        .oneshot(post(
            token(&s.hub, Role::Viewer),
            r#"{"camera":"gate","score":0.9}"#,
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(next(&mut viewer).await["camera"], "gate");
}

#[tokio::test]
async fn chat_rooms_private_messages_and_history_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let hub = Hub::new(
            Arc::new(Store::open(&db).unwrap()),
            Auth::new(SECRET).unwrap(),
            ServerConfig::new(dir.path()),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(hub.clone());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        // Private messages go to users that exist.
        for (name, role) in [("alice", Role::Operator), ("bob", Role::Viewer)] {
            fightwatch_broadcaster::users::add_user(hub.store(), name, role, "long password", None)
                .unwrap();
        }
        let alice = hub.issue_token("alice", Role::Operator, 600, None).unwrap();
        let bob = hub.issue_token("bob", Role::Viewer, 600, None).unwrap();
        let mut a = connect(addr, &format!("token={alice}")).await.unwrap();
        let mut b = connect(addr, &format!("token={bob}")).await.unwrap();
        next(&mut a).await;
        next(&mut b).await;
        a.send(Message::Text(
            r#"{"type":"send_message","room":"site:hq","text":"hi"}"#.into(),
        ))
        .await
        .unwrap();
        assert_eq!(next(&mut a).await["code"], "bad_room"); // not joined
        for ws in [&mut a, &mut b] {
            ws.send(Message::Text(
                r#"{"type":"join_room","room":"site:hq"}"#.into(),
            ))
            .await
            .unwrap();
            barrier(ws).await;
        }
        a.send(Message::Text(
            r#"{"type":"send_message","room":"site:hq","text":"guard to gate 2"}"#.into(),
        ))
        .await
        .unwrap();
        let m = next(&mut b).await;
        assert_eq!(
            (m["type"].as_str(), m["from"].as_str(), m["text"].as_str()),
            (
                Some("receive_message"),
                Some("alice"),
                Some("guard to gate 2")
            )
        );
        next(&mut a).await;
        b.send(Message::Text(
            r#"{"type":"private_message","to":"alice","text":"copy"}"#.into(),
        ))
        .await
        .unwrap();
        let dm = next(&mut a).await;
        assert_eq!(
            (dm["room"].as_str(), dm["text"].as_str()),
            (Some("dm:alice:bob"), Some("copy"))
        );
        // A third person cannot listen in by joining the conversation's room.
        let carol = hub.issue_token("carol", Role::Admin, 600, None).unwrap();
        let mut c = connect(addr, &format!("token={carol}")).await.unwrap();
        next(&mut c).await;
        c.send(Message::Text(
            r#"{"type":"join_room","room":"dm:alice:bob"}"#.into(),
        ))
        .await
        .unwrap();
        assert_eq!(next(&mut c).await["code"], "forbidden");
        b.send(Message::Text(
            r#"{"type":"private_message","to":"alice","text":"secret"}"#.into(),
        ))
        .await
        .unwrap();
        assert_eq!(next(&mut a).await["text"], "secret");
        let leaked = tokio::time::timeout(Duration::from_millis(300), next(&mut c)).await;
        assert!(
            leaked.is_err(),
            "carol must not receive alice and bob's messages: {leaked:?}"
        );
        server.abort();
    }
    // A new server on the same database still has the history.
    let hub = Hub::new(
        Arc::new(Store::open(&db).unwrap()),
        Auth::new(SECRET).unwrap(),
        ServerConfig::new(dir.path()),
    );
    let router = app(hub.clone());
    let get = |room: &str, who: &str, role: Role| {
        Request::get(format!("/api/rooms/{room}/messages"))
            .header(
                "authorization",
                format!("Bearer {}", hub.issue_token(who, role, 60, None).unwrap()),
            )
            .body(Body::empty())
            .unwrap()
    };
    let r = router
        .clone()
        .oneshot(get("site:hq", "carol", Role::Viewer))
        .await
        .unwrap();
    let list: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(list[0]["text"], "guard to gate 2");
    let r = router
        .clone()
        .oneshot(get("dm:alice:bob", "carol", Role::Viewer))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = router
        .oneshot(get("dm:alice:bob", "bob", Role::Viewer))
        .await
        .unwrap();
    let list: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(list[0]["text"], "copy");
}

#[tokio::test]
async fn ack_from_one_client_reaches_another_and_viewers_may_not_ack() {
    let s = server().await;
    let mut viewer = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    let mut operator = connect(s.addr, &format!("token={}", token(&s.hub, Role::Operator)))
        .await
        .unwrap();
    next(&mut viewer).await;
    next(&mut operator).await;
    let a = s.hub.raise_alert(alert("gate"), None).await.unwrap();
    next(&mut viewer).await;
    next(&mut operator).await;
    viewer
        .send(Message::Text(
            format!(r#"{{"type":"ack_alert","id":"{}"}}"#, a.id).into(),
        ))
        .await
        .unwrap();
    let refused = next(&mut viewer).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    operator
        .send(Message::Text(
            format!(
                r#"{{"type":"ack_alert","id":"{}","note":"guard sent"}}"#,
                a.id
            )
            .into(),
        ))
        .await
        .unwrap();
    let update = next(&mut viewer).await;
    assert_eq!(update["type"], "alert_update");
    assert_eq!(
        (
            update["status"].as_str(),
            update["acked_by"].as_str(),
            update["note"].as_str()
        ),
        (
            Some("acknowledged"),
            Some("operator-user"),
            Some("guard sent")
        )
    );
    // The alert's timeline: raised, then acknowledged, each with the time it was stored.
    let r = app(s.hub.clone())
        .oneshot(
            Request::get(format!("/api/alerts/{}/events", a.id))
                .header(
                    "authorization",
                    format!("Bearer {}", token(&s.hub, Role::Viewer)),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let timeline: serde_json::Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let kinds: Vec<_> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["at"].as_u64().unwrap() > 1_700_000_000_000);
            e["event"]["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, ["fight_alert", "alert_update"]);
    assert_eq!(timeline[1]["event"]["status"], "acknowledged");
}

#[tokio::test]
async fn resume_during_a_burst_loses_and_duplicates_nothing() {
    let s = server().await;
    let t = token(&s.hub, Role::Viewer);
    let mut ws = connect(s.addr, &format!("token={t}")).await.unwrap();
    next(&mut ws).await;
    for _ in 0..3 {
        s.hub.raise_alert(alert("lobby"), None).await.unwrap();
    }
    let mut last = 0;
    for _ in 0..3 {
        last = next(&mut ws).await["seq"].as_u64().unwrap();
    }
    drop(ws); // the dashboard goes away …
    // … alerts keep coming while it is gone, and while it reconnects and replays.
    let hub = s.hub.clone();
    let burst = tokio::spawn(async move {
        for i in 0..200 {
            hub.raise_alert(alert(if i % 2 == 0 { "lobby" } else { "gate" }), None)
                .await
                .unwrap();
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut ws = connect(s.addr, &format!("token={t}&after_seq={last}"))
        .await
        .unwrap();
    next(&mut ws).await; // welcome
    burst.await.unwrap();
    let total = 203;
    let mut seqs = Vec::new();
    while seqs.len() < (total - last) as usize {
        seqs.push(next(&mut ws).await["seq"].as_u64().unwrap());
    }
    let want: Vec<u64> = (last + 1..=total).collect();
    assert_eq!(seqs, want, "missed or duplicated events");
    // And nothing more arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ws.next())
            .await
            .is_err()
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_the_others_get_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let mut config = ServerConfig::new(dir.path()); // queue 1024
    config.max_resume_events = 100_000; // the stalled client resumes ~17k events back
    let hub = Hub::new(store, Auth::new(SECRET).unwrap(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(hub.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let t = token(&hub, Role::Viewer);
    let mut stalled = connect(addr, &format!("token={t}")).await.unwrap();
    next(&mut stalled).await; // welcome, then it never reads again
    let mut healthy = connect(addr, &format!("token={t}")).await.unwrap();
    next(&mut healthy).await;
    let t2 = t.clone();
    let reader = tokio::spawn(async move {
        // A well-behaved dashboard: reads everything, and if it is ever cut it resumes.
        let (mut seqs, mut cuts) = (Vec::new(), 0);
        while seqs.len() < 20_000 {
            match tokio::time::timeout(Duration::from_secs(10), healthy.next())
                .await
                .expect("events in time")
            {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    if let Some(seq) = v["seq"].as_u64() {
                        seqs.push(seq);
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    cuts += 1;
                    let after = seqs.last().copied().unwrap_or(0);
                    healthy = connect(addr, &format!("token={t2}&after_seq={after}"))
                        .await
                        .unwrap();
                }
                Some(Ok(_)) => {}
            }
        }
        (seqs, cuts)
    });
    // 20,000 alerts (~22 MB of JSON): more than the stalled socket's buffers and queue hold.
    let big = NewAlert {
        label: "x".repeat(1000),
        ..alert("lobby")
    };
    for i in 0..20_000 {
        hub.raise_alert(big.clone(), None).await.unwrap();
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let (seqs, cuts) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .unwrap()
        .unwrap();
    println!("healthy client: {} events, cut {cuts} times", seqs.len());
    assert_eq!(cuts, 0, "a client that keeps up was cut");
    assert_eq!(
        seqs,
        (1..=20_000).collect::<Vec<u64>>(),
        "the healthy client lost or reordered events"
    );
    // The stalled client was closed for lagging; whatever it got before is a prefix it can resume from.
    let mut last = 0;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(15), stalled.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                last = serde_json::from_str::<serde_json::Value>(&t).unwrap()["seq"]
                    .as_u64()
                    .unwrap_or(last)
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => break None,
            Err(_) => panic!("stalled client was never cut"),
        }
    };
    assert_eq!(
        closed,
        Some(fightwatch_broadcaster::CLOSE_LAGGING),
        "closed with {closed:?}"
    );
    assert!(last < 20_000);
    let mut resumed = connect(addr, &format!("token={t}&after_seq={last}"))
        .await
        .unwrap();
    next(&mut resumed).await;
    for want in last + 1..=last + 10 {
        assert_eq!(next(&mut resumed).await["seq"].as_u64(), Some(want));
    }
}

#[tokio::test]
async fn login_sets_a_cookie_that_opens_the_websocket() {
    let s = server().await;
    fightwatch_broadcaster::users::add_user(
        s.hub.store(),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_reach_clients_in_seq_order_without_loss() {
    // Found by the 10,000-dashboard benchmark: with several publishers, an event could be
    // broadcast after a later one and then be skipped by every connection.
    let s = server().await;
    let mut ws = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    next(&mut ws).await;
    let mut tasks = Vec::new();
    for p in 0..8 {
        let hub = s.hub.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                hub.raise_alert(alert(&format!("cam{p}")), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 400 {
        got.push(next(&mut ws).await["seq"].as_u64().unwrap());
    }
    assert_eq!(got, (1..=400).collect::<Vec<u64>>());
}

#[tokio::test]
async fn connections_per_ip_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.max_connections_per_ip = 3;
    let hub = Hub::new(
        Arc::new(Store::open(&dir.path().join("db")).unwrap()),
        Auth::new(SECRET).unwrap(),
        config,
    );
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
async fn the_console_is_served_when_built() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("dist");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>fightwatch</title>",
    )
    .unwrap();
    std::fs::write(web.join("assets/app.js"), "console.log(1)").unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.static_dir = Some(web);
    let router = app(Hub::new(
        Arc::new(Store::open(&dir.path().join("db")).unwrap()),
        Auth::new(SECRET).unwrap(),
        config,
    ));
    let body = |r: axum::response::Response| async move {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    };
    let r = router
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(body(r).await.contains("<title>fightwatch</title>"));
    let r = router
        .clone()
        .oneshot(Request::get("/assets/app.js").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(body(r).await, "console.log(1)");
    let r = router
        .clone()
        .oneshot(Request::get("/alerts/a1").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(
        body(r).await.contains("fightwatch"),
        "client-side routes get index.html"
    );
    let r = router
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(body(r).await.contains("\"status\":\"ok\""));
}

#[tokio::test]
async fn camera_and_site_rooms_narrow_the_feed_and_chat_rooms_do_not() {
    let s = server().await;
    let earlier = s.hub.raise_alert(alert("yard"), None).await.unwrap();
    let join =
        |room: &str| Message::Text(format!(r#"{{"type":"join_room","room":"{room}"}}"#).into());
    let mut gate_only = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    let mut chatting = connect(s.addr, &format!("token={}", token(&s.hub, Role::Operator)))
        .await
        .unwrap();
    // A user who may only see the yard, connected after the yard's alert was raised.
    let yard_token = s
        .hub
        .issue_token("yard-guard", Role::Operator, 600, Some(vec!["yard".into()]))
        .unwrap();
    let mut yard_only = connect(s.addr, &format!("token={yard_token}"))
        .await
        .unwrap();
    next(&mut yard_only).await;
    next(&mut gate_only).await;
    next(&mut chatting).await;
    gate_only.send(join("camera:gate")).await.unwrap();
    chatting.send(join("chat:hq")).await.unwrap();
    chatting.send(join("chat:all")).await.unwrap();
    barrier(&mut gate_only).await;
    barrier(&mut chatting).await;
    s.hub.raise_alert(alert("lobby"), None).await.unwrap();
    s.hub.raise_alert(alert("gate"), None).await.unwrap();
    s.hub
        .update_alert(&earlier.id, None, Some(5), None)
        .await
        .unwrap();
    let got = next(&mut gate_only).await;
    assert_eq!(
        (got["type"].as_str(), got["camera"].as_str()),
        (Some("fight_alert"), Some("gate"))
    );
    let leaked = tokio::time::timeout(Duration::from_millis(300), next(&mut gate_only)).await;
    assert!(
        leaked.is_err(),
        "camera:gate got more than gate's alert: {leaked:?}"
    );
    // A console that only joined chat rooms still gets the whole feed, including updates of
    // alerts raised before it connected.
    let cameras: Vec<_> = [next(&mut chatting).await, next(&mut chatting).await]
        .iter()
        .map(|m| m["camera"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cameras, ["lobby", "gate"]);
    let update = next(&mut chatting).await;
    assert_eq!(
        (
            update["type"].as_str(),
            update["id"].as_str(),
            update["status"].as_str()
        ),
        (
            Some("alert_update"),
            Some(earlier.id.as_str()),
            Some("ended")
        )
    );
    assert_eq!(
        (update["camera"].as_str(), update["site"].as_str()),
        (Some("yard"), Some("hq"))
    );
    // The yard-only user gets the update of the yard alert from before it connected (updates
    // name their camera), and nothing of lobby or gate.
    let update = next(&mut yard_only).await;
    assert_eq!(
        (update["type"].as_str(), update["id"].as_str()),
        (Some("alert_update"), Some(earlier.id.as_str()))
    );
    let leaked = tokio::time::timeout(Duration::from_millis(300), next(&mut yard_only)).await;
    assert!(leaked.is_err(), "yard-only user got more: {leaked:?}");
}
