//! Camera threads over recorded files: lossless delivery, real-time pacing, analysis-fps
//! sampling, looping, and errors reported as status.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fightwatch_capture::{Camera, CameraConfig, CaptureState, Pacing};

fn fixture(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    p.to_str().unwrap().to_string()
}

fn collect(camera: &Camera, limit: usize) -> Vec<(u64, f64)> {
    let mut out = Vec::new();
    while out.len() < limit {
        match camera.frames().recv_timeout(Duration::from_secs(10)) {
            Ok(f) => out.push((f.seq, f.pts_s)),
            Err(_) => break,
        }
    }
    out
}

#[test]
fn lossless_file_delivers_every_frame_to_a_slow_consumer() {
    let mut cfg = CameraConfig::new("file", &fixture("fight_street.mp4"));
    cfg.queue = 1;
    let (tx, status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, tx).unwrap();
    let mut seqs = Vec::new();
    while let Ok(f) = camera.frames().recv_timeout(Duration::from_secs(10)) {
        if seqs.len() % 20 == 0 {
            std::thread::sleep(Duration::from_millis(20)); // a consumer that falls behind
        }
        seqs.push(f.seq);
    }
    assert_eq!(seqs, (0..150).collect::<Vec<_>>());
    let statuses: Vec<_> = status.try_iter().map(|e| e.status).collect();
    assert!(
        matches!(statuses.first(), Some(CaptureState::Online(_))),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&CaptureState::Ended));
    assert_eq!(
        camera
            .stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn analysis_fps_samples_by_media_time() {
    let mut cfg = CameraConfig::new("sampled", &fixture("fight_mid_walk.mp4")); // 30 fps, 10 s
    cfg.analysis_fps = Some(10.0);
    let (tx, _status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, tx).unwrap();
    let frames = collect(&camera, 1000);
    assert_eq!(frames.len(), 100);
    for pair in frames.windows(2) {
        let dt = pair[1].1 - pair[0].1;
        assert!((dt - 0.1).abs() < 0.02, "gap {dt}");
    }
}

#[test]
fn realtime_pacing_follows_timestamps() {
    let mut cfg = CameraConfig::new("rt", &fixture("fight_street.mp4")); // 25 fps
    cfg.pacing = Pacing::Realtime;
    let (tx, _status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, tx).unwrap();
    let first = camera
        .frames()
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    let t0 = Instant::now();
    let frames = collect(&camera, 25);
    let elapsed = t0.elapsed().as_secs_f64();
    let media = frames.last().unwrap().1 - first.pts_s;
    // 1 s of media must not arrive much faster than 1 s of wall time (generous upper bound for a
    // loaded CI machine).
    assert!(
        elapsed >= media - 0.05 && elapsed < media + 2.0,
        "media {media:.2} s in {elapsed:.2} s"
    );
}

#[test]
fn looping_continues_the_timeline() {
    let mut cfg = CameraConfig::new("loop", &fixture("fight_frames")); // 60 JPEGs at 15 fps
    cfg.loop_file = true;
    let (tx, status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, tx).unwrap();
    let frames = collect(&camera, 130);
    assert_eq!(frames.len(), 130);
    for (i, pair) in frames.windows(2).enumerate() {
        assert_eq!(pair[1].0, pair[0].0 + 1);
        let dt = pair[1].1 - pair[0].1;
        assert!((dt - 1.0 / 15.0).abs() < 1e-6, "frame {i}: gap {dt}");
    }
    // Two loops, one camera session: online once, no reconnects counted.
    let online = status
        .try_iter()
        .filter(|e| matches!(e.status, CaptureState::Online(_)))
        .count();
    assert_eq!(online, 1);
    assert_eq!(
        camera
            .stats()
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn broken_and_missing_files_go_offline_with_the_reason() {
    for (name, want) in [
        ("broken/corrupt.mp4", "corrupt.mp4"),
        ("no-such-clip.mp4", "does not exist"),
    ] {
        let (tx, status) = crossbeam_channel::unbounded();
        let camera = Camera::start(CameraConfig::new("bad", &fixture(name)), tx).unwrap();
        let ev = status.recv_timeout(Duration::from_secs(10)).unwrap();
        match ev.status {
            CaptureState::Offline { error: Some(e) } => assert!(e.detail.contains(want), "{e}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(
            camera
                .frames()
                .recv_timeout(Duration::from_secs(5))
                .is_err()
        );
    }
}

#[test]
fn a_live_queue_keeps_the_newest_frames_and_counts_drops() {
    // A file paced in real time is not lossless: a consumer that never reads loses old frames.
    let mut cfg = CameraConfig::new("drop", &fixture("fight_frames"));
    cfg.pacing = Pacing::Realtime;
    cfg.queue = 2;
    let (tx, status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, tx).unwrap();
    // Wait for the end of the 4 s clip without reading frames.
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(ev) = status.recv_timeout(Duration::from_millis(100))
            && ev.status == CaptureState::Ended
        {
            break;
        }
    }
    let left: Vec<u64> = camera.frames().try_iter().map(|f| f.seq).collect();
    assert_eq!(left, vec![58, 59]);
    assert_eq!(
        camera
            .stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        58
    );
}
