//! Signed evidence exports of an alert: its clip, snapshot, heat map and timeline
//! (fightwatch-evidence).

use fightwatch_evidence::{Export, SigningKey};
use fightwatch_protocol::{TimelineEntry, now_ms};
use fightwatch_store::AlertChange;

use crate::{AlertError, AlertService, blocking};

impl AlertService {
    /// Records that `user` exports alert `id` (an `alert_update` in its timeline, published),
    /// then makes the export, signed with `key` as `node`: `clip.mp4`, `snapshot.jpg` and
    /// `heatmap.jpg` when the alert has them, and `timeline.json` (the alert and every event of
    /// it, this export included). (Whether the user may see the alert is the caller's check.)
    pub async fn export(
        &self,
        id: &str,
        user: &str,
        key: std::sync::Arc<SigningKey>,
        node: &str,
    ) -> Result<Vec<u8>, AlertError> {
        let change = AlertChange {
            exported_by: Some(user.to_string()),
            ..AlertChange::default()
        };
        self.update(id, change).await?;
        let id = id.to_string();
        let (alert, events) = blocking(self.store(), move |s| {
            let alert = s.alert(&id)?;
            Ok::<_, fightwatch_store::StoreError>((alert, s.alert_events(&id)?))
        })
        .await?;
        let alert = alert.ok_or_else(|| {
            AlertError::Store(fightwatch_store::StoreError::NoSuchAlert("gone".into()))
        })?;
        let media = self.snapshots().clone();
        let (user, node) = (user.to_string(), node.to_string());
        tokio::task::spawn_blocking(move || {
            let mut export = Export::new(&alert.id, &user, now_ms(), &node);
            let read = |name: &str| {
                let path = media
                    .path(name)
                    .ok_or_else(|| AlertError::Export(format!("bad media name {name:?}")))?;
                std::fs::read(&path)
                    .map_err(|e| AlertError::Export(format!("{}: {e}", path.display())))
            };
            let add = |export: &mut Export, name: &str, bytes: Vec<u8>| {
                export
                    .add(name, bytes)
                    .map_err(|e| AlertError::Export(e.to_string()))
            };
            if let Some(clip) = &alert.clip {
                add(&mut export, "clip.mp4", read(&clip.file)?)?;
            }
            if let Some(snapshot) = &alert.snapshot {
                add(&mut export, "snapshot.jpg", read(snapshot)?)?;
            }
            if let Some(heatmap) = &alert.heatmap {
                add(&mut export, "heatmap.jpg", read(heatmap)?)?;
            }
            let events: Vec<TimelineEntry> = events
                .into_iter()
                .map(|(at, event)| TimelineEntry { at, event })
                .collect();
            let timeline = serde_json::json!({ "alert": &alert, "events": events });
            let json = serde_json::to_vec_pretty(&timeline)
                .map_err(|e| AlertError::Export(e.to_string()))?;
            add(&mut export, "timeline.json", json)?;
            export
                .finish(&key)
                .map_err(|e| AlertError::Export(e.to_string()))
        })
        .await
        .map_err(|_| AlertError::Cancelled)?
    }
}
