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
