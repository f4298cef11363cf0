//! The inference stage: frames from every camera in, window scores and incidents out.
//!
//! One thread runs [`Pipeline::run`]. It waits on all camera queues at once, cuts each camera's
//! clips by media time, batches clips of several cameras into one model run (up to `max_batch`,
//! waiting at most `max_wait` for a batch to fill, and not at all when every running camera has
//! a clip waiting), and feeds the scores to each camera's
//! incident detector. Frames arrive already resized by the camera threads.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Select, Sender};
use fightwatch_capture::{Camera, Frame, Picture, StatusEvent};
use fightwatch_protocol::IncidentEvent;

use crate::gate::{Gate, GateConfig, Verdict};
use crate::incident::{IncidentConfig, IncidentDetector};
use crate::snapshot::SnapshotEncoder;
use crate::window::{Window, WindowBuilder};
use crate::{Error, ModelPackage, Prepared};

/// Settings of the inference stage.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Incident detection.
    pub incident: IncidentConfig,
    /// Cameras with incident settings of their own (complete: overrides already applied).
    pub camera_incident: HashMap<String, IncidentConfig>,
    /// Seconds of media time between the starts of consecutive clips of a camera.
    pub hop_s: f64,
    /// Which windows are scored (default: all).
    pub gate: GateConfig,
    /// Most windows of one camera waiting for the model; when more wait, the oldest are
    /// dropped (reported as [`Verdict::Behind`]) so analysis stays near the camera's present
    /// instead of falling further behind. `None` (the default): every window is scored, as a
    /// replay or an evaluation needs.
    pub max_backlog: Option<usize>,
    /// Most clips per model run (models with a fixed batch size run one by one regardless).
    pub max_batch: usize,
    /// Longest a ready clip waits for others to fill a batch (on a GPU: a CPU never waits,
    /// a batch is no cheaper per clip there).
    pub max_wait: Duration,
    /// JPEG quality of incident snapshots.
    pub snapshot_quality: u8,
    /// A stream that ends before one window is complete still gets one window, its last frame
    /// held ([`WindowBuilder::finish_short`]): evaluation on short clips. Off for cameras.
    pub score_short_streams: bool,
    /// When a full batch is already waiting as a run starts, write it into the model's other
    /// input buffer during the run ([`ModelPackage::run_prepared`]), so the next run starts
    /// with no host work. `None` (the default): on a GPU, where a run is short enough for the
    /// writing to matter; off on a CPU and for models with a fixed batch size.
    pub prefetch: Option<bool>,
    /// Inference streams the cameras are shared out among (read by whoever starts the
    /// pipelines: one [`Pipeline`] per stream, each with its own model session and thread; a
    /// `Pipeline` itself is one stream).
    pub streams: usize,
}

impl PipelineConfig {
    /// The incident settings of `camera`: its own, else the pipeline's.
    pub fn incident_for(&self, camera: &str) -> IncidentConfig {
        self.camera_incident
            .get(camera)
            .copied()
            .unwrap_or(self.incident)
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            incident: IncidentConfig::default(),
            camera_incident: HashMap::new(),
            hop_s: 0.5,
            gate: GateConfig::off(),
            max_backlog: None,
            max_batch: 8,
            max_wait: Duration::from_millis(50),
            snapshot_quality: 85,
            score_short_streams: false,
            prefetch: None,
            streams: 1,
        }
    }
}

/// What the inference stage reports.
#[derive(Debug, Clone)]
pub enum PipelineEvent {
    /// One window was scored.
    Window {
        /// Camera name.
        camera: Arc<str>,
        /// Media time at the end of the window, seconds.
        t: f64,
        /// Fight probability of the window.
        score: f32,
        /// Smoothed score the thresholds saw.
        smoothed: f32,
        /// Clips in the model run that scored it.
        batch: usize,
        /// Time the model run took.
        run_ms: f64,
        /// The most motion of the window's frames, when measured.
        motion: Option<f32>,
    },
    /// A window was left unscored (see [`GateConfig`]).
    Skipped {
        /// Camera name.
        camera: Arc<str>,
        /// Media time at the end of the window, seconds.
        t: f64,
        /// The most motion of the window's frames, when measured.
        motion: Option<f32>,
        /// Why.
        verdict: Verdict,
    },
    /// An incident started, peaked or ended.
    Incident {
        /// The event.
        event: IncidentEvent,
        /// Capture wall time (ms since the epoch) of the last frame of the window behind the
        /// event: for a start, the frame that confirmed the fight.
        frame_ms: Option<u64>,
        /// JPEG of the frame: the triggering window's last frame on start, the peak's on end.
        snapshot: Option<Arc<Vec<u8>>>,
        /// On start, with a model that has an activation map: where in the snapshot the fight
        /// is.
        located: Option<Located>,
    },
    /// A camera changed state.
    Camera(StatusEvent),
    /// Once a second: per-camera throughput.
    Metrics(Vec<fightwatch_protocol::CameraMetrics>),
    /// A camera's recorder finished (or failed) an incident clip.
    Clip(fightwatch_capture::ClipReport),
    /// Every few seconds per camera: a small JPEG of its latest frame (for camera lists).
    Thumbnail {
        /// Camera name.
        camera: Arc<str>,
        /// JPEG bytes, at most 480 pixels wide.
        jpeg: Arc<Vec<u8>>,
    },
}

