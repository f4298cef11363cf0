//! Live video without re-encoding: a camera's own H.264 packets as fragmented MP4. What the
//! camera sends must be a stream a real decoder (FFmpeg here, Chromium in web/e2e) plays frame
//! for frame, continue across a looping file's restarts, and not exist for masked cameras.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{decoded_frames, decodes_cleanly, repo, write_fmp4};
use fightwatch_capture::{Camera, CameraConfig, Pacing, PrivacyMask, VideoEvent};

fn file_camera(name: &str, fixture: &str) -> CameraConfig {
    let path = repo().join("fixtures").join(fixture);
    let mut cfg = CameraConfig::new(name, path.to_str().unwrap());
    cfg.pacing = Pacing::AsFastAsPossible;
    cfg.loop_file = true;
    cfg
}

#[test]
fn a_cameras_own_h264_is_sent_as_fmp4_that_decodes_frame_for_frame_across_loops() {
    let dir = tempfile::tempdir().unwrap();
    // 150 frames at 25 fps: 200 fragments cross the loop back to its start.
    let (tx, _status) = crossbeam_channel::unbounded();
    let camera = Camera::start(file_camera("street", "fight_fall.mp4"), tx).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sub = None;
    let mut fragments = Vec::new();
    // One thread takes frames and fragments in turn: the camera cannot run more than its frame
    // queue ahead, so the fragments never overflow the channel, however slow this machine.
    while fragments.len() < 200 {
        assert!(
            Instant::now() < deadline,
            "{} fragments in time",
            fragments.len()
        );
        let _ = camera
            .frames()
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
        let Some(s) = sub.as_mut() else {
            if let Ok(s) = camera.live_video().subscribe() {
                fragments.extend(s.backlog.iter().cloned());
                sub = Some(s);
            }
            continue;
        };
        while let Ok(event) = s.events.try_recv() {
            match event {
                VideoEvent::Fragment(f) if f.key || !fragments.is_empty() => fragments.push(f),
                VideoEvent::Fragment(_) => {}
                other => panic!("the stream changed: {other:?}"),
            }
        }
    }
    let sub = sub.unwrap();
    assert_eq!(sub.init.codec, "avc1.64001e", "High profile, level 3.0");
    assert_eq!((sub.init.width, sub.init.height), (640, 360));
    assert!(fragments[0].key, "a viewer starts at a keyframe");
    for pair in fragments.windows(2) {
        assert!(
            pair[1].decode_time > pair[0].decode_time,
            "the timeline goes on across the loop"
        );
    }
    let path = dir.path().join("live.mp4");
    write_fmp4(&sub.init, &fragments, &path);
    decodes_cleanly(&path);
    assert_eq!(decoded_frames(&path), fragments.len() as u64);
    // No re-encoding: the fragments carry the file's own bytes (plus ~100 bytes of boxes each).
    let file = std::fs::metadata(repo().join("fixtures/fight_fall.mp4"))
        .unwrap()
        .len();
    let first_loop: usize = fragments.iter().take(100).map(|f| f.bytes.len()).sum();
    assert!(
        (first_loop as u64) < file,
        "{first_loop} bytes for 100 of 150 frames of a {file}-byte file"
    );
}

#[test]
fn a_masked_camera_has_no_live_video_and_says_why() {
    let mut cfg = file_camera("masked", "fight_street.mp4");
    cfg.mask = Some(PrivacyMask::new(vec![vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]]).unwrap());
    let (tx, _status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, tx).unwrap();
    for _ in 0..30 {
        camera
            .frames()
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
    }
    let why = camera.live_video().subscribe().unwrap_err();
    assert!(why.contains("privacy mask"), "{why}");
}

#[test]
fn a_camera_of_jpeg_images_has_no_live_video() {
    let (tx, _status) = crossbeam_channel::unbounded();
    let camera = Camera::start(file_camera("frames", "fight_frames"), tx).unwrap();
    for _ in 0..10 {
        camera
            .frames()
            .recv_timeout(Duration::from_secs(5))
            .unwrap();
    }
    let why = camera.live_video().subscribe().unwrap_err();
    assert!(why.contains("not encoded video"), "{why}");
}
