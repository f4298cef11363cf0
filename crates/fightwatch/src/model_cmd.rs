//! `fightwatch model inspect`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use fightwatch_inference::runtime::LibrarySearch;
use fightwatch_inference::{OnnxModel, OrtRuntime, TensorInfo};

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

/// A model package directory means its `model.onnx`.
fn model_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("model.onnx")
    } else {
        path.to_path_buf()
    }
}

fn inspect(global: &GlobalArgs, path: &Path, json: bool) -> anyhow::Result<()> {
    let file = model_file(path);
    let runtime = ort_runtime(global)?;
    let model = OnnxModel::load(&runtime, &file, 1)
        .with_context(|| format!("inspecting {}", path.display()))?;
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
        });
        println!("{out}");
    } else {
        println!("model:   {}", file.display());
        println!(
            "opset:   {}",
            model.opset().map_or("unknown".into(), |o| o.to_string())
        );
        for t in model.inputs() {
            println!("input:   {t}");
        }
        for t in model.outputs() {
            println!("output:  {t}");
        }
        println!(
            "runtime: {} ({})",
            runtime.version(),
            runtime.library().display()
        );
    }
    Ok(())
}