/// Where in a snapshot a fight is, from the model's class activation map.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The box round it, `[x0, y0, x1, y1]` in 0–1 picture coordinates.
    pub region: [f32; 4],
    /// JPEG of the snapshot with the map laid over it and the box drawn (at most 1280 wide).
    pub heatmap: Option<Arc<Vec<u8>>>,
}

/// How often a camera's thumbnail is refreshed.
const THUMBNAIL_EVERY: Duration = Duration::from_secs(2);

/// Totals of a pipeline run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineSummary {
    /// Frames received from the cameras.
    pub frames: u64,
    /// Windows scored.
    pub windows: u64,
    /// Windows left unscored by the gate.
    pub skipped: u64,
    /// Incidents started.
    pub incidents: u64,
    /// Model runs.
    pub batches: u64,
    /// Time spent inside model runs, seconds.
    pub inference_s: f64,
    /// Of `inference_s`, the time the inference thread spent writing clips into the model's
    /// input buffer (host work before a run), seconds.
    pub fill_s: f64,
    /// Batches written during the previous run ([`PipelineConfig::prefetch`]).
    pub prefetched: u64,
}

/// A full-resolution frame and when it was captured (for snapshots and latency).
type Shot = (Arc<Picture>, SystemTime);

struct CameraState {
    name: Arc<str>,
    builder: WindowBuilder<Shot>,
    detector: IncidentDetector,
    end_threshold: f32,
    gate: Gate,
    /// Windows cut but not yet decided on: with a gate, a window waits until every earlier one
    /// of its camera is scored, so the same video always gives the same decisions.
    deferred: VecDeque<Window<Shot>>,
    /// A window of this camera is waiting for (or in) a model run.
    in_flight: bool,
    peak_picture: Option<Shot>,
    last_t: f64,
    done: bool,
    // Counters of the current metrics period.
    period_frames: u64,
    period_windows: u64,
    period_skipped: u64,
    period_run_ms: f64,
    /// Longest time from a window's last frame to its verdict (or score) this period, ms.
    period_lag_ms: f64,
    /// Capture time of the last frame of the newest window decided on.
    last_decided: Option<SystemTime>,
    last_thumbnail: Option<Instant>,
}

impl CameraState {
    /// A camera's state; `phase` (0..1) staggers its still-camera checks against the others'.
    fn new(
        name: &Arc<str>,
        incident: IncidentConfig,
        builder: WindowBuilder<Shot>,
        phase: f64,
    ) -> Self {
        Self {
            name: name.clone(),
            builder,
            detector: IncidentDetector::new(name, incident),
            end_threshold: incident.end_threshold,
            gate: Gate::with_phase(phase),
            deferred: VecDeque::new(),
            in_flight: false,
            peak_picture: None,
            last_t: 0.0,
            done: false,
            period_frames: 0,
            period_windows: 0,
            period_skipped: 0,
            period_run_ms: 0.0,
            period_lag_ms: 0.0,
            last_decided: None,
            last_thumbnail: None,
        }
    }

