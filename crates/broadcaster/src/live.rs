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

/// Why a live view ended without its viewer leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewEnd {
    /// The viewer's session was revoked or its token expired.
    Session,
    /// The server is stopping.
    Shutdown,
}

/// Resolves when a live view must end: `session` is revoked or its token expires (`None`:
/// another node's viewer, whose node watches its session), or the server stops. Subscribes
/// at once, so nothing that happens between this call and the first poll is missed.
pub(crate) fn view_ends(
    hub: Arc<crate::Hub>,
    session: Option<crate::Claims>,
) -> impl std::future::Future<Output = ViewEnd> + Send + 'static {
    let mut closing = hub.closing.subscribe();
    let mut revocations = hub.revocations.subscribe();
    closing.borrow_and_update();
    revocations.borrow_and_update();
    // The token's own end: a stream must not outlive what let it in.
    let until = match &session {
        Some(claims) => crate::ws::token_end(claims.exp),
        None => tokio::time::Instant::now() + Duration::from_secs(86_400),
    };
    async move {
        loop {
            tokio::select! {
                Ok(()) = revocations.changed() => {
                    if let Some(claims) = &session
                        && !hub.session_is_live(claims).await
                    {
                        return ViewEnd::Session;
                    }
                }
                // The guard `wait_for` returns is not `Send`: drop it inside.
                _ = async { closing.wait_for(|c| *c).await.map(|_| ()) } => return ViewEnd::Shutdown,
                () = tokio::time::sleep_until(until) => return ViewEnd::Session,
            }
        }
    }
}

/// The live streams of this node's cameras.
pub(crate) struct LiveStreams {
    period: Duration,
    max_viewers: usize,
    max_per_user: usize,
    viewers: Arc<AtomicUsize>,
    /// Open streams per user: one account cannot take every place.
    per_user: Arc<Mutex<HashMap<String, usize>>>,
    streams: Arc<Mutex<HashMap<String, watch::Sender<Option<Bytes>>>>>,
    /// JPEGs encoded, all cameras (for the benchmark and /metrics).
    pub(crate) encoded: Arc<std::sync::atomic::AtomicU64>,
}

/// A viewer's place: counts against the node's and its user's limits until dropped.
pub(crate) struct ViewerSlot {
    viewers: Arc<AtomicUsize>,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        self.viewers.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut per_user) = self.per_user.lock()
            && let Some(n) = per_user.get_mut(&self.user)
        {
            *n -= 1;
            if *n == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

/// Why a viewer was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The user has its most streams open.
    User,
    /// The node has its most streams open.
    Node,
}

impl LiveStreams {
    pub(crate) fn new(fps: f64, max_viewers: usize, max_per_user: usize) -> Self {
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            5.0
        };
        Self {
            period: Duration::from_secs_f64(1.0 / fps),
            max_viewers,
            max_per_user,
            viewers: Arc::default(),
            per_user: Arc::default(),
            streams: Arc::default(),
            encoded: Arc::default(),
        }
    }

    /// Viewers now, all cameras.
    pub(crate) fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    /// A place for one more viewer of `user`, unless the user (when `user_limit`: a viewer of
    /// another node was counted there) or the node is at its limit.
    pub(crate) fn admit(&self, user: &str, user_limit: bool) -> Result<ViewerSlot, Refused> {
        let Ok(mut per_user) = self.per_user.lock() else {
            return Err(Refused::Node);
        };
        let mine = per_user.get(user).copied().unwrap_or(0);
        if user_limit && mine >= self.max_per_user {
            return Err(Refused::User);
        }
        if self.viewers.load(Ordering::Relaxed) >= self.max_viewers {
            return Err(Refused::Node);
        }
        self.viewers.fetch_add(1, Ordering::Relaxed);
        *per_user.entry(user.to_string()).or_default() += 1;
        Ok(ViewerSlot {
            viewers: self.viewers.clone(),
            per_user: self.per_user.clone(),
            user: user.to_string(),
        })
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

#[cfg(test)]
mod tests {
    use fightwatch_capture::Picture;
    use image::{Rgb, RgbImage};

    use super::*;

    fn frame(red: u8) -> Arc<Picture> {
        Arc::new(Picture::Rgb(RgbImage::from_pixel(64, 48, Rgb([red, 0, 0]))))
    }

    /// The red of the JPEG in one multipart part.
    fn red_of(part: &Bytes) -> u8 {
        let start = part.windows(2).position(|w| w == [0xFF, 0xD8]).unwrap();
        let jpeg = &part[start..part.len() - 2];
        image::load_from_memory(jpeg)
            .unwrap()
            .to_rgb8()
            .get_pixel(32, 24)
            .0[0]
    }

    #[tokio::test]
    async fn a_viewer_that_does_not_read_holds_only_the_newest_frame_and_the_encoder_stops() {
        let streams = LiveStreams::new(100.0, 4, 4);
        let latest = Arc::new(LatestFrame::default());
        let mut stalled = streams.subscribe("cam", latest.clone()).unwrap();
        let mut other = streams.subscribe("cam", latest.clone()).unwrap();
        for i in 0..20u8 {
            latest.put(u64::from(i), frame(i * 10));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Until the encoder has made the newest frame (2 s at most, however busy the machine).
        let newest = |rx: &watch::Receiver<Option<Bytes>>| {
            rx.borrow().as_ref().is_some_and(|p| red_of(p) >= 185)
        };
        for _ in 0..200 {
            if newest(&stalled) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let encoded = streams.encoded.load(Ordering::Relaxed);
        assert!(
            encoded >= 10,
            "one encoder for both viewers: {encoded} JPEGs"
        );
        // Twenty frames went by unread: the stalled viewer has one part waiting, the newest.
        assert!(stalled.has_changed().unwrap());
        let part = stalled.borrow_and_update().clone().unwrap();
        assert!(red_of(&part) >= 185, "the newest frame (red 190)");
        assert!(!stalled.has_changed().unwrap(), "nothing else queued");
        assert_eq!(
            red_of(&other.borrow_and_update().clone().unwrap()),
            red_of(&part)
        );
        // Nobody watches: the encoder stops and forgets the camera.
        drop((stalled, other));
        for _ in 0..200 {
            if streams.streams.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(streams.streams.lock().unwrap().is_empty());
        let after = streams.encoded.load(Ordering::Relaxed);
        latest.put(99, frame(255));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            streams.encoded.load(Ordering::Relaxed),
            after,
            "no encoding without viewers"
        );
    }

    #[test]
    fn one_user_gets_at_most_its_share_and_places_come_back() {
        let streams = LiveStreams::new(5.0, 5, 2);
        let a1 = streams.admit("ann", true).unwrap();
        let _a2 = streams.admit("ann", true).unwrap();
        assert_eq!(streams.admit("ann", true).err(), Some(Refused::User));
        let _b: Vec<_> = (0..2)
            .map(|_| streams.admit("bob", true).unwrap())
            .collect();
        let _c = streams.admit("cid", true).unwrap();
        assert_eq!(streams.viewers(), 5);
        assert_eq!(streams.admit("dan", true).err(), Some(Refused::Node));
        drop(a1);
        assert_eq!(streams.viewers(), 4);
        assert!(streams.admit("ann", true).is_ok(), "ann's place came back");
        // Another node's viewers (that node counts its users'): against this node's total
        // only, never refused as one user.
        let streams = LiveStreams::new(5.0, 5, 2);
        let _peer: Vec<_> = (0..5)
            .map(|_| streams.admit("node:b", false).unwrap())
            .collect();
        assert_eq!(streams.admit("node:b", false).err(), Some(Refused::Node));
    }
}
