//! `fightwatch eval`: clip-level evaluation of a model and incident settings on labelled clips.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{GlobalArgs, InferenceArgs};

/// What `eval` was asked to do.
pub struct EvalArgs {
    pub dir: PathBuf,
    pub split: Option<String>,
    pub decide: crate::cli::Decide,
    pub inference: InferenceArgs,
    pub out: Option<PathBuf>,
    pub json: bool,
    pub parallel: usize,
}

/// A bar of clips done, on a terminal and when the output is not JSON.
pub(crate) fn clip_progress(clips: usize, json: bool) -> Option<ProgressBar> {
    (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(clips as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} clips  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    })
}

pub fn run(global: &GlobalArgs, args: EvalArgs) -> anyhow::Result<()> {
    let clips = fightwatch_eval::load(&args.dir, args.split.as_deref())?;
    let model = args.inference.load_model(global)?;
    // A clip shorter than one window gets one, its last frame held (docs/eval.md).
    let mut pipeline = args.inference.pipeline_config(model.config())?;
    pipeline.score_short_streams = true;
    // The model's operating threshold unless --start-threshold says otherwise.
    let threshold = pipeline.incident.start_threshold;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let progress = clip_progress(clips.len(), args.json);

    let started = std::time::Instant::now();
    let mut evaluation =
        fightwatch_eval::evaluate(model, pipeline, &clips, args.parallel, |done| {
            if let Some(bar) = &progress {
                bar.set_position(done as u64);
            }
        })?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if args.decide == crate::cli::Decide::Window {
        evaluation.judge(&clips, fightwatch_eval::Decision::Window { threshold });
    }
    let ms_per_clip = seconds * 1000.0 / clips.len().max(1) as f64;
    let (m, failed, model_name) = (&evaluation.metrics, &evaluation.failed, &evaluation.model);
    if let Some(out) = &args.out {
        fightwatch_eval::write_report(out, &clips, &evaluation, threshold)?;
    }

    let decided_by = match args.decide {
        crate::cli::Decide::Incident => "incident".to_string(),
        crate::cli::Decide::Window => format!("window >= {threshold}"),
    };
    if args.json {
        let mut v = serde_json::to_value(m)?;
        v["model"] = serde_json::json!(model_name);
        v["failed"] = serde_json::json!(failed);
        v["decided_by"] = serde_json::json!(decided_by);
        v["seconds"] = serde_json::json!(seconds);
        v["ms_per_clip"] = serde_json::json!(ms_per_clip);
        println!("{v}");
    } else {
        println!("model:        {model_name}");
        println!("clips:        {} ({} failed)", m.clips, failed.len());
        println!("decided by:   {decided_by}");
        println!(
            "time:         {seconds:.1} s, {ms_per_clip:.0} ms a clip (decode and model, {} at a time)",
            args.parallel
        );
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
                "wrote:        {0}/scores.csv, {0}/scores.json, {0}/metrics.json, {0}/roc.png, {0}/scores.png",
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
