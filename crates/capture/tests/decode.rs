//! `decode = "cuda" | "auto"` (FFmpeg's CUDA hwaccel): on a machine without a CUDA device,
//! `cuda` refuses to open with the reason and `auto` decodes on the CPU exactly as `cpu` does.
//! On a machine with one (the GPU check), both decode the same frames on the GPU.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use fightwatch_capture::{CaptureError, Decode, Frame, FrameSource, SourceOptions, open};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
        .canonicalize()
        .unwrap()
}

fn options(decode: Decode) -> SourceOptions {
    SourceOptions {
        decode,
        decode_threads: 1,
        ..SourceOptions::default()
    }
}

/// The first `n` frames as RGB, with their timestamps.
fn frames(source: &mut dyn FrameSource, n: usize) -> Vec<(f64, Vec<u8>)> {
    let mut out = Vec::new();
    while out.len() < n {
        let frame: Frame = source.next_frame().unwrap().expect("a frame");
        let rgb = frame.picture.to_rgb().unwrap();
        out.push((frame.pts_s, rgb.as_raw().clone()));
    }
    out
}

/// Whether this machine has a CUDA device FFmpeg can open.
fn cuda_available(path: &str) -> bool {
    open(path, "probe", &options(Decode::Cuda)).is_ok()
}

#[test]
fn cuda_refuses_with_the_reason_and_auto_falls_back_to_the_same_frames() {
    let path = fixture("fight_street.mp4");
    let path = path.to_str().unwrap();
    let cpu = frames(&mut *open(path, "gate", &options(Decode::Cpu)).unwrap(), 10);
    if cuda_available(path) {
        // The GPU check's machine: the same frames, decoded by NVDEC (colour conversion may
        // round differently, so timestamps and sizes are compared, not bytes).
        for decode in [Decode::Cuda, Decode::Auto] {
            let gpu = frames(&mut *open(path, "gate", &options(decode)).unwrap(), 10);
            for ((t_cpu, a), (t_gpu, b)) in cpu.iter().zip(&gpu) {
                assert_eq!((t_cpu, a.len()), (t_gpu, b.len()), "{decode}");
            }
        }
        return;
    }
    match open(path, "gate", &options(Decode::Cuda)) {
        Err(CaptureError::Decoder { message, .. }) => {
            assert!(
                message.starts_with("decode = \"cuda\": ") && message.contains("CUDA"),
                "{message}"
            );
        }
        Err(other) => panic!("expected a decoder error, got {other}"),
        Ok(_) => unreachable!("no CUDA device here"),
    }
    let auto = frames(
        &mut *open(path, "gate", &options(Decode::Auto)).unwrap(),
        10,
    );
    assert_eq!(auto, cpu, "auto without a device decodes exactly as cpu");
}

#[test]
fn a_codec_without_a_cuda_decoder_is_named() {
    // FFV1 has no NVDEC decoder in FFmpeg: `cuda` says so whatever the machine.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ffv1.mkv");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=5",
            "-t",
            "1",
        ])
        .args(["-c:v", "ffv1"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let path = path.to_str().unwrap();
    match open(path, "gate", &options(Decode::Cuda)) {
        Err(CaptureError::Decoder { message, .. }) => {
            assert!(message.contains("no CUDA decoder for FFV1"), "{message}");
        }
        Err(other) => panic!("expected a decoder error, got {other}"),
        Ok(_) => panic!("FFV1 decoded with CUDA"),
    }
    assert_eq!(
        frames(&mut *open(path, "gate", &options(Decode::Auto)).unwrap(), 3).len(),
        3
    );
}
