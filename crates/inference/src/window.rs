//! Cutting a camera's frames into the model's input windows, by media time. (An incident's
//! video is a clip; what the model scores is a window.)

use std::collections::VecDeque;
use std::sync::Arc;

use image::RgbImage;

/// A window of frames ready for the model.
#[derive(Debug, Clone)]
pub struct Window<T = ()> {
    /// Media time of the first sample instant, seconds.
    pub start_s: f64,
    /// Media time at the end of the window (`start_s` + window duration), seconds.
    pub end_s: f64,
    /// Sequence number of the newest frame used, for finding the full-resolution frame.
    pub last_seq: u64,
    /// The sampled, preprocessed frames, oldest first.
    pub frames: Vec<Arc<RgbImage>>,
    /// The payload pushed with the newest frame used (e.g. the full-resolution picture, for a
    /// snapshot), when it is still held.
    pub last_payload: Option<T>,
    /// The most motion any frame of the window showed (see `fightwatch_capture::MotionMeter`);
    /// `None` when a frame's motion was not measured.
    pub motion: Option<f32>,
}

/// Collects a camera's preprocessed frames and cuts windows of `frames` samples at `sample_fps`,
/// one every `hop_s` seconds of media time.
///
/// Sampling is by timestamp, never by frame index: the frame used for sample instant `t` is the
/// newest frame with `pts <= t` (the one on screen at `t`), so a 10 fps and a 30 fps camera give
/// windows of the same duration; a slow camera's frames simply repeat.
///
/// Each frame may carry a payload `T` (the pipeline passes the full-resolution picture). Only the
/// payloads of the newest few frames are held, which is enough to hand the last frame of each
/// window out with it: holding every full-resolution frame of a window would cost far more memory
/// than the small model-size frames.
#[derive(Debug)]
pub struct WindowBuilder<T = ()> {
    frames: usize,
    sample_fps: f64,
    hop_s: f64,
    ring: VecDeque<(f64, u64, Arc<RgbImage>, Option<f32>)>,
    payloads: VecDeque<(u64, T)>,
    next_start: Option<f64>,
    /// A window was cut since the stream (re)started.
    cut_any: bool,
}

/// Payloads kept: a window is cut when the first frame at or after its last instant arrives, so its
/// last frame is that one or one of the few before it.
const PAYLOADS_KEPT: usize = 4;

/// Intervals between frames looked at to predict the next frame.
const RECENT_GAPS: usize = 4;

/// Slack for timestamps that land a rounding error before a sample instant.
const EPS_S: f64 = 1e-6;

impl<T: Clone> WindowBuilder<T> {
    /// A builder for windows of `frames` samples at `sample_fps`, cut every `hop_s` seconds.
    pub fn new(frames: usize, sample_fps: f64, hop_s: f64) -> Self {
        Self {
            frames: frames.max(1),
            sample_fps,
            hop_s: hop_s.max(1e-3),
            ring: VecDeque::new(),
            payloads: VecDeque::new(),
            next_start: None,
            cut_any: false,
        }
    }

    /// Media-time span from the first to the last sample instant.
    fn span_s(&self) -> f64 {
        (self.frames - 1) as f64 / self.sample_fps
    }

    /// Adds a frame; returns the windows it completes (usually zero or one).
    pub fn push(&mut self, pts_s: f64, seq: u64, frame: Arc<RgbImage>) -> Vec<Window<T>>
    where
        T: Default,
    {
        self.push_with(pts_s, seq, frame, T::default())
    }

    /// Adds a frame with its payload; returns the windows it completes.
    pub fn push_with(
        &mut self,
        pts_s: f64,
        seq: u64,
        frame: Arc<RgbImage>,
        payload: T,
    ) -> Vec<Window<T>> {
        self.push_measured(pts_s, seq, frame, None, payload)
    }

    /// Adds a frame with its measured motion and its payload; returns the windows it completes.
    pub fn push_measured(
        &mut self,
        pts_s: f64,
        seq: u64,
        frame: Arc<RgbImage>,
        motion: Option<f32>,
        payload: T,
    ) -> Vec<Window<T>> {
        // A timestamp going backwards (a looped file, a camera restart) starts over.
        if self
            .ring
            .back()
            .is_some_and(|(last, ..)| pts_s + EPS_S < *last)
        {
            self.reset();
        }
        self.next_start.get_or_insert(pts_s);
        self.ring.push_back((pts_s, seq, frame, motion));
        self.payloads.push_back((seq, payload));
        if self.payloads.len() > PAYLOADS_KEPT {
            self.payloads.pop_front();
        }
        let mut windows = Vec::new();
        // The next frame is not expected before `pts_s + gap`: when that is past a window's last
        // sample instant, this frame is the one on screen then and the window can be cut now,
        // a frame interval earlier than when the next frame proves it.
        let next_frame_after = self.shortest_recent_gap().map_or(pts_s, |gap| pts_s + gap);
        while let Some(start) = self.next_start {
            let last_instant = start + self.span_s();
            if pts_s + EPS_S < last_instant && next_frame_after <= last_instant + EPS_S {
                break;
            }
            if let Some(window) = self.cut(start) {
                self.cut_any = true;
                windows.push(window);
            }
            self.next_start = Some(start + self.hop_s);
            self.trim();
        }
        windows
    }

