//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use fightwatch_inference::{IncidentOverrides, PipelineConfig};
use fightwatch_node::ServerOptions;

use fightwatch_node::{DEFAULT_DATA_DIR, ServerSettings, StorageSettings};

/// Real-time fight detection: watches cameras and recordings with an action-recognition model
/// and pushes fight alerts to every connected security dashboard.
#[derive(Debug, Parser)]
#[command(name = "fightwatch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides it.
    #[arg(short = 'v', action = clap::ArgAction::Count, global = true)]
    pub log_verbosity: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true)]
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
        /// Where to decode: cpu, cuda (NVDEC; fails without it) or auto.
        #[arg(long, default_value = "cpu")]
        decode: fightwatch_capture::Decode,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run recorded clips through the real capture → inference → incident path.
    Replay {
        /// Video files or image folders; each becomes a camera named after its file.
        #[arg(required = true)]
        sources: Vec<String>,
        #[command(flatten)]
        inference: InferenceArgs,
        /// One JSON object per line: incidents, a summary, and windows with --verbose.
        #[arg(long)]
        json: bool,
        /// Play the clips at recorded speed instead of as fast as possible.
        #[arg(long)]
        realtime: bool,
        /// Where to decode the clips: cpu, cuda (NVDEC; fails without it) or auto.
        #[arg(long, default_value = "cpu", value_name = "cpu|cuda|auto")]
        decode: fightwatch_capture::Decode,
        /// Take the model, [incident], [pipeline] and each camera's own [cameras.incident]
        /// (a clip's camera is named after its file) from this configuration instead of the
        /// flags.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
        /// Also report every scored window.
        #[arg(long)]
        verbose: bool,
        /// Write incident snapshots (JPEG) here, and the heat map of where the fight is (models
        /// with an activation map).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Also serve dashboards: incidents become stored alerts pushed over WebSocket, and the
        /// server keeps running after the replay until Ctrl-C.
        #[arg(long)]
        serve: bool,
        #[command(flatten)]
        server: ServeArgs,
    },
    /// Run the service described by a config file: cameras, model, server, storage.
    Run {
        /// The configuration (see docs/fightwatch.example.toml).
        #[arg(long, short = 'c', value_name = "FILE")]
        config: PathBuf,
    },
    /// Serve dashboards (WebSocket + REST) without cameras: history, chat, external detectors.
    Serve {
        #[command(flatten)]
        server: ServeArgs,
    },
    /// Manage the server's user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print a signed access token (JWT) for the server in DATA_DIR.
    Token {
        /// User name (the token's subject).
        #[arg(long)]
        user: String,
        /// viewer, operator, admin or detector.
        #[arg(long)]
        role: String,
        /// Lifetime: 90s, 15m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The server's data directory (holds its JWT secret).
        #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Evaluate a model and incident settings on labelled clips (labels.csv or RWF-2000 layout).
    Eval {
        /// Folder with labels.csv, split.csv (file,label,split), or class folders: Fight/ and
        /// NonFight/ (RWF-2000, optionally under train/ and val/), fight/ and noFight/.
        dir: PathBuf,
        /// Only the clips of this split of labels.csv or split.csv (`test`).
        #[arg(long, value_name = "NAME")]
        split: Option<String>,
        /// How a clip is judged a fight: `incident` (one started: what raises alerts) or
        /// `window` (a window reached the start threshold: for short clips, as real-footage
        /// datasets have).
        #[arg(long, value_enum, default_value_t = Decide::Incident)]
        decide: Decide,
        #[command(flatten)]
        inference: InferenceArgs,
        /// Write scores.csv, metrics.json, roc.png and scores.png here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the metrics as one JSON object.
        #[arg(long)]
        json: bool,
        /// Clips decoded at once (their clips share model runs).
        #[arg(long, default_value_t = 4)]
        parallel: usize,
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
    /// A deployment of several nodes (docs/deploy.md).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Write a signed evidence export of an alert (clip, snapshot, timeline, manifest signed
    /// with the data directory's Ed25519 key); it is recorded in the alert's timeline.
    Export {
        /// The alert's id (`a42`).
        alert_id: String,
        /// The ZIP to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Who exports it (recorded in the timeline).
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
        /// The server's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Propose per-camera start_threshold / min_windows from the operators' verdicts (resolved
    /// alerts with outcome confirmed or false_alarm, and their clips): the settings that still
    /// raise every confirmed fight and drop the most false alarms, with the trade-off plotted.
    Tune {
        /// The deployment's configuration (model, cameras, data directory).
        #[arg(long, short = 'c', value_name = "FILE")]
        config: PathBuf,
        /// Write tune.json and a plot per camera (tune-CAMERA.png) here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write the proposals into the config as [cameras.incident] overrides.
        #[arg(long)]
        apply: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Clips decoded at once.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    /// Write the clips of confirmed fights and false alarms in the RWF-2000 layout
    /// (train|val/Fight|NonFight), which `fightwatch eval` reads, for evaluation and
    /// fine-tuning.
    ExportDataset {
        /// A new (or empty) folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The server's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
        /// Share of alerts put in val/ (by a hash of the alert id: stable between exports).
        #[arg(long, default_value_t = 0.2)]
        val_fraction: f64,
    },
    /// Check an evidence export: the signature and every file's SHA-256; exit 1 naming the
    /// file that was altered.
    Verify {
        /// The ZIP.
        file: PathBuf,
        /// The signer's Ed25519 public key (hex), as the server logs it at start.
        #[arg(long, value_name = "HEX")]
        public_key: Option<String>,
        /// Expect the key of the server in this data directory.
        #[arg(long, value_name = "DIR", conflicts_with = "public_key")]
        data_dir: Option<PathBuf>,
        /// Accept a file signed by whatever key it names (integrity only: anyone can sign an
        /// export with a key of their own). Without it, a key must be pinned.
        #[arg(long)]
        allow_unpinned: bool,
        /// Write the verified files (and the signed manifest) into this new or empty folder:
        /// only bytes that were verified are written.
        #[arg(long, value_name = "DIR")]
        extract: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// How `eval` judges a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Decide {
    /// An incident started in it.
    Incident,
    /// A window scored at least the start threshold.
    Window,
}

/// `fightwatch cluster …`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The live nodes (cameras, capacity, how far each is behind the event log) and the node
    /// running each camera.
    Status {
        /// A node's configuration: its cameras are listed, and its [cluster] URLs used
        /// (default: the cameras that hold a lease now).
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
        /// Redis shared by the nodes.
        #[arg(
            long,
            env = "FIGHTWATCH_REDIS_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        redis_url: Option<String>,
        /// PostgreSQL shared by the nodes (for the event log's last seq; optional).
        #[arg(
            long,
            env = "FIGHTWATCH_DATABASE_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        database_url: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Model and incident settings shared by the pipeline commands.
#[derive(Debug, Clone, Args)]
pub struct InferenceArgs {
    /// Model package directory (model.toml + model.onnx).
    #[arg(long, default_value = "models/fight-demo", value_name = "DIR")]
    pub model: PathBuf,
    /// Execution device: cpu, cuda[:N], tensorrt[:N] or auto.
    #[arg(long, default_value = "cpu")]
    pub device: fightwatch_inference::Device,
    /// Threads per model operator (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Seconds of media time between window starts.
    #[arg(long, default_value_t = PipelineConfig::default().hop_s)]
    pub hop: f64,
    /// Most clips per model run.
    #[arg(long, default_value_t = PipelineConfig::default().max_batch)]
    pub max_batch: usize,
    /// Score every window: no motion gate, no relaxed hop (see `[pipeline] gate`).
    #[arg(long)]
    pub score_every_window: bool,
    /// Smoothed score that starts an incident [default: the model package's, else 0.6].
    #[arg(long)]
    pub start_threshold: Option<f32>,
    /// Smoothed score below which an incident ends [default: the model package's, else 0.4].
    #[arg(long)]
    pub end_threshold: Option<f32>,
    /// Consecutive windows above the start threshold needed to start [default: the model
    /// package's, else 2].
    #[arg(long)]
    pub min_windows: Option<usize>,
    /// Seconds after an incident ends before another can start on the same camera [default:
    /// the model package's, else 5].
    #[arg(long)]
    pub cooldown: Option<f64>,
}

impl InferenceArgs {
    /// Loads the model package these arguments name.
    pub fn load_model(
        &self,
        global: &GlobalArgs,
    ) -> anyhow::Result<fightwatch_inference::ModelPackage> {
        crate::model_cmd::load_package(global, &self.model, self.device, self.threads)
    }

    /// The pipeline settings these arguments give for `model` (the rest: the model's incident
    /// defaults, then the built-in ones).
    pub fn pipeline_config(
        &self,
        model: &fightwatch_inference::ModelConfig,
    ) -> anyhow::Result<PipelineConfig> {
        let defaults = PipelineConfig::default();
        let incident = IncidentOverrides {
            start_threshold: self.start_threshold,
            end_threshold: self.end_threshold,
            min_windows: self.min_windows,
            cooldown_s: self.cooldown,
            smoothing: None,
        }
        .apply(model.incident_defaults());
        incident
            .validate()
            .map_err(|e| anyhow::anyhow!("incident settings: {e}"))?;
        Ok(PipelineConfig {
            hop_s: self.hop,
            gate: if self.score_every_window {
                fightwatch_inference::GateConfig::off()
            } else {
                fightwatch_inference::GateConfig::recommended()
            },
            max_batch: self.max_batch.max(1),
            incident,
            ..defaults
        })
    }
}

/// Server options shared by `serve` and `replay --serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: ServerSettings,
    /// Database, snapshots and the JWT secret live here.
    #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Site name given to the replayed cameras.
    #[arg(long, default_value = "replay")]
    pub site: String,
    /// Alerts older than this many days are deleted (0: keep forever), as `[storage]`.
    #[arg(long, default_value_t = StorageSettings::default().retention_days)]
    pub retention_days: u32,
    /// Snapshots and clips beyond this many MiB are deleted, oldest first, within seconds of
    /// the limit being crossed (0: no limit), as `[storage]`.
    #[arg(long, default_value_t = StorageSettings::default().max_snapshot_mb)]
    pub max_snapshot_mb: u64,
    #[command(flatten)]
    pub cluster: fightwatch_node::ClusterSettings,
}

impl ServeArgs {
    /// The server these arguments describe.
    pub fn options(&self) -> anyhow::Result<ServerOptions> {
        let mut options = self.server.options(&self.data_dir);
        options.cluster = self.cluster.options()?;
        Ok(options)
    }

    /// What is kept, and for how long.
    pub fn retention(&self) -> fightwatch_alerts::Retention {
        StorageSettings {
            data_dir: self.data_dir.clone(),
            retention_days: self.retention_days,
            max_snapshot_mb: self.max_snapshot_mb,
        }
        .retention()
    }
}

/// `fightwatch user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create or replace a user; the password is read from standard input. Replacing a user
    /// ends its sessions.
    Add {
        /// Login name.
        name: String,
        /// viewer, operator, admin or detector.
        #[arg(long)]
        role: String,
        /// Read the password from stdin (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Cameras this user may see (repeatable; default all).
        #[arg(long = "camera")]
        cameras: Vec<String>,
        /// The server's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Delete a user and end its sessions (open consoles are signed out within a second).
    Delete {
        /// Login name.
        name: String,
        /// The server's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// End every session of a user (sign it out everywhere; its tokens stop working).
    Revoke {
        /// Login name (or a token's user).
        name: String,
        /// The server's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
    },
}

/// `fightwatch model …`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print a model's inputs, outputs, opset and labels, and check model.toml against the graph.
    Inspect {
        /// A model package directory (holding model.onnx) or an .onnx file.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Measure a model's throughput on a device: clips/s and run latency per batch size, on
    /// synthetic clips (the model alone: no decoding or resizing).
    Bench {
        /// A model package directory.
        path: PathBuf,
        /// Execution device: cpu, cuda[:N], tensorrt[:N] or auto.
        #[arg(long, default_value = "cpu")]
        device: fightwatch_inference::Device,
        /// Threads per model operator (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Batch sizes to measure, comma-separated (1 to 256 each).
        #[arg(long, value_delimiter = ',', default_value = "1,8", value_parser = clap::value_parser!(u16).range(1..=256))]
        batch: Vec<u16>,
        /// Seconds of runs per batch size (at least 3 runs each).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Seconds between window starts, to turn clips/s into real-time cameras.
        #[arg(long, default_value_t = PipelineConfig::default().hop_s)]
        hop: f64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
