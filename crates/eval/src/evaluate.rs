//! Playing labelled clips through the pipeline and scoring the outcome.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use fightwatch_capture::{Camera, CameraConfig, CaptureState};
use fightwatch_inference::{ModelPackage, Pipeline, PipelineConfig, PipelineEvent, resize_spec};
use fightwatch_protocol::IncidentEvent;

use crate::metrics::{self, ClipResult, Metrics};
use crate::{EvalError, LabelledClip};

/// What the pipeline made of one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipOutcome {
    /// Highest window score.
    pub max_score: f32,
    /// Mean window score.
    pub mean_score: f32,
    /// Windows scored.
    pub windows: usize,
    /// Windows the gate left unscored (still, or far below the threshold).
    pub skipped: usize,
    /// `(media time, fight score)` of each window.
    pub scores: Vec<(f64, f32)>,
    /// Media time of the first incident start, seconds.
    pub first_incident: Option<f64>,
    /// Incidents started.
    pub incidents: usize,
    /// Why the clip could not be evaluated, if it could not.
    pub error: Option<String>,
}

/// An evaluation: per clip (in the order given) and overall.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The model's name.
    pub model: String,
    /// One per clip.
    pub outcomes: Vec<ClipOutcome>,
    /// The clips that could be evaluated, scored.
    pub results: Vec<ClipResult>,
    /// `path: why` of the clips that could not.
    pub failed: Vec<String>,
    /// The metrics over `results`.
    pub metrics: Metrics,
}

/// Plays `clips` through the pipeline, `parallel` at a time; `progress` is called with the
/// number of clips done after each group.
pub fn evaluate(
    model: ModelPackage,
    config: PipelineConfig,
    clips: &[LabelledClip],
    parallel: usize,
    mut progress: impl FnMut(usize),
) -> Result<Evaluation, EvalError> {
    let model_name = model.config().model.name.clone();
    let spec = resize_spec(&model.config().input);
    let mut pipeline = Pipeline::new(model, config)?;
    let parallel = parallel.max(1);
    let mut outcomes = Vec::with_capacity(clips.len());
    let stop = AtomicBool::new(false);
    for (group, chunk) in clips.chunks(parallel).enumerate() {
        let (status_tx, status_rx) = crossbeam_channel::unbounded();
        let mut cameras = Vec::new();
        for (i, clip) in chunk.iter().enumerate() {
            let mut cfg = CameraConfig::new(
                &format!("clip{}", group * parallel + i),
                &clip.path.to_string_lossy(),
            );
            cfg.model_resize = Some(spec);
            cameras.push(Camera::start(cfg, status_tx.clone())?);
        }
        drop(status_tx);
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        pipeline.run(&cameras, &status_rx, &events_tx, &stop)?;
        drop(events_tx);
        let mut scores: HashMap<String, Vec<(f64, f32)>> = HashMap::new();
        let mut starts: HashMap<String, Vec<f64>> = HashMap::new();
        let mut errors: HashMap<String, String> = HashMap::new();
        let mut skipped: HashMap<String, usize> = HashMap::new();
        for ev in events_rx {
            match ev {
                PipelineEvent::Window {
                    camera, t, score, ..
                } => scores
                    .entry(camera.to_string())
                    .or_default()
                    .push((t, score)),
                PipelineEvent::Skipped { camera, .. } => {
                    *skipped.entry(camera.to_string()).or_default() += 1;
                }
                PipelineEvent::Incident {
                    event: IncidentEvent::Started { camera, t, .. },
                    ..
                } => starts.entry(camera).or_default().push(t),
                PipelineEvent::Camera(s) => {
                    if let CaptureState::Offline { error: Some(e) } = s.status {
                        errors.insert(s.camera.to_string(), e.detail);
                    }
                }
                PipelineEvent::Incident { .. }
                | PipelineEvent::Metrics(_)
                | PipelineEvent::Thumbnail { .. }
                | PipelineEvent::Clip(_) => {}
            }
        }
        for camera in &cameras {
            let name = camera.name().to_string();
            let s = scores.remove(&name).unwrap_or_default();
            let st = starts.remove(&name).unwrap_or_default();
            let error = errors
                .remove(&name)
                .or_else(|| s.is_empty().then(|| "too short for one window".to_string()));
            outcomes.push(ClipOutcome {
                max_score: s.iter().map(|w| w.1).fold(0.0, f32::max),
                mean_score: if s.is_empty() {
                    0.0
                } else {
                    s.iter().map(|w| w.1).sum::<f32>() / s.len() as f32
                },
                windows: s.len(),
                skipped: skipped.remove(&name).unwrap_or(0),
                scores: s,
                first_incident: st.first().copied(),
                incidents: st.len(),
                error,
            });
        }
        progress(outcomes.len());
    }

    let mut evaluation = Evaluation {
        model: model_name,
        outcomes,
        results: Vec::new(),
        failed: Vec::new(),
        metrics: metrics::metrics(&[]),
    };
    evaluation.judge(clips, Decision::Incident);
    Ok(evaluation)
}

