//! A cheap motion measure, so the inference stage can leave still scenes unscored.
//!
//! Runs on the camera thread on the model-size frame it already made (112x112 for mc3_18): the
//! frame is reduced to a luma grid of 2x2 block means, compared with a reference grid taken at
//! least [`MotionMeter::REFERENCE_EVERY_S`] of media time earlier, and the measure is the fraction
//! of grid cells whose luma moved by more than [`MotionMeter::CELL_THRESHOLD`] after the mean
//! change of the whole grid is taken out. So:
//! - sensor noise and compression flicker (a few levels per pixel, halved by the 2x2 mean) stay
//!   under the per-cell threshold;
//! - a lighting change moves every cell together and is removed with the mean;
//! - the reference is refreshed by media time, not frame count, so a 30 fps and a 5 fps camera
//!   measure the same motion the same way.
//!
//! It costs ~21 µs on a 112x112 frame (`cargo bench -p fightwatch-inference --bench tensor`). The measure is not a detector: it only says "nothing in view
//! changed", and the inference stage still scores every camera at a minimum interval.

use image::RgbImage;

/// Measures how much of a camera's picture changes over time.
#[derive(Debug, Default)]
pub struct MotionMeter {
    reference: Option<(f64, Grid)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Grid {
    width: u32,
    height: u32,
    luma: Vec<i16>,
}

impl Grid {
    /// 2x2 block means of the BT.601 luma of `img`.
    fn of(img: &RgbImage) -> Self {
        let (width, height) = (img.width() / 2, img.height() / 2);
        let mut luma = Vec::with_capacity((width * height) as usize);
        let y = |x: u32, y: u32| {
            let p = img.get_pixel(x, y).0;
            // Integer BT.601: (77 R + 150 G + 29 B) / 256.
            (77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8
        };
        for gy in 0..height {
            for gx in 0..width {
                let (x, yy) = (gx * 2, gy * 2);
                let sum = y(x, yy) + y(x + 1, yy) + y(x, yy + 1) + y(x + 1, yy + 1);
                luma.push((sum / 4) as i16);
            }
        }
        Self {
            width,
            height,
            luma,
        }
    }
}

impl MotionMeter {
    /// Media time between reference frames, seconds.
    pub const REFERENCE_EVERY_S: f64 = 0.125;
    /// Luma change (0–255) a grid cell must exceed, after the global change is removed, to
    /// count as moving.
    pub const CELL_THRESHOLD: i16 = 14;

    /// A meter with no reference yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fraction (0–1) of the picture that changed since the reference before `pts_s`.
    ///
    /// `None` for the first frame, after timestamps go back (a looped file, a restart) or when
    /// the frame size changes: motion is unknown then, and callers treat it as motion.
    pub fn measure(&mut self, pts_s: f64, frame: &RgbImage) -> Option<f32> {
        let grid = Grid::of(frame);
        let usable = self.reference.as_ref().filter(|(t, g)| {
            pts_s >= *t && g.width == grid.width && g.height == grid.height && !g.luma.is_empty()
        });
        let motion = usable.map(|(_, reference)| changed_fraction(&reference.luma, &grid.luma));
        let refresh = match &self.reference {
            Some((t, _)) if usable.is_some() => pts_s - t >= Self::REFERENCE_EVERY_S,
            _ => true,
        };
        if refresh {
            self.reference = Some((pts_s, grid));
        }
        motion
    }
}

/// Fraction of cells whose change differs from the mean change by more than the threshold.
fn changed_fraction(reference: &[i16], now: &[i16]) -> f32 {
    let n = now.len() as i64;
    let total: i64 = now
        .iter()
        .zip(reference)
        .map(|(a, b)| i64::from(a - b))
        .sum();
    let mean = (total / n.max(1)) as i16;
    let moved = now
        .iter()
        .zip(reference)
        .filter(|(a, b)| ((**a - **b) - mean).abs() > MotionMeter::CELL_THRESHOLD)
        .count();
    moved as f32 / now.len().max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 112x112 grey scene with seeded noise of ±`noise` levels, a `level` shift and a bright
    /// 16x16 square at `square_x` (when given).
    fn scene(seed: u32, noise: i32, level: i32, square_x: Option<u32>) -> RgbImage {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        RgbImage::from_fn(112, 112, |x, y| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let n = (state % (2 * noise as u32 + 1)) as i32 - noise;
            let base =
                if square_x.is_some_and(|sx| (sx..sx + 16).contains(&x) && (40..56).contains(&y)) {
                    220
                } else {
                    90 + (x as i32 / 8) * 3
                };
            let v = (base + level + n).clamp(0, 255) as u8;
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn the_first_frame_and_a_restart_are_unknown() {
        let mut m = MotionMeter::new();
        assert_eq!(m.measure(0.0, &scene(1, 0, 0, None)), None);
        assert_eq!(m.measure(0.2, &scene(2, 0, 0, None)), Some(0.0));
        // Timestamps going back: a looped file.
        assert_eq!(m.measure(0.0, &scene(3, 0, 0, None)), None);
        assert!(m.measure(0.2, &scene(4, 0, 0, None)).is_some());
        // Another size: a camera that came back at another resolution.
        assert_eq!(m.measure(0.4, &RgbImage::new(64, 64)), None);
    }

    #[test]
    fn noise_and_lighting_are_not_motion() {
        let mut m = MotionMeter::new();
        m.measure(0.0, &scene(1, 6, 0, None));
        for k in 1..40u32 {
            // Sensor noise of ±6 levels and a flicker of up to 24 levels.
            let level = (k as i32 % 5) * 6;
            let motion = m
                .measure(f64::from(k) / 15.0, &scene(k + 1, 6, level, None))
                .expect("a reference exists");
            assert!(motion < 0.002, "frame {k}: {motion}");
        }
    }

    #[test]
    fn a_moving_object_is_motion_whatever_the_frame_rate() {
        for fps in [5.0, 15.0, 30.0] {
            let mut m = MotionMeter::new();
            let mut seen = Vec::new();
            for k in 0..30u32 {
                let t = f64::from(k) / fps;
                // A square crossing at 60 pixels a second.
                let x = (t * 60.0) as u32 % 90;
                if let Some(v) = m.measure(t, &scene(k, 4, 0, Some(x))) {
                    seen.push(v);
                }
            }
            let max = seen.iter().copied().fold(0.0, f32::max);
            // The square covers 64 of 3,136 cells; moving, it changes up to twice that.
            assert!(max > 0.01, "{fps} fps: most motion {max}");
            assert!(max < 0.1, "{fps} fps: most motion {max}");
        }
    }
}
