//! `fightwatch run --config FILE`: the service: cameras → inference → alerts → dashboards.
//!
//! Standalone, the node runs every camera of the file. As one node of several (`[cluster]`),
//! it runs the cameras whose leases it holds (fightwatch_cluster::CameraLeases), and restarts
//! its pipeline, with the model already loaded, whenever that set changes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use fightwatch_cluster::{CameraLeases, LeaseConfig};
use fightwatch_inference::ModelPackage;
use fightwatch_node::Server;
use fightwatch_node::{CameraSpec, PipelineAlerts, RunningPipeline};

use crate::cli::GlobalArgs;
use crate::config::Config;

pub fn run(global: &GlobalArgs, config_path: &Path) -> anyhow::Result<()> {
    let mut config = Config::load(config_path)?;
    let model = config.load_model(global)?;
    let options = config.server_options()?;
    let cluster = options.cluster.clone();
    let server = Server::start(options)?;
    server.retain(config.retention());
    let stop = Arc::new(AtomicBool::new(false));
    server.flag_on_signal(stop.clone());
    let cameras = config.camera_specs();
    let mut alerts = PipelineAlerts::for_server(&server, "default");
    alerts.set_offline_alerts(config.camera_offline_after());
    for c in &cameras {
        alerts.set_site(&c.name, &c.site);
    }
    for (camera, schedule) in config.schedules()? {
        alerts.set_schedule(&camera, schedule);
    }
    match cluster {
        None => {
            let names: Vec<String> = cameras.iter().map(|c| c.name.clone()).collect();
            server.end_stale_alerts(&names)?;
            let pipeline = RunningPipeline::start(
                model,
                config.live_pipeline_config(),
                &cameras,
                stop.clone(),
            )
            .context("starting the pipeline")?;
            alerts.attach(&pipeline);
            tracing::info!(cameras = cameras.len(), "fightwatch is running.");
            for event in &pipeline.events {
                handle(&mut alerts, &event);
            }
            log_summary(&pipeline.join()?);
            if !stop.load(Ordering::Relaxed) {
                // Every camera ended or failed for good: keep serving history and chat.
                eprintln!("fightwatch: no camera is running any more");
                server.serve_until_signal()?;
            }
        }
        Some(cluster) => {
            let mut leases = LeaseConfig::new(
                &cluster.redis_url,
                &cluster.node,
                cameras.iter().map(|c| c.name.clone()).collect(),
                config.cluster.max_cameras.unwrap_or(cameras.len()),
            );
            if let Some(ms) = config.cluster.lease_ms {
                leases.lease = Duration::from_millis(ms.max(1000));
            }
            run_leased(
                &server,
                &config,
                model,
                &cameras,
                leases,
                &mut alerts,
                &stop,
            )?;
        }
    }
    Ok(()) // dropping the server closes connections gracefully (1001)
}

fn handle(alerts: &mut PipelineAlerts, event: &fightwatch_inference::PipelineEvent) {
    if let Err(e) = alerts.handle(event) {
        tracing::error!(error = %format!("{e:#}"), "Could not store an alert.");
    }
}

fn log_summary(s: &fightwatch_inference::PipelineSummary) {
    tracing::info!(
        frames = s.frames,
        windows = s.windows,
        incidents = s.incidents,
        "Stopped."
    );
}

/// Runs the cameras this node holds leases for until `stop`; gives the leases back at the end.
fn run_leased(
    server: &Server,
    config: &Config,
    model: ModelPackage,
    cameras: &[CameraSpec],
    leases: LeaseConfig,
    alerts: &mut PipelineAlerts,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let rt = server.runtime().clone();
    let leases = rt
        .block_on(CameraLeases::connect(leases))
        .context("camera leases")?;
    let bus = server.alerts().bus().clone();
    // Lease rounds run on the server's runtime; each new set of cameras comes here.
    let (held_tx, held_rx) = crossbeam_channel::bounded::<Vec<String>>(4);
    let rounds = rt.spawn(leases.run(
        move || bus.delivered_seq().unwrap_or(0),
        stop.clone(),
        move |held| held_tx.send(held).is_ok(),
    ));
    let mut model = Some(model);
    let mut running: Option<(RunningPipeline, Arc<AtomicBool>)> = None;
    let mut held: Vec<String> = Vec::new();
    loop {
        let next = match &running {
            Some((pipeline, _)) => crossbeam_channel::select! {
                recv(pipeline.events) -> event => match event {
                    Ok(event) => { handle(alerts, &event); continue; }
                    Err(_) => Next::Ended,
                },
                recv(held_rx) -> set => set.map_or(Next::Idle, Next::Held),
                default(Duration::from_millis(200)) => Next::Idle,
            },
            None => held_rx
                .recv_timeout(Duration::from_millis(200))
                .map_or(Next::Idle, Next::Held),
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let set = match next {
            Next::Held(set) => set,
            Next::Idle => continue,
            Next::Ended => {
                // Every camera ended: keep the model for the next lease change.
                let (pipeline, _) = running.take().context("a running pipeline")?;
                let (summary, m) = pipeline.join_with_model()?;
                log_summary(&summary);
                model = Some(m);
                continue;
            }
        };
        if set == held {
            continue;
        }
        // Stop the cameras running now (their incidents end cleanly), then start the new set.
        if let Some((pipeline, flag)) = running.take() {
            flag.store(true, Ordering::Relaxed);
            for event in &pipeline.events {
                handle(alerts, &event);
            }
            let (summary, m) = pipeline.join_with_model()?;
            log_summary(&summary);
            model = Some(m);
        }
        let taken: Vec<String> = set.iter().filter(|c| !held.contains(c)).cloned().collect();
        // A dead node left its incidents on these cameras open: end them before ours start.
        server.end_stale_alerts(&taken)?;
        held = set;
        tracing::info!(cameras = ?held, "This node's cameras.");
        let specs: Vec<CameraSpec> = cameras
            .iter()
            .filter(|c| held.contains(&c.name))
            .cloned()
            .collect();
        if specs.is_empty() {
            continue;
        }
        let flag = Arc::new(AtomicBool::new(false));
        let pipeline = RunningPipeline::start(
            model.take().context("the model")?,
            config.live_pipeline_config(),
            &specs,
            flag.clone(),
        )
        .context("starting the pipeline")?;
        alerts.attach(&pipeline);
        running = Some((pipeline, flag));
    }
    if let Some((pipeline, flag)) = running.take() {
        flag.store(true, Ordering::Relaxed);
        for event in &pipeline.events {
            handle(alerts, &event);
        }
        log_summary(&pipeline.join()?);
    }
    rt.block_on(rounds).ok();
    Ok(())
}

/// What the leased loop waits for next.
enum Next {
    /// The cameras this node holds now.
    Held(Vec<String>),
    /// The running pipeline's cameras all ended.
    Ended,
    /// Nothing yet.
    Idle,
}
