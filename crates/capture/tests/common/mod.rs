//! Helpers shared by the live-source test binaries.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use fightwatch_capture::{Backoff, Camera, CameraConfig, CaptureState, StatusEvent};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A port of 127.0.0.1 where nothing listens, *below* the kernel's ephemeral range
/// (32768–60999 here), so no outgoing connection of a parallel test can take it before a server
/// binds it (or while a restarted server is down). Checked by connecting, not by binding: a
/// probe listener would be copied into any child another test thread forks at that moment and
/// stay bound until the child execs.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    let start = std::process::id().wrapping_mul(7919) % COUNT;
    loop {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return port,
            _ => {}
        }
    }
}

pub fn live_config(name: &str, url: &str) -> CameraConfig {
    let mut c = CameraConfig::new(name, url);
    c.backoff = Backoff {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(1),
        jitter: 0.1,
    };
    c.options.io_timeout = Duration::from_secs(2);
    c.options.stall_timeout = Duration::from_secs(2);
    c
}

/// Waits for `want` frames; panics after `limit`.
pub fn expect_frames(camera: &Camera, want: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut got = 0;
    while got < want {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "only {got} of {want} frames within {limit:?}"
        );
        if camera.frames().recv_timeout(left).is_ok() {
            got += 1;
        }
    }
}

/// Waits for a status matching `pred`, draining frames meanwhile; returns it.
pub fn expect_status(
    camera: &Camera,
    status: &Receiver<StatusEvent>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&CaptureState) -> bool,
) -> CaptureState {
    let deadline = Instant::now() + limit;
    loop {
        assert!(
            Instant::now() < deadline,
            "no {what} status within {limit:?}"
        );
        while camera.frames().try_recv().is_ok() {}
        if let Ok(ev) = status.recv_timeout(Duration::from_millis(50))
            && pred(&ev.status)
        {
            return ev.status;
        }
    }
}

/// One outage: drops (kills) the server, waits for the camera to report the loss, starts a new
/// server, and waits until the camera is online and delivering frames again. Returns the loss.
pub fn lose_and_recover<S>(
    camera: &Camera,
    status: &Receiver<StatusEvent>,
    server: &mut Option<S>,
    start: impl FnOnce() -> S,
) -> CaptureState {
    drop(server.take());
    let lost = expect_status(
        camera,
        status,
        Duration::from_secs(10),
        "reconnecting",
        |s| matches!(s, CaptureState::Reconnecting { .. }),
    );
    *server = Some(start());
    expect_status(
        camera,
        status,
        Duration::from_secs(15),
        "online again",
        |s| matches!(s, CaptureState::Online(_)),
    );
    expect_frames(camera, 5, Duration::from_secs(10));
    lost
}

/// Stops the camera and checks it did so promptly (blocked network calls are interrupted).
pub fn stop_promptly(camera: &mut Camera) {
    let t = Instant::now();
    camera.stop();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t.elapsed()
    );
}

/// A multipart/x-mixed-replace MJPEG server, like an IP camera's /video endpoint.
pub struct MjpegServer {
    stop: Arc<AtomicBool>,
    /// While set, the server keeps its connections open but sends nothing: a frozen camera.
    pub frozen: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MjpegServer {
    pub fn start(port: u16) -> Self {
        // A child that another test thread is forking right now holds copies of this process's
        // sockets until it execs (CLOEXEC only closes them then), the old server's listener
        // included: "address in use" for a moment. Retry briefly.
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("binding 127.0.0.1:{port}: {e}"),
            }
        };
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let frozen = Arc::new(AtomicBool::new(false));
        let freeze = frozen.clone();
        let frames: Vec<Vec<u8>> = (0..10u8)
            .map(|i| {
                let img = image::RgbImage::from_fn(160, 120, |x, y| {
                    image::Rgb([(x as u8).wrapping_add(i * 20), y as u8, 128])
                });
                let mut jpeg = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
                    .encode_image(&img)
                    .unwrap();
                jpeg
            })
            .collect();
        let thread = std::thread::spawn(move || {
            let mut clients: Vec<TcpStream> = Vec::new();
            let mut i = 0usize;
            while !flag.load(Ordering::Relaxed) {
                if let Ok((mut s, _)) = listener.accept() {
                    s.set_nonblocking(false).unwrap();
                    let mut req = [0u8; 1024];
                    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                    let _ = std::io::Read::read(&mut s, &mut req);
                    let head = "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\nCache-Control: no-cache\r\n\r\n";
                    if s.write_all(head.as_bytes()).is_ok() {
                        clients.push(s);
                    }
                }
                if freeze.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let jpeg = &frames[i % frames.len()];
                i += 1;
                let part = format!(
                    "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    jpeg.len()
                );
                clients.retain_mut(|c| {
                    c.write_all(part.as_bytes())
                        .and_then(|_| c.write_all(jpeg))
                        .and_then(|_| c.write_all(b"\r\n"))
                        .is_ok()
                });
                std::thread::sleep(Duration::from_millis(50)); // 20 fps
            }
            for c in clients {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        });
        Self {
            stop,
            frozen,
            thread: Some(thread),
        }
    }
}

impl Drop for MjpegServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// ffmpeg decodes every frame of `path` without a single error message.
pub fn decodes_cleanly(path: &Path) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The camera's live video from its newest keyframe: the init segment and `want` fragments
/// (panics after `limit`), and the fragments' file (init + fragments) in `dir`.
pub fn record_live_video(
    camera: &Camera,
    want: usize,
    limit: Duration,
    dir: &Path,
) -> (
    Arc<fightwatch_capture::fmp4::InitSegment>,
    Vec<Arc<fightwatch_capture::fmp4::Fragment>>,
    PathBuf,
) {
    use fightwatch_capture::VideoEvent;
    let deadline = Instant::now() + limit;
    let sub = loop {
        match camera.live_video().subscribe() {
            Ok(sub) => break sub,
            Err(why) if Instant::now() > deadline => panic!("no live video: {why}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let mut events = sub.events;
    let mut fragments = sub.backlog;
    while fragments.len() < want {
        assert!(
            Instant::now() < deadline,
            "{} fragments in time",
            fragments.len()
        );
        match events.try_recv() {
            Ok(VideoEvent::Fragment(f)) if f.key || !fragments.is_empty() => fragments.push(f),
            Ok(VideoEvent::Fragment(_)) => {}
            Ok(other) => panic!("the stream changed: {other:?}"),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    let path = dir.join(format!("{}.mp4", camera.name()));
    write_fmp4(&sub.init, &fragments, &path);
    (sub.init, fragments, path)
}

/// An init segment and its fragments as one MP4 file.
pub fn write_fmp4(
    init: &fightwatch_capture::fmp4::InitSegment,
    fragments: &[Arc<fightwatch_capture::fmp4::Fragment>],
    path: &Path,
) {
    let mut bytes = init.bytes.to_vec();
    for f in fragments {
        bytes.extend_from_slice(&f.bytes);
    }
    std::fs::write(path, bytes).unwrap();
}

/// Frames ffprobe decodes in `path`.
pub fn decoded_frames(path: &Path) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
