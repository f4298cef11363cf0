//! End-to-end "where in the picture": `fightwatch run` with the CPU default model on two real
//! fights, each laid over one corner of a real calm scene (fixtures/corner, made by
//! scripts/make_corner_fixtures.py). Each camera's `fight_alert` carries a region that covers
//! its fight and a heat map that is hot there; both are in the alert's record, behind the
//! camera's permission, and in its signed evidence export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Ws, http_get, repo, text};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "localize test secret, long enough";
/// What fight-mc3-18-6x80-int8 sees of a 640x480 picture: squashed to 122x91, the centre 80x80
/// (`ResizeSpec::view`). A box cannot reach past it.
const VIEW: [f64; 4] = [21.0 / 122.0, 5.0 / 91.0, 101.0 / 122.0, 85.0 / 91.0];

type Rect = [f64; 4];

/// Each fixture's fight, from fixtures/corner/labels.csv: camera name (the file's stem) → area.
fn fights() -> HashMap<String, Rect> {
    let csv = std::fs::read_to_string(repo().join("fixtures/corner/labels.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().unwrap();
            (
                f[0].trim_end_matches(".mp4").to_string(),
                [n(4), n(5), n(6), n(7)],
            )
        })
        .collect()
}

fn area(r: Rect) -> f64 {
    (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0)
}

fn intersect(a: Rect, b: Rect) -> Rect {
    [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ]
}

/// The box covers the fight: its centre is on the fight, at least 3/4 of it lies on the fight,
/// and it covers at least half of the part of the fight the model could see.
fn assert_covers(camera: &str, region: Rect, fight: Rect) {
    let centre = ((region[0] + region[2]) / 2.0, (region[1] + region[3]) / 2.0);
    assert!(
        (fight[0]..=fight[2]).contains(&centre.0) && (fight[1]..=fight[3]).contains(&centre.1),
        "{camera}: box {region:?} is centred off the fight {fight:?}"
    );
    let on_fight = area(intersect(region, fight)) / area(region);
    assert!(
        on_fight >= 0.75,
        "{camera}: only {on_fight:.2} of box {region:?} is on the fight {fight:?}"
    );
    let seen = intersect(fight, VIEW);
    let covered = area(intersect(region, seen)) / area(seen);
    assert!(
        covered >= 0.5,
        "{camera}: box {region:?} covers {covered:.2} of the fight the model saw {seen:?}"
    );
}

/// Mean of how far `heat` is from `plain` per channel over the pixels of `r` (0–1 coordinates).
fn tint(heat: &image::RgbImage, plain: &image::RgbImage, r: Rect) -> f64 {
    let (w, h) = (f64::from(heat.width()), f64::from(heat.height()));
    let (x0, y0) = ((r[0] * w) as u32, (r[1] * h) as u32);
    let (x1, y1) = ((r[2] * w) as u32, (r[3] * h) as u32);
    let (mut sum, mut n) = (0.0, 0.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let (a, b) = (heat.get_pixel(x, y).0, plain.get_pixel(x, y).0);
            sum += (0..3)
                .map(|c| (f64::from(a[c]) - f64::from(b[c])).abs())
                .sum::<f64>();
            n += 3.0;
        }
    }
    sum / n
}

async fn fight_alerts(ws: &mut Ws, cameras: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut alerts: Vec<serde_json::Value> = Vec::new();
    while alerts.len() < cameras {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("fight alerts in time: got {alerts:?}"))
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "fight_alert" && !alerts.iter().any(|a| a["camera"] == v["camera"]) {
                alerts.push(v);
            }
        }
    }
    alerts
}

