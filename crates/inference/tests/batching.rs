//! The inference stage does not hold a ready window back waiting for a batch that nobody else
//! can fill: one real-time camera's windows are scored as they come, long before its recording
//! ends, even with a batch of 64 and a wait of a minute.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{demo_pipeline, repo};
use fightwatch_capture::{Camera, CameraConfig, CaptureState, Pacing};
use fightwatch_inference::{PipelineConfig, PipelineEvent};

#[test]
fn a_lone_cameras_window_is_scored_without_waiting_for_a_batch() {
    let (mut pipeline, spec) = demo_pipeline(PipelineConfig {
        max_batch: 64,
        max_wait: Duration::from_secs(60),
        ..PipelineConfig::default()
    });
    let (status_tx, status_rx) = crossbeam_channel::unbounded();
    // 6 s of video played at its own speed: its first window is ready after ~2 s.
    let mut cfg = CameraConfig::new(
        "street",
        &repo().join("fixtures/fight_street.mp4").to_string_lossy(),
    );
    cfg.model_resize = Some(spec);
    cfg.pacing = Pacing::Realtime;
    let camera = Camera::start(cfg, status_tx).unwrap();
    let (events_tx, events_rx) = crossbeam_channel::unbounded();
    pipeline
        .run(&[camera], &status_rx, &events_tx, &AtomicBool::new(false))
        .unwrap();
    drop(events_tx);
    let order: Vec<&str> = events_rx
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::Window { .. } => Some("window"),
            PipelineEvent::Camera(s) if matches!(s.status, CaptureState::Ended) => Some("ended"),
            _ => None,
        })
        .collect();
    let first_window = order.iter().position(|e| *e == "window").unwrap();
    let ended = order.iter().position(|e| *e == "ended").unwrap();
    // Waiting for a full batch would have scored nothing until the recording ended.
    assert!(
        first_window < ended && order[..ended].iter().filter(|e| **e == "window").count() >= 5,
        "{order:?}"
    );
}
