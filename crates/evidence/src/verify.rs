//! Checking an export: the signature over the manifest, then every file against it.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::export::FORMAT;
use crate::key::{hex, unhex};
use crate::{MANIFEST, Manifest, PublicKey, SIGNATURE, VerifyError};

/// Most entries an export may have.
const MAX_ENTRIES: usize = 64;
/// Largest entry (a clip is at most a few hundred MB).
const MAX_ENTRY_BYTES: u64 = 4 << 30;
/// Largest manifest or signature.
const MAX_META_BYTES: u64 = 1 << 20;

/// A verified export.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// What it holds, as signed.
    pub manifest: Manifest,
    /// The key that signed it.
    pub public_key: PublicKey,
}

/// Checks the export in `zip`: its signature (by `expected` when given, else by the key the
/// manifest names), and every file's size and SHA-256. The error names the first thing found
/// altered, missing or added.
pub fn verify(zip: &[u8], expected: Option<&PublicKey>) -> Result<Verified, VerifyError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| VerifyError::NotAZip(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(VerifyError::TooLarge(format!(
            "{} entries (at most {MAX_ENTRIES})",
            archive.len()
        )));
    }
    let manifest_bytes = read(&mut archive, MANIFEST, MAX_META_BYTES)?;
    let signature = read(&mut archive, SIGNATURE, MAX_META_BYTES)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| VerifyError::BadManifest(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(VerifyError::BadManifest(format!(
            "format {:?}, expected {FORMAT:?}",
            manifest.format
        )));
    }
    let signer = PublicKey::from_hex(&manifest.public_key)
        .ok_or_else(|| VerifyError::BadManifest("public_key is not an Ed25519 key".into()))?;
    if let Some(expected) = expected
        && *expected != signer
    {
        return Err(VerifyError::WrongKey {
            found: signer.fingerprint(),
            expected: expected.fingerprint(),
        });
    }
    let signature: [u8; 64] = std::str::from_utf8(&signature)
        .ok()
        .and_then(|s| unhex(s.trim()))
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::BadSignature)?;
    signer
        .0
        .verify_strict(
            &manifest_bytes,
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| VerifyError::BadSignature)?;
    for entry in &manifest.files {
        let bytes = read(&mut archive, &entry.name, MAX_ENTRY_BYTES)?;
        if bytes.len() as u64 != entry.bytes {
            return Err(VerifyError::Altered {
                file: entry.name.clone(),
                why: format!("{} bytes, the manifest says {}", bytes.len(), entry.bytes),
            });
        }
        if hex(&Sha256::digest(&bytes)) != entry.sha256 {
            return Err(VerifyError::Altered {
                file: entry.name.clone(),
                why: "its SHA-256 differs from the manifest's".into(),
            });
        }
    }
    for i in 0..archive.len() {
        let name = archive
            .by_index_raw(i)
            .map_err(|e| VerifyError::NotAZip(e.to_string()))?
            .name()
            .to_string();
        let listed =
            name == MANIFEST || name == SIGNATURE || manifest.files.iter().any(|f| f.name == name);
        if !listed {
            return Err(VerifyError::Unlisted(name));
        }
    }
    Ok(Verified {
        manifest,
        public_key: signer,
    })
}

/// One entry's bytes, at most `max`; a damaged entry (its CRC fails) is reported as altered.
fn read(
    archive: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    max: u64,
) -> Result<Vec<u8>, VerifyError> {
    let mut file = match archive.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Err(VerifyError::Missing(name.into())),
        Err(e) => {
            return Err(VerifyError::Altered {
                file: name.into(),
                why: e.to_string(),
            });
        }
    };
    if file.size() > max {
        return Err(VerifyError::TooLarge(format!(
            "{name} is {} bytes",
            file.size()
        )));
    }
    let mut bytes = Vec::with_capacity(file.size() as usize);
    (&mut file)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| VerifyError::Altered {
            file: name.into(),
            why: e.to_string(),
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Export, SigningKey};

    fn export(dir: &std::path::Path) -> (Vec<u8>, SigningKey) {
        let key = SigningKey::load_or_create(dir).unwrap();
        let mut e = Export::new("a7", "lead", 1_764_000_000_000, "node-1");
        e.add("clip.mp4", vec![7u8; 5000]).unwrap();
        e.add("snapshot.jpg", vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9])
            .unwrap();
        e.add("timeline.json", br#"[{"seq":1}]"#.to_vec()).unwrap();
        (e.finish(&key).unwrap(), key)
    }

    /// Offset of the first `needle` in `hay` (a local header comes before its data).
    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .expect("present")
    }

    #[test]
    fn an_untouched_export_verifies_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let (zip, key) = export(dir.path());
        let v = verify(&zip, Some(&key.public_key())).unwrap();
        assert_eq!(v.manifest.files.len(), 3);
        assert_eq!(v.manifest.exported_by, "lead");
        assert_eq!(verify(&zip, None).unwrap().public_key, key.public_key());
    }

    #[test]
    fn a_flipped_byte_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (zip, _) = export(dir.path());
        // In the clip's bytes.
        let mut bad = zip.clone();
        let at = find(&bad, &[7u8; 64]) + 100;
        bad[at] ^= 1;
        let e = verify(&bad, None).unwrap_err();
        assert!(
            matches!(&e, VerifyError::Altered { file, .. } if file == "clip.mp4"),
            "{e}"
        );
        // In the manifest (its JSON text).
        let mut bad = zip.clone();
        let at = find(&bad, b"\"exported_by\": \"lead\"") + 17;
        bad[at] = b'L';
        let e = verify(&bad, None).unwrap_err();
        assert!(
            matches!(e, VerifyError::Altered { ref file, .. } if file == MANIFEST)
                || e == VerifyError::BadSignature,
            "{e}"
        );
        assert!(e.to_string().contains("manifest"), "{e}");
        // In the signature.
        let mut bad = zip.clone();
        let name_at = find(&bad, b"manifest.sig") + b"manifest.sig".len();
        bad[name_at + 10] ^= 0x01;
        let e = verify(&bad, None).unwrap_err();
        assert!(e.to_string().contains("manifest.sig"), "{e}");
    }

    #[test]
    fn another_key_added_or_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (zip, _) = export(dir.path());
        let other = tempfile::tempdir().unwrap();
        let stranger = SigningKey::load_or_create(other.path()).unwrap();
        assert!(matches!(
            verify(&zip, Some(&stranger.public_key())),
            Err(VerifyError::WrongKey { .. })
        ));
        assert!(matches!(
            verify(b"not a zip", None),
            Err(VerifyError::NotAZip(_))
        ));
        // Re-signing a doctored manifest with another key passes only without a pinned key:
        // which is why the key must be compared.
        let mut e = Export::new("a7", "mallory", 1, "node-1");
        e.add("clip.mp4", vec![1]).unwrap();
        let forged = e.finish(&stranger).unwrap();
        assert!(verify(&forged, None).is_ok());
        let key = SigningKey::load_or_create(dir.path()).unwrap();
        assert!(verify(&forged, Some(&key.public_key())).is_err());
        assert!(matches!(
            Export::new("a", "b", 1, "n").add("../x", vec![]),
            Err(crate::EvidenceError::BadName(_))
        ));
    }
}
