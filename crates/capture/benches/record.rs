//! CPU per camera of incident-clip recording: remuxing an H.264 RTSP 1080p camera vs encoding
//! a raw 640x480 camera, and the bytes the pre-roll ring keeps.
//!
//! `cargo bench -p fightwatch-capture --bench record`
//!
//! Each camera runs in real time for `SECONDS` twice, once without recording and once with a
//! recorder (5 s pre-roll ring; no clip is written), and the process's CPU time (user + system,
//! /proc/self/stat) is compared: the difference is what recording costs. Sources, made here
//! with the ffmpeg CLI in target/bench/:
//! * `rtsp-1080p`: 1920x1080 25 fps H.264 (4 Mbit/s, a keyframe every 2 s) served in real time
//!   by GStreamer's RTSP server (scripts/rtsp_server.py) on loopback;
//! * `raw-640x480`: a folder of 640x480 JPEGs at 15 fps (what a USB or MJPEG camera delivers).
//!
//! Results go to stdout as a Markdown table and to target/bench/record.json.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fightwatch_capture::{Camera, CameraConfig, Pacing, RecordConfig, clip_encoders_opened};

const SECONDS: f64 = 15.0;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg {args:?}");
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime")) / 100.0
}

/// Runs `config` in real time for SECONDS, recording when `record` is given (`Some(true)`:
/// forced to encode); (CPU seconds, frames, ring bytes at the end).
fn run(mut config: CameraConfig, record: Option<bool>, dir: &Path) -> (f64, u64, u64) {
    let (reports, _rx) = crossbeam_channel::unbounded();
    config.record = record.map(|force_encode| RecordConfig {
        force_encode,
        ..RecordConfig::new(dir, reports)
    });
    let (status, _status_rx) = crossbeam_channel::unbounded();
    let camera = Camera::start(config, status).expect("camera");
    // Settle: connected and decoding.
    let _ = camera.frames().recv_timeout(Duration::from_secs(20));
    let cpu0 = cpu_seconds();
    let until = Instant::now() + Duration::from_secs_f64(SECONDS);
    let mut frames = 0;
    while Instant::now() < until {
        if camera
            .frames()
            .recv_timeout(Duration::from_millis(200))
            .is_ok()
        {
            frames += 1;
        }
    }
    let cpu = cpu_seconds() - cpu0;
    let ring = camera.stats().clip_ring_bytes.load(Ordering::Relaxed);
    (cpu, frames, ring)
}

struct Rtsp(std::process::Child);

impl Drop for Rtsp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let bench = repo().join("target/bench");
    std::fs::create_dir_all(&bench).expect("target/bench");
    let hd = bench.join("record_1080p.mp4");
    if !hd.exists() {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=25:duration=30",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "4M",
            "-g",
            "50",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
            hd.to_str().expect("path"),
        ]);
    }
    let raw = bench.join("record_raw_640x480");
    if !raw.join("fps.txt").exists() {
        std::fs::create_dir_all(&raw).expect("raw dir");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480:rate=15:duration=30",
            "-q:v",
            "3",
            raw.join("f%05d.jpg").to_str().expect("path"),
        ]);
        std::fs::write(raw.join("fps.txt"), "15\n").expect("fps.txt");
    }
    let port = 18_000 + (std::process::id() % 1000) as u16;
    let mut child = Command::new("/usr/bin/python3")
        .arg(repo().join("scripts/rtsp_server.py"))
        .arg(&hd)
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("scripts/rtsp_server.py (scripts/setup.sh installs GStreamer)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let _server = Rtsp(child);
    assert!(line.starts_with("ready"), "RTSP server: {line}");

    let clips = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();
    let hd_camera = || {
        let mut c = CameraConfig::new("hd", &format!("rtsp://127.0.0.1:{port}/cam"));
        c.options.decode_threads = 1;
        c
    };
    let cases: [(&str, CameraConfig, bool); 3] = [
        ("rtsp-1080p (remux)", hd_camera(), false),
        // A privacy mask must be burnt in: the same camera, re-encoded.
        ("rtsp-1080p masked (re-encode)", hd_camera(), true),
        (
            "raw-640x480 (encode)",
            {
                let mut c = CameraConfig::new("usb-like", raw.to_str().expect("path"));
                c.pacing = Pacing::Realtime;
                c.loop_file = true;
                c
            },
            false,
        ),
    ];
    println!(
        "| camera | frames/s | CPU without recording | CPU with recording | recording costs | ring bytes (5 s pre-roll + 10 s) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, config, force_encode) in cases {
        let encoders = clip_encoders_opened();
        let (cpu_off, frames, _) = run(config.clone(), None, clips.path());
        let (cpu_on, _, ring) = run(config, Some(force_encode), clips.path());
        let opened = clip_encoders_opened() - encoders;
        let fps = frames as f64 / SECONDS;
        let cost = (cpu_on - cpu_off) / SECONDS * 100.0;
        println!(
            "| {name} | {fps:.1} | {:.1} % | {:.1} % | **{cost:+.1} %** of a core ({opened} encoder) | {:.1} MiB |",
            cpu_off / SECONDS * 100.0,
            cpu_on / SECONDS * 100.0,
            ring as f64 / 1048576.0
        );
        rows.push(format!(
            r#"{{"camera":"{name}","fps":{fps:.2},"cpu_percent_without":{:.2},"cpu_percent_with":{:.2},"recording_cpu_percent":{cost:.2},"ring_bytes":{ring},"encoders_opened":{opened}}}"#,
            cpu_off / SECONDS * 100.0,
            cpu_on / SECONDS * 100.0,
        ));
    }
    std::fs::write(
        bench.join("record.json"),
        format!("[{}]\n", rows.join(",\n")),
    )
    .expect("record.json");
}
