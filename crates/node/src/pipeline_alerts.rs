//! What a running pipeline's events become: alerts, clips, camera states and metrics.

use std::collections::HashMap;
use std::sync::Arc;

use fightwatch_alerts::{
    AlertError, AlertService, ArmedSchedule, CAMERA_OFFLINE, PIPELINE_SOURCE, ProcessSampler,
    Raised,
};
use fightwatch_broadcaster::CameraFeeds;
use fightwatch_capture::{CaptureState, ClipControl, ClipReport, StatusEvent};
use fightwatch_inference::{Located, PipelineEvent};
use fightwatch_protocol::{CameraMetrics, CameraState, IncidentEvent, Metrics, now_ms};
use fightwatch_store::{AlertChange, NewAlert};

use crate::RunningPipeline;

/// The clip id of an alert's `n`th detection (alert ids are `a` and digits: no `-d` in them).
fn detection_clip_id(alert: &str, n: u32) -> String {
    format!("{alert}-d{n}")
}

/// The alert and detection of a [`detection_clip_id`].
fn parse_detection_clip_id(id: &str) -> Option<(&str, u32)> {
    let (alert, n) = id.rsplit_once("-d")?;
    Some((alert, n.parse().ok()?))
}

/// Media times of an incident, for the marks on its clip.
#[derive(Debug, Clone, Copy, Default)]
struct ClipMarks {
    start: Option<f64>,
    peak: Option<f64>,
    end: Option<f64>,
}

/// Turns a pipeline's events into alerts and live updates on an [`AlertService`]: an incident
/// start raises an alert, a new peak updates it, its end ends it; camera states, metrics (with
/// this process's CPU and memory) and thumbnails are published as they come.
///
/// Called from the thread that reads [`RunningPipeline::events`]; store writes run on
/// `runtime`.
pub struct PipelineAlerts {
    service: Arc<AlertService>,
    feeds: Arc<CameraFeeds>,
    runtime: tokio::runtime::Handle,
    open: HashMap<String, String>,
    recorders: HashMap<String, ClipControl>,
    /// Media times of each recording clip's start, peak and end, for its marks (by clip id:
    /// an alert's id, or `ALERT-dN` for a grouped detection's own clip).
    marks: HashMap<String, ClipMarks>,
    /// The clip each open incident records into, when it is not its alert's own.
    clip_of: HashMap<String, String>,
    /// Cameras not online, since when (wall time, ms).
    down_since: HashMap<String, u64>,
    /// Each camera's open `camera_offline` alert.
    offline_alerts: HashMap<String, String>,
    /// A camera down this long raises a `camera_offline` alert (`None`: never).
    offline_after: Option<std::time::Duration>,
    sites: HashMap<String, String>,
    /// Cameras armed only at some hours.
    schedules: HashMap<String, ArmedSchedule>,
    default_site: String,
    node: Option<String>,
    process: ProcessSampler,
}

impl PipelineAlerts {
    /// Alerts of cameras in `default_site` unless [`PipelineAlerts::set_site`] says otherwise;
    /// thumbnails and live frames go to `feeds`.
    pub fn new(
        service: Arc<AlertService>,
        feeds: Arc<CameraFeeds>,
        runtime: tokio::runtime::Handle,
        default_site: &str,
    ) -> Self {
        Self {
            service,
            feeds,
            runtime,
            open: HashMap::new(),
            recorders: HashMap::new(),
            marks: HashMap::new(),
            clip_of: HashMap::new(),
            down_since: HashMap::new(),
            offline_alerts: HashMap::new(),
            offline_after: None,
            sites: HashMap::new(),
            schedules: HashMap::new(),
            default_site: default_site.into(),
            node: None,
            process: ProcessSampler::default(),
        }
    }

    /// Uses `pipeline`'s cameras: their recorders make the alerts' clips, their newest frames
    /// feed live view.
    pub fn attach(&mut self, pipeline: &RunningPipeline) {
        self.recorders = pipeline.clips.clone();
        for (camera, feed) in &pipeline.live {
            self.feeds.set_live_source(camera, feed.clone());
        }
    }

