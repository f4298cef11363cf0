//! End-to-end: the real `fightwatch replay` binary on the real fixtures, through the real
//! capture → inference → incident path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fightwatch, repo};

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

struct Label {
    file: String,
    fight: Option<(f64, f64)>,
}

fn labels() -> Vec<Label> {
    let text = std::fs::read_to_string(repo().join("fixtures/labels.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let fight = (f[1] == "fight").then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()));
            Label {
                file: f[0].into(),
                fight,
            }
        })
        .collect()
}

fn stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Incident start times per camera.
fn starts(events: &[serde_json::Value]) -> HashMap<String, Vec<f64>> {
    let mut out: HashMap<String, Vec<f64>> = HashMap::new();
    for e in events.iter().filter(|e| e["event"] == "incident_started") {
        out.entry(e["camera"].as_str().unwrap().to_string())
            .or_default()
            .push(e["t"].as_f64().unwrap());
    }
    out
}

#[test]
fn demo_model_flags_every_fight_within_its_segment_and_no_calm_scene() {
    let labels = labels();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "replay".to_string(),
        "--json".into(),
        "--out".into(),
        dir.path().display().to_string(),
    ];
    args.extend(labels.iter().map(|l| format!("fixtures/{}", l.file)));
    let out = fightwatch(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = lines(&out);
    let starts = starts(&events);
    let window_s = 2.0; // the demo model's clip: 16 frames at 8 fps
    for l in &labels {
        let got = starts.get(&stem(&l.file)).cloned().unwrap_or_default();
        match l.fight {
            Some((from, to)) => {
                assert_eq!(
                    got.len(),
                    1,
                    "{}: one incident per fight, got starts {got:?}",
                    l.file
                );
                // The incident's time is the end of the window that confirmed it: after the fight
                // began, and no later than one window past its end.
                assert!(
                    got[0] > from && got[0] <= to + window_s,
                    "{}: started at {} for a fight {from}-{to}",
                    l.file,
                    got[0]
                );
                println!(
                    "{}: fight from {from} s, incident at {} s (delay {:.1} s)",
                    l.file,
                    got[0],
                    got[0] - from
                );
            }
            None => assert!(got.is_empty(), "{}: false alarm at {got:?}", l.file),
        }
    }
    // Every incident ends (clips end), and each has its snapshots as real JPEGs.
    let ended: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "incident_ended")
        .collect();
    assert_eq!(ended.len(), starts.values().map(Vec::len).sum::<usize>());
    for e in events
        .iter()
        .filter(|e| e["event"] == "incident_started" || e["event"] == "incident_ended")
    {
        let path = e["snapshot"].as_str().expect("snapshot path");
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "{path} is not a JPEG");
        let img = image::load_from_memory(&bytes).unwrap();
        assert!(
            img.width() >= 320,
            "snapshot is full resolution, not model size"
        );
    }
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["incidents"], 7);
    assert!(summary["frames"].as_u64().unwrap() > 2000);
}