    /// Takes one frame of this camera: its thumbnail now and then, the windows it completes
    /// cut and released (true if one went to `pending`).
    #[allow(clippy::too_many_arguments)]
    fn take_frame(
        &mut self,
        index: usize,
        frame: Frame,
        model: &str,
        config: &PipelineConfig,
        encoder: &SnapshotEncoder,
        pending: &mut Vec<(usize, Window<Shot>)>,
        summary: &mut PipelineSummary,
        events: &Sender<PipelineEvent>,
    ) -> Result<bool, Error> {
        summary.frames += 1;
        self.period_frames += 1;
        if self
            .last_thumbnail
            .is_none_or(|t| t.elapsed() >= THUMBNAIL_EVERY)
        {
            self.last_thumbnail = Some(Instant::now());
            encoder.thumbnail(self.name.clone(), frame.picture.clone());
        }
        self.last_t = self.last_t.max(frame.pts_s);
        let Some(small) = frame.model_input.clone() else {
            return Err(Error::BadInput {
                model: model.to_string(),
                message: format!(
                    "camera {} delivers frames without a model-size image",
                    self.name
                ),
            });
        };
        self.deferred.extend(self.builder.push_measured(
            frame.pts_s,
            frame.seq,
            small,
            frame.motion,
            (frame.picture.clone(), frame.captured_at),
        ));
        Ok(self.release(index, config, pending, summary, events))
    }

    /// Decides this camera's deferred windows in order, as far as it can: windows to score go
    /// to `pending` (true if any did), the others are reported as skipped. Without a gate every
    /// window goes straight through.
    fn release(
        &mut self,
        index: usize,
        config: &PipelineConfig,
        pending: &mut Vec<(usize, Window<Shot>)>,
        summary: &mut PipelineSummary,
        events: &Sender<PipelineEvent>,
    ) -> bool {
        let gate = &config.gate;
        let gated = *gate != GateConfig::off();
        if let Some(max) = config.max_backlog {
            // Behind the camera: the oldest waiting windows go, so what is scored is recent.
            while self.deferred.len() > max.max(1)
                && let Some(old) = self.deferred.pop_front()
            {
                self.skipped(old, Verdict::Behind, summary, events);
            }
        }
        let mut queued = false;
        while !self.in_flight
            && let Some(clip) = self.deferred.pop_front()
        {
            let verdict = if gated {
                self.gate.decide(
                    gate,
                    clip.end_s,
                    clip.motion,
                    self.detector.is_active(),
                    self.end_threshold,
                )
            } else {
                Verdict::Score
            };
            if verdict == Verdict::Score {
                self.in_flight = gated;
                self.gate.sent(clip.end_s, clip.motion);
                pending.push((index, clip));
                queued = true;
                continue;
            }
            self.skipped(clip, verdict, summary, events);
        }
        if let Some(max) = config.max_backlog {
            // Without a gate windows wait in `pending`: the same bound there.
            let mut waiting = pending.iter().filter(|(j, _)| *j == index).count();
            while waiting > max.max(1)
                && let Some(at) = pending.iter().position(|(j, _)| *j == index)
            {
                let (_, old) = pending.remove(at);
                self.skipped(old, Verdict::Behind, summary, events);
                waiting -= 1;
            }
        }
        queued
    }

    /// Reports a window left unscored.
    fn skipped(
        &mut self,
        clip: Window<Shot>,
        verdict: Verdict,
        summary: &mut PipelineSummary,
        events: &Sender<PipelineEvent>,
    ) {
        summary.skipped += 1;
        self.period_skipped += 1;
        self.last_t = self.last_t.max(clip.end_s);
        self.note_lag(clip.last_payload.as_ref());
        let _ = events.send(PipelineEvent::Skipped {
            camera: self.name.clone(),
            t: clip.end_s,
            motion: clip.motion,
            verdict,
        });
    }

    /// Counts the time from a window's last frame (its capture) to now into this period's lag.
    fn note_lag(&mut self, last_frame: Option<&Shot>) {
        if let Some((_, captured_at)) = last_frame {
            self.last_decided = Some(*captured_at);
            if let Ok(lag) = captured_at.elapsed() {
                self.period_lag_ms = self.period_lag_ms.max(lag.as_secs_f64() * 1e3);
            }
        }
    }

