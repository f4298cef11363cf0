//! Helpers shared by this crate's integration tests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};

use fightwatch_inference::OrtRuntime;
use fightwatch_inference::runtime::LibrarySearch;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// ONNX Runtime from the library scripts/setup.sh provisions.
pub fn runtime() -> OrtRuntime {
    let search = LibrarySearch {
        roots: vec![repo()],
        ..LibrarySearch::from_env(None)
    };
    OrtRuntime::init(&search).expect("ONNX Runtime library (run scripts/setup.sh)")
}

/// A pipeline on the demo model with `config` (one model thread), and the resize its cameras
/// need.
pub fn demo_pipeline(
    config: fightwatch_inference::PipelineConfig,
) -> (
    fightwatch_inference::Pipeline,
    fightwatch_capture::ResizeSpec,
) {
    let model =
        fightwatch_inference::ModelPackage::load(&runtime(), &repo().join("models/fight-demo"), 1)
            .unwrap();
    let spec = fightwatch_inference::resize_spec(&model.config().input);
    (
        fightwatch_inference::Pipeline::new(model, config).unwrap(),
        spec,
    )
}
