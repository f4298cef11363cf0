//! `fightwatch run --config FILE`: the service: cameras → inference → alerts → dashboards.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use fightwatch_alerts::RunningPipeline;
use fightwatch_broadcaster::Server;

use crate::cli::GlobalArgs;
use crate::config::Config;

pub fn run(global: &GlobalArgs, config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let model = crate::model_cmd::load_package(
        global,
        &config.model.package,
        config.model.device.parse().map_err(anyhow::Error::msg)?,
        config.model.threads,
    )?;
    let server = Server::start(config.server_options()?)?;
    let cameras = config.camera_specs();
    let names: Vec<String> = cameras.iter().map(|c| c.name.clone()).collect();
    server.end_stale_alerts(&names)?;
    server.retain(config.retention());
    let stop = Arc::new(AtomicBool::new(false));
    server.flag_on_signal(stop.clone());

    let mut alerts = server.pipeline_alerts("default");
    for c in &cameras {
        alerts.set_site(&c.name, &c.site);
    }
    let pipeline = RunningPipeline::start(model, config.pipeline_config(), &cameras, stop.clone())
        .context("starting the pipeline")?;
    tracing::info!(cameras = cameras.len(), "fightwatch is running.");
    for event in &pipeline.events {
        if let Err(e) = alerts.handle(&event) {
            tracing::error!(error = %format!("{e:#}"), "Could not store an alert.");
        }
    }
    let s = pipeline.join()?;
    tracing::info!(
        frames = s.frames,
        windows = s.windows,
        incidents = s.incidents,
        "Stopped."
    );
    if !stop.load(Ordering::Relaxed) {
        // Every camera ended or failed for good: keep serving history and chat.
        eprintln!("fightwatch: no camera is running any more");
        server.serve_until_signal()?;
    }
    Ok(()) // dropping the server closes connections gracefully (1001)
}
