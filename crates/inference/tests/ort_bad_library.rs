//! A library path that exists but is not ONNX Runtime gives an error, not a panic.
//! (Its own test binary, so no real ONNX Runtime is loaded in this process first.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fightwatch_inference::{Error, OrtRuntime};

#[test]
fn a_file_that_is_not_a_shared_library_is_a_load_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so.1.32.0");
    std::fs::write(&fake, b"this is not an ELF file").unwrap();
    let err = OrtRuntime::init_from(&fake).unwrap_err();
    assert!(matches!(err, Error::LibraryLoad { .. }), "{err}");
    assert!(
        err.to_string().contains("libonnxruntime.so.1.32.0"),
        "{err}"
    );
}
