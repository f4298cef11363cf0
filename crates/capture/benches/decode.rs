//! Decode + resize throughput of the capture path against the ffmpeg CLI on the same files.
//!
//! `cargo bench -p fightwatch-capture --bench decode`
//!
//! For each fixture video and a 1080p H.264 clip (made here with the ffmpeg CLI by upscaling a
//! fixture), it times, in the same run:
//! * fightwatch: in-process FFmpeg decode → RGB24 → resize to the mc3_18 input (squash to
//!   171x128, centre-crop 112x112), every frame;
//! * `ffmpeg -i X -f null -`: the CLI decoding the same file and discarding the frames (its own
//!   `-benchmark` `rtime`, which leaves out process start-up and opening the file; ours leaves
//!   out opening too).
//!
//! Each is run 3 times and the best is kept. The machine has 2 cores and two busy processes
//! halve each other, so they run one after the other, never together. Results go to stdout as a
//! Markdown table and to target/bench/decode.json.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use fightwatch_capture::{FrameResizer, ResizeMode, ResizeSpec, SourceOptions, open};

const RUNS: usize = 3;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn ours(path: &Path) -> (u64, f64) {
    let spec = ResizeSpec {
        width: 112,
        height: 112,
        mode: ResizeMode::Squash {
            width: 171,
            height: 128,
        },
    };
    let mut resizer = FrameResizer::new(spec);
    // Opening (probing the container) is left out, as ffmpeg's rtime leaves it out.
    let mut src = open(
        path.to_str().expect("utf-8 path"),
        "bench",
        &SourceOptions::default(),
    )
    .expect("open");
    let t = Instant::now();
    let mut n = 0;
    while let Some(f) = src.next_frame().expect("decode") {
        let small = resizer.resize_picture(&f.picture).expect("resize");
        std::hint::black_box(small);
        n += 1;
    }
    (n, t.elapsed().as_secs_f64())
}

fn ffmpeg_null(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-benchmark", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg CLI");
    let text = String::from_utf8_lossy(&out.stderr);
    let rtime = text
        .lines()
        .filter_map(|l| l.split("rtime=").nth(1))
        .filter_map(|r| r.trim_end_matches('s').trim().parse::<f64>().ok())
        .next_back();
    rtime.unwrap_or_else(|| panic!("no rtime in ffmpeg -benchmark output: {text}"))
}

fn make_1080p(dir: &Path) -> PathBuf {
    let out = dir.join("crossing_crowd_1080p.mp4");
    if !out.exists() {
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-y", "-i"])
            .arg(repo().join("fixtures/crossing_crowd.mp4"))
            .args([
                "-vf",
                "scale=1920:1080:flags=bicubic",
                "-c:v",
                "libx264",
                "-preset",
                "fast",
                "-crf",
                "20",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&out)
            .status()
            .expect("ffmpeg CLI");
        assert!(status.success(), "could not make the 1080p clip");
    }
    out
}

fn main() {
    let bench_dir = repo().join("target/bench");
    std::fs::create_dir_all(&bench_dir).expect("target/bench");
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("fixtures"))
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|e| ["mp4", "mkv", "avi", "webm"].contains(&e.to_str().unwrap_or("")))
        })
        .collect();
    files.sort();
    files.push(make_1080p(&bench_dir));

    println!("| file | frames | fightwatch decode+RGB+resize fps | ffmpeg -f null fps | ratio |");
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    let (mut total_ours, mut total_ff, mut total_frames) = (0.0, 0.0, 0u64);
    for file in &files {
        let mut best_ours = f64::MAX;
        let mut frames = 0;
        let mut best_ff = f64::MAX;
        for _ in 0..RUNS {
            let (n, s) = ours(file);
            frames = n;
            best_ours = best_ours.min(s);
            best_ff = best_ff.min(ffmpeg_null(file));
        }
        let (fps_ours, fps_ff) = (frames as f64 / best_ours, frames as f64 / best_ff);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "| {name} | {frames} | {fps_ours:.0} | {fps_ff:.0} | {:.2} |",
            fps_ours / fps_ff
        );
        rows.push(format!(
            r#"{{"file":"{name}","frames":{frames},"fightwatch_fps":{fps_ours:.1},"ffmpeg_null_fps":{fps_ff:.1}}}"#
        ));
        total_ours += best_ours;
        total_ff += best_ff;
        total_frames += frames;
    }
    let (a, b) = (
        total_frames as f64 / total_ours,
        total_frames as f64 / total_ff,
    );
    println!(
        "| **all** | {total_frames} | {a:.0} | {b:.0} | {:.2} |",
        a / b
    );
    let json = format!("[{}]\n", rows.join(",\n"));
    std::fs::write(bench_dir.join("decode.json"), json).expect("write decode.json");
}