    /// Raises a `camera_offline` alert for a camera down (reconnecting, or offline with an
    /// error) longer than `after`, ended when the camera is back (`None`: never).
    pub fn set_offline_alerts(&mut self, after: Option<std::time::Duration>) {
        self.offline_after = after;
    }

    /// What turns the pipeline's events into `server`'s alerts (cameras in `default_site`
    /// unless set otherwise), naming its node in what it publishes.
    pub fn for_server(server: &crate::Server, default_site: &str) -> Self {
        let mut alerts = Self::new(
            server.alerts().clone(),
            server.feeds().clone(),
            server.runtime().clone(),
            default_site,
        );
        alerts.set_node(server.node_name().map(str::to_string));
        alerts
    }

    /// Names this node in the camera states it publishes (one node of several).
    pub fn set_node(&mut self, node: Option<String>) {
        self.node = node;
    }

    /// The site of a camera's alerts and state.
    pub fn set_site(&mut self, camera: &str, site: &str) {
        self.sites.insert(camera.into(), site.into());
    }

    /// Arms `camera` only at the hours of `schedule` (without one a camera is always armed):
    /// an incident starting outside them raises no alert and records no clip.
    pub fn set_schedule(&mut self, camera: &str, schedule: ArmedSchedule) {
        self.schedules.insert(camera.into(), schedule);
    }

    fn site_of(&self, camera: &str) -> String {
        self.sites.get(camera).unwrap_or(&self.default_site).clone()
    }

    /// Handles one pipeline event. A store failure is returned (the event is lost to the store
    /// but the caller may go on: the next incident is stored again).
    pub fn handle(&mut self, event: &PipelineEvent) -> Result<(), AlertError> {
        match event {
            PipelineEvent::Incident {
                event,
                snapshot,
                frame_ms,
                located,
            } => {
                // Stage timing (FIGHTWATCH_SPAN_TIMES=1): store, media and publish of one event.
                let _span = tracing::debug_span!("alert_stage", camera = event.camera()).entered();
                self.incident(event, snapshot.clone(), located.as_ref(), *frame_ms)
            }
            PipelineEvent::Camera(status) => {
                self.service.camera_status(self.camera_state(status));
                self.camera_health(status)
            }
            PipelineEvent::Metrics(cameras) => {
                self.metrics(cameras.clone());
                self.raise_offline_alerts(now_ms())
            }
            PipelineEvent::Thumbnail { camera, jpeg } => {
                self.feeds.set_thumbnail(camera, jpeg.clone());
                Ok(())
            }
            PipelineEvent::Clip(report) => self.clip(report),
            PipelineEvent::Window { .. } | PipelineEvent::Skipped { .. } => Ok(()),
        }
    }

    /// Tracks when cameras go down and come back; a camera back online ends its
    /// `camera_offline` alert.
    fn camera_health(&mut self, event: &StatusEvent) -> Result<(), AlertError> {
        let camera = event.camera.to_string();
        match &event.status {
            CaptureState::Reconnecting { .. } | CaptureState::Offline { error: Some(_) } => {
                self.down_since.entry(camera).or_insert_with(now_ms);
            }
            CaptureState::Online(_) => {
                self.down_since.remove(&camera);
                if let Some(id) = self.offline_alerts.remove(&camera) {
                    let change = AlertChange {
                        ended_at: Some(now_ms()),
                        ..AlertChange::default()
                    };
                    self.runtime.block_on(self.service.update(&id, change))?;
                }
            }
            // Stopped on request, or a recording that ended: not an outage.
            CaptureState::Offline { error: None } | CaptureState::Ended => {
                self.down_since.remove(&camera);
            }
        }
        Ok(())
    }

