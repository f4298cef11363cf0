//! `fightwatch model inspect` and `fightwatch model bench`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{ModelPackage, OnnxModel, OrtRuntime, TensorInfo};

use crate::cli::{GlobalArgs, ModelCommand};

pub fn run(global: &GlobalArgs, command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Inspect { path, json } => inspect(global, &path, json),
        ModelCommand::Bench {
            path,
            device,
            threads,
            batch,
            seconds,
            hop,
            json,
        } => bench(global, &path, device, threads, &batch, seconds, hop, json),
    }
}

/// Loads ONNX Runtime the way every subcommand does.
pub fn ort_runtime(global: &GlobalArgs) -> anyhow::Result<OrtRuntime> {
    OrtRuntime::init(&LibrarySearch::from_env(global.ort_lib.clone()))
        .context("loading ONNX Runtime")
}

/// Loads a model package the way every pipeline command does.
pub fn load_package(
    global: &GlobalArgs,
    package: &Path,
    device: fightwatch_inference::Device,
    threads: usize,
) -> anyhow::Result<ModelPackage> {
    let runtime = ort_runtime(global)?;
    let session = fightwatch_inference::SessionConfig {
        device,
        intra_threads: threads,
    };
    let package = ModelPackage::load_with(&runtime, package, &session)
        .with_context(|| format!("loading model package {}", package.display()))?;
    // `auto` settles on a device; say which (the fallback also warns why).
    tracing::info!(
        model = %package.config().model.name,
        device = %package.onnx().device(),
        asked = %device,
        "Model loaded."
    );
    Ok(package)
}

/// One batch size's figures.
#[derive(serde::Serialize)]
struct BatchFigures {
    batch: usize,
    /// The first run at this batch size (a GPU picks its kernels for a new shape then).
    first_run_ms: f64,
    runs: usize,
    clips_per_s: f64,
    run_ms_p50: f64,
    run_ms_max: f64,
    /// Cameras one such session keeps up with at `hop` (each needs 1/hop clips a second).
    realtime_cameras: f64,
}

#[allow(clippy::too_many_arguments)]
fn bench(
    global: &GlobalArgs,
    path: &Path,
    device: fightwatch_inference::Device,
    threads: usize,
    batches: &[u16],
    seconds: f64,
    hop: f64,
    json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        hop > 0.0 && hop.is_finite(),
        "--hop must be a positive number of seconds"
    );
    anyhow::ensure!(
        (0.1..=600.0).contains(&seconds),
        "--seconds must be between 0.1 and 600"
    );
    let per_batch = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut package = load_package(global, path, device, threads)?;
    let load_s = started.elapsed().as_secs_f64();
    let mut figures = Vec::with_capacity(batches.len());
    for &batch in batches {
        let batch = usize::from(batch);
        if let Some(fixed) = package.fixed_batch().filter(|&f| f != batch) {
            anyhow::bail!("the model's batch size is fixed at {fixed}; --batch {batch} cannot run");
        }
        let tensor = package.synthetic_batch(batch);
        let first = Instant::now();
        package
            .score_view(tensor.view())
            .with_context(|| format!("warm-up run at batch {batch}"))?;
        let first_run_ms = first.elapsed().as_secs_f64() * 1e3;
        let mut times = Vec::new();
        let t = Instant::now();
        while times.len() < 3 || t.elapsed() < per_batch {
            let run = Instant::now();
            package
                .score_view(tensor.view())
                .with_context(|| format!("run at batch {batch}"))?;
            times.push(run.elapsed().as_secs_f64() * 1e3);
        }
        let clips_per_s = (batch * times.len()) as f64 / t.elapsed().as_secs_f64();
        times.sort_by(f64::total_cmp);
        let row = BatchFigures {
            batch,
            first_run_ms,
            runs: times.len(),
            clips_per_s,
            run_ms_p50: times[times.len() / 2],
            run_ms_max: times[times.len() - 1],
            realtime_cameras: clips_per_s * hop,
        };
        if !json {
            println!(
                "batch {:>3}: {:>8.1} clips/s  run p50 {:>8.1} ms  max {:>8.1} ms  ({} runs)  ≈ {:.1} cameras at hop {hop} s",
                row.batch,
                row.clips_per_s,
                row.run_ms_p50,
                row.run_ms_max,
                row.runs,
                row.realtime_cameras
            );
        }
        figures.push(row);
    }
    if json {
        let out = serde_json::json!({
            "model": package.config().model.name,
            "device": package.onnx().device().to_string(),
            "threads": threads,
            "hop_s": hop,
            "load_s": load_s,
            "batches": figures,
        });
        println!("{out}");
    }
    Ok(())
}

