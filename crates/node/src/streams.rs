//! Several inference streams feeding one event channel: each stream's events pass straight
//! through, except metrics, which are merged so consumers keep seeing one `Metrics` event with
//! every camera (as from a single stream), not each stream's share in turn.

use std::collections::HashMap;

use crossbeam_channel::{Receiver, Select, Sender};
use fightwatch_inference::PipelineEvent;
use fightwatch_protocol::CameraMetrics;

/// Forwards every event of `streams` to `out` until all of them end. A stream's `Metrics` is
/// held until every stream still running has reported once, then one `Metrics` goes out with
/// all their cameras, in `order` (the configured camera order).
pub(crate) fn merge(
    streams: Vec<Receiver<PipelineEvent>>,
    out: &Sender<PipelineEvent>,
    order: &[String],
) {
    let rank: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut open: Vec<bool> = vec![true; streams.len()];
    let mut reported: Vec<Option<Vec<CameraMetrics>>> = vec![None; streams.len()];
    while open.iter().any(|o| *o) {
        let mut select = Select::new();
        let indexes: Vec<usize> = (0..streams.len()).filter(|&i| open[i]).collect();
        for &i in &indexes {
            select.recv(&streams[i]);
        }
        let op = select.select();
        let stream = indexes[op.index()];
        match op.recv(&streams[stream]) {
            Ok(PipelineEvent::Metrics(cameras)) => reported[stream] = Some(cameras),
            Ok(event) => {
                if out.send(event).is_err() {
                    return;
                }
                continue;
            }
            // Its cameras ended: the others' rounds no longer wait for it (a report it made
            // before still goes out with the round it belongs to).
            Err(_) => open[stream] = false,
        }
        let complete = (0..streams.len()).all(|i| !open[i] || reported[i].is_some());
        if complete && reported.iter().any(Option::is_some) {
            let mut all: Vec<CameraMetrics> = reported
                .iter_mut()
                .filter_map(Option::take)
                .flatten()
                .collect();
            all.sort_by_key(|m| rank.get(m.camera.as_str()).copied().unwrap_or(usize::MAX));
            if out.send(PipelineEvent::Metrics(all)).is_err() {
                return;
            }
        }
    }
}

/// Which of `streams` streams camera `index` (of the configured list) goes to: round robin, so
/// each stream gets an equal share.
pub(crate) fn stream_of(index: usize, streams: usize) -> usize {
    index % streams.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(cameras: &[&str]) -> PipelineEvent {
        PipelineEvent::Metrics(
            cameras
                .iter()
                .map(|c| CameraMetrics {
                    camera: (*c).to_string(),
                    capture_fps: 25.0,
                    inference_fps: 2.0,
                    inference_ms: 10.0,
                    dropped_frames: 0,
                    queue_depth: 0,
                    skipped_fps: 0.0,
                    analysis_lag_ms: 0.0,
                })
                .collect(),
        )
    }

    fn names(event: &PipelineEvent) -> Vec<String> {
        match event {
            PipelineEvent::Metrics(m) => m.iter().map(|c| c.camera.clone()).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn metrics_of_every_stream_come_out_as_one_in_camera_order() {
        let (a_tx, a) = crossbeam_channel::unbounded();
        let (b_tx, b) = crossbeam_channel::unbounded();
        let (out, events) = crossbeam_channel::unbounded();
        let order: Vec<String> = ["a1", "b1", "a2"].map(String::from).to_vec();
        let merging = std::thread::spawn(move || merge(vec![a, b], &out, &order));
        let next = || {
            names(
                &events
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .unwrap(),
            )
        };
        // A round: both streams report (in either order), one event with every camera.
        a_tx.send(metrics(&["a2", "a1"])).unwrap();
        b_tx.send(metrics(&["b1"])).unwrap();
        assert_eq!(next(), ["a1", "b1", "a2"]);
        // Stream `a` reports and ends; its last report still makes the round.
        a_tx.send(metrics(&["a1", "a2"])).unwrap();
        drop(a_tx);
        b_tx.send(metrics(&["b1"])).unwrap();
        assert_eq!(next(), ["a1", "b1", "a2"]);
        // With `a` gone, `b` alone makes a round.
        b_tx.send(metrics(&["b1"])).unwrap();
        assert_eq!(next(), ["b1"]);
        drop(b_tx);
        merging.join().unwrap();
        assert!(events.try_recv().is_err());
    }

    #[test]
    fn other_events_pass_at_once_and_cameras_are_shared_round_robin() {
        let (a_tx, a) = crossbeam_channel::unbounded();
        let (out, events) = crossbeam_channel::unbounded();
        a_tx.send(PipelineEvent::Metrics(Vec::new())).unwrap();
        a_tx.send(PipelineEvent::Thumbnail {
            camera: "a1".into(),
            jpeg: std::sync::Arc::new(Vec::new()),
        })
        .unwrap();
        drop(a_tx);
        merge(vec![a], &out, &[]);
        drop(out);
        assert_eq!(events.iter().count(), 2);
        assert_eq!(
            (0..5).map(|i| stream_of(i, 2)).collect::<Vec<_>>(),
            [0, 1, 0, 1, 0]
        );
        assert_eq!(stream_of(3, 0), 0);
    }
}