fn region_of(v: &serde_json::Value) -> Rect {
    let r: Vec<f64> = v
        .as_array()
        .unwrap_or_else(|| panic!("a region: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    [r[0], r[1], r[2], r[3]]
}

fn write_config(dir: &Path, port: u16) {
    let camera = |name: &str| {
        format!(
            "[[cameras]]\nname = \"{name}\"\nsource = \"{}\"\nloop = false\n",
            repo().join(format!("fixtures/corner/{name}.mp4")).display()
        )
    };
    std::fs::write(
        dir.join("fightwatch.toml"),
        format!(
            "[model]\npackage = \"{}\"\n[server]\nbind = \"127.0.0.1:{port}\"\n[storage]\n\
             data_dir = \"data\"\n\n{}\n{}",
            repo().join("models/fight-mc3-18-6x80-int8").display(),
            camera("fight_bottom_right"),
            camera("fight_top_left"),
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fight_in_a_corner_is_boxed_there_and_its_heat_map_goes_with_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    write_config(dir.path(), port);
    let data = dir.path().join("data");
    let _service = common::run_service(dir.path(), SECRET, &[]);
    let viewer = common::data_token(&data, SECRET, "watch", "viewer");
    let mut ws = common::ws_connect(port, &format!("token={viewer}&after_seq=0")).await;
    let fights = fights();
    let alerts = fight_alerts(&mut ws, fights.len()).await;

    let mut ids = HashMap::new();
    for alert in &alerts {
        let camera = alert["camera"].as_str().unwrap();
        let region = region_of(&alert["region"]);
        assert_covers(camera, region, fights[camera]);
        let id = alert["id"].as_str().unwrap().to_string();
        // The record says the same, and names the heat map.
        let (status, body) = http_get(port, &format!("/api/alerts/{id}"), &viewer);
        assert_eq!(status, 200, "{}", text(&body));
        let record: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(region_of(&record["region"]), region);
        assert!(record["heatmap"].is_string(), "{record}");
        // The heat map is the snapshot, tinted where the box is and not in the opposite corner.
        let heatmap_url = alert["heatmap_url"].as_str().unwrap();
        assert_eq!(heatmap_url, format!("/api/alerts/{id}/heatmap.jpg"));
        let (status, heat) = http_get(port, heatmap_url, &viewer);
        assert_eq!(status, 200, "{}", text(&heat));
        let (_, snap) = http_get(port, alert["snapshot_url"].as_str().unwrap(), &viewer);
        let heat = image::load_from_memory(&heat).unwrap().to_rgb8();
        let snap = image::load_from_memory(&snap).unwrap().to_rgb8();
        assert_eq!(heat.dimensions(), snap.dimensions());
        let opposite = [
            1.0 - region[2],
            1.0 - region[3],
            1.0 - region[0],
            1.0 - region[1],
        ];
        let (inside, away) = (tint(&heat, &snap, region), tint(&heat, &snap, opposite));
        assert!(
            inside > 2.0 * away && inside > 10.0,
            "{camera}: tint {inside:.1} in the box, {away:.1} in the opposite corner"
        );
        ids.insert(camera.to_string(), id);
    }

    // Per-camera permission: a guard of one camera gets the other camera's heat map refused.
    let guard = common::account_token(&data, port, "guard", "viewer", &["fight_top_left"]);
    let other = &ids["fight_bottom_right"];
    let (status, _) = http_get(port, &format!("/api/alerts/{other}/heatmap.jpg"), &guard);
    assert!(status == 403 || status == 404, "got {status}");
    let mine = &ids["fight_top_left"];
    assert_eq!(
        http_get(port, &format!("/api/alerts/{mine}/heatmap.jpg"), &guard).0,
        200
    );

    // The signed evidence export holds the heat map, and it verifies.
    let operator = common::data_token(&data, SECRET, "lead", "operator");
    let (status, zip) = http_get(port, &format!("/api/alerts/{mine}/evidence.zip"), &operator);
    assert_eq!(status, 200, "{}", text(&zip));
    let export = dir.path().join("export.zip");
    std::fs::write(&export, &zip).unwrap();
    let out = common::command(&["verify"])
        .arg(&export)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("heatmap.jpg"),
        "{}",
        text(&out.stdout)
    );
}