#[test]
fn the_same_clip_at_10_15_and_30_fps_gives_the_same_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for fps in [10, 15, 30] {
        let clip = dir.path().join(format!("mid_walk_{fps}.mp4"));
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-i"])
            .arg(repo().join("fixtures/fight_mid_walk.mp4"))
            .args([
                "-vf",
                &format!("fps={fps}"),
                "-c:v",
                "libx264",
                "-crf",
                "23",
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&clip)
            .status()
            .unwrap();
        assert!(status.success());
        let out = fightwatch(&["replay", "--json", clip.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events = lines(&out);
        let s: Vec<f64> = starts(&events).into_values().flatten().collect();
        // Scored or not (the gate may relax a calm stretch differently at another rate).
        let summary = events.last().unwrap();
        let windows = summary["windows"].as_u64().unwrap() + summary["skipped"].as_u64().unwrap();
        println!("{fps} fps: incidents at {s:?}, {windows} windows");
        results.push((fps, s, windows));
    }
    let (_, reference, ref_windows) = &results[2];
    assert_eq!(reference.len(), 1);
    for (fps, s, windows) in &results {
        // Clips are cut by media time: every rate gives the same windows and the same incident,
        // give or take one hop (0.5 s).
        assert_eq!(windows, ref_windows, "{fps} fps");
        assert_eq!(s.len(), 1, "{fps} fps: {s:?}");
        assert!(
            (s[0] - reference[0]).abs() <= 0.5 + 1e-9,
            "{fps} fps: {} vs {}",
            s[0],
            reference[0]
        );
    }
}

#[test]
fn real_model_replays_fixtures_and_raises_no_false_alarm_on_calm_scenes() {
    // mc3_18 costs ~0.5 s per window on 2 CPU cores: two short clips keep CI fast.
    let out = fightwatch(&[
        "replay",
        "--json",
        "--verbose",
        "--score-every-window",
        "--model",
        "models/fight-mc3-18",
        "fixtures/walk_street.mp4",
        "fixtures/fight_street.mp4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = lines(&out);
    let windows: Vec<_> = events.iter().filter(|e| e["event"] == "window").collect();
    assert_eq!(
        windows.len(),
        20,
        "two 6 s clips: 10 windows of 1.07 s each, every 0.5 s"
    );
    for cam in ["walk_street", "fight_street"] {
        let scores: Vec<f64> = windows
            .iter()
            .filter(|w| w["camera"] == cam)
            .map(|w| w["score"].as_f64().unwrap())
            .collect();
        println!("mc3_18 on {cam}: scores {scores:.3?}");
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    }
    assert!(
        !starts(&events).contains_key("walk_street"),
        "false alarm on a calm scene"
    );
}

#[test]
fn replay_errors_are_clear_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    // A package whose model.toml disagrees with its graph.
    let bad = dir.path().join("bad-model");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(
        repo().join("models/fight-demo/model.onnx"),
        bad.join("model.onnx"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(repo().join("models/fight-demo/model.toml")).unwrap();
    std::fs::write(
        bad.join("model.toml"),
        toml.replace("frames = 16", "frames = 8"),
    )
    .unwrap();
    // A package whose graph has the wrong input rank.
    let rank = dir.path().join("rank4");
    std::fs::create_dir(&rank).unwrap();
    std::fs::copy(
        repo().join("fixtures/onnx/tiny_image_model.onnx"),
        rank.join("model.onnx"),
    )
    .unwrap();
    std::fs::write(
        rank.join("model.toml"),
        toml.replace("name = \"clip\"", "name = \"image\"")
            .replace("[\"nonfight\", \"fight\"]", "[\"a\", \"fight\", \"c\"]"),
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--model".into(),
                "/nonexistent/model".into(),
                "fixtures/walk_street.mp4".into(),
            ],
            "does not exist",
        ),
        (
            vec![
                "--model".into(),
                bad.display().to_string(),
                "fixtures/walk_street.mp4".into(),
            ],
            "clip: f32[batch, 3, 8, 96, 96]",
        ),
        (
            vec![
                "--model".into(),
                rank.display().to_string(),
                "fixtures/walk_street.mp4".into(),
            ],
            "image: f32[batch, 3, 8, 8]",
        ),
        (
            vec![
                "--device".into(),
                "cuda".into(),
                "fixtures/walk_street.mp4".into(),
            ],
            "cuda",
        ),
        (
            vec![
                "--device".into(),
                "gpu".into(),
                "fixtures/walk_street.mp4".into(),
            ],
            "unknown device",
        ),
        (vec!["fixtures/broken/corrupt.mp4".into()], "corrupt.mp4"),
        (vec!["fixtures/no-such-clip.mp4".into()], "does not exist"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["replay".to_string()];
        args.extend(extra.clone());
        let out = fightwatch(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{extra:?} succeeded");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
    }
}
