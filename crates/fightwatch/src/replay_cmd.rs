//! `fightwatch replay`: recorded clips through the real capture → inference → incident path.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};
use fightwatch_capture::{CameraConfig, CaptureState, Pacing, SourceOptions};
use fightwatch_inference::{PipelineEvent, Verdict};
use fightwatch_node::Server;
use fightwatch_node::{CameraSpec, ClipSettings, PipelineAlerts, RunningPipeline};
use fightwatch_protocol::IncidentEvent;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::{GlobalArgs, InferenceArgs, ServeArgs};

/// What `replay` was asked to do.
pub struct ReplayArgs {
    pub sources: Vec<String>,
    pub inference: InferenceArgs,
    /// Model and incident settings from this config instead of `inference`.
    pub config: Option<PathBuf>,
    pub json: bool,
    pub realtime: bool,
    pub verbose: bool,
    pub out: Option<PathBuf>,
    /// Serve dashboards with these settings.
    pub serve: Option<ServeArgs>,
}

/// Unique camera names from the sources' file names.
fn camera_names(sources: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    sources
        .iter()
        .map(|s| {
            let base = Path::new(s.trim_end_matches('/')).file_stem().map_or_else(
                || "camera".to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let mut name = base.clone();
            let mut n = 2;
            while !seen.insert(name.clone()) {
                name = format!("{base}-{n}");
                n += 1;
            }
            name
        })
        .collect()
}

pub fn run(global: &GlobalArgs, args: ReplayArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut config = args
        .config
        .as_deref()
        .map(crate::config::Config::load)
        .transpose()?;
    let (model, pipeline_config) = match &mut config {
        Some(c) => (c.load_model(global)?, c.pipeline_config()),
        None => {
            let model = args.inference.load_model(global)?;
            let pipeline = args.inference.pipeline_config(model.config())?;
            (model, pipeline)
        }
    };
    let names = camera_names(&args.sources);

    // Open each source once up front: a missing or broken file fails here, clearly, before any
    // thread starts; the frame counts size the progress bar.
    let mut total_s = 0.0;
    for source in &args.sources {
        let src = fightwatch_capture::open(source, "probe", &SourceOptions::default())
            .with_context(|| format!("opening {}", fightwatch_capture::redact_source(source)))?;
        total_s += src.info().duration_s.unwrap_or(0.0);
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }

    let server = args
        .serve
        .as_ref()
        .map(|s| anyhow::Ok(Server::start(s.options()?)?))
        .transpose()?;
    let mut alerts = match (&server, &args.serve) {
        (Some(server), Some(serve)) => {
            server.end_stale_alerts(&names)?;
            Some(PipelineAlerts::for_server(server, &serve.site))
        }
        _ => None,
    };
    let cameras: Vec<CameraSpec> = args
        .sources
        .iter()
        .zip(&names)
        .map(|(source, name)| CameraSpec {
            capture: CameraConfig {
                pacing: if args.realtime {
                    Pacing::Realtime
                } else {
                    Pacing::AsFastAsPossible
                },
                ..CameraConfig::new(name, source)
            },
            // A served replay records incident clips like a camera would.
            clips: args
                .serve
                .as_ref()
                .map(|s| ClipSettings::new(fightwatch_node::media_dir(&s.data_dir))),
            ..CameraSpec::new(name, source)
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let pipeline = RunningPipeline::start(model, pipeline_config, &cameras, stop)
        .context("starting the pipeline")?;
    if let Some(alerts) = alerts.as_mut() {
        alerts.attach(&pipeline);
    }
    let source_of: std::collections::HashMap<String, String> = names
        .iter()
        .cloned()
        .zip(args.sources.iter().cloned())
        .collect();

    let progress = (!args.json && std::io::stderr().is_terminal()).then(|| {
        // Progress in tenths of a second of media time, summed over the sources.
        let bar = ProgressBar::new((total_s * 10.0).round() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {percent}% of the media  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });

    // Events are printed on this thread while the pipeline runs on its own.
    let mut failures = Vec::new();
    let mut incidents = 0u64;
    let mut media_done: std::collections::HashMap<String, f64> = Default::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for event in &pipeline.events {
        if let Some(alerts) = alerts.as_mut() {
            alerts.handle(&event)?;
        }
        match event {
            PipelineEvent::Skipped {
                camera,
                t,
                motion,
                verdict,
            } => {
                if args.verbose {
                    let source = source_of.get(&*camera).cloned().unwrap_or_default();
                    let reason = match verdict {
                        Verdict::Still => "still",
                        Verdict::Relaxed => "relaxed",
                        Verdict::Behind => "behind",
                        Verdict::Score => "scored",
                    };
                    if args.json {
                        writeln!(
                            out,
                            "{}",
                            json!({"event": "skipped", "source": source, "camera": &*camera, "t": t, "motion": motion, "reason": reason})
                        )?;
                    } else {
                        writeln!(
                            out,
                            "{camera:>16}  t={t:7.2}s  not scored ({reason}, motion {})",
                            motion.map_or("?".into(), |m| format!("{m:.4}"))
                        )?;
                    }
                }
            }
            PipelineEvent::Window {
                camera,
                t,
                score,
                smoothed,
                motion,
                ..
            } => {
                if let Some(bar) = &progress {
                    media_done.insert(camera.to_string(), t);
                    bar.set_position((media_done.values().sum::<f64>() * 10.0).round() as u64);
                    bar.set_message(format!("{camera} t={t:.1}s score={score:.2}"));
                }
                if args.verbose {
                    let source = source_of.get(&*camera).cloned().unwrap_or_default();
                    if args.json {
                        writeln!(
                            out,
                            "{}",
                            json!({"event": "window", "source": source, "camera": &*camera, "t": t, "score": score, "smoothed": smoothed, "motion": motion})
                        )?;
                    } else {
                        writeln!(
                            out,
                            "{camera:>16}  t={t:7.2}s  score {score:.3}  smoothed {smoothed:.3}"
                        )?;
                    }
                }
            }
            PipelineEvent::Incident {
                event,
                snapshot,
                located,
                ..
            } => {
                if matches!(event, IncidentEvent::Started { .. }) {
                    incidents += 1;
                }
                let snapshot_path = match (&args.out, &snapshot) {
                    (Some(dir), Some(jpeg)) => {
                        let kind = if matches!(event, IncidentEvent::Started { .. }) {
                            "start"
                        } else {
                            "peak"
                        };
                        let path = dir.join(format!("{}-{kind}.jpg", event.incident()));
                        std::fs::write(&path, jpeg.as_slice())
                            .with_context(|| format!("writing {}", path.display()))?;
                        Some(path)
                    }
                    _ => None,
                };
                let heatmap_path =
                    match (&args.out, located.as_ref().and_then(|l| l.heatmap.as_ref())) {
                        (Some(dir), Some(jpeg)) => {
                            let path = dir.join(format!("{}-heatmap.jpg", event.incident()));
                            std::fs::write(&path, jpeg.as_slice())
                                .with_context(|| format!("writing {}", path.display()))?;
                            Some(path)
                        }
                        _ => None,
                    };
                let source = source_of.get(event.camera()).cloned().unwrap_or_default();
                if args.json {
                    let mut v = serde_json::to_value(&event)?;
                    v["source"] = json!(source);
                    if let Some(p) = &snapshot_path {
                        v["snapshot"] = json!(p);
                    }
                    if let Some(l) = &located {
                        v["region"] = json!(l.region);
                    }
                    if let Some(p) = &heatmap_path {
                        v["heatmap"] = json!(p);
                    }
                    writeln!(out, "{v}")?;
                } else {
                    let line = describe(&event);
                    match &progress {
                        Some(bar) => bar.println(line),
                        None => writeln!(out, "{line}")?,
                    }
                }
            }
            PipelineEvent::Metrics(_)
            | PipelineEvent::Thumbnail { .. }
            | PipelineEvent::Clip(_) => {}
            PipelineEvent::Camera(status) => {
                if let CaptureState::Offline { error: Some(error) } = &status.status {
                    failures.push(format!("{}: {error}", status.camera));
                    if args.json {
                        let source = source_of.get(&*status.camera).cloned().unwrap_or_default();
                        writeln!(
                            out,
                            "{}",
                            json!({"event": "source_error", "source": fightwatch_capture::redact_source(&source), "camera": &*status.camera, "error": error.to_string(), "reason": error.reason.as_str()})
                        )?;
                    }
                }
            }
        }
    }
    let summary = pipeline.join()?;
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    if args.json {
        writeln!(
            out,
            "{}",
            json!({
                "event": "summary",
                "frames": summary.frames,
                "windows": summary.windows,
                "skipped": summary.skipped,
                "incidents": summary.incidents,
                "batches": summary.batches,
                "inference_s": summary.inference_s,
                "elapsed_s": elapsed,
            })
        )?;
    } else {
        writeln!(
            out,
            "{} frames, {} windows ({} more not scored), {incidents} incidents in {elapsed:.2} s ({:.1} windows/s; {:.2} s in the model)",
            summary.frames,
            summary.windows,
            summary.skipped,
            summary.windows as f64 / elapsed.max(1e-9),
            summary.inference_s,
        )?;
    }
    drop(out);
    if let Some(server) = server {
        server.serve_until_signal()?;
    }
    if !failures.is_empty() {
        bail!(
            "{} source(s) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    Ok(())
}

fn describe(event: &IncidentEvent) -> String {
    match event {
        IncidentEvent::Started {
            incident,
            camera,
            t,
            score,
            label,
            ..
        } => {
            format!("{camera}: incident {incident} STARTED at {t:.2} s ({label}, score {score:.2})")
        }
        IncidentEvent::Updated {
            incident,
            camera,
            t,
            peak,
            ..
        } => {
            format!("{camera}: incident {incident} peak {peak:.2} at {t:.2} s")
        }
        IncidentEvent::Ended {
            incident,
            camera,
            t,
            duration_s,
            peak,
            ..
        } => {
            format!(
                "{camera}: incident {incident} ended at {t:.2} s after {duration_s:.1} s (peak {peak:.2})"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_names_are_file_stems_made_unique() {
        let names = camera_names(&[
            "a/cam.mp4".into(),
            "b/cam.mp4".into(),
            "fixtures/fight_frames/".into(),
        ]);
        assert_eq!(names, vec!["cam", "cam-2", "fight_frames"]);
    }
}
