//! The gate on real fixtures: a still scene is scored only at the minimum interval, a fight is
//! found at the same moment with motion gating on, and decisions do not depend on timing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::AtomicBool;

use common::{demo_pipeline, repo};
use fightwatch_capture::{Camera, CameraConfig};
use fightwatch_inference::{GateConfig, PipelineConfig, PipelineEvent, Verdict};
use fightwatch_protocol::IncidentEvent;

/// What the pipeline decided for each window of each camera, in order: `(camera, t, what)`,
/// where `what` is the score to 3 decimals, "still" or "relaxed"; and incident starts.
/// `(camera, t, score or verdict)` per window, and `(camera, t)` per incident start.
type Decisions = (Vec<(String, String, String)>, Vec<(String, f64)>);

fn replay(gate: GateConfig, files: &[&str]) -> Decisions {
    let (mut pipeline, spec) = demo_pipeline(PipelineConfig {
        gate,
        ..PipelineConfig::default()
    });
    let (status_tx, status_rx) = crossbeam_channel::unbounded();
    let cameras: Vec<Camera> = files
        .iter()
        .map(|f| {
            let mut cfg = CameraConfig::new(f, &repo().join("fixtures").join(f).to_string_lossy());
            cfg.model_resize = Some(spec);
            Camera::start(cfg, status_tx.clone()).unwrap()
        })
        .collect();
    drop(status_tx);
    let (events_tx, events_rx) = crossbeam_channel::unbounded();
    pipeline
        .run(&cameras, &status_rx, &events_tx, &AtomicBool::new(false))
        .unwrap();
    drop(events_tx);
    let mut windows = Vec::new();
    let mut starts = Vec::new();
    for e in events_rx {
        match e {
            PipelineEvent::Window {
                camera, t, score, ..
            } => windows.push((camera.to_string(), format!("{t:.2}"), format!("{score:.3}"))),
            PipelineEvent::Skipped {
                camera, t, verdict, ..
            } => {
                let what = match verdict {
                    Verdict::Still => "still",
                    Verdict::Relaxed => "relaxed",
                    Verdict::Behind => "behind",
                    Verdict::Score => "score?",
                };
                windows.push((camera.to_string(), format!("{t:.2}"), what.into()));
            }
            PipelineEvent::Incident {
                event: IncidentEvent::Started { camera, t, .. },
                ..
            } => starts.push((camera, t)),
            _ => {}
        }
    }
    windows.sort_by(|a, b| a.0.cmp(&b.0));
    starts.sort_by(|a, b| a.0.cmp(&b.0));
    (windows, starts)
}

fn motion_only() -> GateConfig {
    GateConfig {
        relaxed_hop_s: 0.0,
        ..GateConfig::recommended()
    }
}

#[test]
fn a_still_scene_is_scored_at_the_minimum_interval_only() {
    // 12 s of an empty lobby: windows end at 2.0, 2.5, ... 12.0 s.
    let (windows, _) = replay(GateConfig::recommended(), &["quiet/empty_lobby.mp4"]);
    let scored: Vec<&str> = windows
        .iter()
        .filter(|w| !matches!(w.2.as_str(), "still" | "relaxed"))
        .map(|w| w.1.as_str())
        .collect();
    // The first window (motion unknown until a reference frame exists), then the camera's
    // check: a lone camera has phase 0, so it falls on each 10 s of media time.
    assert_eq!(scored, ["2.00", "10.00"], "{windows:?}");
    assert_eq!(windows.len(), 21);
    assert!(
        windows
            .iter()
            .all(|w| !matches!(w.2.as_str(), "relaxed" | "score?")),
        "{windows:?}"
    );
}

#[test]
fn motion_gating_finds_every_fight_at_the_same_moment() {
    let files = [
        "fight_mid_walk.mp4",
        "fight_mid_talk.mkv",
        "fight_street.mp4",
        "stand_wait.mp4",
        "quiet/empty_lot.mp4",
    ];
    let (all, starts_all) = replay(GateConfig::off(), &files);
    let (gated, starts_gated) = replay(motion_only(), &files);
    assert_eq!(starts_all.len(), 3, "{starts_all:?}");
    assert_eq!(starts_gated, starts_all);
    // Only the empty scene lost windows.
    let lost: Vec<_> = gated.iter().filter(|w| w.2 == "still").collect();
    assert!(
        !lost.is_empty() && lost.iter().all(|w| w.0 == "quiet/empty_lot.mp4"),
        "{lost:?}"
    );
    assert_eq!(all.len(), gated.len());
}

#[test]
fn decisions_do_not_depend_on_timing() {
    let files = [
        "fight_mid_walk.mp4",
        "walk_then_run.mp4",
        "crossing_crowd.mp4",
        "quiet/empty_lobby.mp4",
    ];
    let (a, starts_a) = replay(GateConfig::recommended(), &files);
    let (b, starts_b) = replay(GateConfig::recommended(), &files);
    assert_eq!(a, b);
    assert_eq!(starts_a, starts_b);
    // The calm cameras were relaxed to about one window a second; the fight was still found.
    let relaxed = a.iter().filter(|w| w.2 == "relaxed").count();
    assert!(relaxed >= 10, "{a:?}");
    assert_eq!(starts_a.len(), 1, "{starts_a:?}");
}
