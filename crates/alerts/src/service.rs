//! The alert stage's state: raising, updating and ending alerts, their snapshots, retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fightwatch_protocol::{
    AlertStatus, AlertUpdate, CameraState, Detection, FightAlert, Metrics, ServerMessage, now_ms,
};
use fightwatch_protocol::{FalseAlarmReason, Outcome};
use fightwatch_store::{
    AlertChange, AlertFilter, AlertStore, Grouping, NewAlert, RaiseOrGroup, Resolution,
};

use crate::{AlertError, EventBus, Journal, MediaDir, blocking};

/// Longest acknowledgement note, characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// The `source` of the alerts the built-in pipeline raises.
pub const PIPELINE_SOURCE: &str = "pipeline";

/// The `label` of a camera-health alert: a camera offline or stalled too long (attackers
/// disable cameras first).
pub const CAMERA_OFFLINE: &str = "camera_offline";

/// The alert stage: turns incidents and detections into stored alerts with snapshots, and
/// publishes every change (and the cameras' live state) on the event bus.
pub struct AlertService {
    journal: Journal,
    snapshots: MediaDir,
    raised: AtomicU64,
    /// Group a camera's detections into its open alert within this many ms (0: never).
    group_window_ms: AtomicU64,
    /// Where media this node does not hold is read from (a cluster's other nodes).
    pub(crate) remote_media: std::sync::OnceLock<Arc<dyn crate::RemoteMedia>>,
}

/// What a detection became.
#[derive(Debug, Clone, PartialEq)]
pub enum Raised {
    /// A new alert.
    New(FightAlert),
    /// A detection grouped into the camera's open alert (its count grew).
    Grouped(AlertUpdate),
}

impl Raised {
    /// The alert that holds the detection.
    pub fn id(&self) -> &str {
        match self {
            Self::New(a) => &a.id,
            Self::Grouped(u) => &u.id,
        }
    }
}

