//! `fightwatch eval`: clip-level evaluation of a model and incident settings on labelled clips.

mod dataset;
mod metrics;
mod plot;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use fightwatch_capture::{Camera, CameraConfig, CameraStatus};
use fightwatch_inference::{Pipeline, PipelineEvent, resize_spec};
use fightwatch_protocol::IncidentEvent;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{GlobalArgs, InferenceArgs};
use metrics::ClipResult;

/// What `eval` was asked to do.
pub struct EvalArgs {
    pub dir: PathBuf,
    pub inference: InferenceArgs,
    pub out: Option<PathBuf>,
    pub json: bool,
    pub parallel: usize,
}

/// Per-clip outcome.
struct Outcome {
    max_score: f32,
    mean_score: f32,
    windows: usize,
    first_incident: Option<f64>,
    incidents: usize,
    error: Option<String>,
}

pub fn run(global: &GlobalArgs, args: EvalArgs) -> anyhow::Result<()> {
    let clips = dataset::load(&args.dir)?;
    let model = crate::model_cmd::load_package(
        global,
        &args.inference.model,
        args.inference.device,
        args.inference.threads,
    )?;
    let model_name = model.config().model.name.clone();
    let spec = resize_spec(&model.config().input);
    let threshold = args.inference.start_threshold;
    let mut pipeline = Pipeline::new(model, args.inference.pipeline_config())?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let progress = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(clips.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} clips  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });

    let mut outcomes: Vec<Outcome> = Vec::with_capacity(clips.len());
    let stop = AtomicBool::new(false);
    for (chunk_no, chunk) in clips.chunks(args.parallel.max(1)).enumerate() {
        let (status_tx, status_rx) = crossbeam_channel::unbounded();
        let mut cameras = Vec::new();
        for (i, clip) in chunk.iter().enumerate() {
            let mut cfg = CameraConfig::new(
                &format!("clip{}", chunk_no * args.parallel.max(1) + i),
                &clip.path.to_string_lossy(),
            );
            cfg.model_resize = Some(spec);
            cameras.push(Camera::start(cfg, status_tx.clone())?);
        }
        drop(status_tx);
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        pipeline.run(&cameras, &status_rx, &events_tx, &stop)?;
        drop(events_tx);
        let mut scores: HashMap<String, Vec<f32>> = HashMap::new();
        let mut starts: HashMap<String, Vec<f64>> = HashMap::new();
        let mut errors: HashMap<String, String> = HashMap::new();
        for ev in events_rx {
            match ev {
                PipelineEvent::Window { camera, score, .. } => {
                    scores.entry(camera.to_string()).or_default().push(score)
                }
                PipelineEvent::Incident {
                    event: IncidentEvent::Started { camera, t, .. },
                    ..
                } => starts.entry(camera).or_default().push(t),
                PipelineEvent::Camera(s) => {
                    if let CameraStatus::Offline { error: Some(e) } = s.status {
                        errors.insert(s.camera.to_string(), e);
                    }
                }
                PipelineEvent::Incident { .. }
                | PipelineEvent::Metrics(_)
                | PipelineEvent::Thumbnail { .. } => {}
            }
        }
        for camera in &cameras {
            let name = camera.name().to_string();
            let s = scores.remove(&name).unwrap_or_default();
            let st = starts.remove(&name).unwrap_or_default();
            let error = errors
                .remove(&name)
                .or_else(|| s.is_empty().then(|| "too short for one window".to_string()));
            outcomes.push(Outcome {
                max_score: s.iter().copied().fold(0.0, f32::max),
                mean_score: if s.is_empty() {
                    0.0
                } else {
                    s.iter().sum::<f32>() / s.len() as f32
                },
                windows: s.len(),
                first_incident: st.first().copied(),
                incidents: st.len(),
                error,
            });
        }
        if let Some(bar) = &progress {
            bar.inc(chunk.len() as u64);
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }

    let mut results = Vec::new();
    let mut failed = Vec::new();
    for (clip, o) in clips.iter().zip(&outcomes) {
        if let Some(e) = &o.error {
            failed.push(format!("{}: {e}", clip.path.display()));
            continue;
        }
        let delay_s = match (clip.segment, o.first_incident) {
            (Some((start, _)), Some(t)) if clip.fight => Some(t - start),
            _ => None,
        };
        results.push(ClipResult {
            fight: clip.fight,
            max_score: o.max_score,
            flagged: o.incidents > 0,
            delay_s,
        });
    }
    let m = metrics::metrics(&results);

    if let Some(out) = &args.out {
        let csv_path = out.join("scores.csv");
        let mut w = csv::Writer::from_path(&csv_path)
            .with_context(|| format!("writing {}", csv_path.display()))?;
        w.write_record([
            "file",
            "label",
            "max_score",
            "mean_score",
            "windows",
            "incidents",
            "first_incident_t",
            "error",
        ])?;
        for (clip, o) in clips.iter().zip(&outcomes) {
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
            ])?;
        }
        w.flush()?;
        std::fs::write(
            out.join("metrics.json"),
            serde_json::to_string_pretty(&m)? + "\n",
        )?;
        plot::roc(
            &out.join("roc.png"),
            &metrics::roc_curve(&results),
            m.roc_auc,
            &model_name,
        )?;
        plot::histogram(&out.join("scores.png"), &results, threshold, &model_name)?;
    }

    if args.json {
        let mut v = serde_json::to_value(&m)?;
        v["model"] = serde_json::json!(model_name);
        v["failed"] = serde_json::json!(failed);
        println!("{v}");
    } else {
        println!("model:        {model_name}");
        println!("clips:        {} ({} failed)", m.clips, failed.len());
        println!("accuracy:     {:.3}", m.accuracy);
        println!("precision:    {:.3}", m.precision);
        println!("recall:       {:.3}", m.recall);
        println!("F1:           {:.3}", m.f1);
        println!(
            "ROC AUC:      {}",
            m.roc_auc
                .map_or("n/a (one class)".into(), |a| format!("{a:.3}"))
        );
        println!(
            "confusion:    fight flagged {} / missed {};  calm flagged {} / passed {}",
            m.true_positives, m.false_negatives, m.false_positives, m.true_negatives
        );
        match m.mean_detection_delay_s {
            Some(d) => println!("mean delay:   {d:.2} s from labelled fight start to incident"),
            None => println!("mean delay:   n/a (no labelled segments detected)"),
        }
        if let Some(out) = &args.out {
            println!(
                "wrote:        {0}/scores.csv, {0}/metrics.json, {0}/roc.png, {0}/scores.png",
                out.display()
            );
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} clip(s) could not be evaluated: {}",
            failed.len(),
            failed.join("; ")
        );
    }
    Ok(())
}
