//! Live sources against real servers on loopback: GStreamer's RTSP server and an HTTP MJPEG
//! server. Each server is killed and restarted; the camera must report the loss, reconnect and
//! deliver frames again, every time. Bounded: a few restarts, each wait capped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{
    MjpegServer, decoded_frames, decodes_cleanly, expect_frames, expect_status, free_port,
    live_config, lose_and_recover, record_live_video, repo, stop_promptly,
};
use fightwatch_capture::{Camera, CaptureState};

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
        matches!(s, CaptureState::Online(_))
    });
    match online {
        CaptureState::Online(info) => assert_eq!(
            (info.codec.as_str(), info.width, info.height),
            ("h264", 640, 360)
        ),
        _ => unreachable!(),
    }
    expect_frames(&camera, 10, Duration::from_secs(10));
    // RTSP carries Annex B H.264 (start codes, parameter sets from the SDP): live video
    // rewrites it length-prefixed, and FFmpeg decodes every fragment.
    let dir = tempfile::tempdir().unwrap();
    let (init, fragments, path) =
        record_live_video(&camera, 30, Duration::from_secs(20), dir.path());
    assert!(init.codec.starts_with("avc1."), "{}", init.codec);
    decodes_cleanly(&path);
    assert_eq!(decoded_frames(&path), fragments.len() as u64);
    for round in 1..=3 {
        // kill -9 the server mid-stream, then bring it back
        let lost = lose_and_recover(&camera, &status, &mut server, || RtspServer::start(port));
        println!("round {round}: {lost:?}");
    }
    assert!(camera.stats().reconnects.load(Ordering::Relaxed) >= 3);
    stop_promptly(&mut camera);
}

