/// Errors starting cluster components.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Redis could not be reached or refused a command.
    #[error("Redis {target}: {source}")]
    Redis {
        /// `redis://host:port/db` (never the password).
        target: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A cluster setting is not usable (a cluster key too short, ...).
    #[error("{0}")]
    Config(String),
}