/// A note is at most [`MAX_NOTE_CHARS`] characters.
fn check_note(note: Option<&str>) -> Result<(), AlertError> {
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(AlertError::Invalid(format!(
            "a note has at most {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(())
}

/// How long alerts and snapshots are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Alerts (and their events and snapshots) older than this many days are deleted; 0 keeps
    /// them forever.
    pub days: u32,
    /// The oldest snapshots are deleted beyond this many bytes; 0: no limit.
    pub max_snapshot_bytes: u64,
}

impl AlertService {
    /// A stage writing to `store`, publishing on `bus`, keeping snapshots in `snapshots`.
    pub fn new(
        store: Arc<dyn AlertStore>,
        bus: Arc<dyn EventBus>,
        snapshots: MediaDir,
    ) -> Arc<Self> {
        Arc::new(Self {
            journal: Journal::new(store, bus),
            snapshots,
            raised: AtomicU64::new(0),
            group_window_ms: AtomicU64::new(0),
            remote_media: std::sync::OnceLock::new(),
        })
    }

    /// Persists a new alert (and its snapshot), then publishes it.
    pub async fn raise(
        &self,
        alert: NewAlert,
        snapshot: Option<Arc<Vec<u8>>>,
    ) -> Result<FightAlert, AlertError> {
        self.raise_with_heatmap(alert, snapshot, None).await
    }

    /// [`AlertService::raise`] with the heat map of where in the snapshot the fight is, kept
    /// beside the snapshot (none without one).
    async fn raise_with_heatmap(
        &self,
        mut alert: NewAlert,
        snapshot: Option<Arc<Vec<u8>>>,
        heatmap: Option<Arc<Vec<u8>>>,
    ) -> Result<FightAlert, AlertError> {
        self.save_media(&mut alert, snapshot, heatmap).await?;
        let created = self
            .journal
            .record(move |s| s.create_alert(&alert), ServerMessage::FightAlert)
            .await?;
        self.raised.fetch_add(1, Ordering::Relaxed);
        Ok(created)
    }

    /// Saves a new alert's snapshot and heat map, naming them in `alert`.
    async fn save_media(
        &self,
        alert: &mut NewAlert,
        snapshot: Option<Arc<Vec<u8>>>,
        heatmap: Option<Arc<Vec<u8>>>,
    ) -> Result<(), AlertError> {
        let Some(jpeg) = snapshot else {
            return Ok(());
        };
        let name = self
            .snapshots
            .save(&alert.camera, alert.started_at, jpeg)
            .await?;
        if let Some(heat) = heatmap {
            // Without it the alert still goes out: the snapshot and region say enough.
            alert.heatmap = self
                .snapshots
                .save_heatmap(&name, heat)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "Saving a heat map failed.");
                    None
                });
        }
        alert.snapshot = Some(name);
        Ok(())
    }

    /// Groups each camera's detections into its open (unresolved) alert while the last one is
    /// at most `window` old, instead of raising another (`None`: every detection is an alert).
    pub fn set_group_window(&self, window: Option<std::time::Duration>) {
        let ms = window.map_or(0, |w| w.as_millis() as u64);
        self.group_window_ms.store(ms, Ordering::Relaxed);
    }

    /// Like [`AlertService::raise`], but a detection on a camera whose alert (same label) is
    /// still open and was last seen within the group window updates that alert — its count,
    /// its peak; active again if it had ended — instead of raising another: one alert per
    /// incident, not per detection. The later detection's snapshot is kept beside the alert's
    /// (its heat map is not: the alert's own shows where the fight began).
    ///
    /// The store decides and writes in one transaction
    /// ([`AlertStore::raise_or_group`]), so detections of one camera arriving together, on
    /// this node or several, raise one alert.
    pub async fn raise_grouped(
        &self,
        mut alert: NewAlert,
        snapshot: Option<Arc<Vec<u8>>>,
        heatmap: Option<Arc<Vec<u8>>>,
    ) -> Result<Raised, AlertError> {
        let window_ms = self.group_window_ms.load(Ordering::Relaxed);
        if window_ms == 0 {
            return self
                .raise_with_heatmap(alert, snapshot, heatmap)
                .await
                .map(Raised::New);
        }
        // Saved as a new alert's; a grouped detection's files are settled before it is told.
        self.save_media(&mut alert, snapshot, heatmap).await?;
        let grouping = Grouping {
            window_ms,
            now_ms: now_ms().max(alert.started_at),
        };
        let media = self.snapshots.clone();
        let done = self
            .journal
            .record(
                move |s| {
                    let done = s.raise_or_group(&alert, &grouping)?;
                    if let RaiseOrGroup::Grouped {
                        update,
                        alert_snapshot,
                    } = &done
                    {
                        media.settle_grouped(&alert, alert_snapshot.as_deref(), update.count);
                    }
                    Ok(done)
                },
                |done| match done {
                    RaiseOrGroup::Raised(alert) => ServerMessage::FightAlert(alert),
                    RaiseOrGroup::Grouped { update, .. } => ServerMessage::AlertUpdate(update),
                },
            )
            .await?;
        Ok(match done {
            RaiseOrGroup::Raised(alert) => {
                self.raised.fetch_add(1, Ordering::Relaxed);
                Raised::New(alert)
            }
            RaiseOrGroup::Grouped { update, .. } => Raised::Grouped(update),
        })
    }

    /// Persists a change to an alert, then publishes it.
    pub async fn update(&self, id: &str, change: AlertChange) -> Result<AlertUpdate, AlertError> {
        let id = id.to_string();
        self.journal
            .record(
                move |s| s.update_alert(&id, &change),
                ServerMessage::AlertUpdate,
            )
            .await
    }

    /// Acknowledges an alert for `user`. (Whether the user may see the alert is the caller's
    /// check: it knows the user.)
    pub async fn acknowledge(
        &self,
        id: &str,
        user: &str,
        note: Option<String>,
    ) -> Result<AlertUpdate, AlertError> {
        check_note(note.as_deref())?;
        let change = AlertChange {
            ack: Some((user.to_string(), note)),
            ..AlertChange::default()
        };
        self.update(id, change).await
    }

    /// Makes `user` the alert's assignee (taking it, or assigned by another operator: whether
    /// `user` may see the alert is the caller's check).
    pub async fn assign(&self, id: &str, user: &str) -> Result<AlertUpdate, AlertError> {
        let change = AlertChange {
            assign: Some(user.to_string()),
            ..AlertChange::default()
        };
        self.update(id, change).await
    }

    /// Resolves an alert: `false_alarm` needs a reason, the other outcomes take none; a note
    /// is at most [`MAX_NOTE_CHARS`]. A resolved alert cannot be resolved again (a conflict).
    pub async fn resolve(
        &self,
        id: &str,
        user: &str,
        outcome: Outcome,
        reason: Option<FalseAlarmReason>,
        note: Option<String>,
    ) -> Result<AlertUpdate, AlertError> {
        match (outcome, reason) {
            (Outcome::FalseAlarm, None) => {
                return Err(AlertError::Invalid(
                    "a false alarm needs a reason: dancing, sport, play, crowd, camera_issue or other"
                        .into(),
                ));
            }
            (Outcome::Confirmed | Outcome::Test, Some(_)) => {
                return Err(AlertError::Invalid(
                    "only a false alarm has a reason".into(),
                ));
            }
            _ => {}
        }
        check_note(note.as_deref())?;
        let change = AlertChange {
            resolve: Some(Resolution {
                user: user.to_string(),
                outcome,
                reason,
                note,
            }),
            ..AlertChange::default()
        };
        self.update(id, change).await
    }

    /// Turns an external detector's report into an alert, like the pipeline's (grouped into
    /// the camera's open alert within the group window).
    pub async fn detection(&self, d: Detection, source: &str) -> Result<Raised, AlertError> {
        let (alert, jpeg) = crate::detection::check(d, source, now_ms())?;
        self.raise_grouped(alert, jpeg.map(Arc::new), None).await
    }

    /// Publishes a camera's new state (live only).
    pub fn camera_status(&self, state: CameraState) {
        self.journal.announce(ServerMessage::CameraStatus(state));
    }

    /// Publishes a metric update (live only).
    pub fn metrics(&self, metrics: Metrics) {
        self.journal.announce(ServerMessage::MetricUpdate(metrics));
    }

    /// Ends the pipeline's alerts that a previous run left active. A clean stop ends every open
    /// incident; a crash or `kill -9` cannot, and its alerts would otherwise stay "active"
    /// forever on every console. (External detectors' alerts are theirs to end: left alone.)
    /// Call before the pipeline starts: this run's own incidents are not open yet.
    ///
    /// `cameras` limits it to those cameras' alerts (a cluster node: other nodes' cameras may
    /// have live incidents); `None`: every pipeline alert (a standalone node owns them all).
    pub async fn end_stale(&self, cameras: Option<&[String]>) -> Result<usize, AlertError> {
        let active = blocking(self.journal.store(), |s| {
            s.alerts(&AlertFilter {
                status: Some(AlertStatus::Active),
                limit: 1000,
                ..AlertFilter::default()
            })
        })
        .await?;
        let mut ended = 0;
        let mine = |camera: &String| cameras.is_none_or(|only| only.contains(camera));
        for alert in active
            .iter()
            .filter(|a| a.source == crate::PIPELINE_SOURCE && mine(&a.camera))
        {
            let change = AlertChange {
                ended_at: Some(now_ms()),
                ..AlertChange::default()
            };
            self.update(&alert.id, change).await?;
            ended += 1;
        }
        if ended > 0 {
            tracing::warn!(
                alerts = ended,
                "Ended alerts that a previous run left active (it did not stop cleanly)."
            );
        }
        Ok(ended)
    }

    /// Applies `retention` now and every hour, until the runtime stops. Call from inside a
    /// tokio runtime.
    ///
    /// The space limit is also kept between passes: when writes take the media folder over it,
    /// the oldest media go at once (then at most one trim a second, however fast media
    /// arrives).
    pub fn retain(self: &Arc<Self>, retention: Retention) {
        if retention.days == 0 && retention.max_snapshot_bytes == 0 {
            return;
        }
        self.snapshots.set_limit(retention.max_snapshot_bytes);
        let this = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            let space_only = Retention {
                days: 0,
                ..retention
            };
            loop {
                let pass = tokio::select! {
                    _ = every.tick() => retention,
                    () = this.snapshots.over_limit() => space_only,
                };
                if let Err(e) = this.apply_retention(pass).await {
                    tracing::error!(error = %e, "Retention failed.");
                    if matches!(e, AlertError::Cancelled) {
                        return;
                    }
                }
                if pass == space_only {
                    // A trim reads the whole folder: at most one a second.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        });
    }

    /// Counts a clip the recorder wrote into the media folder against the space limit.
    pub fn media_written(&self, bytes: u64) {
        self.snapshots.note_written(bytes);
    }

    /// One pass of `retention`.
    pub async fn apply_retention(&self, retention: Retention) -> Result<(), AlertError> {
        if retention.max_snapshot_bytes > 0 {
            let snapshots = self.snapshots.clone();
            let max = retention.max_snapshot_bytes;
            let removed = blocking(self.journal.store(), move |s| snapshots.trim(s, max)).await?;
            if removed > 0 {
                tracing::info!(
                    removed,
                    "Snapshot space limit: removed the oldest snapshots."
                );
            }
        }
        if retention.days > 0 {
            let cutoff = now_ms().saturating_sub(u64::from(retention.days) * 86_400_000);
            let names = blocking(self.journal.store(), move |s| s.prune(cutoff)).await?;
            self.snapshots.remove(&names);
            if !names.is_empty() {
                tracing::info!(removed = names.len(), "Retention removed old alerts.");
            }
        }
        Ok(())
    }

    /// Alerts raised since start.
    pub fn raised(&self) -> u64 {
        self.raised.load(Ordering::Relaxed)
    }

    /// Persist-then-publish, for other events (chat).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn AlertStore> {
        self.journal.store()
    }

    /// The bus.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        self.journal.bus()
    }

    /// The snapshot folder.
    pub fn snapshots(&self) -> &MediaDir {
        &self.snapshots
    }
}