    /// Raises a `camera_offline` alert for each camera down longer than the threshold (called
    /// once a second, with the metrics).
    fn raise_offline_alerts(&mut self, now: u64) -> Result<(), AlertError> {
        let Some(after) = self.offline_after else {
            return Ok(());
        };
        let due: Vec<(String, u64)> = self
            .down_since
            .iter()
            .filter(|(camera, since)| {
                !self.offline_alerts.contains_key(*camera)
                    && now.saturating_sub(**since) >= after.as_millis() as u64
            })
            .map(|(c, s)| (c.clone(), *s))
            .collect();
        for (camera, since) in due {
            let alert = NewAlert {
                site: self.site_of(&camera),
                camera: camera.clone(),
                label: CAMERA_OFFLINE.into(),
                score: 1.0,
                started_at: since,
                snapshot: None,
                source: PIPELINE_SOURCE.into(),
                region: None,
                heatmap: None,
            };
            let created = self.runtime.block_on(self.service.raise(alert, None))?;
            tracing::warn!(%camera, alert = %created.id, down_s = now.saturating_sub(since) / 1000, "Camera offline too long: alert raised.");
            self.offline_alerts.insert(camera, created.id);
        }
        Ok(())
    }

    /// A finished clip becomes part of its alert (an `alert_update` with the clip).
    fn clip(&mut self, report: &ClipReport) -> Result<(), AlertError> {
        let marks = self.marks.remove(&report.id).unwrap_or_default();
        let Ok(saved) = &report.result else {
            return Ok(()); // the recorder logged why
        };
        self.service.media_written(saved.bytes);
        let offset_ms = |t: f64| ((t - saved.first_s).max(0.0) * 1000.0).round() as u64;
        let duration_ms = (saved.duration_s * 1000.0).round() as u64;
        let within = |t: Option<f64>| t.map(offset_ms).filter(|&ms| ms <= duration_ms);
        let clip = fightwatch_protocol::ClipInfo {
            file: saved.file.clone(),
            duration_ms,
            bytes: saved.bytes,
            sha256: saved.sha256.clone(),
            method: saved.method.as_str().into(),
            start_ms: marks.start.map_or(0, offset_ms),
            peak_ms: within(marks.peak),
            end_ms: within(marks.end),
        };
        let (alert, change) = match parse_detection_clip_id(&report.id) {
            Some((alert, n)) => (
                alert,
                AlertChange {
                    detection_clip: Some((n, clip)),
                    ..AlertChange::default()
                },
            ),
            None => (
                report.id.as_str(),
                AlertChange {
                    clip: Some(clip),
                    ..AlertChange::default()
                },
            ),
        };
        self.runtime.block_on(self.service.update(alert, change))?;
        Ok(())
    }

