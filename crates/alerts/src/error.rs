use std::path::PathBuf;

use fightwatch_store::StoreError;

/// Errors of the alert stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a snapshot failed.
    #[error("writing snapshot {path}: {source}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A blocking task (a media file's write, an export) was cancelled: the runtime is shutting
    /// down. (A store call's is [`StoreError::Cancelled`].)
    #[error("task cancelled (shutting down)")]
    Cancelled,
    /// The request itself is wrong (a bad detection, a note too long): the caller's fault.
    #[error("{0}")]
    Invalid(String),
    /// An evidence export could not be made.
    #[error("evidence export: {0}")]
    Export(String),
}

impl AlertError {
    /// Whether this says "no such alert" (a 404, not a failure).
    pub fn is_no_such_alert(&self) -> bool {
        matches!(self, Self::Store(StoreError::NoSuchAlert(_)))
    }

    /// The change does not apply to the alert as it is now (a 409): why.
    pub fn conflict(&self) -> Option<&str> {
        match self {
            Self::Store(StoreError::Conflict(why)) => Some(why),
            _ => None,
        }
    }
}
