//! Where in the picture: a model's class activation map made into a box and a heat map.
//!
//! Models that end in global average pooling and one linear layer (mc3_18 and its packages)
//! can say, per cell of their last feature map, how much that cell added to the fight logit
//! (Zhou et al., "Learning Deep Features for Discriminative Localization", 2016):
//! `scripts/cam.py` exports it as a second output. The map covers what the model saw, the
//! centre crop of the resized frame ([`fightwatch_capture::ResizeSpec::view`]); the box and the
//! heat map are put back into the whole picture's coordinates here.

use image::{Rgb, RgbImage};

/// Upsampling of the map before it is thresholded: a 5x5 map becomes 80x80, so the box's
/// edges fall between cell centres instead of on the coarse grid.
const UPSAMPLE: usize = 16;
/// Share of the map's highest value a point needs to be inside the box: the half-maximum
/// contour, as CAM localisation commonly takes it (0.2 of the range in the paper drew boxes
/// round whole scenes at this map's 5x5 resolution).
const HOT_SHARE: f32 = 0.5;
/// Strongest tint of the heat map (at the map's highest value).
const MAX_ALPHA: f32 = 0.6;
/// What the model did not see (outside its centre crop) is darkened to this share.
const UNSEEN: f32 = 0.55;

/// A class activation map: `height` rows of `width` cells over the model's input, each the
/// fight logit's share there (positive: the cell speaks for a fight).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationMap {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

impl ActivationMap {
    /// A map of `width` x `height` cells, row by row; `None` when the sizes disagree, a side
    /// is 0 or a value is not finite.
    pub fn new(width: usize, height: usize, values: Vec<f32>) -> Option<Self> {
        (width > 0
            && height > 0
            && values.len() == width * height
            && values.iter().all(|v| v.is_finite()))
        .then_some(Self {
            width,
            height,
            values,
        })
    }

    /// Cells per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The cells, row by row.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The mean of the cells: for the packages `scripts/cam.py` made, the fight logit minus
    /// the other one (the score this map comes with).
    pub fn mean(&self) -> f32 {
        self.values.iter().sum::<f32>() / self.values.len() as f32
    }

