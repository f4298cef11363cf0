//! `fightwatch replay`: recorded clips through the real capture → inference → incident path.

mod report;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};
use fightwatch_capture::{CameraConfig, Pacing, SourceOptions};
use fightwatch_node::Server;
use fightwatch_node::{CameraSpec, ClipSettings, PipelineAlerts, RunningPipeline};

use report::Report;

use crate::cli::{GlobalArgs, InferenceArgs, ServeArgs};

/// What `replay` was asked to do.
pub struct ReplayArgs {
    pub sources: Vec<String>,
    pub inference: InferenceArgs,
    /// Model and incident settings from this config instead of `inference`.
    pub config: Option<PathBuf>,
    pub json: bool,
    pub realtime: bool,
    /// Where the clips are decoded.
    pub decode: fightwatch_capture::Decode,
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
    let media_s = probe(&args.sources)?;
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
    let stop = Arc::new(AtomicBool::new(false));
    let pipeline =
        RunningPipeline::start(model, pipeline_config, &camera_specs(&args, &names), stop)
            .context("starting the pipeline")?;
    if let Some(alerts) = alerts.as_mut() {
        alerts.attach(&pipeline);
    }

    // Events are printed on this thread while the pipeline runs on its own.
    let stdout = std::io::stdout();
    let mut report = Report::new(&args, &names, media_s, stdout.lock());
    for event in &pipeline.events {
        if let Some(alerts) = alerts.as_mut() {
            alerts.handle(&event)?;
        }
        report.event(event)?;
    }
    let summary = pipeline.join()?;
    let failures = report.finish(&summary, started.elapsed().as_secs_f64())?;
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

/// Opens each source once up front: a missing or broken file fails here, clearly, before any
/// thread starts. Returns the media's total seconds (for the progress bar).
fn probe(sources: &[String]) -> anyhow::Result<f64> {
    let mut total_s = 0.0;
    for source in sources {
        let src = fightwatch_capture::open(source, "probe", &SourceOptions::default())
            .with_context(|| format!("opening {}", fightwatch_capture::redact_source(source)))?;
        total_s += src.info().duration_s.unwrap_or(0.0);
    }
    Ok(total_s)
}

/// One camera per source, named `names`; a served replay records incident clips like a camera.
fn camera_specs(args: &ReplayArgs, names: &[String]) -> Vec<CameraSpec> {
    args.sources
        .iter()
        .zip(names)
        .map(|(source, name)| CameraSpec {
            capture: CameraConfig {
                pacing: if args.realtime {
                    Pacing::Realtime
                } else {
                    Pacing::AsFastAsPossible
                },
                options: SourceOptions {
                    decode: args.decode,
                    ..SourceOptions::default()
                },
                ..CameraConfig::new(name, source)
            },
            clips: args
                .serve
                .as_ref()
                .map(|s| ClipSettings::new(fightwatch_node::media_dir(&s.data_dir))),
            ..CameraSpec::new(name, source)
        })
        .collect()
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
