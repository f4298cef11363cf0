//! Runs a real ONNX model through ONNX Runtime, loaded from the library scripts/setup.sh
//! provisions, and compares the result with onnx's reference evaluator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo, runtime};

use std::path::Path;

use fightwatch_inference::{Error, OnnxModel, OrtRuntime};
use ndarray::ArrayD;

#[derive(serde::Deserialize)]
struct Expected {
    input_name: String,
    output_name: String,
    input_shape: Vec<usize>,
    input: Vec<f32>,
    output_shape: Vec<usize>,
    output: Vec<f32>,
}

#[test]
fn tiny_model_matches_onnx_reference_evaluator() {
    let rt = runtime();
    let dir = repo().join("fixtures/onnx");
    let expected: Expected = serde_json::from_str(
        &std::fs::read_to_string(dir.join("tiny_clip_classifier.expected.json")).unwrap(),
    )
    .unwrap();
    let mut model = OnnxModel::load(&rt, &dir.join("tiny_clip_classifier.onnx"), 1).unwrap();
    assert_eq!(model.opset(), Some(17));
    assert_eq!(
        model.inputs()[0].to_string(),
        "clip: f32[batch, 3, 4, 8, 8]"
    );
    assert_eq!(model.outputs()[0].to_string(), "probs: f32[batch, 2]");

    let input = ArrayD::from_shape_vec(expected.input_shape, expected.input).unwrap();
    let outputs = model
        .run_f32(&[(&expected.input_name, input.view())])
        .unwrap();
    assert_eq!(outputs.len(), 1);
    let (name, probs) = &outputs[0];
    assert_eq!(name, &expected.output_name);
    assert_eq!(probs.shape(), expected.output_shape.as_slice());
    for (got, want) in probs.iter().zip(&expected.output) {
        assert!(
            (got - want).abs() <= 1e-5,
            "ONNX Runtime {got} vs reference {want}"
        );
    }
}

#[test]
fn wrong_input_shape_is_a_clear_error() {
    let rt = runtime();
    let mut model = OnnxModel::load(
        &rt,
        &repo().join("fixtures/onnx/tiny_clip_classifier.onnx"),
        1,
    )
    .unwrap();
    let input = ArrayD::<f32>::zeros(vec![1, 3, 8, 8]);
    let err = model.run_f32(&[("clip", input.view())]).unwrap_err();
    assert!(matches!(err, Error::BadInput { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("[1, 3, 8, 8]") && msg.contains("clip: f32[batch, 3, 4, 8, 8]"),
        "{msg}"
    );
}

#[test]
fn missing_and_invalid_model_files_are_errors() {
    let rt = runtime();
    let err = OnnxModel::load(&rt, Path::new("/nonexistent/model.onnx"), 1).unwrap_err();
    assert!(matches!(err, Error::ModelMissing(_)), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"this is not a protobuf").unwrap();
    let err = OnnxModel::load(&rt, &junk, 1).unwrap_err();
    assert!(matches!(err, Error::ModelLoad { .. }), "{err}");
    assert!(err.to_string().contains("junk.onnx"));
}

#[test]
fn a_second_different_library_is_refused() {
    // ONNX Runtime loads once per process; asking for another library must not silently keep
    // the first one.
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("libonnxruntime.so");
    std::fs::write(&other, b"not an ELF").unwrap();
    let err = OrtRuntime::init_from(&other).unwrap_err();
    assert!(matches!(err, Error::AlreadyLoaded { .. }), "{err}");
    assert_eq!(
        OrtRuntime::init_from(rt.library()).unwrap().library(),
        rt.library()
    );
}

#[test]
fn a_gpu_device_that_cannot_be_used_is_an_error_and_auto_falls_back_to_cpu() {
    use fightwatch_inference::{Device, SessionConfig};
    let rt = runtime();
    let path = repo().join("fixtures/onnx/tiny_clip_classifier.onnx");
    for device in [Device::Cuda(0), Device::TensorRt(0)] {
        let err = OnnxModel::load_with(
            &rt,
            &path,
            &SessionConfig {
                device,
                intra_threads: 1,
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::Device { .. }), "{err}");
        let msg = err.to_string();
        // Without the cargo feature the message says how to rebuild; with it (and the CPU-only
        // library) ONNX Runtime says the provider is missing. Either way: no silent CPU run.
        assert!(
            msg.contains("feature") || msg.contains("xecution provider"),
            "{msg}"
        );
    }
    let model = OnnxModel::load_with(
        &rt,
        &path,
        &SessionConfig {
            device: Device::Auto,
            intra_threads: 1,
        },
    )
    .unwrap();
    assert_eq!(model.device(), Device::Cpu);
}
