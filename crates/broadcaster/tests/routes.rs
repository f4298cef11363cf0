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
