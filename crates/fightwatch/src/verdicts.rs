//! The operators' verdicts: resolved fight alerts with an outcome and a clip, read from the
//! store (`fightwatch tune`, `fightwatch export-dataset`).

use std::path::{Path, PathBuf};

use fightwatch_alerts::MediaDir;
use fightwatch_protocol::{AlertRecord, AlertStatus, Outcome};
use fightwatch_store::{AlertFilter, AlertStore};

/// One resolved alert whose clip says what a fight (or a false alarm) looks like.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The alert.
    pub alert: AlertRecord,
    /// Confirmed fight (true) or false alarm (false).
    pub fight: bool,
    /// Its clip on disk.
    pub clip: PathBuf,
}

/// What was read, and what was left out and why.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Usable verdicts, oldest first.
    pub usable: Vec<Verdict>,
    /// Resolved as `test`: neither a fight nor a false alarm.
    pub tests: usize,
    /// Confirmed or false alarm, but without a clip (recording off, pruned, or a detector's).
    pub without_clip: usize,
}

/// Reads every resolved fight alert from `store`, clips from `media`.
pub fn load(store: &dyn AlertStore, media: &Path) -> anyhow::Result<Verdicts> {
    let media = MediaDir::new(media);
    let mut out = Verdicts::default();
    let mut before_seq = None;
    loop {
        let page = store.alerts(&AlertFilter {
            status: Some(AlertStatus::Resolved),
            before_seq,
            limit: 1000,
            ..AlertFilter::default()
        })?;
        let Some(last) = page.last() else { break };
        before_seq = Some(last.seq);
        for alert in page {
            if alert.label == fightwatch_alerts::CAMERA_OFFLINE {
                continue;
            }
            let fight = match alert.outcome {
                Some(Outcome::Confirmed) => true,
                Some(Outcome::FalseAlarm) => false,
                Some(Outcome::Test) => {
                    out.tests += 1;
                    continue;
                }
                None => continue,
            };
            let clip = alert
                .clip
                .as_ref()
                .and_then(|c| media.path(&c.file))
                .filter(|p| p.is_file());
            match clip {
                Some(clip) => out.usable.push(Verdict { alert, fight, clip }),
                None => out.without_clip += 1,
            }
        }
    }
    out.usable.reverse();
    Ok(out)
}
