//! MQTT delivery against Debian's real mosquitto broker: topics, retained states, a broker
//! restart mid-run (nothing lost, states published again), and the last will when fightwatch
//! dies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fightwatch_integrations::{Integrations, MqttTarget};
use fightwatch_protocol::{CameraState, CameraStatus, ServerMessage};
use fightwatch_store::{AlertChange, AlertStore, NewAlert, SqliteStore};
use fightwatch_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{broadcast, mpsc};

/// `(topic, payload, retained)` as a subscriber got it.
type Received = (String, String, bool);

/// A subscriber to `fightwatch/#` that subscribes again after every reconnection (the broker
/// forgets it on a restart).
fn subscriber(port: u16) -> mpsc::UnboundedReceiver<Received> {
    subscriber_with(port, None)
}

/// [`subscriber`], over TLS trusting `ca_file` when given.
fn subscriber_with(
    port: u16,
    ca_file: Option<&std::path::Path>,
) -> mpsc::UnboundedReceiver<Received> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut opts = MqttOptions::new(format!("test-sub-{}", fastrand::u32(..)), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    if let Some(ca) = ca_file {
        let config = fightwatch_tls::client_config(Some(ca)).unwrap();
        opts.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(config),
        ));
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client
                        .subscribe("fightwatch/#", QoS::AtLeastOnce)
                        .await
                        .unwrap();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    if tx.send((p.topic.clone(), payload, p.retain)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    rx
}

/// Waits for a message on `topic` (others are kept in `seen`).
async fn next_on(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    topic: &str,
    seen: &mut Vec<Received>,
) -> Received {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("nothing on {topic} in 30 s; saw {seen:?}"))
            .expect("subscriber alive");
        if got.0 == topic {
            return got;
        }
        seen.push(got);
    }
}

fn alert(camera: &str) -> NewAlert {
    NewAlert {
        camera: camera.into(),
        site: "hq".into(),
        label: "fight".into(),
        score: 0.9,
        started_at: 1_790_000_000_000,
        snapshot: None,
        source: "pipeline".into(),
        region: None,
        heatmap: None,
    }
}

fn camera_state(camera: &str, status: CameraStatus) -> Arc<ServerMessage> {
    Arc::new(ServerMessage::CameraStatus(CameraState {
        camera: camera.into(),
        site: "hq".into(),
        status,
        error: None,
        since: 0,
        node: None,
    }))
}

fn target(port: u16) -> MqttTarget {
    MqttTarget {
        name: "ha".into(),
        url: format!("mqtt://127.0.0.1:{port}"),
        username: None,
        password: None,
        topic_prefix: "fightwatch".into(),
        sites: vec![],
        cameras: vec![],
    }
}

/// Seqs of the `fightwatch/alerts` messages among `msgs`.
fn alert_seqs(msgs: &[Received]) -> Vec<u64> {
    msgs.iter()
        .filter(|m| m.0 == "fightwatch/alerts")
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(&m.1).unwrap();
            v["seq"].as_u64().unwrap()
        })
        .collect()
}

#[test]
fn alerts_states_and_a_broker_restart() {
    let mut broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    // fightwatch's side runs on a runtime of its own, so the test can kill it (the last will).
    let node = tokio::runtime::Runtime::new().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (states, _) = broadcast::channel(64);
    let integrations = {
        let _inside = node.enter();
        let bus = states.clone();
        let i = Integrations::start(
            store.clone(),
            vec![],
            Some(Arc::new(move || bus.subscribe())),
        )
        .unwrap();
        i.add_mqtt(target(broker.port()), "fightwatch-test".into())
            .unwrap();
        i
    };
    rt.block_on(async {
        let mut rx = subscriber(broker.port());
        let mut seen = Vec::new();
        let (_, online, _) = next_on(&mut rx, "fightwatch/available", &mut seen).await;
        assert_eq!(online, "online");

        // A fight: the event on fightwatch/alerts, the camera's fight state ON, then OFF.
        let a = store.create_alert(&alert("gate")).unwrap();
        let (_, body, _) = next_on(&mut rx, "fightwatch/alerts", &mut seen).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["seq"].as_u64()),
            (Some("raised"), Some(a.seq))
        );
        assert_eq!(v["event"]["id"], a.id.as_str());
        let (_, on, _) = next_on(&mut rx, "fightwatch/gate/fight", &mut seen).await;
        assert_eq!(on, "ON");
        store
            .update_alert(
                &a.id,
                &AlertChange {
                    ended_at: Some(1_790_000_004_000),
                    ..AlertChange::default()
                },
            )
            .unwrap();
        let (_, off, _) = next_on(&mut rx, "fightwatch/gate/fight", &mut seen).await;
        assert_eq!(off, "OFF");

        // Camera availability from its state, retained.
        states
            .send(camera_state("gate", CameraStatus::Reconnecting))
            .unwrap();
        let (_, state, _) = next_on(&mut rx, "fightwatch/gate/available", &mut seen).await;
        assert_eq!(state, "offline");
        states
            .send(camera_state("gate", CameraStatus::Online))
            .unwrap();
        let (_, state, _) = next_on(&mut rx, "fightwatch/gate/available", &mut seen).await;
        assert_eq!(state, "online");

        // The broker dies; alerts raised meanwhile arrive, in order, once it is back; the
        // broker forgot every retained message, and fightwatch says them again.
        broker.kill();
        let mut raised = Vec::new();
        for _ in 0..20 {
            raised.push(store.create_alert(&alert("yard")).unwrap().seq);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        broker.restart().unwrap();
        let (_, online, _) = next_on(&mut rx, "fightwatch/available", &mut seen).await;
        assert_eq!(online, "online");
        let deadline = Instant::now() + Duration::from_secs(30);
        seen.clear();
        while alert_seqs(&seen)
            .iter()
            .filter(|s| raised.contains(s))
            .count()
            < raised.len()
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(m)) => seen.push(m),
                _ => panic!("not every alert after the restart: {:?}", alert_seqs(&seen)),
            }
        }
        let got: Vec<u64> = alert_seqs(&seen)
            .into_iter()
            .filter(|s| raised.contains(s))
            .collect();
        // At least once, in order: a repeat may only be of the event in flight at the restart.
        let mut unique = got.clone();
        unique.dedup();
        assert_eq!(unique, raised, "in seq order, none missing");
        assert!(got.len() <= raised.len() + 1, "repeats: {got:?}");
        // A subscriber that comes now learns every state from the retained messages, which
        // the restarted broker only has because fightwatch published them again.
        let mut late = subscriber(broker.port());
        let mut retained = std::collections::BTreeMap::new();
        while retained.len() < 4 {
            let m = tokio::time::timeout(Duration::from_secs(30), late.recv())
                .await
                .expect("retained states")
                .unwrap();
            if m.2 {
                retained.insert(m.0, m.1);
            }
        }
        assert_eq!(retained["fightwatch/available"], "online");
        assert_eq!(retained["fightwatch/gate/available"], "online");
        assert_eq!(retained["fightwatch/yard/fight"], "ON");
        assert_eq!(retained["fightwatch/gate/fight"], "OFF");
        let status = integrations.status();
        assert_eq!(status[0].name, "ha");
        assert_eq!(
            status[0].endpoint,
            format!("mqtt://127.0.0.1:{}", broker.port())
        );
        assert!(status[0].failed_attempts > 0, "{status:?}");

        // fightwatch dies without a goodbye: the broker publishes its last will.
        node.shutdown_background();
        let (_, offline, _) = next_on(&mut rx, "fightwatch/available", &mut seen).await;
        assert_eq!(offline, "offline");
    });
}

