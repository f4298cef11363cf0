//! Running a node's pipeline: every camera (one node), or the cameras whose leases this node
//! holds (one node of several), restarting the pipeline with the model already loaded whenever
//! that set changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fightwatch_cluster::{CameraLeases, LeaseConfig};
use fightwatch_inference::{ModelPackage, PipelineConfig, PipelineEvent, PipelineSummary};

use crate::{CameraSpec, NodeError, PipelineAlerts, RunningPipeline, Server};

/// Feeds every event of `pipeline` to `alerts` until its cameras end or it is stopped; its
/// summary. A store failure is logged and the next event goes on.
pub fn run_pipeline(
    alerts: &mut PipelineAlerts,
    pipeline: RunningPipeline,
) -> Result<PipelineSummary, NodeError> {
    alerts.attach(&pipeline);
    for event in &pipeline.events {
        handle(alerts, &event);
    }
    let summary = pipeline.join()?;
    log_summary(&summary);
    Ok(summary)
}

fn handle(alerts: &mut PipelineAlerts, event: &PipelineEvent) {
    if let Err(e) = alerts.handle(event) {
        tracing::error!(error = %format!("{e:#}"), "Could not store an alert.");
    }
}

fn log_summary(s: &PipelineSummary) {
    tracing::info!(
        frames = s.frames,
        windows = s.windows,
        incidents = s.incidents,
        "Stopped."
    );
}

/// Runs the cameras this node holds leases for (of `cameras`) with `config` until `stop`; gives
/// the leases back at the end. A dead node's open incidents on a camera this node takes are
/// ended first.
pub fn run_leased(
    server: &Server,
    config: &PipelineConfig,
    model: ModelPackage,
    cameras: &[CameraSpec],
    leases: LeaseConfig,
    alerts: &mut PipelineAlerts,
    stop: &Arc<AtomicBool>,
) -> Result<(), NodeError> {
    let rt = server.runtime().clone();
    let leases = rt.block_on(CameraLeases::connect(leases))?;
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
                let Some((pipeline, _)) = running.take() else {
                    continue;
                };
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
            .filter(|c| held.iter().any(|h| h == c.name()))
            .cloned()
            .collect();
        if specs.is_empty() {
            continue;
        }
        let flag = Arc::new(AtomicBool::new(false));
        let Some(model) = model.take() else {
            // Unreachable in practice: the model comes back with every pipeline joined.
            return Err(NodeError::Thread(std::io::Error::other(
                "the model was lost",
            )));
        };
        let pipeline = RunningPipeline::start(model, config.clone(), &specs, flag.clone())?;
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
