use std::path::PathBuf;

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed (disk full, corrupt file, locked by another process, ...).
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL failed (unreachable, refused, a constraint, ...).
    #[error("database {target}: {message}")]
    Postgres {
        /// `postgres://host:port/database` (never the password).
        target: String,
        /// The server's or the driver's words.
        message: String,
    },
    /// The database was made by a newer fightwatch: refused rather than misread.
    #[error(
        "database {path} has schema version {found}; this fightwatch knows up to {known}: upgrade fightwatch"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// No alert with this id.
    #[error("no alert {0}")]
    NoSuchAlert(String),
    /// The change does not apply to the alert as it is now (it was resolved).
    #[error("{0}")]
    Conflict(String),
    /// A stored row or event could not be read back (written by an incompatible version, or
    /// edited by hand).
    #[error("stored event {seq} is unreadable: {message}")]
    BadEvent {
        /// The event (0 for rows that are not events).
        seq: u64,
        /// Why.
        message: String,
    },
    /// A store call on the blocking pool never ran to the end: the runtime is shutting down.
    #[error("store call cancelled (shutting down)")]
    Cancelled,
}
