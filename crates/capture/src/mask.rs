//! Privacy masks: polygons blacked out of a camera's frames before anything leaves the camera
//! thread (snapshots, clips, live view, thumbnails; the model too when asked).
//!
//! Polygons are in relative coordinates (0–1 of width and height), so one mask fits every
//! resolution a camera may switch to. They are rasterised once per frame size into row spans
//! (even-odd rule, pixel centres), and applying a mask is then a fill of those spans.

use ffmpeg_next as ff;
use image::RgbImage;

use crate::{CaptureError, Picture};

/// One camera's privacy mask: polygons of at least 3 points in relative coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyMask {
    polygons: Vec<Vec<[f64; 2]>>,
}

/// Filled pixels of a mask at one size: `(row, first column, end column)` spans.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spans {
    width: u32,
    height: u32,
    spans: Vec<(u32, u32, u32)>,
}

impl PrivacyMask {
    /// Checks and keeps `polygons`: each has at least 3 points, every coordinate is a finite
    /// number from 0 to 1. The error says which polygon and point is wrong.
    pub fn new(polygons: Vec<Vec<[f64; 2]>>) -> Result<Self, String> {
        for (i, polygon) in polygons.iter().enumerate() {
            if polygon.len() < 3 {
                return Err(format!(
                    "mask polygon {} has {} points; a polygon needs at least 3",
                    i + 1,
                    polygon.len()
                ));
            }
            for (j, [x, y]) in polygon.iter().enumerate() {
                if !(x.is_finite()
                    && y.is_finite()
                    && (0.0..=1.0).contains(x)
                    && (0.0..=1.0).contains(y))
                {
                    return Err(format!(
                        "mask polygon {} point {} is [{x}, {y}]; coordinates are fractions of the frame, 0 to 1",
                        i + 1,
                        j + 1
                    ));
                }
            }
        }
        Ok(Self { polygons })
    }

    /// The polygons.
    pub fn polygons(&self) -> &[Vec<[f64; 2]>] {
        &self.polygons
    }

    fn spans(&self, width: u32, height: u32) -> Spans {
        let mut spans = Vec::new();
        let mut xs = Vec::new();
        for polygon in &self.polygons {
            let points: Vec<(f64, f64)> = polygon
                .iter()
                .map(|[x, y]| (x * f64::from(width), y * f64::from(height)))
                .collect();
            for row in 0..height {
                let yc = f64::from(row) + 0.5;
                xs.clear();
                for (k, &(x0, y0)) in points.iter().enumerate() {
                    let (x1, y1) = points[(k + 1) % points.len()];
                    // Half-open in y so a vertex on the scan line counts once.
                    if (y0 <= yc) != (y1 <= yc) {
                        xs.push(x0 + (yc - y0) * (x1 - x0) / (y1 - y0));
                    }
                }
                xs.sort_by(f64::total_cmp);
                for pair in xs.chunks_exact(2) {
                    // Pixels whose centre lies inside [a, b].
                    let first = (pair[0] - 0.5).ceil().max(0.0);
                    let end = ((pair[1] - 0.5).floor() + 1.0).min(f64::from(width));
                    if end > first {
                        spans.push((row, first as u32, end as u32));
                    }
                }
            }
        }
        Spans {
            width,
            height,
            spans,
        }
    }
}

/// A [`PrivacyMask`] with its spans cached for the frame size it last saw.
#[derive(Debug, Clone)]
pub struct MaskPainter {
    mask: PrivacyMask,
    luma: Option<Spans>,
    chroma: Option<Spans>,
}

impl MaskPainter {
    /// A painter of `mask`.
    pub fn new(mask: PrivacyMask) -> Self {
        Self {
            mask,
            luma: None,
            chroma: None,
        }
    }