    /// An alert's `started_at` is the capture time of the frame that confirmed the fight
    /// (`frame_ms`), so a dashboard can tell how long the alert took to reach it.
    fn incident(
        &mut self,
        event: &IncidentEvent,
        snapshot: Option<Arc<Vec<u8>>>,
        located: Option<&Located>,
        frame_ms: Option<u64>,
    ) -> Result<(), AlertError> {
        match event {
            IncidentEvent::Started {
                incident,
                camera,
                score,
                label,
                t,
                ..
            } => {
                let at = frame_ms.unwrap_or_else(now_ms);
                tracing::debug!(
                    camera,
                    since_frame_ms = now_ms().saturating_sub(at),
                    "Incident start reached the alert stage."
                );
                if self.schedules.get(camera).is_some_and(|s| !s.is_armed(at)) {
                    // Not in `open`: its peaks and end are ignored too.
                    tracing::info!(
                        camera,
                        incident,
                        score,
                        "Fight incident outside the camera's armed hours: no alert."
                    );
                    return Ok(());
                }
                let alert = NewAlert {
                    camera: camera.clone(),
                    site: self.site_of(camera),
                    label: label.clone(),
                    score: *score,
                    started_at: at,
                    snapshot: None,
                    source: PIPELINE_SOURCE.into(),
                    region: located.map(|l| l.region),
                    heatmap: None,
                };
                let heatmap = located.and_then(|l| l.heatmap.clone());
                let raised = self
                    .runtime
                    .block_on(self.service.raise_grouped(alert, snapshot, heatmap))?;
                tracing::debug!(
                    camera,
                    stored_after_frame_ms = now_ms().saturating_sub(at),
                    "Alert stored and published."
                );
                // A grouped incident extends its alert's clip while that is still recording;
                // after it, the detection gets a clip of its own (`ALERT-dN`).
                let clip = match &raised {
                    Raised::New(created) => Some(created.id.clone()),
                    Raised::Grouped(u) if !self.marks.contains_key(&u.id) => {
                        let id = detection_clip_id(&u.id, u.count);
                        self.clip_of.insert(incident.clone(), id.clone());
                        Some(id)
                    }
                    Raised::Grouped(_) => None,
                };
                if let (Some(clip), Some(recorder)) = (clip, self.recorders.get(camera)) {
                    recorder.start(&clip, *t);
                    self.marks.insert(
                        clip,
                        ClipMarks {
                            start: Some(*t),
                            ..ClipMarks::default()
                        },
                    );
                }
                self.open.insert(incident.clone(), raised.id().to_string());
            }
            IncidentEvent::Updated {
                incident, peak, t, ..
            } => {
                if let Some(id) = self.open.get(incident) {
                    let clip = self.clip_of.get(incident).unwrap_or(id);
                    if let Some(marks) = self.marks.get_mut(clip) {
                        marks.peak = Some(*t);
                    }
                    let change = AlertChange {
                        peak: Some(*peak),
                        ..AlertChange::default()
                    };
                    self.runtime.block_on(self.service.update(id, change))?;
                }
            }
            IncidentEvent::Ended {
                incident,
                camera,
                peak,
                t,
                peak_t,
                ..
            } => {
                if let Some(id) = self.open.remove(incident) {
                    let clip = self.clip_of.remove(incident).unwrap_or_else(|| id.clone());
                    if let Some(marks) = self.marks.get_mut(&clip) {
                        (marks.peak, marks.end) = (Some(*peak_t), Some(*t));
                    }
                    if let Some(recorder) = self.recorders.get(camera) {
                        recorder.finish(&clip, *t);
                    }
                    let change = AlertChange {
                        peak: Some(*peak),
                        ended_at: Some(now_ms()),
                        ..AlertChange::default()
                    };
                    self.runtime.block_on(self.service.update(&id, change))?;
                }
            }
        }
        Ok(())
    }

    fn camera_state(&self, event: &StatusEvent) -> CameraState {
        use fightwatch_protocol::CameraStatus as Wire;
        let (status, error) = match &event.status {
            CaptureState::Online(_) => (Wire::Online, None),
            // Clients get the short reason only: the detail names the source, which may hold a
            // host and user a viewer has no business knowing (the password is never in it).
            CaptureState::Reconnecting { error, .. } => {
                (Wire::Reconnecting, Some(error.reason.as_str().to_string()))
            }
            CaptureState::Offline { error } => (
                Wire::Offline,
                error.as_ref().map(|e| e.reason.as_str().to_string()),
            ),
            CaptureState::Ended => (Wire::Ended, None),
        };
        CameraState {
            camera: event.camera.to_string(),
            site: self.site_of(&event.camera),
            status,
            error,
            since: now_ms(),
            node: self.node.clone(),
        }
    }

