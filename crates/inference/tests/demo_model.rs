//! The demo model, run through ONNX Runtime on the fixtures' frames (decoded by the capture
//! crate, resized and sampled by this crate), separates fight from non-fight clips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo, runtime};

use std::path::Path;
use std::sync::Arc;

use fightwatch_capture::{SourceOptions, open};
use fightwatch_inference::{ModelPackage, WindowBuilder};

/// (media time at the end of each window, fight probability) for a whole clip, hop 0.5 s.
fn window_scores(pkg: &mut ModelPackage, clip: &Path) -> Vec<(f64, f32)> {
    let input = pkg.config().input.clone();
    let mut pre = pkg.preprocessor();
    let mut builder = WindowBuilder::<()>::new(input.frames, input.sample_fps, 0.5);
    let mut source = open(clip.to_str().unwrap(), "cam", &SourceOptions::default()).unwrap();
    let mut clips = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        let small = Arc::new(pre.apply(&frame.picture).unwrap());
        clips.extend(builder.push(frame.pts_s, frame.seq, small));
    }
    let batch: Vec<&[Arc<image::RgbImage>]> = clips.iter().map(|c| c.frames.as_slice()).collect();
    let scores = pkg.score(&batch).unwrap();
    clips
        .iter()
        .zip(scores)
        .map(|(c, s)| (c.end_s, s.fight))
        .collect()
}

#[test]
fn demo_model_separates_fight_and_non_fight_fixtures() {
    let rt = runtime();
    let mut pkg = ModelPackage::load(&rt, &repo().join("models/fight-demo"), 2).unwrap();
    let labels = std::fs::read_to_string(repo().join("fixtures/labels.csv")).unwrap();
    let mut fight_peaks = Vec::new();
    let mut calm_peaks = Vec::new();
    for line in labels.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (file, label) = (f[0], f[1]);
        let scores = window_scores(&mut pkg, &repo().join("fixtures").join(file));
        assert!(!scores.is_empty(), "{file}: no windows");
        let peak = if label == "fight" {
            // Windows lying wholly inside the labelled fight.
            let (start, end): (f64, f64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
            let dur = pkg.config().input.clip_duration_s();
            scores
                .iter()
                .filter(|(t, _)| *t - dur >= start - 1e-6 && *t <= end + 1e-6)
                .map(|(_, s)| *s)
                .fold(0.0, f32::max)
        } else {
            scores.iter().map(|(_, s)| *s).fold(0.0, f32::max)
        };
        let all: Vec<String> = scores
            .iter()
            .map(|(t, s)| format!("{t:.1}s:{s:.2}"))
            .collect();
        println!(
            "{label:8} {file:22} peak {peak:.3}  windows [{}]",
            all.join(" ")
        );
        if label == "fight" {
            fight_peaks.push((file, peak))
        } else {
            calm_peaks.push((file, peak))
        }
    }
    let weakest_fight = fight_peaks.iter().map(|(_, p)| *p).fold(1.0, f32::min);
    let strongest_calm = calm_peaks.iter().map(|(_, p)| *p).fold(0.0, f32::max);
    println!("weakest fight peak {weakest_fight:.3}, strongest non-fight peak {strongest_calm:.3}");
    assert!(fight_peaks.len() >= 6 && calm_peaks.len() >= 6);
    for (file, p) in &fight_peaks {
        assert!(*p > 0.5, "fight fixture {file} peaks at only {p:.3}");
    }
    for (file, p) in &calm_peaks {
        assert!(*p < 0.5, "non-fight fixture {file} peaks at {p:.3}");
    }
}
