//! `fightwatch export-dataset`: the clips of confirmed fights and false alarms in the RWF-2000
//! layout that `fightwatch eval` reads, for evaluating and fine-tuning on a site's own footage.

use std::path::Path;

use anyhow::{Context, bail};
use fightwatch_node::{media_dir, open_store};
use sha2::{Digest, Sha256};

/// `OUT/{train,val}/{Fight,NonFight}/ALERT.mp4` plus `OUT/alerts.csv` (the alert, camera,
/// outcome, reason and SHA-256 of each clip). An alert goes to `val` when the first byte of
/// the SHA-256 of its id is below `val_fraction × 256`, so a clip keeps its split from one
/// export to the next. A clip whose SHA-256 no longer matches the one recorded when it was
/// saved is left out.
pub fn run(data_dir: &Path, out: &Path, val_fraction: f64) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&val_fraction) {
        bail!("--val-fraction must be between 0 and 1");
    }
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .next()
            .is_some()
    {
        bail!("{} is not empty: give a new folder", out.display());
    }
    let store = open_store(data_dir)?;
    let verdicts = crate::verdicts::load(store.as_ref(), &media_dir(data_dir))?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "file",
        "alert",
        "camera",
        "site",
        "outcome",
        "reason",
        "started_at",
        "sha256",
    ])?;
    let (mut fights, mut calm, mut altered) = (0, 0, 0);
    for v in &verdicts.usable {
        let (_, sha256) = fightwatch_capture::sha256_file(&v.clip)
            .with_context(|| format!("reading {}", v.clip.display()))?;
        let recorded = v.alert.clip.as_ref().map(|c| c.sha256.as_str());
        if recorded != Some(sha256.as_str()) {
            tracing::warn!(alert = %v.alert.id, clip = %v.clip.display(), "Clip left out: its SHA-256 differs from the one recorded when it was saved.");
            altered += 1;
            continue;
        }
        let split = if f64::from(Sha256::digest(v.alert.id.as_bytes())[0]) < val_fraction * 256.0 {
            "val"
        } else {
            "train"
        };
        let class = if v.fight { "Fight" } else { "NonFight" };
        let ext = v.clip.extension().and_then(|e| e.to_str()).unwrap_or("mp4");
        let rel = format!(
            "{split}/{class}/{}.{ext}",
            fightwatch_protocol::file_safe(&v.alert.id)
        );
        let dest = out.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::copy(&v.clip, &dest)
            .with_context(|| format!("copying {} to {}", v.clip.display(), dest.display()))?;
        let a = &v.alert;
        csv.write_record([
            rel.as_str(),
            &a.id,
            &a.camera,
            &a.site,
            a.outcome.map_or("", |o| o.as_str()),
            a.reason.map_or("", |r| r.as_str()),
            &a.started_at.to_string(),
            &sha256,
        ])?;
        if v.fight {
            fights += 1;
        } else {
            calm += 1;
        }
    }
    if fights + calm == 0 {
        bail!(
            "no resolved alert with an outcome and a clip to export ({} without a clip, {} \
             tests, {altered} altered)",
            verdicts.without_clip,
            verdicts.tests
        );
    }
    let table = csv.into_inner().context("writing alerts.csv")?;
    // Not labels.csv: eval would read that instead of the folders.
    std::fs::write(out.join("alerts.csv"), table).context("writing alerts.csv")?;
    println!(
        "{}: {fights} fights, {calm} false alarms (RWF-2000 layout: train/ and val/, Fight/ and \
         NonFight/; alerts.csv lists them); left out: {} without a clip, {} tests, {altered} \
         altered",
        out.display(),
        verdicts.without_clip,
        verdicts.tests
    );
    Ok(())
}
