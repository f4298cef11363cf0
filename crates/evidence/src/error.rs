//! Errors of making and of checking an export.

/// Making an export, or the key, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds something else than a key.
    #[error("{path}: not an Ed25519 key (64 hex digits)")]
    BadKey {
        /// The file.
        path: std::path::PathBuf,
    },
    /// A file name is not allowed in an export.
    #[error("file name {0:?} is not allowed in an export")]
    BadName(String),
    /// The ZIP could not be written.
    #[error("writing the ZIP: {0}")]
    Zip(String),
}

/// What [`crate::verify`] found wrong. Each names the file concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a readable ZIP.
    #[error("not an evidence export (unreadable ZIP): {0}")]
    NotAZip(String),
    /// A ZIP, but not laid out as an export is (duplicate, hidden or extra entries, gaps,
    /// compression): what a forger would use to show one thing to a checker and another to
    /// an extractor.
    #[error("not laid out as an evidence export: {0}")]
    BadLayout(String),
    /// A required file is absent.
    #[error("{0} is missing")]
    Missing(String),
    /// The manifest cannot be parsed.
    #[error("manifest.json is not a valid manifest: {0}")]
    BadManifest(String),
    /// The signature does not match the manifest (the manifest or the signature was altered,
    /// or it was signed by another key).
    #[error("manifest.sig does not verify: the manifest or its signature was altered")]
    BadSignature,
    /// The manifest was signed by another key than the one given.
    #[error("manifest.json was signed by key {found}, not by the expected {expected}")]
    WrongKey {
        /// Fingerprint of the signer.
        found: String,
        /// Fingerprint of the expected key.
        expected: String,
    },
    /// A file's content differs from what the manifest says.
    #[error("{file} was altered: {why}")]
    Altered {
        /// The file.
        file: String,
        /// Size or hash mismatch, or an unreadable entry.
        why: String,
    },
    /// The ZIP holds a file the manifest does not list.
    #[error("{0} was added: the manifest does not list it")]
    Unlisted(String),
    /// An entry is too large or there are too many (a hostile ZIP).
    #[error("refused: {0}")]
    TooLarge(String),
}
