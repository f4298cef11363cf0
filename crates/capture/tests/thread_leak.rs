//! Reconnecting does not leak threads: FFmpeg's decoder threads and the camera's own thread are
//! gone after each session. Its own test binary, so no other test's threads are counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{MjpegServer, expect_frames, expect_status, free_port, live_config, lose_and_recover};
use fightwatch_capture::{Camera, CaptureState};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn reconnects_do_not_leak_threads() {
    let port = free_port();
    let mut server = Some(MjpegServer::start(port));
    let (tx, status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(
        live_config("leak", &format!("http://127.0.0.1:{port}/video")),
        tx,
    )
    .unwrap();
    expect_status(&camera, &status, Duration::from_secs(10), "online", |s| {
        matches!(s, CaptureState::Online(_))
    });
    expect_frames(&camera, 5, Duration::from_secs(10));
    let online_threads = threads();
    for _ in 0..5 {
        lose_and_recover(&camera, &status, &mut server, || MjpegServer::start(port));
    }
    let after = threads();
    assert!(
        after <= online_threads,
        "threads grew from {online_threads} to {after} over 5 reconnects"
    );
    let before_stop = threads();
    camera.stop();
    drop(server);
    assert!(
        threads() < before_stop,
        "camera thread still alive after stop"
    );
}
