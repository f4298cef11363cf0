//! End-to-end: operators' verdicts in a data directory → `fightwatch tune` proposes and applies
//! per-camera settings that change what a replay raises → `fightwatch export-dataset` writes
//! the clips in the layout `fightwatch eval` reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;

use fightwatch_protocol::{ClipInfo, FalseAlarmReason, Outcome};
use fightwatch_store::{AlertChange, NewAlert, Resolution};

/// `(fixture, outcome)`: each clip is an alert of a camera named after its file. The demo model
/// raises all five at the default settings; the operators called two of them false alarms
/// (fight_street scores 0.65–0.95, fight_fall 0.85 falling away: weaker than the three fights).
const VERDICTS: [(&str, Outcome); 6] = [
    ("fight_bar_three.mp4", Outcome::Confirmed),
    ("fight_mid_walk.mp4", Outcome::Confirmed),
    ("fight_parking.avi", Outcome::Confirmed),
    ("fight_street.mp4", Outcome::FalseAlarm),
    ("fight_fall.mp4", Outcome::FalseAlarm),
    // A test alert: neither; left out.
    ("walk_street.mp4", Outcome::Test),
];

fn stem(file: &str) -> &str {
    file.split('.').next().unwrap()
}

/// Stores one resolved alert per verdict, its clip a copy of the fixture.
fn seed(data: &Path) {
    let store = fightwatch_node::open_store_at(data, None).unwrap();
    let media = fightwatch_node::media_dir(data);
    std::fs::create_dir_all(&media).unwrap();
    for (file, outcome) in VERDICTS {
        let alert = store
            .create_alert(&NewAlert {
                camera: stem(file).into(),
                site: "default".into(),
                label: "fight".into(),
                score: 0.7,
                started_at: 1_790_000_000_000,
                snapshot: None,
                source: "pipeline".into(),
                region: None,
                heatmap: None,
            })
            .unwrap();
        let ext = file.rsplit('.').next().unwrap();
        let name = format!("{}-clip.{ext}", alert.id);
        std::fs::copy(
            common::repo().join("fixtures").join(file),
            media.join(&name),
        )
        .unwrap();
        let (bytes, sha256) = fightwatch_capture::sha256_file(&media.join(&name)).unwrap();
        let clip = ClipInfo {
            file: name,
            duration_ms: 6_000,
            bytes,
            sha256,
            method: "remux".into(),
            start_ms: 0,
            peak_ms: None,
            end_ms: None,
        };
        store
            .update_alert(
                &alert.id,
                &AlertChange {
                    clip: Some(clip),
                    ..AlertChange::default()
                },
            )
            .unwrap();
        store
            .update_alert(
                &alert.id,
                &AlertChange {
                    resolve: Some(Resolution {
                        user: "olga".into(),
                        outcome,
                        reason: (outcome == Outcome::FalseAlarm).then_some(FalseAlarmReason::Sport),
                        note: None,
                    }),
                    ..AlertChange::default()
                },
            )
            .unwrap();
    }
}

