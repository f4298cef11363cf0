//! `fightwatch export` and `fightwatch verify`: signed evidence exports from a data directory,
//! and checking one.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use fightwatch_alerts::{AlertService, LocalBus, MediaDir};
use fightwatch_broadcaster::{media_dir, open_store};
use fightwatch_evidence::{PublicKey, SigningKey, verify};

/// `fightwatch export ALERT_ID --out FILE`: the export the server would give, signed with the
/// data directory's key, recorded in the alert's timeline as exported by `by`.
pub fn export(data_dir: &Path, alert_id: &str, out: &Path, by: &str) -> anyhow::Result<()> {
    let store = open_store(data_dir)?;
    let key = SigningKey::load_or_create(data_dir)?;
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

/// `fightwatch verify FILE`: checks the signature and every file; exit 1 naming what was
/// altered. The signer's key is pinned by `--public-key` (hex) or `--data-dir` (that server's
/// key); without either the key in the manifest is used, and its fingerprint printed to be
/// compared.
pub fn verify_file(
    file: &Path,
    public_key: Option<&str>,
    data_dir: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let expected = match (public_key, data_dir) {
        (Some(hex), _) => Some(
            PublicKey::from_hex(hex).context("--public-key: not an Ed25519 key (64 hex digits)")?,
        ),
        (None, Some(dir)) => Some(SigningKey::load_or_create(dir)?.public_key()),
        (None, None) => None,
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let verified = verify(&bytes, expected.as_ref())
        .map_err(|e| anyhow::anyhow!("{}: NOT VERIFIED: {e}", file.display()))?;
    let m = &verified.manifest;
    if json {
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
            m.alert_id,
            m.exported_by,
            m.node,
            m.exported_at
        );
        for f in &m.files {
            println!("  {}  {} bytes  sha256 {}", f.name, f.bytes, f.sha256);
        }
        match expected {
            Some(_) => println!(
                "  signed by the expected key ({})",
                verified.public_key.fingerprint()
            ),
            None => println!(
                "  signed by key {} (not pinned: compare it with the server's, or pass --public-key)",
                verified.public_key.fingerprint()
            ),
        }
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
