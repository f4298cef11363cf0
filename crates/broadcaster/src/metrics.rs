//! `GET /metrics`: Prometheus text exposition (format 0.0.4) made by `prometheus-client`,
//! which names, types and escapes everything (label values included).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::hub::Hub;

/// The content type of [`render`]'s text.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabel {
    camera: String,
}

type PerCamera<M> = Family<CameraLabel, M>;
type FloatGauge = Gauge<f64, AtomicU64>;
type PerTarget<M> = prometheus_client::metrics::family::Family<[(String, String); 1], M>;

/// The metrics as they are now. A registry is made per scrape: every value is a snapshot of
/// the hub's state (there is nothing to accumulate between scrapes), and it is small.
pub(crate) fn render(hub: &Hub) -> String {
    // On several nodes every series carries the node's name.
    let mut registry = match &hub.config.node {
        Some(node) => Registry::with_prefix_and_labels(
            "fightwatch",
            [(
                std::borrow::Cow::Borrowed("node"),
                std::borrow::Cow::Owned(node.clone()),
            )]
            .into_iter(),
        ),
        None => Registry::with_prefix("fightwatch"),
    };
    let raised = Counter::<u64>::default();
    raised.inc_by(hub.alerts.raised());
    registry.register("alerts_raised", "Fight alerts raised since start", raised);
    let clients = Gauge::<i64>::default();
    clients.set(hub.connections() as i64);
    registry.register("clients", "Connected dashboards", clients);
    let viewers = Gauge::<i64>::default();
    viewers.set(hub.live_viewers() as i64);
    registry.register("live_viewers", "Open live view streams", viewers);
    let live_frames = Counter::<u64>::default();
    live_frames.inc_by(hub.live_frames_encoded());
    registry.register(
        "live_frames_encoded",
        "Live view JPEGs encoded (once per camera, whatever the number of viewers)",
        live_frames,
    );
    let encoders = Counter::<u64>::default();
    encoders.inc_by(fightwatch_capture::clip_encoders_opened());
    registry.register(
        "clip_encoders_opened",
        "Clip encoders opened (cameras whose clips cannot be remuxed)",
        encoders,
    );
    let delivered = PerTarget::<Counter<u64>>::default();
    let failed = PerTarget::<Counter<u64>>::default();
    let retrying = PerTarget::<Gauge<i64>>::default();
    for t in hub.integrations() {
        let label = [("target".to_string(), t.name.clone())];
        delivered.get_or_create(&label).inc_by(t.delivered);
        failed.get_or_create(&label).inc_by(t.failed_attempts);
        retrying.get_or_create(&label).set(i64::from(t.retrying));
    }
    registry.register("webhook_delivered", "Events a webhook took", delivered);
    registry.register(
        "webhook_failed_attempts",
        "Webhook posts that failed (each retried)",
        failed,
    );
    registry.register(
        "webhook_retrying",
        "1 while a webhook's current event is being retried",
        retrying,
    );
    if let Some(bus) = hub.alerts.bus().report() {
        bus_metrics(&mut registry, bus);
    }

    if let Ok(Some(m)) = hub.last_metrics.lock().map(|m| m.clone()) {
        let cpu = FloatGauge::default();
        cpu.set(m.cpu_percent);
        registry.register(
            "process_cpu_percent",
            "Process CPU use over the last second, percent of one core",
            cpu,
        );
        let rss = Gauge::<i64>::default();
        rss.set(i64::try_from(m.rss_bytes).unwrap_or(i64::MAX));
        registry.register("process_rss_bytes", "Process resident memory", rss);

        let capture_fps = PerCamera::<FloatGauge>::default();
        let inference_fps = PerCamera::<FloatGauge>::default();
        let inference_ms = PerCamera::<FloatGauge>::default();
        let queue_depth = PerCamera::<Gauge<i64>>::default();
        let skipped_fps = PerCamera::<FloatGauge>::default();
        let analysis_lag = PerCamera::<FloatGauge>::default();
        let dropped = PerCamera::<Counter<u64>>::default();
        for c in &m.cameras {
            let label = CameraLabel {
                camera: c.camera.clone(),
            };
            capture_fps.get_or_create(&label).set(c.capture_fps);
            inference_fps.get_or_create(&label).set(c.inference_fps);
            inference_ms.get_or_create(&label).set(c.inference_ms);
            queue_depth
                .get_or_create(&label)
                .set(i64::try_from(c.queue_depth).unwrap_or(i64::MAX));
            dropped.get_or_create(&label).inc_by(c.dropped_frames);
            skipped_fps.get_or_create(&label).set(c.skipped_fps);
            analysis_lag.get_or_create(&label).set(c.analysis_lag_ms);
        }
        registry.register(
            "camera_capture_fps",
            "Frames received per second",
            capture_fps,
        );
        registry.register(
            "camera_inference_fps",
            "Windows scored per second",
            inference_fps,
        );
        registry.register(
            "camera_skipped_fps",
            "Windows left unscored per second (still, or far below the threshold)",
            skipped_fps,
        );
        registry.register(
            "camera_analysis_lag_ms",
            "Longest time from a window's last frame to its score or verdict in the last second, ms",
            analysis_lag,
        );
        registry.register(
            "camera_inference_ms",
            "Mean model run time, ms",
            inference_ms,
        );
        registry.register(
            "camera_queue_depth",
            "Frames waiting in the camera queue",
            queue_depth,
        );
        registry.register(
            "camera_dropped_frames",
            "Frames dropped because inference was behind",
            dropped,
        );
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

/// A shared bus's counters (several nodes).
fn bus_metrics(registry: &mut Registry, bus: fightwatch_alerts::BusReport) {
    let connected = Gauge::<i64>::default();
    connected.set(i64::from(bus.connected));
    registry.register(
        "bus_connected",
        "1 while the shared event bus (Redis) answers",
        connected,
    );
    let backlog = Gauge::<i64>::default();
    backlog.set(i64::try_from(bus.backlog).unwrap_or(i64::MAX));
    registry.register("bus_backlog", "Events waiting for the shared bus", backlog);
    for (name, help, value) in [
        (
            "bus_published",
            "Events sent to the shared bus",
            bus.published,
        ),
        (
            "bus_received",
            "Other nodes' events received from the shared bus",
            bus.received,
        ),
        (
            "bus_swept",
            "Persisted events delivered from the log because the bus had not brought them",
            bus.swept,
        ),
        (
            "bus_dropped",
            "Events dropped from a full bus backlog",
            bus.dropped,
        ),
        (
            "bus_rejected",
            "Stream entries dropped without a valid cluster tag (forged, or another key)",
            bus.rejected,
        ),
    ] {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        registry.register(name, help, counter);
    }
}
