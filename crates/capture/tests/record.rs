//! Incident clips from real fixtures, checked with ffprobe/ffmpeg: an H.264 file is remuxed
//! and starts on a keyframe at or before the pre-roll; an image folder is encoded; a privacy
//! mask is burnt into the clip and the live frame.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{decodes_cleanly, repo};
use fightwatch_capture::{
    Camera, CameraConfig, ClipMethod, ClipReport, PrivacyMask, RecordConfig, SavedClip, sha256_file,
};

/// Runs `source` as fast as possible; starts clip "a1" at media time `start` once frames pass
/// `start + 0.5`, finishes it at `end`; the report and the camera's last live frame.
fn record(
    source: &str,
    config: RecordConfig,
    mask: Option<PrivacyMask>,
    start: f64,
    end: f64,
) -> (ClipReport, Option<image::RgbImage>) {
    let (reports_tx, reports) = crossbeam_channel::unbounded();
    let mut cfg = CameraConfig::new("gate 1", source);
    cfg.record = Some(RecordConfig {
        reports: reports_tx,
        ..config
    });
    cfg.mask = mask;
    let (status_tx, _status) = crossbeam_channel::unbounded();
    let camera = Camera::start(cfg, status_tx).unwrap();
    let clips = camera.clips().unwrap().clone();
    let (mut started, mut finished) = (false, false);
    let mut live = None;
    while let Ok(frame) = camera.frames().recv_timeout(Duration::from_secs(10)) {
        if !started && frame.pts_s >= start + 0.5 {
            clips.start("a1", start);
            started = true;
            live = camera.latest().get().map(|(_, p)| p.to_rgb().unwrap());
        }
        if started && !finished && frame.pts_s >= end {
            clips.finish("a1", end);
            finished = true;
        }
    }
    assert!(started && finished, "the fixture is long enough");
    let report = reports.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((report.id.as_str(), &*report.camera), ("a1", "gate 1"));
    (report, live)
}

fn config(dir: &Path) -> RecordConfig {
    let mut c = RecordConfig::new(dir, crossbeam_channel::unbounded().0);
    c.pre_roll = Duration::from_secs(2);
    c.post_roll = Duration::from_secs(1);
    c
}

#[test]
fn an_h264_file_is_remuxed_from_a_keyframe_before_the_pre_roll() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("fixtures/fight_mid_walk.mp4"); // keyframes at 0, 3.0, 5.43 s
    let (report, _) = record(source.to_str().unwrap(), config(dir.path()), None, 5.0, 6.0);
    let clip = saved(&report);
    assert_eq!(clip.method, ClipMethod::Remux);
    // Pre-roll 2 s before 5.0 is 3.0: the keyframe at 3.0 is the first frame.
    assert!((clip.first_s - 3.0).abs() < 0.02, "{clip:?}");
    let path = dir.path().join(&clip.file);
    let (codec, start, frames, duration) = probe(&path);
    assert_eq!(codec, "h264");
    // B-frames: the first picture is shown a frame or two after the first decode time.
    assert!(
        (0.0..0.1).contains(&start),
        "the clip's own timeline starts at 0: {start}"
    );
    // 3.0 .. 7.0 (end 6.0 + post-roll 1.0) at 30 fps.
    assert!((118..=122).contains(&frames), "{frames} frames");
    assert_eq!(frames, clip.frames);
    assert!((duration - 4.0).abs() < 0.1, "{duration} s");
    assert!((clip.duration_s - duration).abs() < 0.1, "{clip:?}");
    decodes_cleanly(&path);
    assert_eq!(
        sha256_file(&path).unwrap(),
        (clip.bytes, clip.sha256.clone())
    );
    assert!(!dir.path().join(format!("{}.part", clip.file)).exists());
}

#[test]
fn an_image_folder_is_encoded_with_libx264() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("fixtures/fight_frames"); // 60 JPEGs at 15 fps
    let (report, _) = record(source.to_str().unwrap(), config(dir.path()), None, 2.0, 2.5);
    let clip = saved(&report);
    assert_eq!(clip.method, ClipMethod::Encode);
    assert!(
        clip.first_s <= 0.0 + 1e-6,
        "the ring reaches back to the start: {clip:?}"
    );
    let path = dir.path().join(&clip.file);
    let (codec, _, frames, duration) = probe(&path);
    assert_eq!(codec, "h264");
    // 0 .. 3.5 s at 15 fps.
    assert!((51..=54).contains(&frames), "{frames} frames");
    assert!((duration - 3.53).abs() < 0.15, "{duration} s");
    decodes_cleanly(&path);
}

#[test]
fn a_privacy_mask_is_burnt_into_the_clip_and_the_live_frame() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo().join("fixtures/fight_street.mp4");
    // The left half of the picture.
    let mask =
        PrivacyMask::new(vec![vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]]).unwrap();
    let mut cfg = config(dir.path());
    cfg.force_encode = true;
    let (report, live) = record(source.to_str().unwrap(), cfg, Some(mask), 2.0, 3.0);
    let clip = saved(&report);
    assert_eq!(clip.method, ClipMethod::Encode, "a mask forces a re-encode");
    let live = live.unwrap();
    let (w, h) = live.dimensions();
    let dark =
        |img: &image::RgbImage, x: u32, y: u32| img.get_pixel(x, y).0.iter().all(|&c| c <= 20);
    for (x, y) in [(5, 5), (w / 4, h / 2), (w / 2 - 3, h - 5)] {
        assert!(
            dark(&live, x, y),
            "live pixel {x},{y}: {:?}",
            live.get_pixel(x, y)
        );
    }
    assert!(
        live.enumerate_pixels()
            .filter(|(x, _, _)| *x > w / 2 + 2)
            .any(|(_, _, p)| p.0.iter().any(|&c| c > 60)),
        "the right half is picture"
    );
    // Every 10th frame of the clip, decoded by ffmpeg.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(dir.path().join(&clip.file))
        .args([
            "-vf",
            "select=not(mod(n\\,10))",
            "-vsync",
            "0",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frame_len = (w * h * 3) as usize;
    assert!(
        out.stdout.len() >= frame_len * 3,
        "{} bytes",
        out.stdout.len()
    );
    for (i, frame) in out.stdout.chunks_exact(frame_len).enumerate() {
        let img = image::RgbImage::from_raw(w, h, frame.to_vec()).unwrap();
        for (x, y) in [(5, 5), (w / 4, h / 2), (w / 2 - 4, h - 5)] {
            assert!(
                dark(&img, x, y),
                "clip frame {i} pixel {x},{y}: {:?}",
                img.get_pixel(x, y)
            );
        }
    }
}

fn probe(path: &Path) -> (String, f64, u64, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames,start_time:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} in {text}"))
            .to_string()
    };
    (
        field("codec_name"),
        field("start_time").parse().unwrap(),
        field("nb_read_frames").parse().unwrap(),
        field("duration").parse().unwrap(),
    )
}

fn saved(report: &ClipReport) -> &SavedClip {
    report
        .result
        .as_ref()
        .unwrap_or_else(|e| panic!("no clip: {e}"))
}
