//! `fightwatch run --config FILE`: the service: cameras → inference → alerts → dashboards.
//!
//! Standalone, the node runs every camera of the file. As one node of several (`[cluster]`),
//! it runs the cameras whose leases it holds (`fightwatch_node::run_leased`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use fightwatch_cluster::LeaseConfig;
use fightwatch_node::{PipelineAlerts, RunningPipeline, Server, run_leased, run_pipeline};

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
        alerts.set_site(c.name(), &c.site);
    }
    for (camera, schedule) in config.schedules()? {
        alerts.set_schedule(&camera, schedule);
    }
    match cluster {
        None => {
            let names: Vec<String> = cameras.iter().map(|c| c.name().to_string()).collect();
            server.end_stale_alerts(&names)?;
            let pipeline = RunningPipeline::start(
                model,
                config.live_pipeline_config(),
                &cameras,
                stop.clone(),
            )
            .context("starting the pipeline")?;
            tracing::info!(cameras = cameras.len(), "fightwatch is running.");
            run_pipeline(&mut alerts, pipeline)?;
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
                cameras.iter().map(|c| c.name().to_string()).collect(),
                config.cluster.max_cameras.unwrap_or(cameras.len()),
            );
            if let Some(ms) = config.cluster.lease_ms {
                leases.lease = Duration::from_millis(ms.max(1000));
            }
            run_leased(
                &server,
                &config.live_pipeline_config(),
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
