//! Signed evidence exports of an alert: its clip, snapshot, heat map and timeline
//! (fightwatch-evidence).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use fightwatch_evidence::{Export, SigningKey};
use fightwatch_protocol::{TimelineEntry, now_ms};
use fightwatch_store::AlertChange;

use crate::{AlertError, AlertService, blocking};

/// What [`RemoteMedia::read`] comes back with: the file, `None` when no node has it, or why no
/// node could be asked.
pub type RemoteRead = Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>, String>> + Send>>;

/// Reads media files this node does not hold (a cluster's other nodes: the node that recorded
/// an alert keeps its files). `crates/node` implements it.
pub trait RemoteMedia: Send + Sync + 'static {
    /// The whole file `name` of another node's media folder.
    fn read(&self, name: String) -> RemoteRead;
}

impl AlertService {
    /// Records that `user` exports alert `id` (an `alert_update` in its timeline, published),
    /// then makes the export, signed with `key` as `node`: `clip.mp4`, `snapshot.jpg` and
    /// `heatmap.jpg` when the alert has them, and `timeline.json` (the alert and every event of
    /// it, this export included). (Whether the user may see the alert is the caller's check.)
    ///
    /// Files this node does not hold are read from the node that does ([`RemoteMedia`]).
    pub async fn export(
        &self,
        id: &str,
        user: &str,
        key: Arc<SigningKey>,
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
        let names = [
            alert.clip.as_ref().map(|c| c.file.clone()),
            alert.snapshot.clone(),
            alert.heatmap.clone(),
        ];
        let fetched = self.fetch_remote(names.into_iter().flatten()).await?;
        let (user, node) = (user.to_string(), node.to_string());
        tokio::task::spawn_blocking(move || {
            let mut export = Export::new(&alert.id, &user, now_ms(), &node);
            let read = |name: &str| {
                if let Some(bytes) = fetched.get(name) {
                    return Ok(bytes.clone());
                }
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

    /// Reads from other nodes (when there are) the files among `names` this node does not hold.
    async fn fetch_remote(
        &self,
        names: impl Iterator<Item = String>,
    ) -> Result<HashMap<String, Vec<u8>>, AlertError> {
        let mut fetched = HashMap::new();
        let Some(remote) = self.remote_media.get() else {
            return Ok(fetched);
        };
        for name in names {
            let here = match self.snapshots().path(&name) {
                Some(path) => tokio::fs::try_exists(path).await.unwrap_or(false),
                None => true, // a bad name: the read below says so
            };
            if !here
                && let Some(bytes) = remote
                    .read(name.clone())
                    .await
                    .map_err(|why| AlertError::Export(format!("{name}: {why}")))?
            {
                fetched.insert(name, bytes);
            }
        }
        Ok(fetched)
    }

    /// Lets exports read media this node does not hold from the others (once).
    pub fn set_remote_media(&self, remote: Arc<dyn RemoteMedia>) {
        let _ = self.remote_media.set(remote);
    }
}
