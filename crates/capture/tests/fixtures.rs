//! Every fixture decodes with the frame count fixtures/labels.csv gives; broken inputs give
//! typed errors, never panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use fightwatch_capture::{CaptureError, FrameSource, SourceKind, SourceOptions, open};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .canonicalize()
        .unwrap()
}

struct Row {
    file: String,
    fps: f64,
    frames: u64,
    width: u32,
    height: u32,
    codec: String,
}

fn labels() -> Vec<Row> {
    let text = std::fs::read_to_string(fixtures().join("labels.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                file: f[col("file")].into(),
                fps: f[col("fps")].parse().unwrap(),
                frames: f[col("frames")].parse().unwrap(),
                width: f[col("width")].parse().unwrap(),
                height: f[col("height")].parse().unwrap(),
                codec: f[col("codec")].into(),
            }
        })
        .collect()
}

/// What `ffprobe -count_frames` says (it decodes the whole stream).
fn ffprobe_count_frames(path: &Path) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn drain(source: &mut dyn FrameSource) -> Result<Vec<(u64, f64, u32, u32)>, CaptureError> {
    let mut out = Vec::new();
    while let Some(f) = source.next_frame()? {
        out.push((f.seq, f.pts_s, f.width(), f.height()));
    }
    Ok(out)
}

#[test]
fn every_fixture_decodes_with_the_labelled_frame_count() {
    let rows = labels();
    assert!(rows.len() >= 12);
    for row in rows {
        let path = fixtures().join(&row.file);
        let mut src = open(path.to_str().unwrap(), "cam", &SourceOptions::default()).unwrap();
        let info = src.info().clone();
        assert_eq!(
            (info.width, info.height),
            (row.width, row.height),
            "{}",
            row.file
        );
        assert!(
            (info.fps - row.fps).abs() < 1e-6,
            "{}: fps {} vs {}",
            row.file,
            info.fps,
            row.fps
        );
        assert_eq!(info.codec, row.codec, "{}", row.file);
        let frames = drain(src.as_mut()).unwrap();
        assert_eq!(frames.len() as u64, row.frames, "{}", row.file);
        if !row.file.ends_with("fight_frames") {
            assert_eq!(
                ffprobe_count_frames(&path),
                row.frames,
                "ffprobe disagrees on {}",
                row.file
            );
        }
        // Sequence numbers count up from 0; timestamps start at 0 and follow the frame rate.
        for (i, &(seq, pts, w, h)) in frames.iter().enumerate() {
            assert_eq!(seq, i as u64);
            assert_eq!((w, h), (row.width, row.height));
            let want = i as f64 / row.fps;
            assert!(
                (pts - want).abs() < 0.5 / row.fps,
                "{} frame {i}: pts {pts} vs {want}",
                row.file
            );
        }
        if row.file.ends_with("fight_frames") {
            assert_eq!(info.kind, SourceKind::ImageDir);
        } else {
            assert_eq!(info.kind, SourceKind::File);
            let d = info.duration_s.unwrap();
            assert!(
                (d - row.frames as f64 / row.fps).abs() < 0.2,
                "{}: duration {d}",
                row.file
            );
        }
    }
}

#[test]
fn decoded_pixels_are_the_rendered_scene() {
    // The first frame of the JPEG folder and of the MJPEG file differ from a flat image: check
    // the decoder gives real content (mean and spread), not zeros.
    let mut src = open(
        fixtures().join("fight_parking.avi").to_str().unwrap(),
        "cam",
        &SourceOptions::default(),
    )
    .unwrap();
    let f = src.next_frame().unwrap().unwrap();
    let px: Vec<f64> = f
        .to_rgb()
        .unwrap()
        .as_raw()
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let mean = px.iter().sum::<f64>() / px.len() as f64;
    let var = px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64;
    assert!(
        mean > 20.0 && mean < 235.0 && var.sqrt() > 10.0,
        "mean {mean} sd {}",
        var.sqrt()
    );
}

#[test]
fn corrupt_file_is_an_open_error() {
    let path = fixtures().join("broken/corrupt.mp4");
    let err = open(path.to_str().unwrap(), "cam", &SourceOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, CaptureError::Open { .. }), "{err}");
    assert!(err.to_string().contains("corrupt.mp4"), "{err}");
}

#[test]
fn truncated_file_yields_what_it_holds_then_ends_or_errors() {
    let path = fixtures().join("broken/truncated.mp4");
    let mut src = open(path.to_str().unwrap(), "cam", &SourceOptions::default()).unwrap();
    let mut frames = 0u64;
    let result = loop {
        match src.next_frame() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // Half the bytes of a 150-frame clip: some frames decode, not all of them.
    assert!(frames > 0 && frames < 150, "{frames} frames");
    if let Err(e) = result {
        assert!(matches!(e, CaptureError::Read { .. }), "{e}");
    }
}

#[test]
fn missing_paths_and_empty_folders_are_errors() {
    let o = SourceOptions::default();
    assert!(matches!(
        open("/nonexistent.mp4", "c", &o).err().unwrap(),
        CaptureError::NotFound(_)
    ));
    let dir = tempfile::tempdir().unwrap();
    let err = open(dir.path().to_str().unwrap(), "c", &o).err().unwrap();
    assert!(matches!(err, CaptureError::EmptyImageDir(_)), "{err}");
    std::fs::write(dir.path().join("frame_0001.jpg"), b"not a jpeg").unwrap();
    let err = open(dir.path().to_str().unwrap(), "c", &o).err().unwrap();
    assert!(matches!(err, CaptureError::Image { .. }), "{err}");
}