    /// This period's lag; with no window decided in it, how old the newest decided one is
    /// (so a starved camera shows a growing lag, not none).
    /// The metrics of the period just ended (`secs` long), and a new period begun.
    fn take_metrics(&mut self, camera: &Camera, secs: f64) -> fightwatch_protocol::CameraMetrics {
        let metrics = fightwatch_protocol::CameraMetrics {
            camera: self.name.to_string(),
            capture_fps: self.period_frames as f64 / secs,
            inference_fps: self.period_windows as f64 / secs,
            inference_ms: if self.period_windows > 0 {
                self.period_run_ms / self.period_windows as f64
            } else {
                0.0
            },
            dropped_frames: camera.stats().dropped.load(Ordering::Relaxed),
            queue_depth: camera.frames().len(),
            skipped_fps: self.period_skipped as f64 / secs,
            analysis_lag_ms: self.lag_ms(),
        };
        (self.period_frames, self.period_windows, self.period_skipped) = (0, 0, 0);
        (self.period_run_ms, self.period_lag_ms) = (0.0, 0.0);
        metrics
    }

    /// Ends the camera's open incident, if it has one (its stream ended, or the run stops).
    fn close_incident(&mut self, encoder: &SnapshotEncoder, events: &Sender<PipelineEvent>) {
        if let Some(event) = self
            .detector
            .finish(self.last_t, wall_ms(SystemTime::now()))
        {
            let picture = self.peak_picture.take().map(|s| s.0);
            encoder.incident(event, None, picture, None, events);
        }
    }

    fn lag_ms(&self) -> f64 {
        if self.period_windows + self.period_skipped > 0 || self.done {
            return self.period_lag_ms;
        }
        self.last_decided
            .and_then(|t| t.elapsed().ok())
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

/// Windows waiting for a model run, oldest first, and since when the batch has waited.
#[derive(Default)]
struct Batch {
    pending: Vec<(usize, Window<Shot>)>,
    since: Option<Instant>,
}

impl Batch {
    /// Starts the wait when a window was `added` to an empty batch.
    fn mark(&mut self, added: bool) {
        if added {
            self.since.get_or_insert_with(Instant::now);
        }
    }

    /// Whether camera `index` has a window waiting.
    fn waits_for(&self, index: usize) -> bool {
        self.pending.iter().any(|(i, _)| *i == index)
    }

    /// Whether to run the model now: the batch is full, has waited `max_wait`, or nobody can
    /// add to it (every camera ended, or every running camera has a window in it: waiting
    /// would only delay the alert).
    fn is_due(&self, cams: &[CameraState], config: &PipelineConfig) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let waited = self.since.is_some_and(|t0| t0.elapsed() >= config.max_wait);
        let everyone_in = cams
            .iter()
            .enumerate()
            .all(|(i, c)| c.done || self.waits_for(i));
        self.pending.len() >= config.max_batch || waited || everyone_in
    }

    /// The oldest `max` windows; the rest start a new wait.
    fn take(&mut self, max: usize) -> Vec<(usize, Window<Shot>)> {
        let batch = self.pending.drain(..self.pending.len().min(max)).collect();
        self.since = (!self.pending.is_empty()).then(Instant::now);
        batch
    }
}

/// Windows in a model run, with their cameras' indexes.
type BatchOf = Vec<(usize, Window<Shot>)>;

/// The model input of a batch of windows: each window's frames.
fn clips(batch: &[(usize, Window<Shot>)]) -> Vec<&[Arc<image::RgbImage>]> {
    batch.iter().map(|(_, c)| c.frames.as_slice()).collect()
}

/// What one [`Pipeline::run`] keeps besides the cameras.
struct RunState {
    batch: Batch,
    /// The next batch, already written into the model's other input buffer.
    prefetched: Option<(BatchOf, Prepared)>,
    summary: PipelineSummary,
    /// The camera status channel is still open.
    status_open: bool,
    encoder: SnapshotEncoder,
}

impl RunState {
    /// Whether camera `index` has a window waiting for a run (prefetched or not).
    fn waits_for(&self, index: usize) -> bool {
        self.batch.waits_for(index)
            || self
                .prefetched
                .as_ref()
                .is_some_and(|(batch, _)| batch.iter().any(|(i, _)| *i == index))
    }