/// How a clip is judged to show a fight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// An incident started in it (smoothing, hysteresis, minimum windows: what raises alerts).
    Incident,
    /// One of its windows scored at least `threshold` (short clips, where an incident detector
    /// that wants several windows in a row rarely fires on one clip).
    Window {
        /// The operating threshold.
        threshold: f32,
    },
}

impl Evaluation {
    /// Judges every clip of `clips` (the clips evaluated, in order) by `decision`, and the
    /// metrics again.
    pub fn judge(&mut self, clips: &[LabelledClip], decision: Decision) {
        let mut results = Vec::new();
        let mut failed = Vec::new();
        for (clip, o) in clips.iter().zip(&self.outcomes) {
            if let Some(e) = &o.error {
                failed.push(format!("{}: {e}", clip.path.display()));
                continue;
            }
            let delay_s = match (clip.segment, o.first_incident) {
                (Some((start, _)), Some(t)) if clip.fight => Some(t - start),
                _ => None,
            };
            let flagged = match decision {
                Decision::Incident => o.incidents > 0,
                Decision::Window { threshold } => o.max_score >= threshold,
            };
            results.push(ClipResult {
                fight: clip.fight,
                max_score: o.max_score,
                flagged,
                delay_s,
            });
        }
        self.metrics = metrics::metrics(&results);
        self.results = results;
        self.failed = failed;
    }
}

/// Writes `scores.csv` and `scores.json` (per clip), `metrics.json`, `roc.png` and `scores.png` (the window
/// score histogram with the start `threshold`) into `out`, which must exist.
pub fn write_report(
    out: &Path,
    clips: &[LabelledClip],
    evaluation: &Evaluation,
    threshold: f32,
) -> Result<(), EvalError> {
    let csv_path = out.join("scores.csv");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EvalError::Io { path, source }
    };
    let csv_err = |e: csv::Error| EvalError::Dataset(format!("{}: {e}", csv_path.display()));
    let mut w = csv::Writer::from_path(&csv_path).map_err(csv_err)?;
    w.write_record([
        "file",
        "label",
        "max_score",
        "mean_score",
        "windows",
        "incidents",
        "first_incident_t",
        "error",
    ])
    .map_err(csv_err)?;
    for (clip, o) in clips.iter().zip(&evaluation.outcomes) {
        w.write_record([
            clip.path.display().to_string(),
            (if clip.fight { "fight" } else { "nonfight" }).to_string(),
            format!("{:.4}", o.max_score),
            format!("{:.4}", o.mean_score),
            o.windows.to_string(),
            o.incidents.to_string(),
            o.first_incident
                .map(|t| format!("{t:.2}"))
                .unwrap_or_default(),
            o.error.clone().unwrap_or_default(),
        ])
        .map_err(csv_err)?;
    }
    w.flush().map_err(io(&csv_path))?;
    // The same per clip as JSON, with each window's score.
    let per_clip: Vec<serde_json::Value> = clips
        .iter()
        .zip(&evaluation.outcomes)
        .map(|(clip, o)| {
            serde_json::json!({
                "file": clip.path.display().to_string(),
                "label": if clip.fight { "fight" } else { "nonfight" },
                "max_score": o.max_score,
                "mean_score": o.mean_score,
                "windows": o.windows,
                "incidents": o.incidents,
                "first_incident_t": o.first_incident,
                "window_scores": o.scores.iter().map(|(t, s)| [*t, f64::from(*s)]).collect::<Vec<_>>(),
                "error": o.error,
            })
        })
        .collect();
    let scores_json = out.join("scores.json");
    let text =
        serde_json::to_string_pretty(&per_clip).map_err(|e| EvalError::Dataset(e.to_string()))?;
    std::fs::write(&scores_json, text + "\n").map_err(io(&scores_json))?;
    let json_path = out.join("metrics.json");
    let json = serde_json::to_string_pretty(&evaluation.metrics)
        .map_err(|e| EvalError::Dataset(e.to_string()))?;
    std::fs::write(&json_path, json + "\n").map_err(io(&json_path))?;
    crate::plot::roc(
        &out.join("roc.png"),
        &metrics::roc_curve(&evaluation.results),
        evaluation.metrics.roc_auc,
        &evaluation.model,
    )?;
    crate::plot::histogram(
        &out.join("scores.png"),
        &evaluation.results,
        threshold,
        &evaluation.model,
    )
}
