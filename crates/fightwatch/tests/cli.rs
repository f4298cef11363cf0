//! End-to-end tests of the real `fightwatch` binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fightwatch, repo, text};

use std::path::Path;
use std::process::Command;

#[test]
fn help_and_version() {
    let out = fightwatch(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Usage: fightwatch"));
    let out = fightwatch(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("fightwatch {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn model_inspect_loads_a_model_through_onnx_runtime() {
    let out = fightwatch(&[
        "model",
        "inspect",
        "fixtures/onnx/tiny_clip_classifier.onnx",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["opset"], 17);
    assert_eq!(v["inputs"][0]["dims"], "clip: f32[batch, 3, 4, 8, 8]");
    assert_eq!(v["outputs"][0]["dims"], "probs: f32[batch, 2]");
}

#[test]
fn wrong_ort_library_path_is_a_clear_error() {
    let out = fightwatch(&[
        "--ort-lib",
        "/nonexistent/libonnxruntime.so",
        "model",
        "inspect",
        "fixtures/onnx",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("/nonexistent/libonnxruntime.so") && err.contains("scripts/setup.sh"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn ort_dylib_path_pointing_at_junk_is_a_load_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("libonnxruntime.so");
    std::fs::write(&junk, b"not a library").unwrap();
    let out = common::command(&[])
        .args([
            "model",
            "inspect",
            "fixtures/onnx/tiny_clip_classifier.onnx",
        ])
        .current_dir(repo())
        .env("ORT_DYLIB_PATH", &junk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("could not load ONNX Runtime") && err.contains(&junk.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn library_not_found_anywhere_names_setup_script() {
    // Run a copy of the binary from a directory with no .cache/onnxruntime above it.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("fightwatch");
    std::fs::copy(env!("CARGO_BIN_EXE_fightwatch"), &exe).unwrap();
    // A child that another test thread forks while the copy's write handle is open inherits
    // it, and exec then fails with ETXTBSY until that child execs: retry briefly.
    let mut tries = 0;
    let out = loop {
        match Command::new(&exe)
            .args(["model", "inspect", "model.onnx"])
            .current_dir(dir.path())
            .env_remove("ORT_DYLIB_PATH")
            .output()
        {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("ONNX Runtime library not found") && err.contains("scripts/setup.sh"),
        "{err}"
    );
}

#[test]
fn inspecting_a_missing_model_fails_cleanly() {
    let out = fightwatch(&["model", "inspect", "/nonexistent/model-dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/model-dir"));
}

#[test]
fn probe_reports_stream_facts_and_decodes_every_frame() {
    let out = fightwatch(&["probe", "fixtures/fight_mid_talk.mkv", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["frames"].as_u64(),
            v["width"].as_u64(),
            v["height"].as_u64()
        ),
        (Some(150), Some(320), Some(240))
    );
    assert_eq!(v["fps"], 15.0);
    assert_eq!(v["codec"], "h264");
    assert!(v["decode_fps"].as_f64().unwrap() > 0.0);
    let out = fightwatch(&["probe", "fixtures/fight_frames", "--frames", "10", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["frames"].as_u64(), v["kind"].as_str()),
        (Some(10), Some("imagedir"))
    );
}

#[test]
fn probe_errors_exit_non_zero_without_panicking() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("rtsp://127.0.0.1:{port}/cam");
    for (source, want) in [
        ("fixtures/no-such-clip.mp4", "does not exist"),
        ("fixtures/broken/corrupt.mp4", "cannot open"),
        ("fixtures/broken/truncated.mp4", "after 66 frames"),
        ("gopher://example/cam", "unsupported source"),
        (unreachable.as_str(), "cannot open"),
        ("usb:0", "cannot open usb:0"),
    ] {
        let out = fightwatch(&["probe", source, "--frames", "1000"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{source}: {err}");
        assert!(err.contains(want), "{source}: {err}");
        assert!(!err.contains("panicked"), "{source}: {err}");
    }
}

/// `replay --decode`: `cuda` without a GPU (as here) fails naming why and exits non-zero;
/// `auto` falls back to the CPU and scores the clip.
#[test]
fn replay_decode_cuda_without_a_gpu_fails_and_auto_falls_back() {
    let clip = "fixtures/fight_street.mp4";
    let out = fightwatch(&["replay", clip, "--decode", "cuda", "--json"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(r#"decode = "cuda""#), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = fightwatch(&["replay", clip, "--decode", "auto", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("a summary");
    assert!(summary["windows"].as_u64() > Some(0), "{summary}");
    assert!(summary["fill_s"].as_f64() > Some(0.0), "{summary}");
    let out = fightwatch(&["replay", clip, "--decode", "gpu"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("cpu"), "{}", text(&out.stderr));
}

#[test]
fn devices_lists_no_cameras_as_an_empty_list() {
    // CI and development machines have no /dev/video*; a machine with cameras lists them.
    let out = fightwatch(&["devices", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.is_array());
    if !Path::new("/dev/video0").exists() {
        assert_eq!(v, serde_json::json!([]));
    }
}

#[test]
fn model_inspect_checks_a_package_against_its_graph() {
    let out = fightwatch(&["model", "inspect", "models/fight-demo", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["package"]["config_check"], "ok");
    assert_eq!(
        v["package"]["labels"],
        serde_json::json!(["nonfight", "fight"])
    );
    assert_eq!(v["package"]["clip_duration_s"], 2.0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("models/fight-demo/model.onnx"),
        dir.path().join("model.onnx"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(repo().join("models/fight-demo/model.toml")).unwrap();
    std::fs::write(
        dir.path().join("model.toml"),
        toml.replace("width = 96", "width = 112"),
    )
    .unwrap();
    let out = fightwatch(&["model", "inspect", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("clip: f32[batch, 3, 16, 96, 112]")
            && err.contains("clip: f32[batch, 3, 16, 96, 96]"),
        "{err}"
    );
}

#[test]
fn user_add_reads_the_password_from_stdin_and_checks_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let add = |password: &str| {
        let mut child = common::command(&[])
            .args([
                "user",
                "add",
                "guard1",
                "--role",
                "operator",
                "--password-stdin",
                "--data-dir",
            ])
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = add("short");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("8 to 1024 characters"));
    let out = add("a long enough password");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("fightwatch.db").is_file());
    let out = fightwatch(&["token", "--user", "x", "--role", "superuser"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown role"));
}

#[test]
fn model_bench_reports_each_batch_size() {
    let out = fightwatch(&[
        "model",
        "bench",
        "models/fight-demo",
        "--batch",
        "1,3",
        "--seconds",
        "0.1",
        "--threads",
        "1",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["model"], "fight-demo");
    let rows = v["batches"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, batch) in rows.iter().zip([1, 3]) {
        assert_eq!(row["batch"], batch);
        assert!(row["runs"].as_u64().unwrap() >= 3, "{row}");
        let clips_per_s = row["clips_per_s"].as_f64().unwrap();
        assert!(clips_per_s > 0.0, "{row}");
        // At the default hop (0.5 s) a camera needs 2 clips a second.
        let cameras = row["realtime_cameras"].as_f64().unwrap();
        assert!((cameras - clips_per_s * 0.5).abs() < 1e-6, "{row}");
    }
}

#[test]
fn model_bench_refuses_a_batch_size_out_of_range() {
    for batch in ["0", "257"] {
        let out = fightwatch(&["model", "bench", "models/fight-demo", "--batch", batch]);
        assert_eq!(out.status.code(), Some(2), "--batch {batch}");
        assert!(
            text(&out.stderr).contains("--batch"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn model_bench_refuses_bad_durations_without_panicking() {
    for arg in [
        "--seconds=NaN",
        "--seconds=-1",
        "--seconds=1e9",
        "--hop=NaN",
        "--hop=0",
    ] {
        let out = fightwatch(&["model", "bench", "models/fight-demo", arg]);
        let err = text(&out.stderr);
        let flag = arg.split('=').next().unwrap();
        assert_eq!(out.status.code(), Some(1), "{arg}: {err}");
        assert!(
            err.contains(flag) && !err.contains("panicked"),
            "{arg}: {err}"
        );
    }
}
