//! `/socket.io/` against a real server, spoken frame by frame (Engine.IO 4 / Socket.IO 5 over
//! a WebSocket from the start: fightwatch's own transport): the limits and counters it shares
//! with `/ws`, and how it ends a connection. The real clients (npm socket.io-client, PyPI
//! python-socketio), on both transports, are run by web/e2e/socketio.test.mjs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Ws, connect, http, next, server_with, status_of, token};
use fightwatch_broadcaster::Role;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// A Socket.IO client's WebSocket, through Engine.IO's open packet; `auth` is sent in the
/// namespace connect. Returns the socket and the server's answer to the connect (`40{…}`
/// accepted, `44{…}` refused).
async fn sio(addr: std::net::SocketAddr, auth: serde_json::Value) -> (Ws, String) {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = text(&mut ws).await;
    assert!(open.starts_with("0{"), "{open}");
    ws.send(Message::text(format!("40{auth}"))).await.unwrap();
    let answer = text(&mut ws).await;
    (ws, answer)
}

/// The next Engine.IO packet that is not a ping (pings are answered).
async fn text(ws: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a packet in time")
            .unwrap()
            .unwrap();
        match msg {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).await.unwrap(),
            Message::Text(t) => return t.to_string(),
            _ => {}
        }
    }
}

/// The next Socket.IO event: its name and body.
async fn event(ws: &mut Ws) -> (String, serde_json::Value) {
    loop {
        let packet = text(ws).await;
        if let Some(json) = packet.strip_prefix("42") {
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            return (v[0].as_str().unwrap().to_string(), v[1].clone());
        }
    }
}

#[tokio::test]
async fn tokens_are_checked_at_the_namespace_connect() {
    let s = server_with(|_| {}).await;
    let (_, refused) = sio(s.addr, serde_json::json!({ "token": "forged" })).await;
    assert!(
        refused.starts_with("44") && refused.contains("invalid token"),
        "{refused}"
    );
    let (_, refused) = sio(s.addr, serde_json::json!({})).await;
    assert!(refused.contains("no token"), "{refused}");
    let (mut ws, accepted) = sio(
        s.addr,
        serde_json::json!({ "token": token(&s.hub, Role::Viewer) }),
    )
    .await;
    assert!(accepted.starts_with("40{"), "{accepted}");
    let (name, welcome) = event(&mut ws).await;
    assert_eq!(name, "welcome_message");
    assert_eq!(welcome["type"], "welcome_message");
    assert_eq!(welcome["role"], "viewer");
}

#[tokio::test]
async fn socketio_and_websocket_connections_share_the_per_address_cap() {
    let s = server_with(|c| c.max_connections_per_ip = 2).await;
    let q = format!("token={}", token(&s.hub, Role::Viewer));
    let mut a = connect(s.addr, &q).await.unwrap();
    next(&mut a).await;
    let auth = serde_json::json!({ "token": token(&s.hub, Role::Viewer) });
    let (mut b, accepted) = sio(s.addr, auth.clone()).await;
    assert!(accepted.starts_with("40{"), "{accepted}");
    event(&mut b).await;
    // Two open (one of each): a third of either kind is refused.
    let (_, refused) = sio(s.addr, auth).await;
    assert!(
        refused.starts_with("44") && refused.contains("too many connections from this address"),
        "{refused}"
    );
    assert_eq!(status_of(connect(s.addr, &q).await.err().unwrap()), 429);
}

