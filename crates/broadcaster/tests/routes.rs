//! HTTP routes beside the API's: the console's files, the OpenAPI document, Prometheus
//! metrics.
//!
//! Real servers on 127.0.0.1 with a SQLite store in a temp dir (tests/common); the audit's
//! attacks are in security.rs.

mod common;

use axum::body::Body;
use axum::http::Request;
use fightwatch_broadcaster::{ServerConfig, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

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
    let config = ServerConfig {
        static_dir: Some(web),
        ..ServerConfig::default()
    };
    let router = app(common::hub_at(&dir.path().join("db"), config));
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

/// Waits until the relay has passed the hub's last metric update on (it is published on the
/// bus and kept by the task that relays it).
async fn metrics_text(s: &common::Server, token: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = common::http(
            s.addr,
            "GET",
            "/metrics",
            &[("authorization", &format!("Bearer {token}"))],
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body.contains("camera_capture_fps") {
            assert!(
                r.header("content-type")
                    .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
            );
            return r.body;
        }
        assert!(std::time::Instant::now() < deadline, "no camera metrics");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_with_escaped_labels() {
    let s = common::server().await;
    let admin = common::token(&s.hub, fightwatch_broadcaster::Role::Admin);
    s.hub
        .raise_alert(common::alert("lobby"), None)
        .await
        .unwrap();
    let camera = |name: &str, dropped| fightwatch_protocol::CameraMetrics {
        camera: name.into(),
        capture_fps: 25.0,
        inference_fps: 2.0,
        inference_ms: 41.5,
        dropped_frames: dropped,
        queue_depth: 3,
        skipped_fps: 1.5,
        analysis_lag_ms: 480.0,
    };
    // A camera name with every character the text format must escape.
    let odd = "gate \"B\"\\\nnorth";
    s.hub.metrics(fightwatch_protocol::Metrics {
        at: 1,
        cameras: vec![camera("lobby", 7), camera(odd, 0)],
        cpu_percent: 12.5,
        rss_bytes: 123_456_789,
        clients: 0,
        node: None,
    });
    let text = metrics_text(&s, &admin).await;
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parses as Prometheus text");
    let value = |name: &str, camera: Option<&str>| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name
                    && camera
                        .is_none_or(|c| s.labels.get("camera").map(unescape).as_deref() == Some(c))
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {name} {camera:?} in\n{text}"))
    };
    assert_eq!(value("fightwatch_alerts_raised_total", None), 1.0);
    assert_eq!(value("fightwatch_process_rss_bytes", None), 123_456_789.0);
    assert_eq!(value("fightwatch_process_cpu_percent", None), 12.5);
    assert_eq!(
        value("fightwatch_camera_dropped_frames_total", Some("lobby")),
        7.0
    );
    assert_eq!(value("fightwatch_camera_inference_ms", Some("lobby")), 41.5);
    assert_eq!(value("fightwatch_camera_queue_depth", Some(odd)), 3.0);
    assert_eq!(value("fightwatch_camera_skipped_fps", Some("lobby")), 1.5);
    assert_eq!(
        value("fightwatch_camera_analysis_lag_ms", Some("lobby")),
        480.0
    );
    // Typed: the dropped-frame count is a counter (it was a gauge named like one).
    assert!(
        text.contains("# TYPE fightwatch_camera_dropped_frames_total counter"),
        "{text}"
    );
    assert!(
        scrape
            .docs
            .contains_key("fightwatch_camera_dropped_frames_total")
    );
}

/// A label value as the text format escapes it (`\\`, `\"`, `\n`), read back (the parser
/// hands values over as written).
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_token() {
    let s = common::server().await;
    let r = common::http(s.addr, "GET", "/api/openapi.json", &[], "").await;
    assert_eq!(r.status, 200);
    let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let checked_in = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json"),
    )
    .unwrap();
    assert_eq!(
        doc,
        serde_json::from_str::<serde_json::Value>(&checked_in).unwrap()
    );
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/api/login",
        "/api/alerts",
        "/api/alerts/{id}/ack",
        "/api/cameras",
        "/metrics",
    ] {
        assert!(paths.contains_key(route), "{route} is documented");
    }
}