    fn metrics(&mut self, cameras: Vec<CameraMetrics>) {
        let (cpu_percent, rss_bytes) = self.process.sample();
        self.service.metrics(Metrics {
            at: now_ms(),
            cameras,
            cpu_percent,
            rss_bytes,
            clients: 0, // the broadcaster fills in its own count
            node: self.node.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use fightwatch_protocol::{AlertStatus, ServerMessage};
    use fightwatch_store::{AlertFilter, AlertStore, SqliteStore};

    use super::*;
    use fightwatch_alerts::{EventBus, LocalBus, MediaDir};

    #[test]
    fn a_camera_down_too_long_raises_an_alert_that_ends_when_it_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store: Arc<dyn AlertStore> =
            Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let bus = Arc::new(LocalBus::new(store.clone(), 64));
        let service = AlertService::new(store.clone(), bus, MediaDir::new(dir.path().join("m")));
        let mut alerts = PipelineAlerts::new(service, Arc::default(), rt.handle().clone(), "hq");
        let status = |camera: &str, status| {
            PipelineEvent::Camera(fightwatch_capture::StatusEvent {
                camera: camera.into(),
                status,
            })
        };
        let down = || CaptureState::Reconnecting {
            error: fightwatch_capture::SourceFault::other(
                fightwatch_capture::FaultReason::ConnectionRefused,
                "cannot open rtsp://gate: Connection refused",
            ),
            attempt: 1,
            retry_in: std::time::Duration::from_secs(1),
        };
        // Off by default.
        alerts.handle(&status("gate", down())).unwrap();
        alerts.handle(&PipelineEvent::Metrics(Vec::new())).unwrap();
        assert!(store.alert("a1").unwrap().is_none());
        alerts.set_offline_alerts(Some(std::time::Duration::from_millis(0)));
        // A recording that ended is no outage.
        alerts
            .handle(&status("archive", CaptureState::Ended))
            .unwrap();
        alerts.handle(&PipelineEvent::Metrics(Vec::new())).unwrap();
        alerts.handle(&PipelineEvent::Metrics(Vec::new())).unwrap();
        let a = store.alert("a1").unwrap().unwrap();
        assert_eq!(
            (a.camera.as_str(), a.label.as_str(), a.status),
            ("gate", CAMERA_OFFLINE, AlertStatus::Active)
        );
        assert!(store.alert("a2").unwrap().is_none(), "one alert per outage");
        let info = fightwatch_capture::SourceInfo {
            kind: fightwatch_capture::SourceKind::Network,
            codec: "h264".into(),
            container: "rtsp".into(),
            width: 640,
            height: 360,
            fps: 25.0,
            duration_s: None,
            frames_hint: None,
        };
        alerts
            .handle(&status("gate", CaptureState::Online(info)))
            .unwrap();
        assert_eq!(
            store.alert("a1").unwrap().unwrap().status,
            AlertStatus::Ended
        );
    }

    #[test]
    fn incidents_become_alerts_that_peak_and_end_and_cameras_are_published() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store: Arc<dyn AlertStore> =
            Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let bus = Arc::new(LocalBus::new(store.clone(), 64));
        let mut published = bus.subscribe();
        let service = AlertService::new(
            store.clone(),
            bus,
            MediaDir::new(dir.path().join("snapshots")),
        );
        let mut alerts =
            PipelineAlerts::new(service, Arc::default(), rt.handle().clone(), "default");
        alerts.set_site("lobby", "hq");
        let incident = |event| PipelineEvent::Incident {
            event,
            frame_ms: Some(1_700_000_000_123),
            snapshot: Some(Arc::new(vec![0xFF, 0xD8, 0xFF, 0xD9])),
            located: None,
        };
        alerts
            .handle(&incident(IncidentEvent::Started {
                incident: "lobby-1".into(),
                camera: "lobby".into(),
                t: 2.0,
                wall_ms: 0,
                score: 0.7,
                label: "fight".into(),
            }))
            .unwrap();
        alerts
            .handle(&incident(IncidentEvent::Updated {
                incident: "lobby-1".into(),
                camera: "lobby".into(),
                t: 3.0,
                wall_ms: 0,
                peak: 0.95,
            }))
            .unwrap();
        alerts
            .handle(&incident(IncidentEvent::Ended {
                incident: "lobby-1".into(),
                camera: "lobby".into(),
                t: 6.0,
                wall_ms: 0,
                duration_s: 4.0,
                peak: 0.95,
                peak_t: 3.0,
            }))
            .unwrap();
        // An update of an incident this run does not know is ignored, not an error.
        alerts
            .handle(&incident(IncidentEvent::Updated {
                incident: "gate-9".into(),
                camera: "gate".into(),
                t: 1.0,
                wall_ms: 0,
                peak: 0.9,
            }))
            .unwrap();
        let a = store.alert("a1").unwrap().unwrap();
        assert_eq!(
            (a.site.as_str(), a.started_at, a.peak_score, a.status),
            ("hq", 1_700_000_000_123, 0.95, AlertStatus::Ended)
        );
        assert_eq!(a.source, PIPELINE_SOURCE);
        assert!(a.snapshot.is_some());

        alerts
            .handle(&PipelineEvent::Camera(fightwatch_capture::StatusEvent {
                camera: "gate".into(),
                status: CaptureState::Offline {
                    error: Some(fightwatch_capture::SourceFault::other(
                        fightwatch_capture::FaultReason::NotFound,
                        "gone",
                    )),
                },
            }))
            .unwrap();
        let mut kinds = Vec::new();
        while let Ok(msg) = published.try_recv() {
            kinds.push(match &*msg {
                ServerMessage::FightAlert(_) => "alert".to_string(),
                ServerMessage::AlertUpdate(u) => format!("update:{}", u.status.as_str()),
                ServerMessage::CameraStatus(c) => {
                    format!("camera:{}:{}:{}", c.camera, c.site, c.status.as_str())
                }
                other => format!("{other:?}"),
            });
        }
        assert_eq!(
            kinds,
            [
                "alert",
                "update:active",
                "update:ended",
                "camera:gate:default:offline"
            ]
        );
    }

    #[test]
    fn detection_clip_ids_name_their_alert_and_detection() {
        assert_eq!(detection_clip_id("a12", 3), "a12-d3");
        assert_eq!(parse_detection_clip_id("a12-d3"), Some(("a12", 3)));
        assert_eq!(parse_detection_clip_id("a12"), None);
        assert_eq!(parse_detection_clip_id("a12-dx"), None);
    }

    #[test]
    fn incidents_outside_armed_hours_raise_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store: Arc<dyn AlertStore> =
            Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let bus = Arc::new(LocalBus::new(store.clone(), 64));
        let service = AlertService::new(store.clone(), bus, MediaDir::new(dir.path().join("s")));
        let mut alerts =
            PipelineAlerts::new(service, Arc::default(), rt.handle().clone(), "default");
        alerts.set_schedule(
            "lobby",
            ArmedSchedule::parse(&["daily 08:00-18:00"], Some("UTC")).unwrap(),
        );
        // 2023-11-14 22:13 UTC, then 2023-11-15 10:00 UTC.
        for (n, frame_ms) in [(1, 1_700_000_000_123), (2, 1_700_042_400_000)] {
            let incident = format!("lobby-{n}");
            alerts
                .handle(&PipelineEvent::Incident {
                    event: IncidentEvent::Started {
                        incident: incident.clone(),
                        camera: "lobby".into(),
                        t: 2.0,
                        wall_ms: 0,
                        score: 0.7,
                        label: "fight".into(),
                    },
                    frame_ms: Some(frame_ms),
                    snapshot: None,
                    located: None,
                })
                .unwrap();
            alerts
                .handle(&PipelineEvent::Incident {
                    event: IncidentEvent::Ended {
                        incident,
                        camera: "lobby".into(),
                        t: 6.0,
                        wall_ms: 0,
                        duration_s: 4.0,
                        peak: 0.9,
                        peak_t: 3.0,
                    },
                    frame_ms: Some(frame_ms + 4_000),
                    snapshot: None,
                    located: None,
                })
                .unwrap();
        }
        let all = store.alerts(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 1, "only the incident inside the armed hours");
        assert_eq!(all[0].started_at, 1_700_042_400_000);
    }
}
