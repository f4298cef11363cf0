//! The running pipeline: cameras and the inference thread, started from a list of cameras.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crossbeam_channel::Receiver;
use fightwatch_capture::{
    Camera, CameraConfig, ClipControl, ClipReport, LiveFeed, Pacing, RecordConfig,
};
use fightwatch_inference::{
    ModelPackage, Pipeline, PipelineConfig, PipelineEvent, PipelineSummary, resize_spec,
};

use crate::NodeError;

/// One camera of a pipeline: the capture settings as capture takes them, and what the node
/// adds (its site, where its incident clips go). The model's resize and the clip recorder are
/// filled in when the pipeline starts.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    /// Name, source, pacing, loop, analysis rate, privacy mask.
    pub capture: CameraConfig,
    /// The site its alerts belong to.
    pub site: String,
    /// Record incident clips.
    pub clips: Option<ClipSettings>,
}

/// Where and how long incident clips are.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipSettings {
    /// The alerts' media folder ([`fightwatch_alerts::MediaDir::dir`]).
    pub dir: PathBuf,
    /// Video before the incident's start.
    pub pre_roll: Duration,
    /// Video after its end.
    pub post_roll: Duration,
    /// Longest clip.
    pub max_length: Duration,
}

impl ClipSettings {
    /// 5 s pre-roll, 5 s post-roll, at most 120 s, in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            pre_roll: Duration::from_secs(5),
            post_roll: Duration::from_secs(5),
            max_length: Duration::from_secs(120),
        }
    }
}

impl CameraSpec {
    /// A real-time, non-looping camera of site `default`.
    pub fn new(name: &str, source: &str) -> Self {
        Self {
            capture: CameraConfig {
                pacing: Pacing::Realtime,
                ..CameraConfig::new(name, source)
            },
            site: "default".into(),
            clips: None,
        }
    }

    /// Its name (alerts, rooms and permissions use it).
    pub fn name(&self) -> &str {
        &self.capture.name
    }
}

/// Cameras and the inference thread, running. Its events arrive on [`RunningPipeline::events`];
/// the channel closes when every camera ended or `stop` was set.
pub struct RunningPipeline {
    /// What the pipeline reports: windows, incidents, camera states, metrics, thumbnails,
    /// finished clips.
    pub events: Receiver<PipelineEvent>,
    /// Each recording camera's clip control.
    pub clips: HashMap<String, ClipControl>,
    /// Each camera's newest frame and own video, for live view.
    pub live: HashMap<String, LiveFeed>,
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
    ) -> Result<Self, NodeError> {
        let spec = resize_spec(&model.config().input);
        let mut pipeline = Pipeline::new(model, config)?;
        let (status_tx, status_rx) = crossbeam_channel::unbounded();
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (reports_tx, reports) = crossbeam_channel::unbounded::<ClipReport>();
        let mut running = Vec::with_capacity(cameras.len());
        let (mut clips, mut live) = (HashMap::new(), HashMap::new());
        for c in cameras {
            let mut cfg = c.capture.clone();
            cfg.model_resize = Some(spec);
            cfg.record = c.clips.as_ref().map(|s| RecordConfig {
                pre_roll: s.pre_roll,
                post_roll: s.post_roll,
                max_length: s.max_length,
                // A mask must be burnt into the clip: the source's own packets show everything.
                force_encode: c.capture.mask.is_some(),
                ..RecordConfig::new(&s.dir, reports_tx.clone())
            });
            let camera =
                Camera::start(cfg, status_tx.clone()).map_err(|source| NodeError::Camera {
                    camera: c.name().to_string(),
                    source,
                })?;
            if let Some(control) = camera.clips() {
                clips.insert(c.name().to_string(), control.clone());
            }
            live.insert(c.name().to_string(), camera.live_feed());
            running.push(camera);
        }
        drop((status_tx, reports_tx));
        // Clip reports join the pipeline's events; this thread ends with the last camera.
        let forward = events_tx.clone();
        std::thread::Builder::new()
            .name("clip-reports".into())
            .spawn(move || {
                for report in reports {
                    if forward.send(PipelineEvent::Clip(report)).is_err() {
                        return;
                    }
                }
            })
            .map_err(NodeError::Thread)?;
        let thread = std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || {
                let summary = pipeline.run(&running, &status_rx, &events_tx, &stop);
                drop(running); // stops the camera threads
                (summary, pipeline.into_model())
            })
            .map_err(NodeError::Thread)?;
        Ok(Self {
            events,
            clips,
            live,
            thread,
        })
    }

    /// Whether the inference thread has ended (every camera ended, or it was stopped).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the inference thread; its summary.
    pub fn join(self) -> Result<PipelineSummary, NodeError> {
        self.join_with_model().map(|(summary, _)| summary)
    }

    /// Waits for the inference thread; its summary and the model, to run again with other
    /// cameras without loading it again.
    pub fn join_with_model(self) -> Result<(PipelineSummary, ModelPackage), NodeError> {
        match self.thread.join() {
            Ok((summary, model)) => Ok((summary?, model)),
            Err(_) => Err(NodeError::Thread(std::io::Error::other(
                "the inference thread panicked",
            ))),
        }
    }
}
