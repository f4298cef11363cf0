//! Live sources against real servers on loopback: GStreamer's RTSP server and an HTTP MJPEG
//! server. Each server is killed and restarted; the camera must report the loss, reconnect and
//! deliver frames again, every time. Bounded: a few restarts, each wait capped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use fightwatch_capture::{Backoff, Camera, CameraConfig, CameraStatus, StatusEvent};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn live_config(name: &str, url: &str) -> CameraConfig {
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
fn expect_frames(camera: &Camera, want: usize, limit: Duration) {
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
fn expect_status(
    camera: &Camera,
    status: &Receiver<StatusEvent>,
    limit: Duration,
    what: &str,
    pred: impl Fn(&CameraStatus) -> bool,
) -> CameraStatus {
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

struct RtspServer(Child);

impl RtspServer {
    fn start(port: u16) -> Self {
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo().join("scripts/rtsp_server.py"))
            .arg(repo().join("fixtures/fight_mid_walk.mp4"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("/usr/bin/python3 with GStreamer's RTSP server (run scripts/setup.sh)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("ready"),
            "RTSP server did not start: {line:?}"
        );
        Self(child)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn rtsp_camera_reconnects_after_each_server_restart() {
    let port = free_port();
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let mut server = Some(RtspServer::start(port));
    let (status_tx, status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(live_config("rtsp-cam", &url), status_tx).unwrap();
    let online = expect_status(&camera, &status, Duration::from_secs(15), "online", |s| {
        matches!(s, CameraStatus::Online(_))
    });
    match online {
        CameraStatus::Online(info) => assert_eq!(
            (info.codec.as_str(), info.width, info.height),
            ("h264", 640, 360)
        ),
        _ => unreachable!(),
    }
    expect_frames(&camera, 10, Duration::from_secs(10));
    for round in 1..=3 {
        drop(server.take()); // kill -9 the server mid-stream
        let lost = expect_status(
            &camera,
            &status,
            Duration::from_secs(10),
            "reconnecting",
            |s| matches!(s, CameraStatus::Reconnecting { .. }),
        );
        println!("round {round}: {lost:?}");
        server = Some(RtspServer::start(port));
        expect_status(
            &camera,
            &status,
            Duration::from_secs(15),
            "online again",
            |s| matches!(s, CameraStatus::Online(_)),
        );
        expect_frames(&camera, 5, Duration::from_secs(10));
    }
    assert!(camera.stats().reconnects.load(Ordering::Relaxed) >= 3);
    let t = Instant::now();
    camera.stop();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t.elapsed()
    );
}

#[test]
fn unreachable_rtsp_host_keeps_retrying_with_backoff_and_stops_promptly() {
    let port = free_port(); // nothing listens there
    let (status_tx, status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(
        live_config("nobody", &format!("rtsp://127.0.0.1:{port}/cam")),
        status_tx,
    )
    .unwrap();
    let mut delays = Vec::new();
    while delays.len() < 3 {
        if let CameraStatus::Reconnecting {
            error,
            attempt,
            retry_in,
        } = expect_status(
            &camera,
            &status,
            Duration::from_secs(10),
            "reconnecting",
            |s| matches!(s, CameraStatus::Reconnecting { .. }),
        ) {
            assert!(error.contains(&port.to_string()), "{error}");
            assert_eq!(attempt as usize, delays.len() + 1);
            delays.push(retry_in);
        }
    }
    assert!(delays[2] > delays[0], "backoff does not grow: {delays:?}");
    let t = Instant::now();
    camera.stop();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        t.elapsed()
    );
}

/// A multipart/x-mixed-replace MJPEG server, like an IP camera's /video endpoint.
struct MjpegServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MjpegServer {
    fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
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

#[test]
fn http_mjpeg_camera_reconnects_after_each_server_restart() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/video");
    let mut server = Some(MjpegServer::start(port));
    let (status_tx, status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(live_config("mjpeg-cam", &url), status_tx).unwrap();
    let online = expect_status(&camera, &status, Duration::from_secs(10), "online", |s| {
        matches!(s, CameraStatus::Online(_))
    });
    if let CameraStatus::Online(info) = online {
        assert_eq!(
            (info.codec.as_str(), info.width, info.height),
            ("mjpeg", 160, 120)
        );
    }
    expect_frames(&camera, 10, Duration::from_secs(10));
    for _ in 0..3 {
        drop(server.take());
        expect_status(
            &camera,
            &status,
            Duration::from_secs(10),
            "reconnecting",
            |s| matches!(s, CameraStatus::Reconnecting { .. }),
        );
        server = Some(MjpegServer::start(port));
        expect_status(
            &camera,
            &status,
            Duration::from_secs(10),
            "online again",
            |s| matches!(s, CameraStatus::Online(_)),
        );
        expect_frames(&camera, 5, Duration::from_secs(10));
    }
    camera.stop();
}
