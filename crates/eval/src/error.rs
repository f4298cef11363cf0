use std::path::PathBuf;

/// Why an evaluation could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The labelled folder is missing, empty or has a bad `labels.csv`.
    #[error("{0}")]
    Dataset(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("plotting: {0}")]
    Plot(String),
    /// A clip could not be opened as a camera.
    #[error(transparent)]
    Capture(#[from] fightwatch_capture::CaptureError),
    /// The pipeline failed.
    #[error(transparent)]
    Inference(#[from] fightwatch_inference::Error),
}
