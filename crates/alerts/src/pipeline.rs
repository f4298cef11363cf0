//! The running pipeline: cameras → inference on its own thread, and what its events become.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crossbeam_channel::Receiver;
use fightwatch_capture::{Camera, CameraConfig, CameraStatus, Pacing, StatusEvent};
use fightwatch_inference::{
    ModelPackage, Pipeline, PipelineConfig, PipelineEvent, PipelineSummary, resize_spec,
};
use fightwatch_protocol::{CameraMetrics, CameraState, IncidentEvent, Metrics, now_ms};
use fightwatch_store::{AlertChange, NewAlert};

use crate::{AlertError, AlertService, ProcessSampler};

/// The `source` of the alerts the built-in pipeline raises.
pub const PIPELINE_SOURCE: &str = "pipeline";

/// One camera of a pipeline.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    /// Its name (alerts, rooms and permissions use it).
    pub name: String,
    /// Where frames come from (`usb:0`, `rtsp://…`, a file, `dir:…`).
    pub source: String,
    /// The site its alerts belong to.
    pub site: String,
    /// Frames analysed per second (default: the model's).
    pub analysis_fps: Option<f64>,
    /// Real-time pacing (files play at their frame rate) or as fast as possible.
    pub pacing: Pacing,
    /// Start a file over when it ends.
    pub loop_file: bool,
}

impl CameraSpec {
    /// A real-time, non-looping camera of site `default`.
    pub fn new(name: &str, source: &str) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            site: "default".into(),
            analysis_fps: None,
            pacing: Pacing::Realtime,
            loop_file: false,
        }
    }
}

/// Cameras and the inference thread, running. Its events arrive on [`RunningPipeline::events`];
/// the channel closes when every camera ended or `stop` was set.
pub struct RunningPipeline {
    /// What the pipeline reports: windows, incidents, camera states, metrics, thumbnails.
    pub events: Receiver<PipelineEvent>,
    thread: std::thread::JoinHandle<(
        Result<PipelineSummary, fightwatch_inference::Error>,
        ModelPackage,
    )>,
}

impl RunningPipeline {
    /// Starts every camera, then the inference thread. `stop` ends it (Ctrl-C).
    pub fn start(
        model: ModelPackage,
        config: PipelineConfig,
        cameras: &[CameraSpec],
        stop: Arc<AtomicBool>,
    ) -> Result<Self, AlertError> {
        let spec = resize_spec(&model.config().input);
        let mut pipeline = Pipeline::new(model, config)?;
        let (status_tx, status_rx) = crossbeam_channel::unbounded();
        let mut running = Vec::with_capacity(cameras.len());
        for c in cameras {
            let mut cfg = CameraConfig::new(&c.name, &c.source);
            cfg.analysis_fps = c.analysis_fps;
            cfg.pacing = c.pacing;
            cfg.loop_file = c.loop_file;
            cfg.model_resize = Some(spec);
            running.push(Camera::start(cfg, status_tx.clone()).map_err(|source| {
                AlertError::Camera {
                    camera: c.name.clone(),
                    source,
                }
            })?);
        }
        drop(status_tx);
        let (events_tx, events) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || {
                let summary = pipeline.run(&running, &status_rx, &events_tx, &stop);
                drop(running); // stops the camera threads
                (summary, pipeline.into_model())
            })
            .map_err(AlertError::Thread)?;
        Ok(Self { events, thread })
    }

    /// Whether the inference thread has ended (every camera ended, or it was stopped).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the inference thread; its summary.
    pub fn join(self) -> Result<PipelineSummary, AlertError> {
        self.join_with_model().map(|(summary, _)| summary)
    }

    /// Waits for the inference thread; its summary and the model, to run again with other
    /// cameras without loading it again.
    pub fn join_with_model(self) -> Result<(PipelineSummary, ModelPackage), AlertError> {
        match self.thread.join() {
            Ok((summary, model)) => Ok((summary?, model)),
            Err(_) => Err(AlertError::Thread(std::io::Error::other(
                "the inference thread panicked",
            ))),
        }
    }
}

