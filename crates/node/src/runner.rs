//! The running pipeline: cameras and the inference thread, started from a list of cameras.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use fightwatch_capture::{
    Camera, CameraConfig, ClipControl, ClipReport, LiveFeed, Pacing, RecordConfig, StatusEvent,
};
use fightwatch_inference::{
    ModelPackage, Pipeline, PipelineConfig, PipelineEvent, PipelineSummary, resize_spec,
};

use crate::NodeError;
use crate::streams::{merge, stream_of};

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

/// Cameras and the inference thread(s), running. Its events arrive on
/// [`RunningPipeline::events`]; the channel closes when every camera ended or `stop` was set.
pub struct RunningPipeline {
    /// What the pipeline reports: windows, incidents, camera states, metrics, thumbnails,
    /// finished clips.
    pub events: Receiver<PipelineEvent>,
    /// Each recording camera's clip control.
    pub clips: HashMap<String, ClipControl>,
    /// Each camera's newest frame and own video, for live view.
    pub live: HashMap<String, LiveFeed>,
    /// One inference thread per stream; the first one's model is given back by
    /// [`join_with_model`](Self::join_with_model).
    threads: Vec<InferenceThread>,
}

type InferenceThread = std::thread::JoinHandle<(
    Result<PipelineSummary, fightwatch_inference::Error>,
    ModelPackage,
)>;

impl RunningPipeline {
    /// Starts every camera, then the inference thread: one per stream
    /// ([`PipelineConfig::streams`]; more need [`ModelPackage::another_session`]s of `model`,
    /// and share the cameras out round robin, their metrics merged into one event a round).
    /// `stop` ends it (Ctrl-C).
    pub fn start(
        model: ModelPackage,
        config: PipelineConfig,
        cameras: &[CameraSpec],
        stop: Arc<AtomicBool>,
    ) -> Result<Self, NodeError> {
        let spec = resize_spec(&model.config().input);
        let streams = config.streams.clamp(1, cameras.len().max(1));
        let mut models = Vec::with_capacity(streams);
        for _ in 1..streams {
            models.push(model.another_session()?);
        }
        models.insert(0, model);
        let mut pipelines = Vec::with_capacity(streams);
        for model in models {
            pipelines.push(Pipeline::new(model, config.clone())?);
        }
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (reports_tx, reports) = crossbeam_channel::unbounded::<ClipReport>();
        // Per stream: its cameras, and where they report their state.
        let mut running: Vec<(Vec<Camera>, Receiver<StatusEvent>, Sender<StatusEvent>)> = (0
            ..streams)
            .map(|_| {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Vec::new(), rx, tx)
            })
            .collect();
        let (mut clips, mut live) = (HashMap::new(), HashMap::new());
        for (index, c) in cameras.iter().enumerate() {
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
            let (stream_cameras, _, status_tx) = &mut running[stream_of(index, streams)];
            let camera =
                Camera::start(cfg, status_tx.clone()).map_err(|source| NodeError::Camera {
                    camera: c.name().to_string(),
                    source,
                })?;
            if let Some(control) = camera.clips() {
                clips.insert(c.name().to_string(), control.clone());
            }
            live.insert(c.name().to_string(), camera.live_feed());
            stream_cameras.push(camera);
        }
        drop(reports_tx);
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
        // One stream sends straight to the channel; several through the metrics merge.
        let stream_senders: Vec<Sender<PipelineEvent>> = if streams == 1 {
            vec![events_tx]
        } else {
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..streams).map(|_| crossbeam_channel::unbounded()).unzip();
            let order: Vec<String> = cameras.iter().map(|c| c.name().to_string()).collect();
            std::thread::Builder::new()
                .name("stream-merge".into())
                .spawn(move || merge(receivers, &events_tx, &order))
                .map_err(NodeError::Thread)?;
            senders
        };
        let mut threads = Vec::with_capacity(streams);
        for (index, ((mut pipeline, (cameras, status_rx, status_tx)), events_tx)) in pipelines
            .into_iter()
            .zip(running)
            .zip(stream_senders)
            .enumerate()
        {
            drop(status_tx);
            let stop = stop.clone();
            let name = if streams == 1 {
                "inference".to_string()
            } else {
                format!("inference-{index}")
            };
            let thread = std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let summary = pipeline.run(&cameras, &status_rx, &events_tx, &stop);
                    drop(cameras); // stops the camera threads
                    (summary, pipeline.into_model())
                })
                .map_err(NodeError::Thread)?;
            threads.push(thread);
        }
        Ok(Self {
            events,
            clips,
            live,
            threads,
        })
    }

    /// Whether the inference threads have ended (every camera ended, or it was stopped).
    pub fn is_finished(&self) -> bool {
        self.threads
            .iter()
            .all(std::thread::JoinHandle::is_finished)
    }

    /// Waits for the inference threads; their summary (summed over streams).
    pub fn join(self) -> Result<PipelineSummary, NodeError> {
        self.join_with_model().map(|(summary, _)| summary)
    }

    /// Waits for the inference threads; their summary and the first stream's model, to run
    /// again with other cameras without loading it again (other streams' sessions are
    /// dropped, and made again by the next start).
    pub fn join_with_model(self) -> Result<(PipelineSummary, ModelPackage), NodeError> {
        let mut total = PipelineSummary::default();
        let mut first = None;
        let mut failed = None;
        for thread in self.threads {
            let (summary, model) = thread.join().map_err(|_| {
                NodeError::Thread(std::io::Error::other("an inference thread panicked"))
            })?;
            match summary {
                Ok(s) => add(&mut total, &s),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
            first.get_or_insert(model);
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        let model = first
            .ok_or_else(|| NodeError::Thread(std::io::Error::other("no inference thread ran")))?;
        Ok((total, model))
    }
}

/// Adds one stream's totals to `total`.
fn add(total: &mut PipelineSummary, s: &PipelineSummary) {
    total.frames += s.frames;
    total.windows += s.windows;
    total.skipped += s.skipped;
    total.incidents += s.incidents;
    total.batches += s.batches;
    total.inference_s += s.inference_s;
    total.fill_s += s.fill_s;
    total.prefetched += s.prefetched;
}
