//! End-to-end Web Push with the real binary and a local push endpoint standing in for a push
//! service: browsers subscribe over REST, alerts are pushed encrypted (RFC 8291) and VAPID-signed
//! (RFC 8292) to the browsers whose user may see the camera, and a browser the push service says
//! is gone (410) is forgotten.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::receiver::{Received, Receiver};
use common::{free_port, repo, text};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use web_push_native::jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256PublicKey};
use web_push_native::p256;

const SECRET: &str = "push test secret, long enough....";

/// A browser: its push endpoint and the keys it would give `pushManager.subscribe`'s caller.
struct Browser {
    endpoint: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new(port: u16, name: &str) -> Self {
        Self {
            endpoint: format!("http://127.0.0.1:{port}/push/{name}"),
            secret: p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng),
            auth: fastrand::u128(..).to_le_bytes(),
        }
    }

    /// `PushSubscription.toJSON()`.
    fn subscription(&self) -> String {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let key = self.secret.public_key().to_encoded_point(false);
        serde_json::json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(key.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            }
        })
        .to_string()
    }

    /// What the service worker would get.
    fn open(&self, pushed: &Received) -> serde_json::Value {
        let mut auth = web_push_native::Auth::default();
        auth.copy_from_slice(&self.auth);
        let plain = web_push_native::decrypt(pushed.body.clone(), &self.secret, &auth).unwrap();
        serde_json::from_slice(&plain).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_pushed_encrypted_and_signed_to_browsers_allowed_to_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let (port, push_port) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{model}\"\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
             [evidence]\nclips = false\n[workflow]\nack_deadline_s = 0\ncamera_offline_s = 0\ngroup_window_s = 0\n\
             [push]\ncontact = \"mailto:soc@example.org\"\nendpoints = [\"http://127.0.0.1:{push_port}\"]\n\
             [[cameras]]\nname = \"street\"\nsource = \"{clip}\"\nloop = false\n",
            model = repo().join("models/fight-demo").display(),
            clip = repo().join("fixtures/walk_street.mp4").display(),
        ),
    )
    .unwrap();
    // A push service answers 201 Created.
    let (push_service, _task) = Receiver::start(push_port);
    push_service.status.store(201, Ordering::SeqCst);
    let log = push_service.log.clone();
    let data = dir.path().join("data");
    let _service = common::run_service(dir.path(), SECRET, &[]);
    let mut sensor = common::ws_connect(
        port,
        &format!(
            "token={}",
            common::data_token(&data, SECRET, "door", "detector")
        ),
    )
    .await;

    let olga = common::account_token(&data, port, "olga", "operator", &["door-1"]);
    let root = common::account_token(&data, port, "root", "admin", &[]);
    let (code, body) = common::http_get(port, "/api/push", &olga);
    assert_eq!(code, 200, "{}", text(&body));
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["enabled"], true);
    let vapid = info["public_key"].as_str().unwrap().to_string();
    assert_eq!(URL_SAFE_NO_PAD.decode(&vapid).unwrap().len(), 65);

    let (olga_phone, root_phone) = (
        Browser::new(push_port, "olga"),
        Browser::new(push_port, "root"),
    );
    for (token, browser) in [(&olga, &olga_phone), (&root, &root_phone)] {
        let (code, body) = common::http_post(
            port,
            "/api/push/subscriptions",
            token,
            &browser.subscription(),
        );
        assert_eq!(code, 204, "{}", text(&body));
    }
    // Audit round two, finding 11: root cannot take olga's browser over (it would get her
    // pushes and she would stop getting them); olga renewing it is fine.
    let (code, body) = common::http_post(
        port,
        "/api/push/subscriptions",
        &root,
        &olga_phone.subscription(),
    );
    assert_eq!(code, 409, "{}", text(&body));
    let (code, _) = common::http_post(
        port,
        "/api/push/subscriptions",
        &olga,
        &olga_phone.subscription(),
    );
    assert_eq!(code, 204);
    // Not a push service this server allows: refused (no POSTs to addresses users pick).
    let evil = r#"{"endpoint":"http://127.0.0.1:1/admin","keys":{"p256dh":"x","auth":"y"}}"#;
    let (code, body) = common::http_post(port, "/api/push/subscriptions", &olga, evil);
    assert_eq!(code, 400, "{}", text(&body));
    assert!(text(&body).contains("allowed push services"));
    // A bare token without an account cannot subscribe: pushes follow stored accounts.
    let ghost = common::data_token(&data, SECRET, "ghost", "viewer");
    let (code, _) = common::http_post(
        port,
        "/api/push/subscriptions",
        &ghost,
        &Browser::new(push_port, "ghost").subscription(),
    );
    assert_eq!(code, 403);

    for camera in ["door-1", "door-2"] {
        sensor
            .send(Message::Text(
                format!(r#"{{"type":"fight_detected","camera":"{camera}","score":0.9}}"#).into(),
            ))
            .await
            .unwrap();
    }
    // olga may see door-1 only; root sees both.
    let wait_for = |n: usize| {
        let log = log.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let got = log.lock().unwrap().clone();
                if got.len() >= n {
                    return got;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} of {n} pushes: {got:?}",
                    got.len()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let pushed = wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(log.lock().unwrap().len(), 3, "no other push");
    let mut seen: Vec<(String, String)> = Vec::new();
    for p in &pushed {
        let browser = if p.path.ends_with("/olga") {
            &olga_phone
        } else {
            &root_phone
        };
        let notice = browser.open(p);
        assert_eq!(notice["kind"], "raised");
        assert!(
            notice["title"]
                .as_str()
                .unwrap()
                .starts_with("Fight on door-")
        );
        assert_eq!(
            notice["url"].as_str().unwrap(),
            format!("/#/live/alert:{}", notice["alert_id"].as_str().unwrap())
        );
        seen.push((
            p.path.clone(),
            notice["camera"].as_str().unwrap().to_string(),
        ));
        // RFC 8030 headers and RFC 8292's VAPID authorization, signed by the key /api/push gave.
        assert_eq!(p.headers["content-encoding"], "aes128gcm");
        assert_eq!(p.headers["urgency"], "high");
        assert_eq!(p.headers["ttl"], "3600");
        let auth = &p.headers["authorization"];
        let (jwt, k) = auth
            .strip_prefix("vapid t=")
            .and_then(|r| r.split_once(", k="))
            .unwrap();
        assert_eq!(k, vapid);
        let key = ES256PublicKey::from_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        let claims = key
            .verify_token::<web_push_native::jwt_simple::prelude::NoCustomClaims>(jwt, None)
            .unwrap();
        assert_eq!(claims.subject.as_deref(), Some("mailto:soc@example.org"));
        assert_eq!(
            claims.audiences.unwrap().into_string().unwrap(),
            "http://127.0.0.1"
        );
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/push/olga".to_string(), "door-1".to_string()),
            ("/push/root".to_string(), "door-1".to_string()),
            ("/push/root".to_string(), "door-2".to_string()),
        ]
    );

    // The push service now says both browsers are gone: both are forgotten after one push each.
    push_service.status.store(410, Ordering::SeqCst);
    sensor
        .send(Message::Text(
            r#"{"type":"fight_detected","camera":"door-1","score":0.9}"#.into(),
        ))
        .await
        .unwrap();
    wait_for(5).await;
    let store = fightwatch_node::open_store_at(&data, None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.push_subscriptions().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "410'd subscriptions kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, _) = common::http_send(
        port,
        "DELETE",
        "/api/push/subscriptions",
        &olga,
        &format!(r#"{{"endpoint":"{}"}}"#, olga_phone.endpoint),
    );
    assert_eq!(code, 404, "already forgotten");
    // Subscribed again, then unsubscribed by its user.
    let (code, _) = common::http_post(
        port,
        "/api/push/subscriptions",
        &olga,
        &olga_phone.subscription(),
    );
    assert_eq!(code, 204);
    let (code, _) = common::http_send(
        port,
        "DELETE",
        "/api/push/subscriptions",
        &olga,
        &format!(r#"{{"endpoint":"{}"}}"#, olga_phone.endpoint),
    );
    assert_eq!(code, 204);
}

/// Audit round two, finding 6: a viewer whose ten browsers' push service accepts connections
/// and never answers delays nobody else's push: each alert rings the other user's browser
/// within seconds, while the dead ones wait out their own timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_service_that_never_answers_delays_no_other_users_push() {
    let dir = tempfile::tempdir().unwrap();
    let (port, push_port, dead_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.path().join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{model}\"\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
             [evidence]\nclips = false\n[workflow]\nack_deadline_s = 0\ncamera_offline_s = 0\ngroup_window_s = 0\n\
             [push]\ncontact = \"mailto:soc@example.org\"\n\
             endpoints = [\"http://127.0.0.1:{push_port}\", \"http://127.0.0.1:{dead_port}\"]\n\
             [[cameras]]\nname = \"street\"\nsource = \"{clip}\"\nloop = false\n",
            model = repo().join("models/fight-demo").display(),
            clip = repo().join("fixtures/walk_street.mp4").display(),
        ),
    )
    .unwrap();
    let (push_service, _task) = Receiver::start(push_port);
    push_service.status.store(201, Ordering::SeqCst);
    let log = push_service.log.clone();
    // Accepts, reads nothing, answers nothing, keeps every connection open.
    let dead = std::net::TcpListener::bind(("127.0.0.1", dead_port)).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in dead.incoming() {
            held.push(conn);
        }
    });
    let data = dir.path().join("data");
    let _service = common::run_service(dir.path(), SECRET, &[]);
    let mut sensor = common::ws_connect(
        port,
        &format!(
            "token={}",
            common::data_token(&data, SECRET, "door", "detector")
        ),
    )
    .await;
    let stuck = common::account_token(&data, port, "stuck", "viewer", &[]);
    let olga = common::account_token(&data, port, "olga", "operator", &[]);
    for i in 0..10 {
        let browser = Browser::new(dead_port, &format!("stuck{i}"));
        let (code, body) = common::http_post(
            port,
            "/api/push/subscriptions",
            &stuck,
            &browser.subscription(),
        );
        assert_eq!(code, 204, "{}", text(&body));
    }
    let phone = Browser::new(push_port, "olga");
    let (code, _) = common::http_post(
        port,
        "/api/push/subscriptions",
        &olga,
        &phone.subscription(),
    );
    assert_eq!(code, 204);
    for (n, camera) in ["door-1", "door-2", "door-3"].iter().enumerate() {
        let sent = Instant::now();
        sensor
            .send(Message::Text(
                format!(r#"{{"type":"fight_detected","camera":"{camera}","score":0.9}}"#).into(),
            ))
            .await
            .unwrap();
        loop {
            if log.lock().unwrap().len() > n {
                break;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(4),
                "olga's push of {camera} waited on the dead push service"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("{camera}: olga rung after {:?}", sent.elapsed());
        assert_eq!(phone.open(&log.lock().unwrap()[n])["camera"], *camera);
    }
}
