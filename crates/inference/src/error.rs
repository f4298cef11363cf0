use std::path::PathBuf;

/// Errors from loading ONNX Runtime and running models.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No ONNX Runtime library was found in any of the searched places.
    #[error(
        "ONNX Runtime library not found (searched: {searched}). Run scripts/setup.sh to install \
         it into .cache/onnxruntime/, or point --ort-lib / ORT_DYLIB_PATH at a libonnxruntime.so"
    )]
    LibraryNotFound {
        /// The places that were searched, in order, for the message.
        searched: String,
    },
    /// A library path was given explicitly (flag, config or `ORT_DYLIB_PATH`) but is not a file.
    #[error(
        "ONNX Runtime library {path} (from {origin}) does not exist. Run scripts/setup.sh, or fix \
         the path"
    )]
    LibraryMissing {
        /// The path that was given.
        path: PathBuf,
        /// Where the path came from (`--ort-lib`, `ORT_DYLIB_PATH`, ...).
        origin: &'static str,
    },
    /// The library exists but could not be loaded (wrong file, wrong version, wrong architecture).
    #[error("could not load ONNX Runtime from {path}: {message}")]
    LibraryLoad {
        /// The library that failed to load.
        path: PathBuf,
        /// What the loader said.
        message: String,
    },
    /// ONNX Runtime was already loaded from another library in this process.
    #[error(
        "ONNX Runtime is already loaded from {loaded} in this process; cannot load {requested} too"
    )]
    AlreadyLoaded {
        /// The library loaded first.
        loaded: PathBuf,
        /// The library asked for now.
        requested: PathBuf,
    },
    /// The model file does not exist.
    #[error("model file {0} does not exist")]
    ModelMissing(PathBuf),
    /// ONNX Runtime refused the model file (not ONNX, unsupported opset, ...).
    #[error("could not load model {path}: {source}")]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's error.
        #[source]
        source: ort::Error,
    },
    /// An input given to [`crate::OnnxModel::run_f32`] does not match the model.
    #[error("bad input for model {model}: {message}")]
    BadInput {
        /// The model file name.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// The model package directory does not exist.
    #[error(
        "model package {0} does not exist (expected a directory with model.toml and model.onnx)"
    )]
    PackageMissing(PathBuf),
    /// `model.toml` is unreadable or invalid; the message includes the line for syntax errors.
    #[error("invalid model config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The ONNX graph does not match what `model.toml` describes.
    #[error(
        "model {model} does not match its model.toml: expected {expected}, the graph has {actual}"
    )]
    ModelMismatch {
        /// The ONNX file.
        model: PathBuf,
        /// What model.toml implies.
        expected: String,
        /// What the graph has.
        actual: String,
    },
    /// The requested execution device cannot be used.
    #[error("cannot run on {device}: {message}")]
    Device {
        /// The device asked for.
        device: crate::Device,
        /// Why not.
        message: String,
    },
    /// Any other ONNX Runtime failure (session creation, run, output extraction).
    #[error("ONNX Runtime: {0}")]
    Ort(#[from] ort::Error),
}
