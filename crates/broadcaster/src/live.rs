//! Live view: `multipart/x-mixed-replace` MJPEG of a camera's newest frames.
//!
//! One encoder thread per watched camera makes a JPEG at the configured rate and puts it in a
//! `watch` channel; every viewer of the camera reads the same bytes, so CPU does not grow with
//! viewers. A viewer only ever holds the newest frame: a slow one skips frames (its socket
//! fills, its body is not polled, the channel keeps one frame), never queues them. The thread
//! stops when the last viewer leaves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use fightwatch_capture::LatestFrame;
use tokio::sync::watch;

/// Boundary between the parts of the stream.
pub(crate) const BOUNDARY: &str = "fightwatchframe";
/// Widest live frame: a 4K camera is scaled while converting (cheaper than encoding it whole).
const MAX_WIDTH: u32 = 1280;
const JPEG_QUALITY: u8 = 75;

/// The live streams of this node's cameras.
pub(crate) struct LiveStreams {
    period: Duration,
    max_viewers: usize,
    viewers: Arc<AtomicUsize>,
    streams: Arc<Mutex<HashMap<String, watch::Sender<Option<Bytes>>>>>,
    /// JPEGs encoded, all cameras (for the benchmark and /metrics).
    pub(crate) encoded: Arc<std::sync::atomic::AtomicU64>,
}

/// A viewer's place: counts against the limit until dropped.
pub(crate) struct ViewerSlot(Arc<AtomicUsize>);

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LiveStreams {
    pub(crate) fn new(fps: f64, max_viewers: usize) -> Self {
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            5.0
        };
        Self {
            period: Duration::from_secs_f64(1.0 / fps),
            max_viewers,
            viewers: Arc::default(),
            streams: Arc::default(),
            encoded: Arc::default(),
        }
    }

    /// Viewers now, all cameras.
    pub(crate) fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    /// A place for one more viewer, unless the node is at its limit.
    pub(crate) fn admit(&self) -> Option<ViewerSlot> {
        let prev = self.viewers.fetch_add(1, Ordering::Relaxed);
        let slot = ViewerSlot(self.viewers.clone());
        (prev < self.max_viewers).then_some(slot)
    }

    /// The newest JPEGs of `camera`, starting its encoder if nobody watched it.
    pub(crate) fn subscribe(
        &self,
        camera: &str,
        source: Arc<LatestFrame>,
    ) -> std::io::Result<watch::Receiver<Option<Bytes>>> {
        let Ok(mut streams) = self.streams.lock() else {
            return Err(std::io::Error::other("live streams lock poisoned"));
        };
        if let Some(tx) = streams.get(camera) {
            return Ok(tx.subscribe());
        }
        let (tx, rx) = watch::channel(None);
        let encoder = Encoder {
            camera: camera.to_string(),
            source,
            tx: tx.clone(),
            period: self.period,
            streams: self.streams.clone(),
            encoded: self.encoded.clone(),
        };
        std::thread::Builder::new()
            .name(format!("live-{camera}"))
            .spawn(move || encoder.run())?;
        streams.insert(camera.to_string(), tx);
        Ok(rx)
    }
}

struct Encoder {
    camera: String,
    source: Arc<LatestFrame>,
    tx: watch::Sender<Option<Bytes>>,
    period: Duration,
    streams: Arc<Mutex<HashMap<String, watch::Sender<Option<Bytes>>>>>,
    encoded: Arc<std::sync::atomic::AtomicU64>,
}

impl Encoder {
    fn run(self) {
        tracing::debug!(camera = %self.camera, "Live view encoder started.");
        let mut last_seq = None;
        let mut next = std::time::Instant::now();
        loop {
            // Under the map's lock, so that a new viewer either finds this stream running or
            // starts a new one: never subscribes to a stream that is ending.
            if self.tx.receiver_count() == 0
                && let Ok(mut streams) = self.streams.lock()
                && self.tx.receiver_count() == 0
            {
                streams.remove(&self.camera);
                break;
            }
            if let Some((seq, picture)) = self.source.get()
                && last_seq != Some(seq)
            {
                last_seq = Some(seq);
                match picture.to_jpeg(JPEG_QUALITY, MAX_WIDTH) {
                    Ok(jpeg) => {
                        self.encoded.fetch_add(1, Ordering::Relaxed);
                        self.tx.send_replace(Some(part(&jpeg)));
                    }
                    Err(e) => {
                        tracing::warn!(camera = %self.camera, error = %e, "A live frame could not be encoded.");
                    }
                }
            }
            next += self.period;
            let now = std::time::Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now; // behind: do not burst to catch up
            }
        }
        tracing::debug!(camera = %self.camera, "Live view encoder stopped: nobody watches.");
    }
}

/// One part of the multipart stream: headers and the JPEG.
fn part(jpeg: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(jpeg.len() + 96);
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(jpeg);
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}
