//! The mc3_18 fight model converted by scripts/fetch_model.py (without torch) gives the logits
//! torchvision gave for the original checkpoint (stored by scripts/make_mc3_reference.py).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{OnnxModel, OrtRuntime};
use ndarray::{Array4, Array5, ArrayD, Axis};
use ndarray_npy::NpzReader;

const TOLERANCE: f32 = 1e-3;

/// SplitMix64 mapped to [-2.5, 2.5), as scripts/make_mc3_reference.py generates it.
fn splitmix64_uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f64 / (1u64 << 24) as f64) as f32 * 5.0 - 2.5
        })
        .collect()
}

fn model() -> OnnxModel {
    let path = repo().join("models/fight-mc3-18/model.onnx");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (it runs scripts/fetch_model.py)",
        path.display()
    );
    let rt = OrtRuntime::init(&LibrarySearch {
        roots: vec![repo()],
        ..LibrarySearch::from_env(None)
    })
    .unwrap();
    OnnxModel::load(&rt, &path, 2).unwrap()
}

fn expected() -> serde_json::Value {
    let text =
        std::fs::read_to_string(repo().join("fixtures/parity/mc3_18/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn logits(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn run(model: &mut OnnxModel, clip: ArrayD<f32>) -> Vec<f32> {
    let out = model.run_f32(&[("clip", clip.view())]).unwrap();
    assert_eq!(out[0].0, "logits");
    out[0].1.iter().copied().collect()
}

#[test]
fn random_clip_logits_match_torch() {
    let exp = expected();
    let seed = exp["random"]["seed"].as_u64().unwrap();
    let clip = Array5::from_shape_vec(
        (1, 3, 16, 112, 112),
        splitmix64_uniform(seed, 3 * 16 * 112 * 112),
    )
    .unwrap();
    let got = run(&mut model(), clip.into_dyn());
    let want = logits(&exp["random"]["logits"]);
    let diff = max_abs_diff(&got, &want);
    println!("random clip: onnxruntime {got:?}, torch {want:?}, max abs diff {diff:e}");
    assert!(diff <= TOLERANCE, "max abs diff {diff} > {TOLERANCE}");
}

#[test]
fn fixture_clip_logits_match_torch() {
    let exp = expected();
    let fx = &exp["fixture"];
    let file = std::fs::File::open(repo().join("fixtures/parity/mc3_18/fixture_clip.npz")).unwrap();
    let frames: Array4<u8> = NpzReader::new(file).unwrap().by_name("frames").unwrap(); // T H W C
    let mean = logits(&fx["mean"]);
    let std = logits(&fx["std"]);
    // THWC bytes -> NCTHW floats, normalised in f32 exactly as the reference script did.
    let mut clip = Array5::<f32>::zeros((1, 3, 16, 112, 112));
    for ((t, y, x, c), &v) in frames.indexed_iter() {
        clip[[0, c, t, y, x]] = (v as f32 / 255.0 - mean[c]) / std[c];
    }
    let mut model = model();
    let got = run(&mut model, clip.clone().into_dyn());
    let want = logits(&fx["logits"]);
    let diff = max_abs_diff(&got, &want);
    println!("fixture clip: onnxruntime {got:?}, torch {want:?}, max abs diff {diff:e}");
    assert!(diff <= TOLERANCE, "max abs diff {diff} > {TOLERANCE}");
    // The batch axis is dynamic: the same clip twice in one run gives the same logits twice.
    let batch = ndarray::concatenate(Axis(0), &[clip.view(), clip.view()]).unwrap();
    let both = run(&mut model, batch.into_dyn());
    assert!(
        max_abs_diff(&both[..2], &got) <= 1e-5 && max_abs_diff(&both[2..], &got) <= 1e-5,
        "{both:?}"
    );
}
