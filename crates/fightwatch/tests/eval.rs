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