    fn cut(&self, start: f64) -> Option<Window<T>> {
        let mut frames = Vec::with_capacity(self.frames);
        let mut last_seq = 0;
        for k in 0..self.frames {
            let instant = start + k as f64 / self.sample_fps;
            // Newest frame at or before the instant; the ring is in pts order.
            let idx = self
                .ring
                .partition_point(|(pts, ..)| *pts <= instant + EPS_S);
            let (_, seq, img, _) = self.ring.get(idx.checked_sub(1)?)?;
            last_seq = *seq;
            frames.push(img.clone());
        }
        let last_payload = self
            .payloads
            .iter()
            .find(|(s, _)| *s == last_seq)
            .map(|(_, p)| p.clone());
        // Frames from the one on screen at the first instant to the last sampled one.
        let first = self
            .ring
            .partition_point(|(pts, ..)| *pts <= start + EPS_S)
            .saturating_sub(1);
        let last = self
            .ring
            .partition_point(|(pts, ..)| *pts <= start + self.span_s() + EPS_S);
        let motion = self
            .ring
            .range(first..last)
            .try_fold(0.0f32, |most, (.., m)| m.map(|m| most.max(m)));
        Some(Window {
            motion,
            start_s: start,
            end_s: start + self.frames as f64 / self.sample_fps,
            last_seq,
            frames,
            last_payload,
        })
    }

    /// The shortest of the last few intervals between frames (`None` before there are two):
    /// the earliest the next frame can be expected.
    fn shortest_recent_gap(&self) -> Option<f64> {
        let n = self.ring.len();
        (n >= 2).then(|| {
            (n.saturating_sub(RECENT_GAPS + 1)..n - 1)
                .map(|i| self.ring[i + 1].0 - self.ring[i].0)
                .fold(f64::INFINITY, f64::min)
                .max(0.0)
        })
    }

    /// Drops frames no future window can use: all but the newest one at or before the next start.
    fn trim(&mut self) {
        let Some(next) = self.next_start else { return };
        while self.ring.len() > 1 && self.ring[1].0 <= next + EPS_S {
            self.ring.pop_front();
        }
    }

    /// Forgets all frames (stream restarted).
    pub fn reset(&mut self) {
        self.ring.clear();
        self.payloads.clear();
        self.next_start = None;
        self.cut_any = false;
    }

    /// At the end of a stream too short for one window: the window from its first frame, the
    /// last frame held for the sample instants after it (as a screen shows the last frame of
    /// a stream that stopped). `None` when a window was already cut, or no frame came.
    pub fn finish_short(&mut self) -> Option<Window<T>> {
        if self.cut_any {
            return None;
        }
        let window = self.cut(self.next_start?)?;
        self.cut_any = true;
        Some(window)
    }

