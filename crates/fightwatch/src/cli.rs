//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Real-time fight detection: watches cameras and recordings with an action-recognition model
/// and pushes fight alerts to every connected security dashboard.
#[derive(Debug, Parser)]
#[command(name = "fightwatch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand shares.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// ONNX Runtime shared library (libonnxruntime.so). Default: ORT_DYLIB_PATH, then
    /// .cache/onnxruntime/ in the repository or beside the executable (scripts/setup.sh puts it
    /// there).
    #[arg(long, global = true, value_name = "FILE")]
    pub ort_lib: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open a source, print its codec, size, fps and duration, decode it and report decode speed.
    Probe {
        /// A video file, image folder, rtsp:// or http(s):// URL, or usb:INDEX.
        source: String,
        /// Decode at most this many frames (default: the whole file; give it for live sources).
        #[arg(long)]
        frames: Option<u64>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List local (USB) cameras.
    Devices {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect ONNX models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

/// `fightwatch model …`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print a model's inputs, outputs and opset, loading it with ONNX Runtime.
    Inspect {
        /// A model package directory (holding model.onnx) or an .onnx file.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}