    fn peak(&self) -> f32 {
        self.values
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// The map at `(u, v)` (0–1 over the model's input), interpolated bilinearly between cell
    /// centres and held at the edges.
    fn sample(&self, u: f32, v: f32) -> f32 {
        let x = (u * self.width as f32 - 0.5).clamp(0.0, (self.width - 1) as f32);
        let y = (v * self.height as f32 - 0.5).clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |cx: usize, cy: usize| self.values[cy * self.width + cx];
        let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
        let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// The box round the hottest part of the map, `[x0, y0, x1, y1]` in 0–1 coordinates of
    /// the model's input: the connected region (upsampled, 4-neighbours) round the highest
    /// point where the map is at least half its highest value. `None` when no cell is
    /// positive: nothing in the picture speaks for a fight.
    pub fn hot_box(&self) -> Option<[f32; 4]> {
        let peak = self.peak();
        if peak <= 0.0 {
            return None;
        }
        let threshold = peak * HOT_SHARE;
        let (w, h) = (self.width * UPSAMPLE, self.height * UPSAMPLE);
        let grid: Vec<f32> = (0..w * h)
            .map(|i| {
                let (px, py) = (i % w, i / w);
                self.sample((px as f32 + 0.5) / w as f32, (py as f32 + 0.5) / h as f32)
            })
            .collect();
        let start = grid
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)?;
        let mut seen = vec![false; w * h];
        let mut stack = vec![start];
        seen[start] = true;
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        while let Some(i) = stack.pop() {
            let (px, py) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(px), y0.min(py), x1.max(px), y1.max(py));
            let neighbours = [
                (px > 0).then(|| i - 1),
                (px + 1 < w).then(|| i + 1),
                (py > 0).then(|| i - w),
                (py + 1 < h).then(|| i + w),
            ];
            for n in neighbours.into_iter().flatten() {
                if !seen[n] && grid[n] >= threshold {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
        Some([
            x0 as f32 / w as f32,
            y0 as f32 / h as f32,
            (x1 + 1) as f32 / w as f32,
            (y1 + 1) as f32 / h as f32,
        ])
    }
}

/// `inner` (0–1 coordinates of `view`) in the coordinates `view` is given in, to 1/10000 (a
/// tenth of a pixel of a 1080p picture: finer says nothing of a 5x5 map).
pub fn within(view: [f64; 4], inner: [f32; 4]) -> [f32; 4] {
    let (w, h) = (view[2] - view[0], view[3] - view[1]);
    let at = |from: f64, size: f64, v: f32| {
        (((from + f64::from(v) * size) * 1e4).round() / 1e4).clamp(0.0, 1.0) as f32
    };
    [
        at(view[0], w, inner[0]),
        at(view[1], h, inner[1]),
        at(view[0], w, inner[2]),
        at(view[1], h, inner[3]),
    ]
}

/// `picture` with `map` laid over the part the model saw (`view`, 0–1 picture coordinates): a
/// colour from blue to red where the map is positive, stronger the hotter; what the model did
/// not see darkened; and `region` (0–1 picture coordinates) outlined.
///
/// It runs once per alert on the snapshot thread, before the alert goes out: the map is
/// interpolated once per row and column, and the tint is a 256-step table, so a pixel costs a
/// few integer operations (`cargo bench -p fightwatch-inference --bench localize`).
pub fn heat_overlay(
    picture: &RgbImage,
    map: &ActivationMap,
    view: [f64; 4],
    region: Option<[f32; 4]>,
) -> RgbImage {
    let (pw, ph) = picture.dimensions();
    let peak = map.peak().max(f32::MIN_POSITIVE);
    // Where each column and row falls in the map (None: outside what the model saw).
    let columns = axis_weights(pw, view[0], view[2], map.width);
    let rows = axis_weights(ph, view[1], view[3], map.height);
    let tints = tint_table();
    let unseen = (UNSEEN * 256.0) as u16;
    let mut out = picture.clone();
    let mut row_values = vec![0.0f32; map.width];
    let stride = pw as usize * 3;
    for (y, line) in out.chunks_exact_mut(stride).enumerate() {
        let Some((y0, y1, fy)) = rows[y] else {
            line.iter_mut()
                .for_each(|c| *c = ((u16::from(*c) * unseen + 128) >> 8) as u8);
            continue;
        };
        for (cx, v) in row_values.iter_mut().enumerate() {
            let (a, b) = (
                map.values[y0 * map.width + cx],
                map.values[y1 * map.width + cx],
            );
            *v = (a + (b - a) * fy) / peak;
        }
        for (px, column) in line.chunks_exact_mut(3).zip(&columns) {
            let Some((x0, x1, fx)) = *column else {
                px.iter_mut()
                    .for_each(|c| *c = ((u16::from(*c) * unseen + 128) >> 8) as u8);
                continue;
            };
            let heat = row_values[x0] + (row_values[x1] - row_values[x0]) * fx;
            if heat > 0.0 {
                let (keep, tint) = tints[(heat.min(1.0) * 255.0) as usize];
                for (c, t) in px.iter_mut().zip(tint) {
                    *c = ((u32::from(*c) * u32::from(keep) + u32::from(t) + 128) >> 8).min(255)
                        as u8;
                }
            }
        }
    }
    if let Some(r) = region {
        outline(&mut out, r);
    }
    out
}

/// For each of `n` pixels along an axis, the two map cells it lies between and the weight of
/// the second, when the pixel is within `[from, to]` (0–1) of the axis; `cells` cells span that.
fn axis_weights(n: u32, from: f64, to: f64, cells: usize) -> Vec<Option<(usize, usize, f32)>> {
    let span = to - from;
    (0..n)
        .map(|i| {
            let u = ((f64::from(i) + 0.5) / f64::from(n) - from) / span;
            if !(span > 0.0 && (0.0..=1.0).contains(&u)) {
                return None;
            }
            let x = (u * cells as f64 - 0.5).clamp(0.0, (cells - 1) as f64);
            let x0 = x.floor() as usize;
            Some((x0, (x0 + 1).min(cells - 1), (x - x0 as f64) as f32))
        })
        .collect()
}

/// For each of 256 heat steps: how much of the pixel stays (of 256) and the tint added
/// (premultiplied, of 256).
fn tint_table() -> Vec<(u16, [u16; 3])> {
    (0..256)
        .map(|i| {
            let heat = i as f32 / 255.0;
            let alpha = MAX_ALPHA * heat;
            let tint = colour(heat).map(|t| (f32::from(t) * alpha * 256.0).round() as u16);
            (((1.0 - alpha) * 256.0).round() as u16, tint)
        })
        .collect()
}

/// Blue (cool) through cyan, green and yellow to red (hot), for `t` in 0–1.
fn colour(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [0.0, 0.0, 255.0],
        [0.0, 255.0, 255.0],
        [0.0, 255.0, 0.0],
        [255.0, 255.0, 0.0],
        [255.0, 0.0, 0.0],
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * f).round() as u8)
}

/// Draws the outline of `region` (0–1 coordinates), about 1/200 of the picture's width thick.
fn outline(img: &mut RgbImage, region: [f32; 4]) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return;
    }
    let thick = (w / 200).max(2);
    let to_px = |v: f32, size: u32| ((v.clamp(0.0, 1.0) * size as f32) as u32).min(size - 1);
    let (x0, y0) = (to_px(region[0], w), to_px(region[1], h));
    let (x1, y1) = (to_px(region[2], w), to_px(region[3], h));
    let colour = Rgb([255, 255, 255]);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let edge = x < x0 + thick || x + thick > x1 || y < y0 + thick || y + thick > y1;
            if edge {
                img.put_pixel(x, y, colour);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rows: &[&[f32]]) -> ActivationMap {
        let values = rows.iter().flat_map(|r| r.iter().copied()).collect();
        ActivationMap::new(rows[0].len(), rows.len(), values).expect("a map")
    }

    #[test]
    fn the_box_surrounds_the_hot_corner_only() {
        // fight-mc3-18-6x80-int8's map of a real fight in the picture's bottom-right corner
        // (fi003 over nofi002, 60 % of the frame), rounded.
        let m = map(&[
            &[-3.0, -3.4, -4.2, -4.5, -4.2],
            &[-2.4, -0.4, 1.5, 2.0, 0.2],
            &[-1.5, 2.9, 8.6, 10.8, 6.9],
            &[-1.4, 4.2, 12.3, 15.3, 10.4],
            &[-2.2, 1.6, 7.6, 10.2, 6.6],
        ]);
        let b = m.hot_box().expect("a box");
        assert!(b[0] > 0.3 && b[1] > 0.3, "{b:?}");
        assert!(b[2] > 0.85 && b[3] > 0.85, "{b:?}");
        // A second hot spot not connected to the hottest is left out.
        let m = map(&[&[9.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 10.0]]);
        let b = m.hot_box().expect("a box");
        assert!(b[0] >= 0.5 && b[1] >= 0.5, "{b:?}");
    }

    #[test]
    fn no_positive_cell_no_box() {
        assert_eq!(map(&[&[-1.0, -2.0], &[-0.5, -3.0]]).hot_box(), None);
        assert!(ActivationMap::new(2, 2, vec![1.0; 3]).is_none());
        assert!(ActivationMap::new(1, 1, vec![f32::NAN]).is_none());
        assert!((map(&[&[1.0, 3.0]]).mean() - 2.0).abs() < 1e-6);
    }

    #[test]
    fn boxes_go_back_into_the_whole_picture() {
        let view = [0.25, 0.0, 0.75, 1.0];
        assert_eq!(within(view, [0.0, 0.5, 1.0, 1.0]), [0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn the_heat_map_tints_the_hot_side_and_darkens_what_was_not_seen() {
        let picture = RgbImage::from_pixel(40, 20, Rgb([100, 100, 100]));
        let m = map(&[&[-1.0, 4.0]]);
        let view = [0.25, 0.0, 0.75, 1.0];
        let out = heat_overlay(&picture, &m, view, None);
        // Outside the view: darker, untinted.
        assert_eq!(out.get_pixel(2, 10).0, [55, 55, 55]);
        // The hot cell (right half of the view) goes red; the cold one stays as it was.
        let hot = out.get_pixel(28, 10).0;
        assert!(hot[0] > 150 && hot[2] < 60, "{hot:?}");
        assert_eq!(out.get_pixel(12, 10).0, [100, 100, 100]);
        let boxed = heat_overlay(&picture, &m, view, Some([0.5, 0.0, 0.75, 1.0]));
        assert_eq!(boxed.get_pixel(20, 10).0, [255, 255, 255]);
    }
}