#[cfg(test)]
mod tests {
    use fightwatch_store::SqliteStore;

    use super::*;
    use crate::LocalBus;

    fn service(dir: &std::path::Path) -> Arc<AlertService> {
        let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open(&dir.join("db")).unwrap());
        let bus = Arc::new(LocalBus::new(store.clone(), 64));
        AlertService::new(store, bus, MediaDir::new(dir.join("snapshots")))
    }

    fn alert(camera: &str, started_at: u64, source: &str) -> NewAlert {
        NewAlert {
            camera: camera.into(),
            site: "s".into(),
            label: "fight".into(),
            score: 0.9,
            started_at,
            snapshot: None,
            region: None,
            heatmap: None,
            source: source.into(),
        }
    }

    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("snapshots")).map_or(0, |d| d.count())
    }

    #[tokio::test]
    async fn snapshots_beyond_the_space_limit_go_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = service(dir.path());
        for i in 0..3 {
            let jpeg = Some(Arc::new(vec![0xFF; 1000]));
            alerts
                .raise(alert(&format!("c{i}"), i, "test"), jpeg)
                .await
                .unwrap();
        }
        let trim = Retention {
            days: 0,
            max_snapshot_bytes: 1500,
        };
        alerts.apply_retention(trim).await.unwrap();
        let left = alerts.store().oldest_media(10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].0, "a3", "the newest snapshot stays");
        assert_eq!(files(dir.path()), 1);
        alerts.apply_retention(trim).await.unwrap();
        assert_eq!(files(dir.path()), 1, "within the limit: nothing more goes");
    }

    #[tokio::test]
    async fn retention_deletes_old_alerts_with_their_snapshot_files() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = service(dir.path());
        let jpeg = || Some(Arc::new(vec![0xFF, 0xD8, 0xFF]));
        let old = alerts
            .raise(alert("gate", 1_000, "test"), jpeg())
            .await
            .unwrap();
        let new = alerts
            .raise(alert("gate", now_ms(), "test"), jpeg())
            .await
            .unwrap();
        assert_eq!(files(dir.path()), 2);
        alerts
            .apply_retention(Retention {
                days: 1,
                max_snapshot_bytes: 0,
            })
            .await
            .unwrap();
        assert!(alerts.store().alert(&old.id).unwrap().is_none());
        assert!(alerts.store().alert(&new.id).unwrap().is_some());
        assert_eq!(files(dir.path()), 1);
    }

    #[tokio::test]
    async fn a_killed_runs_pipeline_alerts_are_ended_and_detectors_alerts_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = service(dir.path());
        let mut published = alerts.bus().subscribe();
        let left = alerts
            .raise(alert("gate", 1, crate::PIPELINE_SOURCE), None)
            .await
            .unwrap();
        let external = alerts
            .raise(alert("gate", 2, "door-sensor"), None)
            .await
            .unwrap();
        let other_node = alerts
            .raise(alert("lobby", 3, crate::PIPELINE_SOURCE), None)
            .await
            .unwrap();
        // A cluster node ends only its own cameras' alerts.
        let mine = ["gate".to_string()];
        assert_eq!(alerts.end_stale(Some(&mine)).await.unwrap(), 1);
        let status = |id: &str| alerts.store().alert(id).unwrap().unwrap().status;
        assert_eq!(status(&left.id), AlertStatus::Ended);
        assert_eq!(status(&external.id), AlertStatus::Active);
        assert_eq!(status(&other_node.id), AlertStatus::Active);
        // A standalone node owns every camera.
        assert_eq!(alerts.end_stale(None).await.unwrap(), 1);
        assert_eq!(status(&other_node.id), AlertStatus::Ended);
        // Every change went out on the bus, in seq order.
        let mut seqs = Vec::new();
        while let Ok(msg) = published.try_recv() {
            seqs.extend(msg.seq());
        }
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert_eq!(alerts.raised(), 3);
    }

    #[tokio::test]
    async fn detections_on_an_open_alert_count_into_it_until_it_is_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = service(dir.path());
        alerts.set_group_window(Some(std::time::Duration::from_secs(120)));
        let now = now_ms();
        let first = alerts
            .raise_grouped(alert("gate", now, "test"), None, None)
            .await
            .unwrap();
        let Raised::New(first) = first else {
            panic!("the first detection raises an alert")
        };
        // The fight ended; another detection within the window reopens and counts.
        alerts
            .update(
                &first.id,
                AlertChange {
                    ended_at: Some(now),
                    ..AlertChange::default()
                },
            )
            .await
            .unwrap();
        let mut louder = alert("gate", now + 1000, "test");
        louder.score = 0.99;
        let Raised::Grouped(u) = alerts.raise_grouped(louder, None, None).await.unwrap() else {
            panic!("grouped")
        };
        assert_eq!(
            (u.id.as_str(), u.count, u.status, u.ended_at, u.peak_score),
            (first.id.as_str(), 2, AlertStatus::Active, None, 0.99)
        );
        // Another camera has its own alert.
        assert!(matches!(
            alerts
                .raise_grouped(alert("lobby", now, "test"), None, None)
                .await
                .unwrap(),
            Raised::New(_)
        ));
        // Once resolved, the next detection is a new alert.
        alerts
            .resolve(
                &first.id,
                "ops",
                fightwatch_protocol::Outcome::Confirmed,
                None,
                None,
            )
            .await
            .unwrap();
        assert!(matches!(
            alerts
                .raise_grouped(alert("gate", now + 2000, "test"), None, None)
                .await
                .unwrap(),
            Raised::New(_)
        ));
        assert_eq!(alerts.store().alert(&first.id).unwrap().unwrap().count, 2);
        // Outside the window: a new alert.
        let stale = alerts
            .raise(alert("yard", now - 600_000, "test"), None)
            .await
            .unwrap();
        alerts
            .update(
                &stale.id,
                AlertChange {
                    ended_at: Some(now - 500_000),
                    ..AlertChange::default()
                },
            )
            .await
            .unwrap();
        assert!(matches!(
            alerts
                .raise_grouped(alert("yard", now, "test"), None, None)
                .await
                .unwrap(),
            Raised::New(_)
        ));
    }

    #[tokio::test]
    async fn a_grouped_detections_snapshot_is_kept_beside_the_alerts_and_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = service(dir.path());
        alerts.set_group_window(Some(std::time::Duration::from_secs(120)));
        let now = now_ms();
        let jpeg = || Some(Arc::new(vec![0xFF, 0xD8, 0xFF, 0xD9]));
        // The first brings a heat map too; kept beside its snapshot.
        let Raised::New(first) = alerts
            .raise_grouped(alert("gate", now, "test"), jpeg(), jpeg())
            .await
            .unwrap()
        else {
            panic!("new")
        };
        let Raised::Grouped(again) = alerts
            .raise_grouped(alert("gate", now + 500, "test"), jpeg(), None)
            .await
            .unwrap()
        else {
            panic!("grouped")
        };
        let url = format!("/api/alerts/{}/detections/2.jpg", first.id);
        assert_eq!(again.detection_snapshot_url.as_deref(), Some(url.as_str()));
        // Without a snapshot of its own, no url.
        let Raised::Grouped(third) = alerts
            .raise_grouped(alert("gate", now + 900, "test"), None, None)
            .await
            .unwrap()
        else {
            panic!("grouped")
        };
        assert_eq!((third.count, third.detection_snapshot_url), (3, None));
        let record = alerts.store().alert(&first.id).unwrap().unwrap();
        let primary = record.snapshot.unwrap();
        let media = MediaDir::new(dir.path().join("snapshots"));
        let detection = MediaDir::detection_name(&primary, 2).unwrap();
        assert!(media.path(&detection).unwrap().is_file());
        let heatmap = MediaDir::heatmap_name(&primary).unwrap();
        assert_eq!(record.heatmap.as_deref(), Some(heatmap.as_str()));
        assert_eq!(
            first.heatmap_url,
            Some(format!("/api/alerts/{}/heatmap.jpg", first.id))
        );
        assert!(media.path(&heatmap).unwrap().is_file());
        // The space limit counts and removes them with their alert's media.
        let copy = dir.path().join("kept.jpg");
        std::fs::copy(media.path(&detection).unwrap(), &copy).unwrap();
        assert_eq!(media.trim(alerts.store().as_ref(), 0).unwrap(), 1);
        assert!(
            !media.path(&detection).unwrap().exists(),
            "trimmed with its alert"
        );
        assert!(!media.path(&heatmap).unwrap().exists(), "the heat map too");
        std::fs::copy(&copy, media.path(&detection).unwrap()).unwrap();
        // Removing the alert's media removes its detections' too (snapshots and clips), and
        // nothing else.
        let shot = |name: &str| dir.path().join("snapshots").join(name);
        for name in [
            "gate-a1-0badcafe.mp4",
            "gate-a1-d3-12345678.mp4",
            "gate-a12-d3-12345678.mp4",
            "other-d2.jpg",
        ] {
            std::fs::write(shot(name), b"x").unwrap();
        }
        media.remove(&[primary.clone(), "gate-a1-0badcafe.mp4".into()]);
        assert!(!media.path(&detection).unwrap().exists());
        assert!(!shot("gate-a1-0badcafe.mp4").exists());
        assert!(!shot("gate-a1-d3-12345678.mp4").exists());
        assert!(shot("gate-a12-d3-12345678.mp4").exists(), "another alert's");
        assert!(shot("other-d2.jpg").exists());
    }

    #[tokio::test]
    async fn notes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let alerts = service(dir.path());
        let a = alerts.raise(alert("gate", 1, "test"), None).await.unwrap();
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert!(matches!(
            alerts.acknowledge(&a.id, "ops", Some(long)).await,
            Err(AlertError::Invalid(_))
        ));
        let update = alerts
            .acknowledge(&a.id, "ops", Some("handled".into()))
            .await
            .unwrap();
        assert_eq!(update.status, AlertStatus::Acknowledged);
        assert!(
            alerts
                .acknowledge("a99", "ops", None)
                .await
                .unwrap_err()
                .is_no_such_alert()
        );
    }
}
