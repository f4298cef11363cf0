use fightwatch_alerts::AlertError;

/// Errors of running a node's pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A camera could not be started.
    #[error("starting camera {camera}: {source}")]
    Camera {
        /// Its name.
        camera: String,
        /// Why.
        #[source]
        source: fightwatch_capture::CaptureError,
    },
    /// The inference pipeline could not be built or failed.
    #[error(transparent)]
    Inference(#[from] fightwatch_inference::Error),
    /// A thread could not be started, or the inference thread panicked.
    #[error("pipeline thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The alert stage failed.
    #[error(transparent)]
    Alert(#[from] AlertError),
    /// The server failed (ending a dead node's alerts).
    #[error(transparent)]
    Server(#[from] crate::ServerError),
    /// A section of the node's settings is invalid.
    #[error("[{section}]: {message}")]
    Settings {
        /// The section (`evidence`, `cluster`, `cameras`…).
        section: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Camera leases (Redis) could not be taken.
    #[error("camera leases: {0}")]
    Leases(#[from] fightwatch_cluster::ClusterError),
}
