//! Loading model packages: the shipped ones load; every mismatch is a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo, runtime};

use std::path::{Path, PathBuf};

use fightwatch_inference::{Error, ModelPackage};

/// A package dir holding `onnx` (copied from fixtures/onnx or models/) and the given model.toml.
fn package(onnx: &Path, toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(onnx, dir.path().join("model.onnx")).unwrap();
    std::fs::write(dir.path().join("model.toml"), toml).unwrap();
    dir
}

const TINY_TOML: &str = r#"
[model]
name = "tiny"
[input]
name = "clip"
layout = "NCTHW"
frames = 4
sample_fps = 4.0
width = 8
height = 8
resize = "squash"
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
[output]
name = "probs"
activation = "none"
labels = ["fight", "other"]
fight_labels = ["fight"]
"#;

fn tiny() -> PathBuf {
    repo().join("fixtures/onnx/tiny_clip_classifier.onnx")
}

#[test]
fn shipped_packages_load() {
    let rt = runtime();
    for dir in ["models/fight-demo", "models/fight-mc3-18"] {
        let pkg = ModelPackage::load(&rt, &repo().join(dir), 1).unwrap();
        assert_eq!(
            pkg.fixed_batch(),
            None,
            "{dir}: batch axis should be dynamic"
        );
    }
    let dir = package(&tiny(), TINY_TOML);
    let pkg = ModelPackage::load(&rt, dir.path(), 1).unwrap();
    assert_eq!(pkg.config().fight_indices(), vec![0]);
}

#[test]
fn frames_that_disagree_with_the_graph_name_both_shapes() {
    let dir = package(&tiny(), &TINY_TOML.replace("frames = 4", "frames = 16"));
    let err = ModelPackage::load(&runtime(), dir.path(), 1).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{msg}");
    assert!(
        msg.contains("clip: f32[batch, 3, 16, 8, 8] (NCTHW)")
            && msg.contains("clip: f32[batch, 3, 4, 8, 8]"),
        "{msg}"
    );
}

#[test]
fn wrong_input_rank_is_a_mismatch() {
    let toml = TINY_TOML
        .replace("name = \"clip\"", "name = \"image\"")
        .replace("\"probs\"", "\"logits\"");
    let dir = package(&repo().join("fixtures/onnx/tiny_image_model.onnx"), &toml);
    let err = ModelPackage::load(&runtime(), dir.path(), 1).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{msg}");
    assert!(msg.contains("image: f32[batch, 3, 8, 8]"), "{msg}");
}

#[test]
fn wrong_names_and_label_counts_are_mismatches() {
    let rt = runtime();
    let dir = package(
        &tiny(),
        &TINY_TOML.replace("name = \"clip\"", "name = \"video\""),
    );
    let msg = ModelPackage::load(&rt, dir.path(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("\"video\"") && msg.contains("clip: f32[batch, 3, 4, 8, 8]"),
        "{msg}"
    );
    let dir = package(
        &tiny(),
        &TINY_TOML.replace(
            "[\"fight\", \"other\"]",
            "[\"fight\", \"other\", \"third\"]",
        ),
    );
    let msg = ModelPackage::load(&rt, dir.path(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("probs: f32[batch, 3] (3 labels)") && msg.contains("probs: f32[batch, 2]"),
        "{msg}"
    );
}

#[test]
fn config_errors_name_the_file_and_line() {
    let rt = runtime();
    let dir = package(&tiny(), &TINY_TOML.replace("frames = 4", "frames = four"));
    let err = ModelPackage::load(&rt, dir.path(), 1).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config { .. }), "{msg}");
    assert!(
        msg.contains("model.toml") && msg.contains("line 7"),
        "{msg}"
    );

    let dir = package(
        &tiny(),
        &TINY_TOML.replace("[output]", "[output]\nthreshold = 0.5"),
    );
    let msg = ModelPackage::load(&rt, dir.path(), 1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown field `threshold`"), "{msg}");

    let dir = package(
        &tiny(),
        &TINY_TOML.replace("fight_labels = [\"fight\"]", "fight_labels = [\"brawl\"]"),
    );
    let msg = ModelPackage::load(&rt, dir.path(), 1)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("\"brawl\", which is not in output.labels"),
        "{msg}"
    );
}

#[test]
fn missing_package_and_missing_onnx() {
    let rt = runtime();
    let err = ModelPackage::load(&rt, Path::new("/nonexistent/model-dir"), 1).unwrap_err();
    assert!(matches!(err, Error::PackageMissing(_)), "{err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.toml"), TINY_TOML).unwrap();
    let err = ModelPackage::load(&rt, dir.path(), 1).unwrap_err();
    assert!(matches!(err, Error::ModelMissing(_)), "{err}");
}

