//! Several inference streams: the cameras shared out among model sessions, each with its own
//! inference thread, give the windows one stream gives, and one metrics event with every
//! camera a round.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use fightwatch_capture::{CameraConfig, Pacing};
use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{ModelPackage, OrtRuntime, PipelineConfig, PipelineEvent};
use fightwatch_node::{CameraSpec, RunningPipeline};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

const CLIPS: [&str; 3] = ["fight_street.mp4", "walk_street.mp4", "fight_bar_three.mp4"];

/// Every scored window `(camera, end time in ms)`, the cameras of each metrics event, the
/// summary's window count.
fn run(streams: usize, pacing: Pacing) -> (BTreeSet<(String, u64)>, Vec<Vec<String>>, u64) {
    let runtime = OrtRuntime::init(&LibrarySearch {
        roots: vec![repo()],
        ..LibrarySearch::from_env(None)
    })
    .expect("ONNX Runtime (scripts/setup.sh)");
    let model = ModelPackage::load(&runtime, &repo().join("models/fight-demo"), 1).unwrap();
    let cameras: Vec<CameraSpec> = CLIPS
        .iter()
        .map(|clip| {
            let source = repo()
                .join("fixtures")
                .join(clip)
                .to_string_lossy()
                .into_owned();
            CameraSpec {
                capture: CameraConfig {
                    pacing,
                    ..CameraConfig::new(clip, &source)
                },
                ..CameraSpec::new(clip, &source)
            }
        })
        .collect();
    let config = PipelineConfig {
        streams,
        ..PipelineConfig::default()
    };
    let pipeline =
        RunningPipeline::start(model, config, &cameras, Arc::new(AtomicBool::new(false))).unwrap();
    let (mut windows, mut metrics) = (BTreeSet::new(), Vec::new());
    for event in pipeline.events.iter() {
        match event {
            PipelineEvent::Window { camera, t, .. } => {
                windows.insert((camera.to_string(), (t * 1e3).round() as u64));
            }
            PipelineEvent::Metrics(cams) => {
                metrics.push(cams.iter().map(|c| c.camera.clone()).collect::<Vec<_>>());
            }
            _ => {}
        }
    }
    let summary = pipeline.join().unwrap();
    (windows, metrics, summary.windows)
}

#[test]
fn two_streams_score_every_window_one_stream_scores() {
    let (one, _, one_count) = run(1, Pacing::AsFastAsPossible);
    let (two, _, two_count) = run(2, Pacing::AsFastAsPossible);
    assert!(one.len() > 20, "{one:?}");
    assert_eq!(one, two);
    assert_eq!(one_count, two_count);
}

#[test]
fn two_streams_report_one_metrics_event_with_every_camera_a_round() {
    // At recorded speed (6 s clips) both streams report every second while they run.
    let (windows, metrics, _) = run(2, Pacing::Realtime);
    assert!(!windows.is_empty());
    assert!(metrics.len() >= 3, "{metrics:?}");
    let order: Vec<String> = CLIPS.iter().map(|c| c.to_string()).collect();
    // The first rounds, while every camera plays: all three, in the configured order (the
    // streams have cameras 1 and 3, and 2).
    assert_eq!(metrics[0], order, "{metrics:?}");
    assert_eq!(metrics[1], order, "{metrics:?}");
    for round in &metrics {
        let mut seen = BTreeSet::new();
        assert!(
            round.iter().all(|c| seen.insert(c) && order.contains(c)),
            "{metrics:?}"
        );
    }
}
