//! The INT8 mc3_18 (scripts/quantize_mc3.py) scores every window of the fixtures it is tested on
//! within 0.05 of the FP32 model, through the real replay path (the runtime's own decoding and
//! preprocessing, not the script's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

/// The largest difference allowed between the two models' fight scores.
const TOLERANCE: f64 = 0.05;
/// The fixture with the window INT8 moves most (the script reports it: fight_fall's window 9,
/// 0.047), a mid-clip fight and a calm one.
const CLIPS: [&str; 3] = [
    "fixtures/fight_fall.mp4",
    "fixtures/fight_mid_talk.mkv",
    "fixtures/walk_street.mp4",
];

/// `(camera, t) → score` of every window.
fn scores(model: &str) -> BTreeMap<(String, String), f64> {
    let package = common::repo().join(model);
    assert!(
        package.join("model.onnx").is_file(),
        "{model}/model.onnx is missing: run scripts/setup.sh"
    );
    let out = common::command(&[
        "replay",
        "--json",
        "--verbose",
        "--score-every-window",
        "--threads",
        "2",
        "--model",
    ])
    .arg(&package)
    .args(CLIPS)
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    common::text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "window")
        .map(|v| {
            (
                (
                    v["camera"].as_str().unwrap().to_string(),
                    v["t"].to_string(),
                ),
                v["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn int8_scores_every_window_within_tolerance_of_fp32() {
    let fp32 = scores("models/fight-mc3-18");
    let int8 = scores("models/fight-mc3-18-int8");
    assert_eq!(
        fp32.keys().collect::<Vec<_>>(),
        int8.keys().collect::<Vec<_>>(),
        "the same windows"
    );
    assert!(fp32.len() >= 30, "{} windows", fp32.len());
    let (worst, diff) = fp32
        .iter()
        .map(|(k, a)| (k, (a - int8[k]).abs()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    println!(
        "{} windows, largest difference {diff:.4} at {worst:?}",
        fp32.len()
    );
    assert!(diff <= TOLERANCE, "{worst:?}: {diff}");
}