fn inspect(global: &GlobalArgs, path: &Path, json: bool) -> anyhow::Result<()> {
    let runtime = ort_runtime(global)?;
    // A package directory is loaded as a package: model.toml is parsed and checked against the
    // graph, and a mismatch is the error this command reports.
    let package = if path.join("model.toml").is_file() {
        Some(
            ModelPackage::load(&runtime, path, 1)
                .with_context(|| format!("checking package {}", path.display()))?,
        )
    } else {
        None
    };
    let standalone;
    let (model, file) = match &package {
        Some(p) => (p.onnx(), p.onnx().path().to_path_buf()),
        None => {
            let file = if path.is_dir() {
                path.join("model.onnx")
            } else {
                path.to_path_buf()
            };
            standalone = OnnxModel::load(&runtime, &file, 1)
                .with_context(|| format!("inspecting {}", path.display()))?;
            (&standalone, file)
        }
    };
    let config = package.as_ref().map(|p| p.config());
    if json {
        let io = |t: &[TensorInfo]| -> Vec<serde_json::Value> {
            t.iter()
                .map(|t| serde_json::json!({"name": t.name, "type": t.element_type, "shape": t.shape, "dims": t.to_string()}))
                .collect()
        };
        let out = serde_json::json!({
            "file": file,
            "opset": model.opset(),
            "inputs": io(model.inputs()),
            "outputs": io(model.outputs()),
            "onnxruntime": runtime.version(),
            "package": config.map(|c| serde_json::json!({
                "name": c.model.name,
                "labels": c.output.labels,
                "fight_labels": c.output.fight_labels,
                "activation": format!("{:?}", c.output.activation).to_lowercase(),
                "frames": c.input.frames,
                "sample_fps": c.input.sample_fps,
                "clip_duration_s": c.input.clip_duration_s(),
                "width": c.input.width,
                "height": c.input.height,
                "layout": format!("{:?}", c.input.layout).to_uppercase(),
                "config_check": "ok",
            })),
        });
        println!("{out}");
        return Ok(());
    }
    println!("model:    {}", file.display());
    println!(
        "opset:    {}",
        model.opset().map_or("unknown".into(), |o| o.to_string())
    );
    for t in model.inputs() {
        println!("input:    {t}");
    }
    for t in model.outputs() {
        println!("output:   {t}");
    }
    if let Some(c) = config {
        println!("package:  {} ({})", c.model.name, c.model.description);
        println!(
            "clip:     {} frames at {} fps ({:.2} s), {}x{} {:?}, resize {:?}",
            c.input.frames,
            c.input.sample_fps,
            c.input.clip_duration_s(),
            c.input.width,
            c.input.height,
            c.input.layout,
            c.input.resize
        );
        println!(
            "labels:   {} ({:?}); fight: {}",
            c.output.labels.join(", "),
            c.output.activation,
            c.output.fight_labels.join(", ")
        );
        println!("check:    model.toml matches the graph");
    }
    println!(
        "runtime:  {} ({})",
        runtime.version(),
        runtime.library().display()
    );
    Ok(())
}
