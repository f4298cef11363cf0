//! End-to-end MQTT with the real binary and Debian's real mosquitto: a fight clip's alert, the
//! camera's fight and availability states, and the last will when fightwatch is killed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{free_port, repo};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// `(topic, payload)` of each message received.
type Got = Vec<(String, String)>;

/// Everything on `fightwatch/#`, in arrival order, until `done` says so (60 s at most).
async fn collect(eventloop: &mut rumqttc::EventLoop, got: &mut Got, done: &dyn Fn(&Got) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => got.push((
                p.topic.clone(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            )),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("subscriber: {e}"),
            Err(_) => panic!("not all in 60 s: {got:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fight_reaches_the_broker_and_a_killed_node_goes_offline() {
    let broker = fightwatch_testkit::Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{model}\"\nthreads = 1\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"data\"\n\
             [evidence]\nclips = false\n[workflow]\nack_deadline_s = 0\ncamera_offline_s = 0\n\
             [[mqtt]]\nname = \"ha\"\nurl = \"{url}\"\n\
             [[cameras]]\nname = \"street\"\nsource = \"{clip}\"\nloop = false\nrealtime = false\n",
            model = repo().join("models/fight-demo").display(),
            url = broker.url(),
            clip = repo().join("fixtures/fight_street.mp4").display(),
        ),
    )
    .unwrap();

    let mut opts = MqttOptions::new("e2e-sub", "127.0.0.1", broker.port());
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    client
        .subscribe("fightwatch/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut service = common::run_service(dir.path(), "0123456789abcdef0123456789abcdef", &[]);

    let mut got: Got = Vec::new();
    let has =
        |got: &Got, topic: &str, payload: &str| got.iter().any(|(t, p)| t == topic && p == payload);
    collect(&mut eventloop, &mut got, &|g| {
        has(g, "fightwatch/street/fight", "OFF") && has(g, "fightwatch/street/available", "online")
    })
    .await;
    let states: BTreeMap<&str, Vec<&str>> = got.iter().fold(BTreeMap::new(), |mut m, (t, p)| {
        m.entry(t.as_str()).or_default().push(p.as_str());
        m
    });
    println!("{states:#?}");
    assert_eq!(states["fightwatch/available"][0], "online");
    assert_eq!(states["fightwatch/street/fight"], ["ON", "OFF"]);
    let raised: serde_json::Value = serde_json::from_str(states["fightwatch/alerts"][0]).unwrap();
    assert_eq!(raised["kind"], "raised");
    assert_eq!(raised["event"]["type"], "fight_alert");
    assert_eq!(raised["event"]["camera"], "street");

    // kill -9: the broker says so for it (the last will).
    service.kill().unwrap();
    collect(&mut eventloop, &mut got, &|g| {
        has(g, "fightwatch/available", "offline")
    })
    .await;
}
