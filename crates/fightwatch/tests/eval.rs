//! End-to-end: `fightwatch eval` on the labelled fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn eval_on_the_fixtures_reports_metrics_and_writes_plots() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = common::command(&[])
        .args(["eval", "fixtures", "--json", "--out"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{m}");
    assert_eq!(m["clips"], 14);
    // The demo model separates the synthetic fixtures completely (see its model card).
    assert_eq!(
        (m["true_positives"].as_u64(), m["false_positives"].as_u64()),
        (Some(7), Some(0))
    );
    assert_eq!(m["roc_auc"], 1.0);
    let delay = m["mean_detection_delay_s"].as_f64().unwrap();
    assert!((0.5..=4.0).contains(&delay), "delay {delay}");
    let csv = std::fs::read_to_string(out_dir.path().join("scores.csv")).unwrap();
    assert_eq!(csv.lines().count(), 15);
    assert!(
        csv.starts_with("file,label,max_score,mean_score,windows,incidents,first_incident_t,error")
    );
    for png in ["roc.png", "scores.png"] {
        let img = image::open(out_dir.path().join(png)).unwrap();
        assert!(img.width() >= 600, "{png}");
    }
}

#[test]
fn eval_of_a_folder_without_labels_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::command(&[])
        .arg("eval")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no labelled clips"), "{err}");
}

/// Real CCTV footage (shared/data/surveillance-fight) through both real CPU models, as a smoke
/// test of decoding, preprocessing and each model's conversion: two fights and two calm clips of
/// the test split are told apart with a wide margin, and a 1.0 s clip (shorter than one window:
/// 16 frames at 15 fps, or 6 at 5 fps) still gets its one window. The full split is
/// `scripts/bench_accuracy.sh`.
#[test]
fn real_footage_is_told_apart_by_the_cpu_models() {
    let data = common::repo().join("../shared/data/surveillance-fight");
    assert!(
        data.join("split.csv").is_file(),
        "the real footage is missing: {}",
        data.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut labels = String::from("file,label\n");
    for file in [
        "fight/fi010.mp4",
        "fight/fi045.mp4",
        "noFight/nofi060.mp4",
        "noFight/nofi085.mp4",
        "fight/fi149.mp4",
    ] {
        let label = if file.starts_with("fight/") {
            "fight"
        } else {
            "noFight"
        };
        labels.push_str(&format!("{},{label}\n", data.join(file).display()));
    }
    std::fs::write(dir.path().join("labels.csv"), labels).unwrap();
    for model in ["models/fight-mc3-18-int8", "models/fight-mc3-18-6x80-int8"] {
        let out_dir = dir.path().join(model.replace('/', "-"));
        let out = common::command(&[])
            .arg("eval")
            .arg(dir.path())
            .args(["--decide", "window", "--score-every-window", "--json"])
            .args(["--model", model, "--out"])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{model}: {}",
            common::text(&out.stderr)
        );
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        println!("{model}: {m}");
        assert_eq!(m["clips"], 5);
        let per_clip: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out_dir.join("scores.json")).unwrap()).unwrap();
        let score = |name: &str| {
            let clip = per_clip
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["file"].as_str().unwrap().ends_with(name))
                .unwrap();
            (
                clip["max_score"].as_f64().unwrap(),
                clip["windows"].as_u64().unwrap(),
            )
        };
        for fight in ["fi010.mp4", "fi045.mp4"] {
            assert!(score(fight).0 > 0.9, "{model} {fight}: {:?}", score(fight));
        }
        for calm in ["nofi060.mp4", "nofi085.mp4"] {
            assert!(score(calm).0 < 0.1, "{model} {calm}: {:?}", score(calm));
        }
        assert_eq!(
            score("fi149.mp4").1,
            1,
            "{model}: the 1.0 s clip gets one window"
        );
        assert!(m["ms_per_clip"].as_f64().unwrap() > 0.0);
    }
}

/// The CPU default raises no alarm on any calm or quiet fixture (people walking, running,
/// waving, talking, a crowd; empty scenes with noise and flicker), every window scored: the
/// cheaper model adds no false alarm there (mc3_18 has none either, docs/inference.md).
#[test]
fn the_cpu_default_raises_no_alarm_on_calm_or_quiet_scenes() {
    let calm = [
        "fixtures/walk_street.mp4",
        "fixtures/crossing_crowd.mp4",
        "fixtures/run_park.mp4",
        "fixtures/walk_then_run.mp4",
        "fixtures/wave_hello.mp4",
        "fixtures/talk_two.webm",
        "fixtures/stand_wait.mp4",
        "fixtures/quiet/empty_lobby.mp4",
        "fixtures/quiet/empty_lot.mp4",
    ];
    let out = common::command(&["replay", "--json", "--verbose", "--score-every-window"])
        .args(["--model", "models/fight-mc3-18-6x80-int8"])
        .args(calm)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let events: Vec<serde_json::Value> = common::text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let windows: Vec<&serde_json::Value> =
        events.iter().filter(|v| v["event"] == "window").collect();
    let cameras: std::collections::BTreeSet<&str> = windows
        .iter()
        .filter_map(|v| v["camera"].as_str())
        .collect();
    assert_eq!(
        cameras.len(),
        calm.len(),
        "every clip was scored: {cameras:?}"
    );
    let highest = windows
        .iter()
        .filter_map(|v| v["score"].as_f64())
        .fold(0.0, f64::max);
    println!("{} windows, highest score {highest:.3}", windows.len());
    let alarms: Vec<_> = events
        .iter()
        .filter(|v| v["event"] == "incident_started")
        .collect();
    assert!(alarms.is_empty(), "{alarms:?}");
}