#[test]
fn fight_score_sums_every_fight_label() {
    // Kinetics-style: several labels count as a fight; their probabilities are summed.
    let rt = runtime();
    let toml = TINY_TOML
        .replace("activation = \"none\"", "activation = \"softmax\"")
        .replace("[\"fight\", \"other\"]", "[\"punching\", \"wrestling\"]")
        .replace(
            "fight_labels = [\"fight\"]",
            "fight_labels = [\"punching\", \"wrestling\"]",
        );
    let dir = package(&tiny(), &toml);
    let mut pkg = ModelPackage::load(&rt, dir.path(), 1).unwrap();
    let frame = std::sync::Arc::new(image::RgbImage::from_pixel(
        8,
        8,
        image::Rgb([90, 120, 200]),
    ));
    let clip = vec![frame; 4];
    let scores = pkg.score(&[clip.as_slice()]).unwrap();
    assert!((scores[0].probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!((scores[0].fight - 1.0).abs() < 1e-5, "{:?}", scores[0]);

    let one = TINY_TOML.replace("activation = \"none\"", "activation = \"softmax\"");
    let dir = package(&tiny(), &one);
    let mut pkg = ModelPackage::load(&rt, dir.path(), 1).unwrap();
    let s = pkg.score(&[clip.as_slice()]).unwrap();
    assert!((s[0].fight - s[0].probs[0]).abs() < 1e-6 && s[0].fight < 1.0);
}

#[test]
fn synthetic_batches_fit_the_model_and_warm_up_runs_every_size() {
    let rt = runtime();
    let dir = package(&tiny(), TINY_TOML);
    let mut pkg = ModelPackage::load(&rt, dir.path(), 1).unwrap();
    let batch = pkg.synthetic_batch(3);
    assert_eq!(batch.shape(), &[3, 3, 4, 8, 8]);
    assert!(batch.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert!(
        batch.iter().any(|v| *v != batch[[0, 0, 0, 0, 0]]),
        "not constant"
    );
    assert_eq!(batch, pkg.synthetic_batch(3), "deterministic");
    // A borrowed tensor scores the same as an owned one.
    let by_view = pkg.score_view(batch.view()).unwrap();
    assert_eq!(by_view, pkg.score_tensor(batch).unwrap());
    assert_eq!(by_view.len(), 3);
    pkg.warm_up(4).unwrap();
}

/// The mc3_18 packages' second output (scripts/cam.py): one map per clip at 1/16 of the input,
/// whose mean is the fight logit minus the other (ln p_fight / p_other after the softmax), so
/// the map explains the very score it comes with.
#[test]
fn the_mc3_packages_say_where_and_their_maps_add_up_to_the_score() {
    let rt = runtime();
    for (dir, side) in [
        ("models/fight-mc3-18", 7),
        ("models/fight-mc3-18-int8", 7),
        ("models/fight-mc3-18-6x80-int8", 5),
    ] {
        let mut pkg = ModelPackage::load(&rt, &repo().join(dir), 1).unwrap();
        let batch = pkg.synthetic_batch(2);
        let scores = pkg.score_tensor(batch).unwrap();
        assert_eq!(scores.len(), 2);
        for s in scores {
            let map = s.cam.as_ref().unwrap_or_else(|| panic!("{dir}: no map"));
            assert_eq!((map.width(), map.height()), (side, side), "{dir}");
            let log_odds = (s.probs[0] / s.probs[1]).ln();
            assert!(
                (map.mean() - log_odds).abs() < 1e-3,
                "{dir}: map mean {} vs log odds {log_odds}",
                map.mean()
            );
        }
    }
    // A package without one says nothing of where.
    let mut demo = ModelPackage::load(&rt, &repo().join("models/fight-demo"), 1).unwrap();
    let batch = demo.synthetic_batch(1);
    assert!(demo.score_tensor(batch).unwrap()[0].cam.is_none());
}

#[test]
fn a_map_the_graph_lacks_is_a_mismatch() {
    let toml = TINY_TOML.replace(
        "fight_labels = [\"fight\"]",
        "fight_labels = [\"fight\"]\ncam = \"cam\"",
    );
    let dir = package(&tiny(), &toml);
    let err = ModelPackage::load(&runtime(), dir.path(), 1).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{msg}");
    assert!(msg.contains("output.cam"), "{msg}");
    // Naming the score output as the map is refused when the package is read.
    let toml = TINY_TOML.replace(
        "fight_labels = [\"fight\"]",
        "fight_labels = [\"fight\"]\ncam = \"probs\"",
    );
    let dir = package(&tiny(), &toml);
    let msg = ModelPackage::load(&runtime(), dir.path(), 1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("output.cam"), "{msg}");
}