#[test]
fn bad_settings_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _inside = rt.enter();
    let i = Integrations::start(store.clone(), vec![], None).unwrap();
    for (t, want) in [
        (
            MqttTarget {
                url: "mqtt://broker:1883?sslrootcert=/etc/ca.pem".into(),
                ..target(1)
            },
            "use mqtts://",
        ),
        (
            MqttTarget {
                url: "http://broker".into(),
                ..target(1)
            },
            "mqtt://",
        ),
        (
            MqttTarget {
                topic_prefix: "site/#".into(),
                ..target(1)
            },
            "topic_prefix",
        ),
        (
            MqttTarget {
                name: "a b".into(),
                ..target(1)
            },
            "name",
        ),
    ] {
        let e = i.add_mqtt(t, "x".into()).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    // A password put in the URL is refused without being repeated.
    for url in [
        "mqtt://ops:s3cretpw@broker:1883",
        "mqtts://ops:s3cretpw@broker:x",
    ] {
        let t = MqttTarget {
            url: url.into(),
            ..target(1)
        };
        let e = i.add_mqtt(t, "x".into()).unwrap_err().to_string();
        assert!(!e.contains("s3cretpw"), "{e}");
    }
}

/// TLS to the broker (issue #27, point 3): `mqtts://` with the CA file delivers; the same broker
/// under another CA, and a plaintext broker asked for TLS, are refused (the status says why).
#[test]
fn mqtts_delivers_to_a_verified_broker_and_refuses_the_rest() {
    let certs = fightwatch_testkit::TestCerts::new().unwrap();
    let other_ca = fightwatch_testkit::TestCerts::new().unwrap();
    let broker = Mosquitto::start_tls(&certs).unwrap();
    let plain = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    let node = tokio::runtime::Runtime::new().unwrap();
    let with_ca = |name: &str, port: u16, ca: &std::path::Path| MqttTarget {
        name: name.into(),
        url: format!("mqtts://127.0.0.1:{port}?sslrootcert={}", ca.display()),
        ..target(port)
    };
    let integrations = {
        let _inside = node.enter();
        let i = Integrations::start(store.clone(), vec![], None).unwrap();
        i.add_mqtt(
            with_ca("ok", broker.port(), &certs.ca_file()),
            "fw-ok".into(),
        )
        .unwrap();
        let wrong = with_ca("wrong-ca", broker.port(), &other_ca.ca_file());
        i.add_mqtt(wrong, "fw-wrong".into()).unwrap();
        let plaintext = with_ca("plaintext", plain.port(), &certs.ca_file());
        i.add_mqtt(plaintext, "fw-plain".into()).unwrap();
        i
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut rx = subscriber_with(broker.port(), Some(&certs.ca_file()));
        let mut seen = Vec::new();
        let (_, online, _) = next_on(&mut rx, "fightwatch/available", &mut seen).await;
        assert_eq!(online, "online");
        let a = store.create_alert(&alert("gate")).unwrap();
        let (_, body, _) = next_on(&mut rx, "fightwatch/alerts", &mut seen).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["seq"].as_u64(), Some(a.seq));
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = integrations.status();
        let of = |name: &str| status.iter().find(|s| s.name == name).unwrap().clone();
        let (ok, wrong, plain) = (of("ok"), of("wrong-ca"), of("plaintext"));
        // The subscriber can have the alert before the target has counted it (the count
        // follows the broker's acknowledgement): wait for the count as well.
        if wrong.last_error.is_some() && plain.last_error.is_some() && ok.delivered >= 1 {
            assert!(ok.last_error.is_none(), "{ok:?}");
            assert_eq!((wrong.delivered, plain.delivered), (0, 0));
            assert!(ok.endpoint.starts_with("mqtts://"), "{ok:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unverified brokers were not refused, or the verified one not counted: {ok:?} {wrong:?} {plain:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(integrations);
}
