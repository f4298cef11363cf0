//! The server's signing key: 32 random bytes, hex, in a file only its owner can read.

use std::path::{Path, PathBuf};

use crate::EvidenceError;

/// The Ed25519 key exports are signed with.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public_key().fingerprint())
    }
}

/// A public key that verifies exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Lowercase hex of the 32 bytes.
    pub fn to_hex(&self) -> String {
        hex(self.0.as_bytes())
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes: [u8; 32] = unhex(s.trim())?.try_into().ok()?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .ok()
            .map(Self)
    }

    /// A short name for people to compare: the first 16 hex digits of the key's SHA-256.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex(&sha2::Sha256::digest(self.0.as_bytes())[..8])
    }
}

impl SigningKey {
    /// The usual key file's name in a directory (a node's data directory).
    pub const FILE_NAME: &str = "evidence_ed25519.key";

    /// The key in the file `path`, made (0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, EvidenceError> {
        match Self::load(path) {
            Err(EvidenceError::KeyFile { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
        Self::create(path)
    }

    /// The key in the file `path`, which must exist (checking an export must not make a key).
    pub fn load(path: &Path) -> Result<Self, EvidenceError> {
        let path = path.to_path_buf();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let seed: [u8; 32] = unhex(text.trim())
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| EvidenceError::BadKey { path: path.clone() })?;
                Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            Err(source) => Err(EvidenceError::KeyFile { path, source }),
        }
    }

    fn create(path: &Path) -> Result<Self, EvidenceError> {
        let path = path.to_path_buf();
        let err = |source| EvidenceError::KeyFile {
            path: path.clone(),
            source,
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| err(std::io::Error::other(e.to_string())))?;
        write_private(&path, &hex(&seed)).map_err(err)?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(message).to_bytes()
    }
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &PathBuf, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = SigningKey::load_or_create(&dir.path().join(SigningKey::FILE_NAME)).unwrap();
        let b = SigningKey::load_or_create(&dir.path().join(SigningKey::FILE_NAME)).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SigningKey::FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let pk = a.public_key();
        assert_eq!(PublicKey::from_hex(&pk.to_hex()), Some(pk));
        assert_eq!(pk.fingerprint().len(), 16);
        std::fs::write(dir.path().join(SigningKey::FILE_NAME), "not hex").unwrap();
        assert!(matches!(
            SigningKey::load_or_create(&dir.path().join(SigningKey::FILE_NAME)),
            Err(EvidenceError::BadKey { .. })
        ));
    }
}
