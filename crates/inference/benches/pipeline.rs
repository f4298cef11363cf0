//! Throughput of the full replay path against raw model runs and a plain Python loop.
//!
//! `cargo bench -p fightwatch-inference --bench pipeline`
//!
//! For each model (the demo model on all fixtures; mc3_18 on two fixtures, it costs ~0.4 s per
//! clip here), in one run:
//! * raw: `ModelPackage::score_tensor` on ready-made batches of the pipeline's batch size,
//!   clips/s: the ceiling, ONNX Runtime alone;
//! * fightwatch: the full path (camera threads decoding and resizing, time-based clips, batching,
//!   incidents) over the fixtures, as fast as possible, clips/s from start to last event;
//! * Python: scripts/bench_python_reference.py (ffmpeg CLI decode + numpy + onnxruntime, one
//!   clip per run) on the same clips.
//!
//! Results go to stdout as a Markdown table and to target/bench/pipeline.json.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use fightwatch_capture::{Camera, CameraConfig};
use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{ModelPackage, OrtRuntime, Pipeline, PipelineConfig, resize_spec};
use ndarray::Array5;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo")
}

fn load(rt: &OrtRuntime, dir: &str) -> ModelPackage {
    ModelPackage::load(rt, &repo().join(dir), 0).expect("model package")
}

/// Raw clips/s: `runs` model runs on a random batch of `batch` clips, after one warm-up.
fn raw(pkg: &mut ModelPackage, batch: usize, runs: usize) -> f64 {
    let i = pkg.config().input.clone();
    let mut rng = fastrand::Rng::with_seed(7);
    let tensor = Array5::from_shape_simple_fn(
        (batch, 3, i.frames, i.height as usize, i.width as usize),
        || rng.f32() * 2.0 - 1.0,
    );
    pkg.score_tensor(tensor.clone()).expect("warm-up");
    let t = Instant::now();
    for _ in 0..runs {
        pkg.score_tensor(tensor.clone()).expect("run");
    }
    (batch * runs) as f64 / t.elapsed().as_secs_f64()
}

/// Full-path clips/s over `clips`, and the mean batch size it ran.
fn full(pkg: ModelPackage, clips: &[PathBuf], max_batch: usize) -> (f64, u64, f64, ModelPackage) {
    let spec = resize_spec(&pkg.config().input);
    let mut pipeline = Pipeline::new(
        pkg,
        PipelineConfig {
            max_batch,
            ..Default::default()
        },
    )
    .expect("pipeline");
    let (status_tx, status_rx) = crossbeam_channel::unbounded();
    let t = Instant::now();
    let cameras: Vec<Camera> = clips
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let mut cfg = CameraConfig::new(&format!("cam{n}"), c.to_str().expect("utf-8"));
            cfg.model_resize = Some(spec);
            Camera::start(cfg, status_tx.clone()).expect("camera")
        })
        .collect();
    drop(status_tx);
    let (events_tx, events_rx) = crossbeam_channel::unbounded();
    let summary = pipeline
        .run(&cameras, &status_rx, &events_tx, &AtomicBool::new(false))
        .expect("pipeline run");
    let secs = t.elapsed().as_secs_f64();
    drop(events_rx);
    let mean_batch = summary.windows as f64 / summary.batches.max(1) as f64;
    let pkg = pipeline.into_model();
    (
        summary.windows as f64 / secs,
        summary.windows,
        mean_batch,
        pkg,
    )
}

fn python(model: &str, clips: &[PathBuf]) -> Option<f64> {
    let py = repo().join(".cache/venv/bin/python");
    let out = Command::new(py)
        .arg(repo().join("scripts/bench_python_reference.py"))
        .args(["--model", &repo().join(model).to_string_lossy()])
        .args(clips)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["windows_per_s"].as_f64()
}

fn main() {
    let rt = OrtRuntime::init(&LibrarySearch {
        roots: vec![repo()],
        ..LibrarySearch::from_env(None)
    })
    .expect("ONNX Runtime");
    let fixtures = repo().join("fixtures");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|e| ["mp4", "mkv", "avi", "webm"].contains(&e.to_str().unwrap_or("")))
        })
        .collect();
    all.sort();
    let two = vec![
        fixtures.join("walk_street.mp4"),
        fixtures.join("fight_street.mp4"),
    ];
    println!(
        "| model | clips (windows) | raw session.run clips/s | fightwatch replay clips/s | ratio | Python loop clips/s | fightwatch / Python |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (dir, clips, batch, runs) in [
        ("models/fight-demo", &all, 8usize, 30usize),
        ("models/fight-mc3-18", &two, 8, 3),
    ] {
        let pkg = load(&rt, dir);
        let (full_cps, windows, mean_batch, mut pkg) = full(pkg, clips, batch);
        // Raw at the batch size the pipeline actually ran (rounded), for a like-for-like ceiling.
        let raw_batch = (mean_batch.round() as usize).clamp(1, batch);
        let raw_cps = raw(&mut pkg, raw_batch, runs);
        let py = python(dir, clips);
        let name = pkg.config().model.name.clone();
        println!(
            "| {name} | {} ({windows}) | {raw_cps:.1} (batch {raw_batch}) | {full_cps:.1} (mean batch {mean_batch:.1}) | {:.2} | {} | {} |",
            clips.len(),
            full_cps / raw_cps,
            py.map_or("n/a".into(), |p| format!("{p:.1}")),
            py.map_or("n/a".into(), |p| format!("{:.2}", full_cps / p)),
        );
        rows.push(serde_json::json!({"model": name, "clips": clips.len(), "windows": windows, "raw_clips_per_s": raw_cps,
            "raw_batch": raw_batch, "replay_clips_per_s": full_cps, "mean_batch": mean_batch, "python_clips_per_s": py}));
    }
    let dir = repo().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(
        dir.join("pipeline.json"),
        serde_json::to_string_pretty(&rows).expect("json"),
    )
    .expect("write");
}
