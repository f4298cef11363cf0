//! fightwatch's own path (capture decode + swscale resize, time-based clips, tensor, ONNX
//! Runtime) gives the frames, tensor and logits of an independent reference built from the
//! ffmpeg CLI, numpy and onnxruntime (scripts/reference_preprocess.py).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use std::sync::Arc;

use fightwatch_capture::{Camera, CameraConfig};
use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{ModelPackage, OrtRuntime, WindowBuilder, resize_spec};
use ndarray::{Array5, Ix5};
use ndarray_npy::NpzReader;

const TOLERANCE: f32 = 1e-4;

fn check_case(name: &str, case: &serde_json::Value) {
    let rt = OrtRuntime::init(&LibrarySearch {
        roots: vec![repo()],
        ..LibrarySearch::from_env(None)
    })
    .unwrap();
    let mut pkg =
        ModelPackage::load(&rt, &repo().join(case["package"].as_str().unwrap()), 2).unwrap();
    let input = pkg.config().input.clone();
    let starts: Vec<f64> = case["window_starts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();

    // The real capture path: a camera thread resizing for the model.
    let mut cfg = CameraConfig::new(
        "parity",
        repo()
            .join(case["clip"].as_str().unwrap())
            .to_str()
            .unwrap(),
    );
    cfg.model_resize = Some(resize_spec(&input));
    let (tx, _status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, tx).unwrap();
    let mut builder = WindowBuilder::<()>::new(input.frames, input.sample_fps, 0.5);
    let mut clips = Vec::new();
    for frame in camera.frames().iter() {
        for clip in builder.push(frame.pts_s, frame.seq, frame.model_input.clone().unwrap()) {
            if starts.iter().any(|s| (s - clip.start_s).abs() < 1e-6) {
                clips.push(clip);
            }
        }
    }
    assert_eq!(clips.len(), starts.len(), "{name}: windows");

    // 1. Frames: decode, time sampling, resize and crop agree with the reference's bytes.
    let file =
        std::fs::File::open(repo().join(format!("fixtures/parity/preprocess/{name}.npz"))).unwrap();
    let reference: Array5<u8> = NpzReader::new(file).unwrap().by_name("frames").unwrap(); // N T H W C
    let mut max_px_diff = 0u8;
    for (n, clip) in clips.iter().enumerate() {
        for (t, img) in clip.frames.iter().enumerate() {
            for (x, y, px) in img.enumerate_pixels() {
                for c in 0..3 {
                    let r = reference[[n, t, y as usize, x as usize, c]];
                    max_px_diff = max_px_diff.max(px.0[c].abs_diff(r));
                }
            }
        }
    }
    println!("{name}: max pixel difference {max_px_diff}");
    assert_eq!(
        max_px_diff, 0,
        "{name}: frames differ from the ffmpeg CLI's"
    );

    // 2. Tensor: layout and normalisation, element by element (NCTHW from THWC), and its sums
    //    against numpy's.
    let batch: Vec<&[Arc<image::RgbImage>]> = clips.iter().map(|c| c.frames.as_slice()).collect();
    let tensor = pkg.input_tensor(&batch).unwrap();
    let mut max_diff = 0f32;
    for ((n, c, t, y, x), v) in tensor.indexed_iter() {
        let px = f32::from(reference[[n, t, y, x, c]]);
        let want = (px * input.pixel_scale - input.mean[c]) / input.std[c];
        max_diff = max_diff.max((v - want).abs());
    }
    assert!(
        max_diff <= TOLERANCE,
        "{name}: tensor differs by {max_diff}"
    );
    let sum: f64 = tensor.iter().map(|&v| f64::from(v)).sum();
    let abs_sum: f64 = tensor.iter().map(|&v| f64::from(v).abs()).sum();
    for (got, key) in [(sum, "tensor_sum"), (abs_sum, "tensor_abs_sum")] {
        let want = case[key].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1.0) * 10.0,
            "{name}: {key} {got} vs numpy {want}"
        );
    }
    let shape: Vec<usize> = case["tensor_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(tensor.shape(), shape.as_slice());

    // 3. Logits from ONNX Runtime through ort equal onnxruntime's in Python.
    let name_in = input.name.clone();
    let out = pkg
        .onnx_mut()
        .run_f32(&[(
            &name_in,
            tensor
                .into_dimensionality::<Ix5>()
                .unwrap()
                .into_dyn()
                .view(),
        )])
        .unwrap();
    let got: Vec<f32> = out[0].1.iter().copied().collect();
    let want: Vec<f32> = case["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
        })
        .collect();
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    println!("{name}: logits {got:?} vs reference {want:?} (max diff {diff:e})");
    assert!(diff <= TOLERANCE, "{name}: logits differ by {diff}");
}

#[test]
fn preprocessing_and_logits_match_the_independent_reference() {
    let text =
        std::fs::read_to_string(repo().join("fixtures/parity/preprocess/expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = expected["cases"].as_object().unwrap();
    assert!(cases.len() >= 2);
    for (name, case) in cases {
        check_case(name, case);
    }
}