#[tokio::test]
async fn new_engine_io_sessions_are_rate_limited_per_address() {
    // Sessions exist before any token: a client may open at most the per-address cap of them
    // per 10 s (3 at once here, then one more each 3.3 s), signed in or not.
    let s = server_with(|c| c.max_connections_per_ip = 3).await;
    let path = "/socket.io/?EIO=4&transport=polling";
    let start = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(http(s.addr, "GET", path, &[], "").await.status);
    }
    // However slow this machine is, only the refills of the time taken may add to the three.
    let refills = (start.elapsed().as_secs_f64() / (10.0 / 3.0)).ceil() as usize;
    let opened = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(
        opened <= 3 + refills,
        "{statuses:?} in {:?}",
        start.elapsed()
    );
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_message_rate_is_the_users_on_both_endpoints() {
    let s = server_with(|c| c.max_connections_per_ip = 16).await;
    let t = token(&s.hub, Role::Operator);
    let (mut ws, _) = sio(s.addr, serde_json::json!({ "token": t })).await;
    event(&mut ws).await;
    // Leaving a room is the cheapest message; each is counted. Past the burst: rate_limited.
    let mut limited = false;
    for _ in 0..200 {
        ws.send(Message::text(r#"42["leave_room","ops"]"#))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !limited && tokio::time::Instant::now() < deadline {
        let (name, body) = event(&mut ws).await;
        limited = name == "error" && body["code"] == "rate_limited";
    }
    assert!(limited, "200 messages at once are over the per-user rate");
    // The same user on /ws is limited too: the counter is the user's, not the connection's.
    // 20 messages are half a fresh connection's burst; the user's emptied bucket refills one
    // per 50 ms, so unless this takes a second, some of them are refused.
    let mut plain = connect(s.addr, &format!("token={t}")).await.unwrap();
    next(&mut plain).await;
    for _ in 0..20 {
        common::send(
            &mut plain,
            serde_json::json!({"type": "leave_room", "room": "ops"}),
        )
        .await;
    }
    assert_eq!(next(&mut plain).await["code"], "rate_limited");
}

#[tokio::test]
async fn bad_packets_get_answers_not_a_crash() {
    let s = server_with(|_| {}).await;
    let (mut ws, _) = sio(
        s.addr,
        serde_json::json!({ "token": token(&s.hub, Role::Viewer) }),
    )
    .await;
    event(&mut ws).await;
    // An unknown event, a body of the wrong shape, a bad room, and a `type` smuggled into a
    // body (the event name wins: it is a post to a room not joined), each with an ack id.
    for (packet, code) in [
        (r#"421["no_such_event",{}]"#, "bad_message"),
        (r#"422["send_message",[1,2]]"#, "bad_message"),
        (r#"423["join_room",{"room":"a b"}]"#, "bad_room"),
        (
            r#"424["send_message",{"type":"fight_detected","room":"ops","text":"x"}]"#,
            "bad_room",
        ),
    ] {
        ws.send(Message::text(packet)).await.unwrap();
        let answer = loop {
            let p = text(&mut ws).await;
            if p.starts_with("43") {
                break p;
            }
        };
        let id = &packet[2..3];
        let body: serde_json::Value =
            serde_json::from_str(answer.strip_prefix(&format!("43{id}")).unwrap()).unwrap();
        assert_eq!(body[0]["ok"], false, "{packet}");
        assert_eq!(body[0]["code"], code, "{packet}");
    }
    // Garbage Socket.IO framing: the server closes that connection, and serves the next one.
    ws.send(Message::text("4zzz")).await.unwrap();
    let (_, again) = sio(
        s.addr,
        serde_json::json!({ "token": token(&s.hub, Role::Viewer) }),
    )
    .await;
    assert!(again.starts_with("40{"), "{again}");
}

#[tokio::test]
async fn binary_attachments_are_refused() {
    let s = server_with(|_| {}).await;
    let auth = serde_json::json!({ "token": token(&s.hub, Role::Viewer) });
    let (mut ws, _) = sio(s.addr, auth.clone()).await;
    event(&mut ws).await;
    // An event announcing 1,000 binary attachments (no client event has any): the connection
    // is closed instead of buffering them.
    let placeholders: Vec<_> = (0..1000)
        .map(|n| serde_json::json!({"_placeholder": true, "num": n}))
        .collect();
    let packet = format!(
        "451000-{}",
        serde_json::json!(["fight_detected", placeholders])
    );
    ws.send(Message::text(packet)).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection stays open");
    let (_, again) = sio(s.addr, auth).await;
    assert!(again.starts_with("40{"), "{again}");
}

/// What a Socket.IO client gets when the server ends its connection: the `error` event's code
/// and message, then Socket.IO's disconnect (`41`), then the close. Events before them are
/// collected; `None` if the connection was never ended in `wait`.
async fn until_left(
    ws: &mut Ws,
    wait: Duration,
    mut seen: impl FnMut(&serde_json::Value),
) -> Option<(String, String)> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut error = None;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(msg))) => msg,
            Ok(_) => return error,
            Err(_) => return None,
        };
        let Message::Text(text) = msg else {
            continue;
        };
        if text.as_str() == "41" {
            assert!(error.is_some(), "a disconnect without a reason");
            return error;
        }
        if let Some(json) = text.as_str().strip_prefix("42") {
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            if v[0] == "error" {
                error = Some((
                    v[1]["code"].as_str().unwrap().to_string(),
                    v[1]["message"].as_str().unwrap().to_string(),
                ));
            } else {
                seen(&v[1]);
            }
        }
    }
}

#[tokio::test]
async fn a_socketio_connection_leaves_with_the_reason_when_its_token_expires() {
    let s = server_with(|_| {}).await;
    let t = s.hub.issue_token("brief", Role::Viewer, 2, None).unwrap();
    let (mut ws, accepted) = sio(s.addr, serde_json::json!({ "token": t })).await;
    assert!(accepted.starts_with("40{"), "{accepted}");
    let (code, message) = until_left(&mut ws, Duration::from_secs(10), |_| {})
        .await
        .expect("the connection ended when its token did");
    assert_eq!(code, "token_expired", "{message}");
}

#[tokio::test]
async fn a_stalled_socketio_client_is_cut_and_resumes_from_its_last_seq() {
    let s = server_with(|c| c.max_resume_events = 100_000).await;
    let t = token(&s.hub, Role::Viewer);
    let (mut stalled, _) = sio(s.addr, serde_json::json!({ "token": t })).await;
    event(&mut stalled).await; // welcome, then it does not read
    // 20,000 alerts (~22 MB of JSON): more than the socket's buffers and the queue hold.
    let big = fightwatch_store::NewAlert {
        label: "x".repeat(1000),
        ..common::alert("lobby")
    };
    for i in 0..20_000 {
        s.hub.raise_alert(big.clone(), None).await.unwrap();
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // It reads again: a prefix of the events, then the reason it was cut and how to resume.
    let mut last = 0;
    let (code, message) = until_left(&mut stalled, Duration::from_secs(30), |body| {
        if let Some(seq) = body["seq"].as_u64() {
            assert_eq!(seq, last + 1, "events out of order or missing");
            last = seq;
        }
    })
    .await
    .expect("the stalled client was cut");
    assert_eq!(code, "lagging");
    assert!(
        message.ends_with(&format!("after_seq {last}")),
        "{message} (last seq seen {last})"
    );
    assert!(last < 20_000);
    let (mut resumed, _) = sio(s.addr, serde_json::json!({ "token": t, "after_seq": last })).await;
    assert_eq!(event(&mut resumed).await.0, "welcome_message");
    for want in last + 1..=last + 10 {
        let (name, body) = event(&mut resumed).await;
        assert_eq!(name, "fight_alert");
        assert_eq!(body["seq"].as_u64(), Some(want));
    }
}