    fn spans_for<'a>(
        cache: &'a mut Option<Spans>,
        mask: &PrivacyMask,
        w: u32,
        h: u32,
    ) -> &'a Spans {
        if cache.as_ref().is_none_or(|s| s.width != w || s.height != h) {
            *cache = Some(mask.spans(w, h));
        }
        cache.get_or_insert_with(|| mask.spans(w, h))
    }

    /// Blacks the mask out of an RGB image in place.
    pub fn paint_rgb(&mut self, image: &mut RgbImage) {
        let (w, h) = image.dimensions();
        let spans = Self::spans_for(&mut self.luma, &self.mask, w, h);
        let row_len = w as usize * 3;
        let data: &mut [u8] = image;
        for &(row, x0, x1) in &spans.spans {
            let start = row as usize * row_len;
            data[start + x0 as usize * 3..start + x1 as usize * 3].fill(0);
        }
    }

    /// A masked copy of `picture`. Decoded frames are never written in place: the decoder may
    /// still use them as references. Planar 4:2:0 frames stay in their format (Y black, U and V
    /// neutral); other formats become RGB.
    pub fn paint(&mut self, picture: &Picture) -> Result<Picture, CaptureError> {
        use ff::format::Pixel;
        match picture {
            Picture::Rgb(image) => {
                let mut image = image.clone();
                self.paint_rgb(&mut image);
                Ok(Picture::Rgb(image))
            }
            Picture::Video(frame) if matches!(frame.format(), Pixel::YUV420P | Pixel::YUVJ420P) => {
                let mut frame = frame.clone();
                let (w, h) = (frame.width(), frame.height());
                let black = if frame.format() == Pixel::YUVJ420P {
                    0
                } else {
                    16
                };
                let luma = Self::spans_for(&mut self.luma, &self.mask, w, h).clone();
                fill_plane(&mut frame, 0, &luma, black);
                let chroma =
                    Self::spans_for(&mut self.chroma, &self.mask, w.div_ceil(2), h.div_ceil(2))
                        .clone();
                fill_plane(&mut frame, 1, &chroma, 128);
                fill_plane(&mut frame, 2, &chroma, 128);
                Ok(Picture::Video(frame))
            }
            Picture::Video(_) => {
                let mut image = picture.to_rgb()?;
                self.paint_rgb(&mut image);
                Ok(Picture::Rgb(image))
            }
        }
    }
}

fn fill_plane(frame: &mut ff::frame::Video, plane: usize, spans: &Spans, value: u8) {
    let stride = frame.stride(plane);
    let data = frame.data_mut(plane);
    for &(row, x0, x1) in &spans.spans {
        let start = row as usize * stride;
        if let Some(px) = data.get_mut(start + x0 as usize..start + x1 as usize) {
            px.fill(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> PrivacyMask {
        PrivacyMask::new(vec![vec![
            [0.25, 0.25],
            [0.75, 0.25],
            [0.75, 0.75],
            [0.25, 0.75],
        ]])
        .unwrap()
    }

    #[test]
    fn invalid_polygons_are_refused_with_the_point() {
        let e = PrivacyMask::new(vec![vec![[0.0, 0.0], [1.0, 0.0]]]).unwrap_err();
        assert!(e.contains("polygon 1 has 2 points"), "{e}");
        let e = PrivacyMask::new(vec![
            vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
            vec![[0.0, 0.0], [1.5, 0.0], [1.0, 1.0]],
        ])
        .unwrap_err();
        assert!(e.contains("polygon 2 point 2"), "{e}");
        assert!(PrivacyMask::new(vec![vec![[f64::NAN, 0.0], [1.0, 0.0], [1.0, 1.0]]]).is_err());
    }

    #[test]
    fn a_square_blacks_out_exactly_its_pixels() {
        let mut painter = MaskPainter::new(square());
        let mut image = RgbImage::from_pixel(8, 8, image::Rgb([200, 100, 50]));
        painter.paint_rgb(&mut image);
        for (x, y, p) in image.enumerate_pixels() {
            let inside = (2..6).contains(&x) && (2..6).contains(&y);
            assert_eq!(p.0 == [0, 0, 0], inside, "pixel {x},{y}");
        }
    }

    #[test]
    fn a_triangle_covers_about_half_of_its_box() {
        let mask = PrivacyMask::new(vec![vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]).unwrap();
        let mut image = RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        MaskPainter::new(mask).paint_rgb(&mut image);
        let black = image.pixels().filter(|p| p.0 == [0, 0, 0]).count();
        assert!((4900..=5100).contains(&black), "{black}");
        assert_eq!(image.get_pixel(2, 2).0, [0, 0, 0]);
        assert_eq!(image.get_pixel(97, 97).0, [255, 255, 255]);
    }

    #[test]
    fn decoded_frames_are_copied_and_masked_in_their_own_format() {
        let mut frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, 16, 16);
        for plane in 0..3 {
            frame.data_mut(plane).fill(200);
        }
        let picture = Picture::Video(frame);
        let masked = MaskPainter::new(square()).paint(&picture).unwrap();
        let Picture::Video(out) = &masked else {
            panic!("stays a video frame")
        };
        let y = |f: &ff::frame::Video, x: usize, r: usize| f.data(0)[r * f.stride(0) + x];
        assert_eq!(y(out, 8, 8), 16);
        assert_eq!(y(out, 1, 1), 200);
        assert_eq!(out.data(1)[4 * out.stride(1) + 4], 128);
        let Picture::Video(original) = &picture else {
            unreachable!()
        };
        assert_eq!(y(original, 8, 8), 200, "the decoder's frame is untouched");
        let rgb = masked.to_rgb().unwrap();
        assert!(
            rgb.get_pixel(8, 8).0.iter().all(|&c| c < 5),
            "{:?}",
            rgb.get_pixel(8, 8)
        );
    }
}