/// Incidents started per camera when the five clips are replayed with `config`.
fn replay(config: &Path) -> HashMap<String, usize> {
    let mut cmd = common::command(&["replay", "--json", "--config"]);
    cmd.arg(config);
    for (file, _) in &VERDICTS[..5] {
        cmd.arg(format!("fixtures/{file}"));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let mut started = HashMap::new();
    for line in common::text(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["event"] == "incident_started" {
            *started
                .entry(v["camera"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    started
}

#[test]
fn tune_learns_from_verdicts_and_export_dataset_feeds_eval() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(&data);
    let config = dir.path().join("fightwatch.toml");
    let mut toml = format!(
        "# The site's cameras.\n[model]\npackage = \"{}\"\nthreads = 1\n[storage]\ndata_dir = \"{}\"\n",
        common::repo().join("models/fight-demo").display(),
        data.display()
    );
    for (file, _) in &VERDICTS[..5] {
        toml += &format!(
            "\n[[cameras]]\nname = \"{}\"\nsource = \"{}\"\n",
            stem(file),
            common::repo().join("fixtures").join(file).display()
        );
    }
    std::fs::write(&config, &toml).unwrap();

    let before = replay(&config);
    for (file, _) in &VERDICTS[..5] {
        assert_eq!(before.get(stem(file)), Some(&1), "{file}: {before:?}");
    }

    // Proposals, a plot per camera, nothing written yet.
    let out = dir.path().join("tune");
    let run = common::command(&["tune", "--json", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", common::text(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    println!("{report:#}");
    assert_eq!(report["samples"], 5);
    assert_eq!(report["tests"], 1);
    assert_eq!(report["applied"], false);
    let proposals = report["proposals"].as_array().unwrap();
    assert_eq!(proposals.len(), 5);
    for p in proposals {
        let camera = p["camera"].as_str().unwrap();
        let false_alarm = camera == "fight_street" || camera == "fight_fall";
        assert_eq!(p["changed"], false_alarm, "{camera}");
        assert_eq!(p["proposed"]["fights_raised"], 3, "{camera}");
        assert_eq!(p["proposed"]["false_alarms_raised"], 0, "{camera}");
        let png = image::open(out.join(format!("tune-{camera}.png"))).unwrap();
        assert!(png.width() >= 600);
    }
    assert!(out.join("tune.json").is_file());
    // The same report in the data directory, for the console's tuning page (admins only).
    assert!(data.join("tune/tune.json").is_file());
    {
        let port = common::free_port();
        let secret = "tune test secret, long enough......";
        let _server = common::KillOnDrop(
            common::command(&[
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                // The alerts here are dated 2026-09: older than serve's 30-day retention.
                "--retention-days",
                "0",
                "--data-dir",
            ])
            .arg(&data)
            .env("FIGHTWATCH_JWT_SECRET", secret)
            .spawn()
            .unwrap(),
        );
        let admin = common::data_token(&data, secret, "root", "admin");
        let viewer = common::data_token(&data, secret, "eve", "viewer");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let (code, body) = common::http_get(port, "/api/tune", &admin);
        assert_eq!(code, 200, "{}", common::text(&body));
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(page["proposals"].as_array().unwrap().len(), 5);
        let plot = page["proposals"][0]["plot"].as_str().unwrap().to_string();
        let (code, png) = common::http_get(port, &format!("/api/tune/{plot}"), &admin);
        assert_eq!(code, 200);
        assert!(png.starts_with(b"\x89PNG"));
        assert_eq!(common::http_get(port, "/api/tune", &viewer).0, 403);
        assert_eq!(
            common::http_get(port, "/api/tune/..%2Ftune.json", &admin).0,
            404
        );
        assert_eq!(common::http_get(port, "/api/tune/tune.json", &admin).0, 404);
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), toml);

    // --apply writes the two cameras' overrides, keeps the rest of the file…
    let run = common::command(&["tune", "--apply", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", common::text(&run.stderr));
    let tuned = std::fs::read_to_string(&config).unwrap();
    println!("{tuned}");
    assert!(tuned.starts_with("# The site's cameras."));
    assert_eq!(tuned.matches("[cameras.incident]").count(), 2, "{tuned}");
    // …and the same clips replayed now raise the three fights only.
    let after = replay(&config);
    assert_eq!(after.get("fight_street"), None, "{after:?}");
    assert_eq!(after.get("fight_fall"), None, "{after:?}");
    for camera in ["fight_bar_three", "fight_mid_walk", "fight_parking"] {
        assert_eq!(after.get(camera), Some(&1), "{camera}: {after:?}");
    }

    // The verdicts as a dataset that eval reads; a clip altered since it was saved is left out.
    let media = fightwatch_node::media_dir(&data);
    let altered = std::fs::read_dir(&media)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "avi"))
        .unwrap();
    let mut bytes = std::fs::read(&altered).unwrap();
    bytes.push(0);
    std::fs::write(&altered, bytes).unwrap();
    let set = dir.path().join("dataset");
    let run = common::command(&["export-dataset", "--val-fraction", "0", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&set)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", common::text(&run.stderr));
    let said = common::text(&run.stdout);
    assert!(said.contains("2 fights, 2 false alarms"), "{said}");
    assert!(said.contains("1 altered"), "{said}");
    let count = |p: &str| std::fs::read_dir(set.join(p)).map_or(0, |d| d.count());
    assert_eq!((count("train/Fight"), count("train/NonFight")), (2, 2));
    let csv = std::fs::read_to_string(set.join("alerts.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.contains("false_alarm,sport"), "{csv}");
    let run = common::command(&["eval", "--json"])
        .arg(&set)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", common::text(&run.stderr));
    let m: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(m["clips"], 4);
    // Into a folder that is not empty: refused.
    let again = common::command(&["export-dataset", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&set)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(common::text(&again.stderr).contains("not empty"));
}

#[test]
fn tune_without_verdicts_says_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fightwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[model]\npackage = \"{}\"\n[storage]\ndata_dir = \"data\"\n[[cameras]]\nname = \"a\"\nsource = \"x.mp4\"\n",
            common::repo().join("models/fight-demo").display()
        ),
    )
    .unwrap();
    let out = common::command(&["tune", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = common::text(&out.stderr);
    assert!(
        err.contains("no resolved alert with an outcome and a clip"),
        "{err}"
    );
}
