//! Alert media files: a JPEG snapshot and an MP4 clip per alert, named in the store, kept
//! within one space limit (the oldest alerts' media go first).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fightwatch_store::{AlertStore, NewAlert, StoreError};

use crate::AlertError;

/// The folder of alert snapshots and clips.
#[derive(Debug, Clone)]
pub struct MediaDir {
    dir: PathBuf,
    space: Arc<Space>,
}

/// What the folder holds against its limit, kept as files are written so that crossing the
/// limit is noticed at once, not at the next hourly pass (a detector flood wrote ~400 GiB an
/// hour: audit round two, finding 3).
#[derive(Debug, Default)]
struct Space {
    /// Bytes in the folder: measured by each trim, plus what was written since.
    used: AtomicU64,
    /// The limit (0: none).
    limit: AtomicU64,
    /// Told when `used` goes over `limit`.
    over: tokio::sync::Notify,
}

impl MediaDir {
    /// Snapshots in `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            space: Arc::default(),
        }
    }

    /// Counts `bytes` written into the folder by someone else (a clip the recorder finished);
    /// the stage's writes count themselves.
    pub fn note_written(&self, bytes: u64) {
        let used = self.space.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let limit = self.space.limit.load(Ordering::Relaxed);
        if limit > 0 && used > limit {
            self.space.over.notify_one();
        }
    }

    /// Sets the space limit (0: none) that [`MediaDir::over_limit`] watches.
    pub(crate) fn set_limit(&self, bytes: u64) {
        self.space.limit.store(bytes, Ordering::Relaxed);
    }

    /// Waits until writes take the folder over its limit.
    pub(crate) async fn over_limit(&self) {
        self.space.over.notified().await;
    }

    /// The folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The file of a stored snapshot name. Names come from the store, which only holds names
    /// this type made; one with a path separator is refused anyway.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        (!name.is_empty() && !name.contains(['/', '\\']) && name != "..")
            .then(|| self.dir.join(name))
    }

    /// Writes a camera's snapshot; returns its name. A random suffix keeps both files of two
    /// alerts of one camera in the same millisecond.
    pub async fn save(
        &self,
        camera: &str,
        started_at: u64,
        jpeg: Arc<Vec<u8>>,
    ) -> Result<String, AlertError> {
        let name = format!(
            "{}-{started_at}-{:08x}.jpg",
            fightwatch_protocol::file_safe(camera),
            fastrand::u32(..)
        );
        self.write(name, jpeg).await
    }

    /// The file name of an alert's `n`th grouped detection's snapshot, beside the alert's own
    /// snapshot `primary` (so that removing the alert's media removes it too).
    pub fn detection_name(primary: &str, n: u32) -> Option<String> {
        let stem = primary.strip_suffix(".jpg")?;
        (!stem.is_empty() && !stem.contains(['/', '\\'])).then(|| format!("{stem}-d{n}.jpg"))
    }

    /// The file name of the heat map beside the snapshot `primary`.
    pub fn heatmap_name(primary: &str) -> Option<String> {
        let stem = primary.strip_suffix(".jpg")?;
        (!stem.is_empty() && !stem.contains(['/', '\\'])).then(|| format!("{stem}-heat.jpg"))
    }

    /// Writes the heat map of the snapshot `primary` under [`MediaDir::heatmap_name`].
    pub async fn save_heatmap(
        &self,
        primary: &str,
        jpeg: Arc<Vec<u8>>,
    ) -> Result<Option<String>, AlertError> {
        match Self::heatmap_name(primary) {
            Some(name) => self.write(name, jpeg).await.map(Some),
            None => Ok(None),
        }
    }

    /// Settles the files saved for `alert` once its detection was grouped into another
    /// alert: its snapshot becomes that alert's `n`th detection's (when `alert_snapshot`, the
    /// other alert's own, is given), its heat map goes. Blocking; on the store's thread, before
    /// the update is published, so the detection's picture is there when dashboards ask.
    pub fn settle_grouped(&self, alert: &NewAlert, alert_snapshot: Option<&str>, n: u32) {
        let saved = alert.snapshot.as_deref().and_then(|name| self.path(name));
        let target = alert_snapshot
            .and_then(|primary| Self::detection_name(primary, n))
            .and_then(|name| self.path(&name));
        if let (Some(saved), Some(target)) = (&saved, target) {
            if let Err(e) = std::fs::rename(saved, &target) {
                tracing::warn!(error = %e, file = %target.display(), "Keeping a grouped detection's snapshot failed.");
            }
        } else if let Some(saved) = &saved {
            remove_file(saved);
        }
        if let Some(heatmap) = alert.heatmap.as_deref().and_then(|name| self.path(name)) {
            remove_file(&heatmap);
        }
    }

    /// Writes `jpeg` as `name` in the folder (made on the first write), off the runtime.
    async fn write(&self, name: String, jpeg: Arc<Vec<u8>>) -> Result<String, AlertError> {
        let path = self.dir.join(&name);
        let (dir, p) = (self.dir.clone(), path.clone());
        let bytes = jpeg.len() as u64;
        tokio::task::spawn_blocking(move || {
            create_private_dir(&dir)?;
            write_private(&p, jpeg.as_slice())
        })
        .await
        .map_err(|_| AlertError::Cancelled)?
        .map_err(|source| AlertError::Snapshot { path, source })?;
        self.note_written(bytes);
        Ok(name)
    }

    /// Removes files by name (those of pruned alerts), and the grouped detections' snapshots
    /// and clips beside them; a missing file is fine. Returns the bytes freed.
    pub fn remove(&self, names: &[String]) -> u64 {
        let mut freed = 0;
        for name in names {
            if let Some(path) = self.path(name) {
                freed += remove_file(&path);
            }
        }
        freed + self.remove_detections(names)
    }

    /// Removes the grouped detections' snapshots and clips of the alerts whose own files are
    /// `names` (one look at the folder for all of them); returns the bytes freed.
    fn remove_detections(&self, names: &[String]) -> u64 {
        let mut siblings = Vec::new();
        for name in names {
            if let Some(stem) = name.strip_suffix(".jpg") {
                siblings.push((format!("{stem}-d"), ".jpg"));
            }
            // A clip is CAMERA-ALERT-RANDOM.mp4; its detections' are CAMERA-ALERT-dN-RANDOM.mp4.
            if let Some((base, _)) = name.strip_suffix(".mp4").and_then(|s| s.rsplit_once('-')) {
                siblings.push((format!("{base}-d"), ".mp4"));
            }
        }
        if siblings.is_empty() {
            return 0;
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut freed = 0;
        for entry in entries.flatten() {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            let detection = |(prefix, ext): &(String, &str)| {
                let Some(rest) = file
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.strip_suffix(ext))
                else {
                    return false;
                };
                // `N` for a snapshot, `N-RANDOM` for a clip.
                let n = if *ext == ".mp4" {
                    rest.split_once('-').map_or("", |(n, _)| n)
                } else {
                    rest
                };
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            };
            if siblings.iter().any(detection) {
                freed += remove_file(&entry.path());
            }
        }
        freed
    }

    /// Removes the oldest alerts' snapshots and clips until the folder holds at most
    /// `max_bytes`; returns of how many alerts. The alerts stay (age retention removes them).
    pub fn trim(&self, store: &dyn AlertStore, max_bytes: u64) -> Result<usize, StoreError> {
        let mut total: u64 = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum(),
            Err(_) => return Ok(0),
        };
        let mut removed = 0;
        while total > max_bytes {
            let batch = store.oldest_media(64)?;
            if batch.is_empty() {
                break;
            }
            let mut gone = Vec::new();
            for (id, names) in batch {
                for name in &names {
                    if let Some(path) = self.path(name) {
                        total = total.saturating_sub(remove_file(&path));
                    }
                }
                store.clear_media(&id)?;
                removed += 1;
                gone.extend(names);
                if total <= max_bytes {
                    break;
                }
            }
            // Their grouped detections' files count against the limit too.
            total = total.saturating_sub(self.remove_detections(&gone));
        }
        self.space.used.store(total, Ordering::Relaxed);
        Ok(removed)
    }
}

/// Removes a file; the bytes it held (0 when it was not there).
fn remove_file(path: &std::path::Path) -> u64 {
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    match std::fs::remove_file(path) {
        Ok(()) => size,
        Err(_) => 0,
    }
}

/// Makes `dir` (and its parents) readable by this user only (0700), and narrows it if it was
/// made wider by an older version: media is evidence (audit round two, finding 12).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Writes `bytes` to `path`, readable by this user only (0600).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