/// Turns a pipeline's events into alerts and live updates on an [`AlertService`]: an incident
/// start raises an alert, a new peak updates it, its end ends it; camera states, metrics (with
/// this process's CPU and memory) and thumbnails are published as they come.
///
/// Called from the thread that reads [`RunningPipeline::events`]; store writes run on
/// `runtime`.
pub struct PipelineAlerts {
    service: Arc<AlertService>,
    runtime: tokio::runtime::Handle,
    open: HashMap<String, String>,
    sites: HashMap<String, String>,
    default_site: String,
    node: Option<String>,
    process: ProcessSampler,
}

impl PipelineAlerts {
    /// Alerts of cameras in `default_site` unless [`PipelineAlerts::set_site`] says otherwise.
    pub fn new(
        service: Arc<AlertService>,
        runtime: tokio::runtime::Handle,
        default_site: &str,
    ) -> Self {
        Self {
            service,
            runtime,
            open: HashMap::new(),
            sites: HashMap::new(),
            default_site: default_site.into(),
            node: None,
            process: ProcessSampler::default(),
        }
    }

    /// Names this node in the camera states it publishes (one node of several).
    pub fn set_node(&mut self, node: Option<String>) {
        self.node = node;
    }

    /// The site of a camera's alerts and state.
    pub fn set_site(&mut self, camera: &str, site: &str) {
        self.sites.insert(camera.into(), site.into());
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
            } => self.incident(event, snapshot.clone(), *frame_ms),
            PipelineEvent::Camera(status) => {
                self.service.camera_status(self.camera_state(status));
                Ok(())
            }
            PipelineEvent::Metrics(cameras) => {
                self.metrics(cameras.clone());
                Ok(())
            }
            PipelineEvent::Thumbnail { camera, jpeg } => {
                self.service.set_thumbnail(camera, jpeg.clone());
                Ok(())
            }
            PipelineEvent::Window { .. } => Ok(()),
        }
    }

    /// An alert's `started_at` is the capture time of the frame that confirmed the fight
    /// (`frame_ms`), so a dashboard can tell how long the alert took to reach it.
    fn incident(
        &mut self,
        event: &IncidentEvent,
        snapshot: Option<Arc<Vec<u8>>>,
        frame_ms: Option<u64>,
    ) -> Result<(), AlertError> {
        match event {
            IncidentEvent::Started {
                incident,
                camera,
                score,
                label,
                ..
            } => {
                let alert = NewAlert {
                    camera: camera.clone(),
                    site: self.site_of(camera),
                    label: label.clone(),
                    score: *score,
                    started_at: frame_ms.unwrap_or_else(now_ms),
                    snapshot: None,
                    source: PIPELINE_SOURCE.into(),
                };
                let created = self.runtime.block_on(self.service.raise(alert, snapshot))?;
                self.open.insert(incident.clone(), created.id);
            }
            IncidentEvent::Updated { incident, peak, .. } => {
                if let Some(id) = self.open.get(incident) {
                    let change = AlertChange {
                        peak: Some(*peak),
                        ..AlertChange::default()
                    };
                    self.runtime.block_on(self.service.update(id, change))?;
                }
            }
            IncidentEvent::Ended { incident, peak, .. } => {
                if let Some(id) = self.open.remove(incident) {
                    let change = AlertChange {
                        peak: Some(*peak),
                        ended_at: Some(now_ms()),
                        ack: None,
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
            CameraStatus::Online(_) => (Wire::Online, None),
            CameraStatus::Reconnecting { error, .. } => (Wire::Reconnecting, Some(error.clone())),
            CameraStatus::Offline { error } => (Wire::Offline, error.clone()),
            CameraStatus::Ended => (Wire::Ended, None),
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
    use fightwatch_store::{AlertStore, SqliteStore};

    use super::*;
    use crate::{EventBus, LocalBus, SnapshotDir};

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
            SnapshotDir::new(dir.path().join("snapshots")),
        );
        let mut alerts = PipelineAlerts::new(service, rt.handle().clone(), "default");
        alerts.set_site("lobby", "hq");
        let incident = |event| PipelineEvent::Incident {
            event,
            frame_ms: Some(1_700_000_000_123),
            snapshot: Some(Arc::new(vec![0xFF, 0xD8, 0xFF, 0xD9])),
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
                status: CameraStatus::Offline {
                    error: Some("gone".into()),
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
}
