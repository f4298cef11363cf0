//! Checking an export: the signature over the manifest, then every file against it.

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::export::FORMAT;
use crate::key::{hex, unhex};
use crate::layout::printable;
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
    /// Where each listed file's verified bytes are in the ZIP.
    files: Vec<(String, Range<usize>)>,
}

impl Verified {
    /// Each file the manifest lists with its verified bytes, taken from `zip` (the bytes that
    /// were verified: nothing else of the ZIP is ever read for them).
    pub fn files<'a>(&'a self, zip: &'a [u8]) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.files
            .iter()
            .filter_map(move |(name, range)| Some((name.as_str(), zip.get(range.clone())?)))
    }
}

/// Checks the export in `zip`: that it has exactly the exporter's layout (see the `layout`
/// module: no duplicate, hidden or extra entries), its signature (by `expected` when given,
/// else by the key the manifest names), and every file's size and SHA-256. The error names
/// the first thing found altered, missing or added.
pub fn verify(zip: &[u8], expected: Option<&PublicKey>) -> Result<Verified, VerifyError> {
    let entries = crate::layout::entries(zip, MAX_ENTRIES)?;
    let bytes_of = |name: &str, max: u64| -> Result<&[u8], VerifyError> {
        let entry = entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| VerifyError::Missing(name.into()))?;
        if entry.data.len() as u64 > max {
            return Err(VerifyError::TooLarge(format!(
                "{} is {} bytes",
                printable(name),
                entry.data.len()
            )));
        }
        Ok(&zip[entry.data.clone()])
    };
    let manifest_bytes = bytes_of(MANIFEST, MAX_META_BYTES)?;
    let signature = bytes_of(SIGNATURE, MAX_META_BYTES)?;
    let manifest: Manifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| VerifyError::BadManifest(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(VerifyError::BadManifest(format!(
            "format {}, expected {FORMAT:?}",
            printable(&format!("{:?}", manifest.format))
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
    let signature: [u8; 64] = std::str::from_utf8(signature)
        .ok()
        .and_then(|s| unhex(s.trim()))
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::BadSignature)?;
    signer
        .0
        .verify_strict(
            manifest_bytes,
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| VerifyError::BadSignature)?;
    // Signed, but by whom is only known when the key is pinned: the manifest's own text still
    // goes through the exporter's rules before anyone sees or uses it.
    for name in manifest.files.iter().map(|f| f.name.as_str()) {
        if !crate::export::plain_name(name) || name == MANIFEST || name == SIGNATURE {
            return Err(VerifyError::BadManifest(format!(
                "file name {} is not one an export may have",
                printable(name)
            )));
        }
    }
    let mut files = Vec::with_capacity(manifest.files.len());
    for entry in &manifest.files {
        let bytes = bytes_of(&entry.name, MAX_ENTRY_BYTES)?;
        if bytes.len() as u64 != entry.bytes {
            return Err(VerifyError::Altered {
                file: entry.name.clone(),
                why: format!("{} bytes, the manifest says {}", bytes.len(), entry.bytes),
            });
        }
        if hex(&Sha256::digest(bytes)) != entry.sha256 {
            return Err(VerifyError::Altered {
                file: entry.name.clone(),
                why: "its SHA-256 differs from the manifest's".into(),
            });
        }
        let range = entries
            .iter()
            .find(|e| e.name == entry.name)
            .map(|e| e.data.clone())
            .unwrap_or_default();
        files.push((entry.name.clone(), range));
    }
    for e in &entries {
        let listed = e.name == MANIFEST
            || e.name == SIGNATURE
            || manifest.files.iter().any(|f| f.name == e.name);
        if !listed {
            return Err(VerifyError::Unlisted(printable(&e.name)));
        }
    }
    Ok(Verified {
        manifest,
        public_key: signer,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Export, SigningKey};

    fn export(dir: &std::path::Path) -> (Vec<u8>, SigningKey) {
        let key = SigningKey::load_or_create(&dir.join(SigningKey::FILE_NAME)).unwrap();
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
        let stranger =
            SigningKey::load_or_create(&other.path().join(SigningKey::FILE_NAME)).unwrap();
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
        let key = SigningKey::load_or_create(&dir.path().join(SigningKey::FILE_NAME)).unwrap();
        assert!(verify(&forged, Some(&key.public_key())).is_err());
        assert!(matches!(
            Export::new("a", "b", 1, "n").add("../x", vec![]),
            Err(crate::EvidenceError::BadName(_))
        ));
    }

    /// A ZIP of `entries` (stored, back to back) in the exporter's format, with `gap` written
    /// between the last entry and the central directory: for crafting what a forger would.
    fn raw_zip(entries: &[(&str, &[u8])], gap: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let offset = out.len() as u32;
            let header = |sig: u32| sig.to_le_bytes().to_vec();
            let mut local = header(0x0403_4b50);
            local.extend_from_slice(&20u16.to_le_bytes()); // version needed
            local.extend_from_slice(&0u16.to_le_bytes()); // flags
            local.extend_from_slice(&0u16.to_le_bytes()); // stored
            local.extend_from_slice(&[0; 4]); // time, date
            local.extend_from_slice(&0u32.to_le_bytes()); // crc (not checked)
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(data.len() as u32).to_le_bytes());
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&local);
            out.extend_from_slice(data);
            let mut cd = header(0x0201_4b50);
            cd.extend_from_slice(&20u16.to_le_bytes()); // made by
            cd.extend_from_slice(&local[4..30]); // version needed .. extra length
            cd.extend_from_slice(&[0; 8]); // comment length, disk, internal, external attrs
            cd.extend_from_slice(&[0; 2]);
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
            central.extend_from_slice(&cd);
        }
        out.extend_from_slice(gap);
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    /// `entries` as `raw_zip` takes them.
    fn refs(entries: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
        entries
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect()
    }

    /// The genuine export's entries, in order.
    fn genuine(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        crate::layout::entries(zip, 64)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, zip[e.data].to_vec()))
            .collect()
    }

    #[test]
    fn a_rebuilt_export_of_the_same_entries_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let (zip, key) = export(dir.path());
        let entries = genuine(&zip);
        let rebuilt = raw_zip(&refs(&entries), b"");
        let v = verify(&rebuilt, Some(&key.public_key())).unwrap();
        let files: Vec<(&str, usize)> = v.files(&rebuilt).map(|(n, b)| (n, b.len())).collect();
        assert_eq!(
            files,
            [
                ("clip.mp4", 5000),
                ("snapshot.jpg", 7),
                ("timeline.json", 11)
            ]
        );
    }

    /// Audit round two, finding 5a: a forged `clip.mp4` placed before the real one. A ZIP
    /// reader merges the names (and `unzip -n` extracts the forgery); the layout check does not.
    #[test]
    fn a_second_entry_of_the_same_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (zip, key) = export(dir.path());
        let entries = genuine(&zip);
        let forged = vec![9u8; 5000];
        let mut doubled: Vec<(&str, &[u8])> = vec![("clip.mp4", forged.as_slice())];
        doubled.extend(refs(&entries));
        let e = verify(&raw_zip(&doubled, b""), Some(&key.public_key())).unwrap_err();
        assert!(
            matches!(&e, VerifyError::BadLayout(why) if why.contains("clip.mp4 appears twice")),
            "{e}"
        );
    }

    /// Audit round two, finding 5b: a forged local entry hidden in a gap before the central
    /// directory (a streaming reader extracts it; the directory never mentions it).
    #[test]
    fn a_hidden_entry_in_a_gap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (zip, key) = export(dir.path());
        let entries = genuine(&zip);
        let entries = refs(&entries);
        let hidden = raw_zip(&[("clip.mp4", &[9u8; 100])], b"");
        let local = &hidden[..30 + 8 + 100];
        let e = verify(&raw_zip(&entries, local), Some(&key.public_key())).unwrap_err();
        assert!(
            matches!(&e, VerifyError::BadLayout(why) if why.contains("between the last entry and the central directory")),
            "{e}"
        );
        // Bytes after the end record, or a gap at the start, are refused too.
        let mut trailing = zip.clone();
        trailing.extend_from_slice(b"PK\x03\x04 more");
        assert!(verify(&trailing, None).is_err());
        let mut shifted = b"junk".to_vec();
        shifted.extend_from_slice(&zip);
        assert!(verify(&shifted, None).is_err());
    }

    #[test]
    fn unprintable_text_is_escaped() {
        assert_eq!(printable("clip\x1b[2K\rok"), "clip\\u{1b}[2K\\u{d}ok");
        assert_eq!(printable("plain.mp4"), "plain.mp4");
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
    }
}
