//! `fightwatch export` and `fightwatch verify`: signed evidence exports from a data directory,
//! and checking one.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use fightwatch_alerts::{AlertService, LocalBus, MediaDir};
use fightwatch_evidence::{PublicKey, SigningKey, Verified, printable, verify};
use fightwatch_node::{media_dir, open_store};

/// `fightwatch export ALERT_ID --out FILE`: the export the server would give, signed with the
/// data directory's key, recorded in the alert's timeline as exported by `by`.
pub fn export(data_dir: &Path, alert_id: &str, out: &Path, by: &str) -> anyhow::Result<()> {
    let store = open_store(data_dir)?;
    let key =
        SigningKey::load_or_create(&fightwatch_node::DataDir::new(data_dir).evidence_key_file())?;
    let fingerprint = key.public_key().fingerprint();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    let zip = rt.block_on(async {
        let bus = Arc::new(LocalBus::new(store.clone(), 16));
        let alerts = AlertService::new(store, bus, MediaDir::new(media_dir(data_dir)));
        let node = hostname();
        alerts
            .export(alert_id, by, Arc::new(key), &node)
            .await
            .with_context(|| format!("exporting alert {alert_id}"))
    })?;
    std::fs::write(out, &zip).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "fightwatch: alert {alert_id} exported to {} ({} bytes), signed by key {fingerprint}",
        out.display(),
        zip.len()
    );
    Ok(())
}

/// What `fightwatch verify` was asked.
#[derive(Debug)]
pub struct VerifyRequest<'a> {
    /// The export.
    pub file: &'a Path,
    /// The signer's key, hex.
    pub public_key: Option<&'a str>,
    /// Or the data directory of the server whose key signed it.
    pub data_dir: Option<&'a Path>,
    /// Accept whatever key the file names.
    pub allow_unpinned: bool,
    /// Write the verified files here.
    pub extract: Option<&'a Path>,
    /// One JSON object.
    pub json: bool,
}

/// `fightwatch verify FILE`: checks the layout, the signature and every file; exit 1 naming
/// what was altered. The signer's key must be pinned by `--public-key` (hex) or `--data-dir`
/// (that server's key) unless `--allow-unpinned`: a file that verifies against the key it
/// names itself only proves someone signed it. Everything printed from the file is escaped
/// (a manifest could hold terminal escapes that forge a line of this output).
pub fn verify_file(req: &VerifyRequest) -> anyhow::Result<()> {
    let file = req.file;
    let expected = match (req.public_key, req.data_dir) {
        (Some(hex), _) => Some(
            PublicKey::from_hex(hex).context("--public-key: not an Ed25519 key (64 hex digits)")?,
        ),
        (None, Some(dir)) => Some(
            SigningKey::load(&fightwatch_node::DataDir::new(dir).evidence_key_file())?.public_key(),
        ),
        (None, None) => None,
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let verified = verify(&bytes, expected.as_ref())
        .map_err(|e| anyhow::anyhow!("{}: NOT VERIFIED: {e}", file.display()))?;
    if expected.is_none() && !req.allow_unpinned {
        anyhow::bail!(
            "{}: NOT VERIFIED: the signer's key is not pinned. The file is signed by key {}, \
             which proves nothing until it is compared with the server's: pass --public-key HEX \
             or --data-dir DIR, or --allow-unpinned to check integrity alone",
            file.display(),
            verified.public_key.fingerprint()
        );
    }
    if let Some(dir) = req.extract {
        extract(&verified, &bytes, dir)?;
    }
    let m = &verified.manifest;
    if req.json {
        // serde_json escapes control characters itself.
        println!(
            "{}",
            serde_json::json!({
                "verified": true,
                "alert_id": m.alert_id,
                "exported_at": m.exported_at,
                "exported_by": m.exported_by,
                "node": m.node,
                "key_pinned": expected.is_some(),
                "fingerprint": verified.public_key.fingerprint(),
                "files": m.files,
            })
        );
    } else {
        println!(
            "{}: verified: alert {} exported by {} on {} at {} ms",
            file.display(),
            printable(&m.alert_id),
            printable(&m.exported_by),
            printable(&m.node),
            m.exported_at
        );
        for f in &m.files {
            println!(
                "  {}  {} bytes  sha256 {}",
                printable(&f.name),
                f.bytes,
                printable(&f.sha256)
            );
        }
        match expected {
            Some(_) => println!(
                "  signed by the expected key ({})",
                verified.public_key.fingerprint()
            ),
            None => println!(
                "  signed by key {} (NOT PINNED, --allow-unpinned: compare it with the server's)",
                verified.public_key.fingerprint()
            ),
        }
    }
    Ok(())
}

/// Writes the verified files and the signed manifest into `dir` (created, or empty), each
/// new (0600): nothing that was not verified, nothing outside `dir` (names are plain).
fn extract(verified: &Verified, zip: &[u8], dir: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none();
    anyhow::ensure!(empty, "--extract: {} is not empty", dir.display());
    for (name, bytes) in verified.files(zip) {
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "fightwatch".into())
}