    /// Lets camera `index` release the windows that no longer wait for earlier scores.
    fn release(
        &mut self,
        index: usize,
        cam: &mut CameraState,
        config: &PipelineConfig,
        events: &Sender<PipelineEvent>,
    ) {
        let added = cam.release(
            index,
            config,
            &mut self.batch.pending,
            &mut self.summary,
            events,
        );
        self.batch.mark(added);
    }
}

/// The inference stage over a set of cameras.
pub struct Pipeline {
    model: ModelPackage,
    config: PipelineConfig,
    label: String,
    /// Whether the next full batch is written during a run ([`PipelineConfig::prefetch`]).
    prefetch: bool,
}

fn wall_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Pipeline {
    /// A pipeline scoring with `model`.
    ///
    /// On a GPU this runs every batch size up to `max_batch` once first (see
    /// [`ModelPackage::warm_up`]).
    pub fn new(mut model: ModelPackage, mut config: PipelineConfig) -> Result<Self, Error> {
        config.incident.validate().map_err(|m| Error::Config {
            path: "incident settings".into(),
            message: m,
        })?;
        config.gate.validate().map_err(|m| Error::Config {
            path: "pipeline gate settings".into(),
            message: m,
        })?;
        for (camera, incident) in &config.camera_incident {
            incident.validate().map_err(|m| Error::Config {
                path: format!("incident settings of camera {camera}").into(),
                message: m,
            })?;
        }
        let device = model.onnx().device();
        if device == crate::Device::Cpu {
            // A batch costs its clips' sum on a CPU (fight-demo: 6.0 ms for 1, 74 ms for 8;
            // mc3_18 the same), so waiting for one to fill only delays the clips already
            // waiting: those are scored at once, together.
            config.max_wait = Duration::ZERO;
        } else {
            let started = std::time::Instant::now();
            model.warm_up(config.max_batch)?;
            tracing::info!(
                %device,
                max_batch = config.max_batch,
                seconds = started.elapsed().as_secs_f64(),
                "Model warmed up for every batch size."
            );
        }
        let label = model.config().output.fight_labels.join("+");
        let prefetch = model.fixed_batch().is_none()
            && config.prefetch.unwrap_or(device != crate::Device::Cpu);
        let (fill_threads, pinned) = model.fill_setup();
        tracing::debug!(
            %device,
            fill_threads,
            pinned,
            prefetch,
            "Batches are written by {fill_threads} thread(s){}.",
            if prefetch { ", the next during each run" } else { "" }
        );
        Ok(Self {
            model,
            config,
            label,
            prefetch,
        })
    }

    /// The model.
    pub fn model(&self) -> &ModelPackage {
        &self.model
    }

    /// Gives the model back.
    pub fn into_model(self) -> ModelPackage {
        self.model
    }

    /// Runs until every camera has ended (files) or `stop` is set, sending events to `events`.
    ///
    /// Cameras must have been started with the model's resize spec, so frames carry their
    /// model-size image. Camera status events from `status` are passed through.
    pub fn run(
        &mut self,
        cameras: &[Camera],
        status: &Receiver<StatusEvent>,
        events: &Sender<PipelineEvent>,
        stop: &AtomicBool,
    ) -> Result<PipelineSummary, Error> {
        let input = self.model.config().input.clone();
        let model_name = self.model.config().model.name.clone();
        let mut cams: Vec<CameraState> = cameras
            .iter()
            .enumerate()
            .map(|(i, c)| {
                CameraState::new(
                    c.name(),
                    self.config.incident_for(c.name()),
                    WindowBuilder::new(input.frames, input.sample_fps, self.config.hop_s),
                    i as f64 / cameras.len() as f64,
                )
            })
            .collect();
        // Kept apart from the per-camera state: a Select borrows them while the state changes.
        let receivers: Vec<Receiver<Frame>> = cameras.iter().map(|c| c.frames().clone()).collect();
        let mut run = RunState {
            batch: Batch::default(),
            prefetched: None,
            summary: PipelineSummary::default(),
            status_open: true,
            encoder: SnapshotEncoder::start(
                events.clone(),
                self.config.snapshot_quality,
                crate::resize_spec(&input),
            ),
        };
        let mut period_start = Instant::now();
        loop {
            if period_start.elapsed() >= Duration::from_secs(1) {
                let secs = period_start.elapsed().as_secs_f64();
                let metrics = cams
                    .iter_mut()
                    .zip(cameras)
                    .map(|(cam, camera)| cam.take_metrics(camera, secs))
                    .collect();
                let _ = events.send(PipelineEvent::Metrics(metrics));
                period_start = Instant::now();
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let live: Vec<usize> = (0..cams.len()).filter(|&i| !cams[i].done).collect();
            if live.is_empty() && run.batch.pending.is_empty() && run.prefetched.is_none() {
                break;
            }
            let selected = self.wait(&mut cams, &receivers, &live, status, &mut run, events);
            // The selected frame, then every frame already waiting, before the next model run: a
            // camera that fell behind has its newest windows cut at once (the oldest dropped by
            // `max_backlog`) instead of one frame a run, so its lag stays near one run, not
            // many. Bounded by what was queued when the pass began.
            let queued = live.iter().flat_map(|&i| {
                let rx = &receivers[i];
                (0..rx.len()).map_while(move |_| rx.try_recv().ok().map(|frame| (i, frame)))
            });
            for (i, frame) in selected.into_iter().chain(queued) {
                let added = cams[i].take_frame(
                    i,
                    frame,
                    &model_name,
                    &self.config,
                    &run.encoder,
                    &mut run.batch.pending,
                    &mut run.summary,
                    events,
                )?;
                run.batch.mark(added);
            }
            if run.prefetched.is_some() || run.batch.is_due(&cams, &self.config) {
                self.score_next_batch(&mut cams, &mut run, events)?;
            }
            // A camera that ended and has no window waiting closes its open incident.
            for (i, cam) in cams.iter_mut().enumerate() {
                if cam.done && !run.waits_for(i) {
                    cam.close_incident(&run.encoder, events);
                }
            }
        }
        // Stopped: close what is open so no incident is left dangling.
        for cam in &mut cams {
            cam.close_incident(&run.encoder, events);
        }
        run.encoder.finish();
        Ok(run.summary)
    }

    /// Waits for a frame of a live camera or a camera status event (passed on), at most until
    /// the batch is due. A camera whose stream ended is marked done (scoring short streams, its
    /// unfinished window is released first).
    fn wait(
        &self,
        cams: &mut [CameraState],
        receivers: &[Receiver<Frame>],
        live: &[usize],
        status: &Receiver<StatusEvent>,
        run: &mut RunState,
        events: &Sender<PipelineEvent>,
    ) -> Option<(usize, Frame)> {
        let timeout = match run.batch.since {
            // A prefetched batch runs as soon as the frames already here are taken.
            _ if run.prefetched.is_some() => Duration::ZERO,
            Some(t0) => self.config.max_wait.saturating_sub(t0.elapsed()),
            None => Duration::from_millis(100),
        };
        let mut sel = Select::new();
        for &i in live {
            sel.recv(&receivers[i]);
        }
        let status_index = run.status_open.then(|| sel.recv(status));
        if live.is_empty() && status_index.is_none() {
            return None;
        }
        let op = sel.select_timeout(timeout).ok()?;
        if Some(op.index()) == status_index {
            match op.recv(status) {
                Ok(ev) => {
                    let _ = events.send(PipelineEvent::Camera(ev));
                }
                Err(_) => run.status_open = false,
            }
            return None;
        }
        let i = live[op.index()];
        if let Ok(frame) = op.recv(&receivers[i]) {
            return Some((i, frame));
        }
        let cam = &mut cams[i];
        if self.config.score_short_streams
            && let Some(window) = cam.builder.finish_short()
        {
            cam.deferred.push_back(window);
            run.release(i, cam, &self.config, events);
        }
        cam.done = true;
        None
    }

    /// Scores the oldest waiting windows (up to `max_batch`; the prefetched batch first), then
    /// lets each camera release the windows that waited for those scores.
    fn score_next_batch(
        &mut self,
        cams: &mut [CameraState],
        run: &mut RunState,
        events: &Sender<PipelineEvent>,
    ) -> Result<(), Error> {
        let t0 = Instant::now();
        let (batch, scores, fill_s) = if self.prefetch {
            self.run_prefetching(run)?
        } else {
            let batch = run.batch.take(self.config.max_batch);
            let inputs = clips(&batch);
            let _span = tracing::debug_span!("model_run", batch = inputs.len()).entered();
            let scores = self.model.score(&inputs)?;
            (batch, scores, self.model.last_fill().as_secs_f64())
        };
        let run_s = t0.elapsed().as_secs_f64();
        run.summary.fill_s += fill_s;
        self.apply_scores(
            cams,
            batch,
            scores,
            run_s,
            events,
            &run.encoder,
            &mut run.summary,
        );
        for (i, cam) in cams.iter_mut().enumerate() {
            run.release(i, cam, &self.config, events);
        }
        Ok(())
    }

    /// Runs the prefetched batch (or prepares the oldest waiting windows and runs them) while
    /// the next full batch, if one waits, is written into the other buffer. Returns the batch
    /// run, its scores and the seconds this thread spent writing input.
    fn run_prefetching(
        &mut self,
        run: &mut RunState,
    ) -> Result<(BatchOf, Vec<crate::ClipScores>, f64), Error> {
        let mut fill_s = 0.0;
        let (batch, prepared) = match run.prefetched.take() {
            Some(ready) => ready,
            None => {
                let batch = run.batch.take(self.config.max_batch);
                let prepared = self.model.prepare(&clips(&batch))?;
                fill_s += self.model.last_fill().as_secs_f64();
                (batch, prepared)
            }
        };
        let max = self.config.max_batch;
        let next = (run.batch.pending.len() >= max).then(|| run.batch.take(max));
        let _span = tracing::debug_span!("model_run", batch = batch.len()).entered();
        let (scores, prepared) = self
            .model
            .run_prepared(prepared, next.as_deref().map(clips).as_deref())?;
        fill_s += self.model.last_fill().as_secs_f64();
        match (next, prepared) {
            (Some(next), Some(prepared)) => {
                run.summary.prefetched += 1;
                run.prefetched = Some((next, prepared));
            }
            // Not written (logged): back to the front of the queue, in order.
            (Some(next), None) => {
                run.batch.pending.splice(0..0, next);
                run.batch.mark(true);
            }
            _ => {}
        }
        Ok((batch, scores, fill_s))
    }

    /// Feeds a run's scores to each window's camera: its incident detector, gate and events.
    #[allow(clippy::too_many_arguments)]
    fn apply_scores(
        &mut self,
        cams: &mut [CameraState],
        batch: Vec<(usize, Window<Shot>)>,
        scores: Vec<crate::ClipScores>,
        run_s: f64,
        events: &Sender<PipelineEvent>,
        encoder: &SnapshotEncoder,
        summary: &mut PipelineSummary,
    ) {
        let batch_len = batch.len();
        summary.batches += 1;
        summary.inference_s += run_s;
        let now = wall_ms(SystemTime::now());
        for ((i, clip), score) in batch.into_iter().zip(scores) {
            summary.windows += 1;
            let cam = &mut cams[i];
            cam.last_t = cam.last_t.max(clip.end_s);
            cam.period_windows += 1;
            cam.period_run_ms += run_s * 1e3;
            let decision = cam.detector.push(clip.end_s, now, score.fight, &self.label);
            cam.gate.scored(decision.smoothed);
            cam.in_flight = false;
            cam.note_lag(clip.last_payload.as_ref());
            let _ = events.send(PipelineEvent::Window {
                camera: cam.name.clone(),
                t: clip.end_s,
                score: score.fight,
                smoothed: decision.smoothed,
                batch: batch_len,
                run_ms: run_s * 1e3,
                motion: clip.motion,
            });
            if decision.new_peak {
                cam.peak_picture = clip.last_payload.clone();
            }
            for event in decision.events {
                let frame_ms = clip.last_payload.as_ref().map(|s| wall_ms(s.1));
                // A start shows the window that confirmed it, and where in it the fight is.
                let (picture, map) = match &event {
                    IncidentEvent::Started { .. } => {
                        summary.incidents += 1;
                        let picture = clip.last_payload.as_ref().map(|s| s.0.clone());
                        (picture, score.cam.clone())
                    }
                    IncidentEvent::Ended { .. } => (cam.peak_picture.take().map(|s| s.0), None),
                    IncidentEvent::Updated { .. } => (None, None),
                };
                encoder.incident(event, frame_ms, picture, map, events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(end_s: f64) -> Window<Shot> {
        Window {
            start_s: end_s - 2.0,
            end_s,
            last_seq: 0,
            frames: Vec::new(),
            last_payload: None,
            motion: Some(0.5),
        }
    }

    /// Runs `release` on a camera with windows ending at 1..=n s waiting.
    fn release(n: u32, config: &PipelineConfig) -> (Vec<f64>, Vec<(f64, Verdict)>) {
        let name: Arc<str> = "cam".into();
        let mut cam = CameraState::new(
            &name,
            IncidentConfig::default(),
            WindowBuilder::new(2, 1.0, 1.0),
            0.0,
        );
        cam.deferred.extend((1..=n).map(|k| clip(f64::from(k))));
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut pending = Vec::new();
        cam.release(
            0,
            config,
            &mut pending,
            &mut PipelineSummary::default(),
            &tx,
        );
        drop(tx);
        let skipped = rx
            .iter()
            .filter_map(|e| match e {
                PipelineEvent::Skipped { t, verdict, .. } => Some((t, verdict)),
                _ => None,
            })
            .collect();
        (pending.iter().map(|(_, c)| c.end_s).collect(), skipped)
    }

    #[test]
    fn a_camera_behind_keeps_only_its_newest_windows() {
        let behind = |ts: &[f64]| ts.iter().map(|t| (*t, Verdict::Behind)).collect::<Vec<_>>();
        // No gate: every window is queued, then the oldest beyond two are dropped.
        let live = PipelineConfig {
            max_backlog: Some(2),
            ..PipelineConfig::default()
        };
        assert_eq!(
            release(5, &live),
            (vec![4.0, 5.0], behind(&[1.0, 2.0, 3.0]))
        );
        // With a gate one window is in flight at a time; two may wait behind it.
        let gated = PipelineConfig {
            gate: GateConfig::recommended(),
            ..live.clone()
        };
        assert_eq!(release(5, &gated), (vec![4.0], behind(&[1.0, 2.0, 3.0])));
        // A replay scores every window.
        assert_eq!(release(5, &PipelineConfig::default()).0.len(), 5);
    }

    /// Runs `pending` (windows of random frames, round robin over three cameras) through the
    /// demo model in batches of 2: each window's score, and the run's summary.
    fn run_batches(
        prefetch: bool,
        pending: &[(usize, Window<Shot>)],
    ) -> (Vec<f32>, PipelineSummary) {
        let search = crate::runtime::LibrarySearch {
            roots: vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")],
            ..crate::runtime::LibrarySearch::from_env(None)
        };
        let runtime = crate::OrtRuntime::init(&search).expect("ONNX Runtime (scripts/setup.sh)");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fight-demo");
        let model = ModelPackage::load(&runtime, &dir, 1).expect("the demo model");
        let spec = crate::resize_spec(&model.config().input);
        let config = PipelineConfig {
            max_batch: 2,
            prefetch: Some(prefetch),
            ..PipelineConfig::default()
        };
        let mut pipeline = Pipeline::new(model, config).expect("pipeline");
        let names: Vec<Arc<str>> = ["a", "b", "c"].map(Arc::from).to_vec();
        let mut cams: Vec<CameraState> = names
            .iter()
            .map(|n| {
                CameraState::new(
                    n,
                    IncidentConfig::default(),
                    WindowBuilder::new(16, 8.0, 0.5),
                    0.0,
                )
            })
            .collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut run = RunState {
            batch: Batch {
                pending: pending.to_vec(),
                since: Some(Instant::now()),
            },
            prefetched: None,
            summary: PipelineSummary::default(),
            status_open: false,
            encoder: SnapshotEncoder::start(tx.clone(), 80, spec),
        };
        while !run.batch.pending.is_empty() || run.prefetched.is_some() {
            pipeline
                .score_next_batch(&mut cams, &mut run, &tx)
                .expect("a run");
        }
        run.encoder.finish();
        drop(tx);
        let scores = rx
            .iter()
            .filter_map(|e| match e {
                PipelineEvent::Window { score, .. } => Some(score),
                _ => None,
            })
            .collect();
        (scores, run.summary)
    }

    #[test]
    fn a_full_batch_waiting_is_written_during_the_run_before_it() {
        let mut rng = fastrand::Rng::with_seed(11);
        let pending: Vec<(usize, Window<Shot>)> = (0..5)
            .map(|k| {
                let frames = (0..16)
                    .map(|_| {
                        Arc::new(image::RgbImage::from_fn(96, 96, |_, _| {
                            image::Rgb([rng.u8(..), rng.u8(..), rng.u8(..)])
                        }))
                    })
                    .collect();
                let window = Window {
                    frames,
                    ..clip(f64::from(k + 2))
                };
                (k as usize % 3, window)
            })
            .collect();
        let (plain, summary) = run_batches(false, &pending);
        assert_eq!((summary.batches, summary.prefetched), (3, 0));
        // Batches [1, 2], then [3, 4] written while the first runs, then [5].
        let (prefetched, summary) = run_batches(true, &pending);
        assert_eq!((summary.batches, summary.prefetched), (3, 1));
        assert_eq!(plain.len(), 5);
        // The same batches, so the same scores, bit for bit.
        assert_eq!(
            plain.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            prefetched.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
        );
    }
}
