//! Helpers shared by the end-to-end tests of the `fightwatch` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs the binary from the repository root, with no ORT_DYLIB_PATH inherited and quiet logs.
pub fn fightwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fightwatch"))
        .args(args)
        .current_dir(repo())
        .env_remove("ORT_DYLIB_PATH")
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