    /// Frames currently held.
    pub fn buffered(&self) -> usize {
        self.ring.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(v: u8) -> Arc<RgbImage> {
        Arc::new(RgbImage::from_pixel(1, 1, image::Rgb([v, v, v])))
    }

    /// Feeds a camera at `fps` for `secs` and returns (start, pixel values) per window.
    fn run(fps: f64, secs: f64, frames: usize, sample_fps: f64, hop: f64) -> Vec<(f64, Vec<u8>)> {
        let mut b = WindowBuilder::<()>::new(frames, sample_fps, hop);
        let mut out = Vec::new();
        let n = (secs * fps).round() as u64;
        for i in 0..n {
            let pts = i as f64 / fps;
            // Pixel value encodes the frame's time in tenths of a second.
            for c in b.push(pts, i, img((pts * 10.0).floor() as u8)) {
                out.push((
                    c.start_s,
                    c.frames.iter().map(|f| f.get_pixel(0, 0).0[0]).collect(),
                ));
            }
        }
        out
    }

    #[test]
    fn clips_have_the_same_duration_whatever_the_camera_fps() {
        let a = run(30.0, 4.0, 8, 4.0, 1.0);
        let b = run(10.0, 4.0, 8, 4.0, 1.0);
        let c = run(20.0, 4.0, 8, 4.0, 1.0);
        assert_eq!(a.len(), 3); // starts at 0, 1, 2 (a window spans 1.75 s of instants)
        assert_eq!(a, b);
        assert_eq!(a, c);
        // 25 fps has no frame at 0.5 s: the one on screen then (0.48 s) is used.
        let d = run(25.0, 4.0, 8, 4.0, 1.0);
        assert_eq!(
            d.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![0.0, 1.0, 2.0]
        );
        assert_eq!(d[0].1, vec![0, 2, 4, 7, 10, 12, 14, 17]);
        // Samples at 0, 0.25, 0.5 ... 1.75 s: frame times floor to tenths 0, 2, 5, 7, 10, 12, 15, 17.
        assert_eq!(a[0].1, vec![0, 2, 5, 7, 10, 12, 15, 17]);
    }

    #[test]
    fn a_slow_camera_repeats_frames() {
        let windows = run(2.0, 3.0, 4, 4.0, 10.0);
        assert_eq!(windows[0].1, vec![0, 0, 5, 5]);
    }

    #[test]
    fn hop_controls_overlap_and_the_ring_stays_small() {
        let mut b = WindowBuilder::<()>::new(16, 8.0, 0.5);
        let mut starts = Vec::new();
        for i in 0..300u64 {
            for c in b.push(i as f64 / 30.0, i, img(0)) {
                starts.push(c.start_s);
                assert_eq!(c.frames.len(), 16);
                assert!((c.end_s - c.start_s - 2.0).abs() < 1e-9);
            }
            assert!(b.buffered() <= 30 * 2 + 2, "ring grew to {}", b.buffered());
        }
        // The last window starts at 8 s: its last instant, 9.875 s, is before the last frame (9.97 s).
        let want: Vec<f64> = (0..17).map(|k| k as f64 * 0.5).collect();
        assert_eq!(starts, want);
    }

    #[test]
    fn the_last_frames_payload_comes_with_the_clip() {
        let mut b = WindowBuilder::<u64>::new(4, 10.0, 1.0);
        let mut windows = Vec::new();
        for i in 0..40u64 {
            windows.extend(b.push_with(i as f64 / 30.0, i, img(0), i * 100));
        }
        assert!(!windows.is_empty());
        for c in windows {
            assert_eq!(c.last_payload, Some(c.last_seq * 100));
        }
    }

    #[test]
    fn a_clip_carries_the_most_motion_of_its_frames() {
        let mut b = WindowBuilder::<()>::new(4, 4.0, 1.0);
        let mut windows = Vec::new();
        // 10 fps for 3 s; motion 0.5 only at 1.35 s, unknown at 2.95 s.
        for i in 0..30u64 {
            let pts = i as f64 / 10.0;
            let motion = match i {
                13 => Some(0.5),
                29 => None,
                _ => Some(0.01),
            };
            windows.extend(b.push_measured(pts, i, img(0), motion, ()));
        }
        let got: Vec<_> = windows.iter().map(|c| (c.start_s, c.motion)).collect();
        // Clips at 0 and 1 s (instants 0–0.75 and 1–1.75 s); the one at 2 s needs 2.75 s.
        assert_eq!(
            got,
            vec![(0.0, Some(0.01)), (1.0, Some(0.5)), (2.0, Some(0.01))]
        );
        // A frame without a measure makes the window's motion unknown.
        let mut b = WindowBuilder::<()>::new(2, 1.0, 1.0);
        b.push_measured(0.0, 0, img(0), Some(0.0), ());
        let c = b.push_measured(1.0, 1, img(0), None, ());
        assert_eq!(c[0].motion, None);
    }

    #[test]
    fn timestamps_going_back_restart_the_clip() {
        let mut b = WindowBuilder::<()>::new(2, 1.0, 1.0);
        assert!(b.push(0.0, 0, img(0)).is_empty());
        assert_eq!(b.push(1.0, 1, img(1)).len(), 1);
        assert!(b.push(0.0, 2, img(2)).is_empty()); // looped
        assert_eq!(b.buffered(), 1);
    }

    #[test]
    fn a_stream_shorter_than_a_window_gets_one_window_with_its_last_frame_held() {
        // 4 samples at 10 fps need 0.3 s; the stream has frames at 0, 0.1 and 0.2 s only.
        let mut b: WindowBuilder = WindowBuilder::new(4, 10.0, 0.5);
        for (i, t) in [0.0, 0.1, 0.2].into_iter().enumerate() {
            assert!(b.push(t, i as u64, img(i as u8 * 10)).is_empty());
        }
        let window = b.finish_short().expect("one window");
        let firsts: Vec<u8> = window
            .frames
            .iter()
            .map(|f| f.get_pixel(0, 0).0[0])
            .collect();
        assert_eq!(firsts, [0, 10, 20, 20], "the last frame held");
        assert_eq!(window.last_seq, 2);
        assert!(b.finish_short().is_none(), "once");
        // A stream long enough for a window gets none at its end.
        let mut b: WindowBuilder = WindowBuilder::new(2, 10.0, 0.5);
        let cut: usize = (0..5u32)
            .map(|i| b.push(f64::from(i) * 0.1, u64::from(i), img(1)).len())
            .sum();
        assert_eq!(cut, 1);
        assert!(b.finish_short().is_none());
        let mut empty: WindowBuilder = WindowBuilder::new(2, 10.0, 0.5);
        assert!(empty.finish_short().is_none());
    }
}
