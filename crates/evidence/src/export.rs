//! Making an export: files in, a signed ZIP out.

use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::key::hex;
use crate::{EvidenceError, SigningKey};

/// Name of the manifest in an export.
pub const MANIFEST: &str = "manifest.json";
/// Name of the manifest's signature (hex) in an export.
pub const SIGNATURE: &str = "manifest.sig";
/// The manifest format this crate writes and reads.
pub(crate) const FORMAT: &str = "fightwatch-evidence/1";

/// What an export holds and who made it; signed as the bytes of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `fightwatch-evidence/1`.
    pub format: String,
    /// The alert exported.
    pub alert_id: String,
    /// When, ms since the epoch.
    pub exported_at: u64,
    /// Who.
    pub exported_by: String,
    /// The server (node) that signed it.
    pub node: String,
    /// The signer's Ed25519 public key, hex.
    pub public_key: String,
    /// Every other file of the export.
    pub files: Vec<FileEntry>,
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its name in the ZIP.
    pub name: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// Whether `name` is a plain file name an export may hold: no folders, no leading dot, ASCII
/// letters, digits, `.`, `-` and `_`, at most 128 characters.
pub(crate) fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !name.starts_with('.')
}

/// An export being put together.
#[derive(Debug)]
pub struct Export {
    manifest: Manifest,
    files: Vec<(String, Vec<u8>)>,
}

impl Export {
    /// An export of `alert_id` by `exported_by` at `exported_at` (ms), signed on `node`.
    pub fn new(alert_id: &str, exported_by: &str, exported_at: u64, node: &str) -> Self {
        Self {
            manifest: Manifest {
                format: FORMAT.into(),
                alert_id: alert_id.into(),
                exported_at,
                exported_by: exported_by.into(),
                node: node.into(),
                public_key: String::new(),
                files: Vec::new(),
            },
            files: Vec::new(),
        }
    }

    /// Adds a file. Names are plain (no folders), unique, and not the manifest's.
    pub fn add(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), EvidenceError> {
        if !plain_name(name)
            || name == MANIFEST
            || name == SIGNATURE
            || self.files.iter().any(|(n, _)| n == name)
        {
            return Err(EvidenceError::BadName(name.into()));
        }
        self.manifest.files.push(FileEntry {
            name: name.into(),
            bytes: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
        });
        self.files.push((name.into(), bytes));
        Ok(())
    }

    /// The ZIP: the files, `manifest.json` and `manifest.sig` (stored, not compressed: video
    /// and JPEG do not shrink, and a reader can check each file's bytes as they are).
    pub fn finish(mut self, key: &SigningKey) -> Result<Vec<u8>, EvidenceError> {
        self.manifest.public_key = key.public_key().to_hex();
        let manifest = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| EvidenceError::Zip(e.to_string()))?;
        let signature = hex(&key.sign(&manifest));
        let zip_err = |e: zip::result::ZipError| EvidenceError::Zip(e.to_string());
        let io_err = |e: std::io::Error| EvidenceError::Zip(e.to_string());
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(false);
        for (name, bytes) in self
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .chain([
                (MANIFEST, manifest.as_slice()),
                (SIGNATURE, signature.as_bytes()),
            ])
        {
            zip.start_file(name, options).map_err(zip_err)?;
            zip.write_all(bytes).map_err(io_err)?;
        }
        Ok(zip.finish().map_err(zip_err)?.into_inner())
    }
}
