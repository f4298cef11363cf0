//! What operators and detectors do: external detections, acknowledgement, chat rooms and
//! private messages with their history.
//!
//! Real servers on 127.0.0.1 with a SQLite store in a temp dir (tests/common); the audit's
//! attacks are in security.rs.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{alert, barrier, connect, next, server, token};
use fightwatch_broadcaster::{Role, ServerConfig, app};
use futures_util::SinkExt;
use http_body_util::BodyExt;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

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
async fn chat_rooms_private_messages_and_history_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    {
        let hub = common::hub_at(&db, ServerConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(hub.clone());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        // Private messages go to users that exist.
        for (name, role) in [("alice", Role::Operator), ("bob", Role::Viewer)] {
            fightwatch_broadcaster::users::add_user(
                hub.store().as_ref(),
                name,
                role,
                "long password",
                None,
            )
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
    let hub = common::hub_at(&db, ServerConfig::default());
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

/// An alert's workflow over WebSocket and REST: take, assign (only to an operator who may see
/// the camera), resolve with an outcome (a false alarm needs a reason), a resolved alert is
/// closed; viewers and other cameras' operators are refused; a dashboard that resumes from the
/// start gets every workflow event.
#[tokio::test]
async fn take_assign_resolve_with_permissions_and_resume() {
    use common::http;
    let s = server().await;
    let store = s.hub.store().clone();
    let password = "a long enough password";
    fightwatch_broadcaster::users::add_user(store.as_ref(), "lead", Role::Operator, password, None)
        .unwrap();
    fightwatch_broadcaster::users::add_user(
        store.as_ref(),
        "gate-op",
        Role::Operator,
        password,
        Some(vec!["gate".into()]),
    )
    .unwrap();
    let operator = token(&s.hub, Role::Operator);
    let viewer_token = token(&s.hub, Role::Viewer);
    let gate_op = s
        .hub
        .issue_token("gate-op", Role::Operator, 3600, Some(vec!["gate".into()]))
        .unwrap();
    let mut viewer = connect(s.addr, &format!("token={viewer_token}"))
        .await
        .unwrap();
    let mut ops = connect(s.addr, &format!("token={operator}")).await.unwrap();
    next(&mut viewer).await;
    next(&mut ops).await;
    let a = s.hub.raise_alert(alert("gate"), None).await.unwrap();
    let b = s.hub.raise_alert(alert("lobby"), None).await.unwrap();
    for ws in [&mut viewer, &mut ops] {
        next(ws).await;
        next(ws).await;
    }
    let post = |tok: &str, path: String, body: &'static str| {
        let (tok, addr) = (tok.to_string(), s.addr);
        async move {
            http(
                addr,
                "POST",
                &path,
                &[
                    ("Authorization", &format!("Bearer {tok}")),
                    ("Content-Type", "application/json"),
                ],
                body,
            )
            .await
        }
    };

    // Viewers may not take part.
    viewer
        .send(Message::Text(
            format!(r#"{{"type":"take_alert","id":"{}"}}"#, a.id).into(),
        ))
        .await
        .unwrap();
    assert_eq!(next(&mut viewer).await["code"], "forbidden");
    let r = post(
        &viewer_token,
        format!("/api/alerts/{}/resolve", a.id),
        r#"{"outcome":"test"}"#,
    )
    .await;
    assert_eq!(r.status, 403);

    // Take over WebSocket: everyone sees the assignee.
    ops.send(Message::Text(
        format!(r#"{{"type":"take_alert","id":"{}"}}"#, a.id).into(),
    ))
    .await
    .unwrap();
    let u = next(&mut viewer).await;
    assert_eq!(
        (u["type"].as_str(), u["assignee"].as_str()),
        (Some("alert_update"), Some("operator-user"))
    );
    // Assign over REST: to an operator who may see the camera, not to anyone else.
    let r = post(
        &operator,
        format!("/api/alerts/{}/assign", a.id),
        r#"{"to":"gate-op"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.json()["assignee"].as_str()),
        (200, Some("gate-op")),
        "{}",
        r.body
    );
    assert_eq!(next(&mut viewer).await["assignee"], "gate-op");
    let r = post(
        &operator,
        format!("/api/alerts/{}/assign", b.id),
        r#"{"to":"gate-op"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "gate-op may not see the lobby: {}", r.body);
    let r = post(
        &operator,
        format!("/api/alerts/{}/assign", a.id),
        r#"{"to":"nobody"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    // A camera-restricted operator cannot touch another camera's alert (nor learn it exists).
    let r = post(
        &gate_op,
        format!("/api/alerts/{}/resolve", b.id),
        r#"{"outcome":"test"}"#,
    )
    .await;
    assert_eq!(r.status, 404);

    // Resolve: a false alarm needs a reason; then the alert is closed.
    let r = post(
        &gate_op,
        format!("/api/alerts/{}/resolve", a.id),
        r#"{"outcome":"false_alarm"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        &gate_op,
        format!("/api/alerts/{}/resolve", a.id),
        r#"{"outcome":"false_alarm","reason":"dancing","note":"a dance class"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let u = next(&mut viewer).await;
    assert_eq!(
        (
            u["status"].as_str(),
            u["outcome"].as_str(),
            u["reason"].as_str(),
            u["resolved_by"].as_str(),
            u["acked_by"].as_str()
        ),
        (
            Some("resolved"),
            Some("false_alarm"),
            Some("dancing"),
            Some("gate-op"),
            Some("gate-op")
        )
    );
    let r = post(
        &operator,
        format!("/api/alerts/{}/resolve", a.id),
        r#"{"outcome":"confirmed"}"#,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    ops.send(Message::Text(
        format!(r#"{{"type":"ack_alert","id":"{}"}}"#, a.id).into(),
    ))
    .await
    .unwrap();
    loop {
        let m = next(&mut ops).await;
        if m["type"] == "error" {
            assert_eq!(m["code"], "conflict");
            break;
        }
    }
    // The history filter finds it; a resume from 0 replays every workflow event in order.
    let r = http(
        s.addr,
        "GET",
        "/api/alerts?status=resolved",
        &[("Authorization", &format!("Bearer {viewer_token}"))],
        "",
    )
    .await;
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    let mut late = connect(s.addr, &format!("token={viewer_token}&after_seq=0"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let m = next(&mut late).await;
        if m["type"] == "alert_update" && m["id"] == a.id.as_str() {
            seen.push((
                m["assignee"].as_str().map(String::from),
                m["status"].as_str().map(String::from),
            ));
            if m["status"] == "resolved" {
                break;
            }
        }
    }
    assert_eq!(
        seen,
        [
            (Some("operator-user".into()), Some("active".into())),
            (Some("gate-op".into()), Some("active".into())),
            (Some("gate-op".into()), Some("resolved".into())),
        ]
    );
}

#[tokio::test]
async fn a_grouped_detections_snapshot_is_served_with_the_alerts_permissions() {
    let s = server().await;
    s.hub
        .alerts()
        .set_group_window(Some(Duration::from_secs(120)));
    let router = app(s.hub.clone());
    let call = |method: &str, path: String, tok: String, body: &'static str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {tok}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let jpeg = r#"{"camera":"gate","score":0.9,"snapshot_jpeg":"/9j/4AAQSkZJRg=="}"#;
    let detect = || {
        router.clone().oneshot(call(
            "POST",
            "/api/detections".into(),
            token(&s.hub, Role::Detector),
            jpeg,
        ))
    };
    assert_eq!(detect().await.unwrap().status(), StatusCode::CREATED);
    let again = detect().await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "grouped into the open alert"
    );
    let update: serde_json::Value =
        serde_json::from_slice(&again.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(update["count"], 2);
    let url = update["detection_snapshot_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(url, "/api/alerts/a1/detections/2.jpg");
    let get = |path: String, tok: String| call("GET", path, tok, "");
    let r = router
        .clone()
        .oneshot(get(url.clone(), token(&s.hub, Role::Viewer)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    // A user who may not see the camera gets what a missing alert gets; no detection 1 or 3.
    let restricted = s
        .hub
        .issue_token("guard", Role::Viewer, 3600, Some(vec!["lobby".into()]))
        .unwrap();
    for (path, tok) in [
        (url.clone(), restricted),
        (
            "/api/alerts/a1/detections/1.jpg".into(),
            token(&s.hub, Role::Viewer),
        ),
        (
            "/api/alerts/a1/detections/3.jpg".into(),
            token(&s.hub, Role::Viewer),
        ),
        (
            "/api/alerts/a1/detections/..%2F..%2Fdb.jpg".into(),
            token(&s.hub, Role::Viewer),
        ),
    ] {
        let r = router
            .clone()
            .oneshot(get(path.clone(), tok))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