#[test]
fn unreachable_rtsp_host_keeps_retrying_with_backoff_and_stops_promptly() {
    let port = free_port(); // nothing listens there
    let (status_tx, status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(
        // A password in the URL must never come back in an error (docs/security.md).
        live_config(
            "nobody",
            &format!("rtsp://admin:Sup3r%40Secret@127.0.0.1:{port}/cam?token=T0ken77"),
        ),
        status_tx,
    )
    .unwrap();
    let mut delays = Vec::new();
    while delays.len() < 3 {
        if let CaptureState::Reconnecting {
            error,
            attempt,
            retry_in,
        } = expect_status(
            &camera,
            &status,
            Duration::from_secs(10),
            "reconnecting",
            |s| matches!(s, CaptureState::Reconnecting { .. }),
        ) {
            assert!(error.detail.contains(&port.to_string()), "{error}");
            assert!(error.detail.contains("admin:***@"), "{error}");
            for secret in ["Sup3r", "Secret", "T0ken77"] {
                assert!(!error.detail.contains(secret), "{error}");
            }
            assert_eq!(
                error.reason,
                fightwatch_capture::FaultReason::ConnectionRefused
            );
            assert_eq!(attempt as usize, delays.len() + 1);
            delays.push(retry_in);
        }
    }
    assert!(delays[2] > delays[0], "backoff does not grow: {delays:?}");
    stop_promptly(&mut camera);
}

#[test]
fn http_mjpeg_camera_reconnects_after_each_server_restart() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/video");
    let mut server = Some(MjpegServer::start(port));
    let (status_tx, status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(live_config("mjpeg-cam", &url), status_tx).unwrap();
    let online = expect_status(&camera, &status, Duration::from_secs(10), "online", |s| {
        matches!(s, CaptureState::Online(_))
    });
    if let CaptureState::Online(info) = online {
        assert_eq!(
            (info.codec.as_str(), info.width, info.height),
            ("mjpeg", 160, 120)
        );
    }
    expect_frames(&camera, 10, Duration::from_secs(10));
    for _ in 0..3 {
        lose_and_recover(&camera, &status, &mut server, || MjpegServer::start(port));
    }
    stop_promptly(&mut camera);
}

#[test]
fn hls_stream_over_http_decodes_every_frame() {
    // Segment a fixture into HLS with the ffmpeg CLI and serve it with a plain HTTP server.
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(repo().join("fixtures/walk_street.mp4"))
        .args([
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "0",
            "-hls_playlist_type",
            "vod",
        ])
        .arg(dir.path().join("index.m3u8"))
        .status()
        .unwrap();
    assert!(status.success());
    let port = free_port();
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/index.m3u8");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut source = loop {
        match fightwatch_capture::open(&url, "hls", &fightwatch_capture::SourceOptions::default()) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(source.info().kind, fightwatch_capture::SourceKind::Network);
    let mut frames = 0;
    while source.next_frame().unwrap().is_some() {
        frames += 1;
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(frames, 150);
}

#[test]
fn a_frozen_stream_is_detected_as_stalled_and_reopened() {
    let port = free_port();
    let server = MjpegServer::start(port);
    let (status_tx, status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(
        live_config("frozen", &format!("http://127.0.0.1:{port}/video")),
        status_tx,
    )
    .unwrap();
    expect_status(&camera, &status, Duration::from_secs(10), "online", |s| {
        matches!(s, CaptureState::Online(_))
    });
    expect_frames(&camera, 5, Duration::from_secs(10));
    // The connection stays open but no byte arrives: only the stall watchdog (2 s) can notice.
    server.frozen.store(true, Ordering::Relaxed);
    let t = Instant::now();
    let lost = expect_status(&camera, &status, Duration::from_secs(8), "stalled", |s| {
        matches!(s, CaptureState::Reconnecting { .. })
    });
    assert!(
        matches!(&lost, CaptureState::Reconnecting { error, .. } if error.detail.contains("stalled")),
        "{lost:?}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "reported after {:?}",
        t.elapsed()
    );
    server.frozen.store(false, Ordering::Relaxed);
    expect_status(
        &camera,
        &status,
        Duration::from_secs(10),
        "online again",
        |s| matches!(s, CaptureState::Online(_)),
    );
    expect_frames(&camera, 5, Duration::from_secs(10));
    camera.stop();
}

#[test]
fn an_rtsp_cameras_clip_is_remuxed_without_an_encoder() {
    let port = free_port();
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let _server = RtspServer::start(port);
    let dir = tempfile::tempdir().unwrap();
    let (reports_tx, reports) = crossbeam_channel::unbounded();
    let mut config = live_config("rtsp-clip", &url);
    let mut record = fightwatch_capture::RecordConfig::new(dir.path(), reports_tx);
    record.pre_roll = Duration::from_secs(1);
    record.post_roll = Duration::from_millis(500);
    config.record = Some(record);
    let (status_tx, _status) = crossbeam_channel::unbounded();
    let mut camera = Camera::start(config, status_tx).unwrap();
    let clips = camera.clips().unwrap().clone();
    let mut started_at = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        assert!(Instant::now() < deadline, "no clip report");
        if let Ok(report) = reports.try_recv() {
            break report;
        }
        let Ok(frame) = camera.frames().recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        match started_at {
            // Two seconds in, the ring holds the stream's first keyframe; the clip runs from
            // there to 0.5 s after the "incident" ends.
            None if frame.pts_s >= 2.0 => {
                clips.start("a7", frame.pts_s);
                started_at = Some(frame.pts_s);
            }
            Some(t) if frame.pts_s >= t + 1.0 => clips.finish("a7", t + 1.0),
            _ => {}
        }
    };
    let clip = report.result.expect("a clip");
    assert_eq!(clip.method, fightwatch_capture::ClipMethod::Remux);
    assert_eq!(
        fightwatch_capture::clip_encoders_opened(),
        0,
        "remuxing opens no encoder"
    );
    assert!(clip.frames >= 30, "{clip:?}");
    common::decodes_cleanly(&dir.path().join(&clip.file));
    stop_promptly(&mut camera);
}
