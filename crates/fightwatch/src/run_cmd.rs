//! `fightwatch run --config FILE`: the service: cameras → inference → alerts → dashboards.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use fightwatch_capture::{Camera, CameraConfig, Pacing};
use fightwatch_inference::{
    IncidentConfig, ModelPackage, Pipeline, PipelineConfig, PipelineEvent, SessionConfig,
    resize_spec,
};

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::serve::{ServeArgs, Server};

pub fn run(global: &GlobalArgs, config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let runtime = crate::model_cmd::ort_runtime(global)?;
    let device = config.model.device.parse().map_err(anyhow::Error::msg)?;
    let model = ModelPackage::load_with(
        &runtime,
        &config.model.package,
        &SessionConfig {
            device,
            intra_threads: config.model.threads,
        },
    )
    .with_context(|| format!("loading model package {}", config.model.package.display()))?;
    let spec = resize_spec(&model.config().input);
    let i = &config.incident;
    let pipeline_config = PipelineConfig {
        hop_s: i.hop_s,
        max_batch: i.max_batch.max(1),
        incident: IncidentConfig {
            start_threshold: i.start_threshold,
            end_threshold: i.end_threshold,
            min_windows: i.min_windows,
            cooldown_s: i.cooldown_s,
            ..IncidentConfig::default()
        },
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(model, pipeline_config)?;

    let serve = ServeArgs {
        bind: config.server.bind,
        data_dir: config.storage.data_dir.clone(),
        allowed_origins: config.server.allowed_origins.clone(),
        site: "default".into(),
        max_connections_per_ip: config.server.max_connections_per_ip,
        web_dir: config.server.web_dir.clone(),
        secure_cookies: config.server.secure_cookies,
        max_websockets: config.server.max_websockets,
        max_http_connections_per_ip: config.server.max_http_connections_per_ip,
    };
    let mut server = Server::start(&serve)?;
    server.end_stale_alerts()?;
    server.retain(
        config.storage.retention_days,
        config.storage.max_snapshot_mb * 1024 * 1024,
    );
    let stop = Arc::new(AtomicBool::new(false));
    server.flag_on_signal(stop.clone());

    let (status_tx, status_rx) = crossbeam_channel::unbounded();
    let mut cameras = Vec::new();
    for c in &config.cameras {
        server.set_camera_site(&c.name, &c.site);
        let mut cfg = CameraConfig::new(&c.name, &c.source);
        cfg.analysis_fps = c.analysis_fps;
        cfg.pacing = if c.realtime {
            Pacing::Realtime
        } else {
            Pacing::AsFastAsPossible
        };
        cfg.loop_file = c.loop_file;
        cfg.model_resize = Some(spec);
        cameras.push(
            Camera::start(cfg, status_tx.clone())
                .with_context(|| format!("starting camera {}", c.name))?,
        );
    }
    drop(status_tx);
    tracing::info!(cameras = cameras.len(), "fightwatch is running.");

    let (events_tx, events_rx) = crossbeam_channel::unbounded();
    let inference = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || {
                let result = pipeline.run(&cameras, &status_rx, &events_tx, &stop);
                drop(cameras); // stops the camera threads
                result
            })?
    };
    for event in events_rx {
        match event {
            PipelineEvent::Incident {
                event,
                snapshot,
                frame_ms,
            } => {
                if let Err(e) = server.on_incident(&event, snapshot, frame_ms) {
                    tracing::error!(error = %format!("{e:#}"), "Could not store an alert.");
                }
            }
            PipelineEvent::Camera(status) => server.on_camera(&status),
            PipelineEvent::Metrics(cameras) => server.on_metrics(cameras),
            PipelineEvent::Thumbnail { camera, jpeg } => server.on_thumbnail(&camera, jpeg),
            PipelineEvent::Window { .. } => {}
        }
    }
    match inference.join() {
        Ok(summary) => {
            let s = summary?;
            tracing::info!(
                frames = s.frames,
                windows = s.windows,
                incidents = s.incidents,
                "Stopped."
            );
        }
        Err(_) => anyhow::bail!("the inference thread panicked"),
    }
    if !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // Every camera ended or failed for good: keep serving history and chat.
        eprintln!("fightwatch: no camera is running any more");
        server.serve_until_signal()?;
        return Ok(());
    }
    drop(server); // closes connections gracefully (1001)
    Ok(())
}
