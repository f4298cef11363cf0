//! `fightwatch model inspect`.

use std::path::Path;

use anyhow::Context;
use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{ModelPackage, OnnxModel, OrtRuntime, TensorInfo};

use crate::cli::{GlobalArgs, ModelCommand};

pub fn run(global: &GlobalArgs, command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Inspect { path, json } => inspect(global, &path, json),
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
    ModelPackage::load_with(&runtime, package, &session)
        .with_context(|| format!("loading model package {}", package.display()))
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
