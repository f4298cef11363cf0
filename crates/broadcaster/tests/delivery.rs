//! Delivery: alerts reach every dashboard after they are stored, in seq order, narrowed by
//! rooms; a client that resumes or falls behind loses and duplicates nothing.
//!
//! Real servers on 127.0.0.1 with a SQLite store in a temp dir (tests/common); the audit's
//! attacks are in security.rs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{alert, barrier, connect, next, server, token};
use fightwatch_broadcaster::{Role, ServerConfig, app};
use fightwatch_store::NewAlert;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_the_others_get_everything() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        max_resume_events: 100_000, // the stalled client resumes ~17k events back
        ..ServerConfig::default()   // queue 1024
    };
    let hub = common::hub_at(&dir.path().join("db"), config);
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
        .alerts()
        .update(
            &earlier.id,
            fightwatch_store::AlertChange {
                ended_at: Some(5),
                ..Default::default()
            },
        )
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

/// The relay between the bus and the connections may fall behind the bus (a burst larger than
/// the bus buffers); it then reads the missed events from the log, so dashboards still get
/// every one, in order. The burst is made without yielding (one thread runs the test and the
/// server), so the relay cannot keep up: deterministic.
#[tokio::test]
async fn a_relay_that_falls_behind_the_bus_recovers_from_the_log() {
    let s = common::server_over(|_| {}, |db, config| common::hub_with_bus(db, config, 16)).await;
    let mut ws = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    next(&mut ws).await; // welcome
    let alerts = s.hub.alerts();
    for i in 0..100 {
        let created = alerts
            .store()
            .create_alert(&alert(&format!("c{i}")))
            .unwrap();
        alerts
            .bus()
            .publish(fightwatch_protocol::ServerMessage::FightAlert(created));
    }
    let mut seqs = Vec::new();
    while seqs.len() < 100 {
        let msg = next(&mut ws).await;
        assert_eq!(msg["type"], "fight_alert", "{msg}");
        seqs.push(msg["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=100).collect::<Vec<u64>>());
}

/// On a shared bus an event can arrive after a later one (another node published later) or
/// never (its node died after the commit). The relay puts the log's order back: dashboards get
/// 1, 2, 3, 4 from bus arrivals 1, 3, 2, 4 (2 dropped as a repeat) and 5, 7 (6 never published).
#[tokio::test]
async fn the_relay_fills_gaps_from_the_log_and_drops_late_repeats() {
    let s = common::server().await;
    let mut ws = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    next(&mut ws).await; // welcome
    let alerts = s.hub.alerts();
    let created: Vec<_> = (0..7)
        .map(|i| {
            alerts
                .store()
                .create_alert(&alert(&format!("c{i}")))
                .unwrap()
        })
        .collect();
    for i in [0, 2, 1, 3, 4, 6] {
        alerts
            .bus()
            .publish(fightwatch_protocol::ServerMessage::FightAlert(
                created[i].clone(),
            ));
    }
    let mut seqs = Vec::new();
    while seqs.len() < 7 {
        seqs.push(next(&mut ws).await["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=7).collect::<Vec<u64>>());
}

/// The relay's very first event can be ahead of the log's end too (this node's own alert 2
/// before another node's alert 1 arrives): it is checked for a gap like any other.
#[tokio::test]
async fn the_relays_first_event_is_checked_for_a_gap() {
    let s = common::server().await;
    let mut ws = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    next(&mut ws).await; // welcome
    let alerts = s.hub.alerts();
    let first = alerts.store().create_alert(&alert("remote")).unwrap();
    let second = alerts.store().create_alert(&alert("local")).unwrap();
    for a in [second, first] {
        alerts
            .bus()
            .publish(fightwatch_protocol::ServerMessage::FightAlert(a));
    }
    let got = [
        next(&mut ws).await["seq"].as_u64(),
        next(&mut ws).await["seq"].as_u64(),
    ];
    assert_eq!(got, [Some(1), Some(2)]);
}

/// A bus message whose seq the log does not hold (a forged stream entry, audit round two) is
/// dropped: it reaches nobody and hides none of the real events after it.
#[tokio::test]
async fn an_event_beyond_the_logs_end_is_dropped_and_silences_nothing() {
    let s = common::server().await;
    let mut ws = connect(s.addr, &format!("token={}", token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    next(&mut ws).await; // welcome
    let alerts = s.hub.alerts();
    let real = alerts.store().create_alert(&alert("lobby")).unwrap();
    let mut forged = real.clone();
    forged.seq = 1_000_000_000_000_000;
    forged.camera = "forged".into();
    alerts
        .bus()
        .publish(fightwatch_protocol::ServerMessage::FightAlert(forged));
    alerts
        .bus()
        .publish(fightwatch_protocol::ServerMessage::FightAlert(real));
    let later = alerts.store().create_alert(&alert("gate")).unwrap();
    alerts
        .bus()
        .publish(fightwatch_protocol::ServerMessage::FightAlert(later));
    let got: Vec<_> = [next(&mut ws).await, next(&mut ws).await]
        .iter()
        .map(|m| (m["seq"].as_u64(), m["camera"].as_str().map(str::to_string)))
        .collect();
    assert_eq!(
        got,
        [
            (Some(1), Some("lobby".into())),
            (Some(2), Some("gate".into()))
        ]
    );
}
