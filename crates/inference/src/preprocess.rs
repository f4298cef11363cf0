//! Frames to model input: resizing (on the capture side) and the clip tensor.

use std::sync::Arc;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use ndarray::{ArrayViewMut4, Axis};

use crate::config::{InputConfig, Layout, ResizeMode};

/// Resizes frames to a model's input size, as its `model.toml` says.
///
/// The filter is a bilinear convolution (fast_image_resize), which matches Pillow's
/// `Image.resize(..., BILINEAR)` used by the reference scripts: when downscaling, both widen the
/// filter support by the scale factor (antialiasing), unlike OpenCV's `INTER_LINEAR`.
pub struct Preprocessor {
    resizer: Resizer,
    options: ResizeOptions,
    /// Size before the centre crop.
    resize_to: Box<dyn Fn(u32, u32) -> (u32, u32) + Send>,
    width: u32,
    height: u32,
}

impl Preprocessor {
    /// A preprocessor for `input`.
    pub fn new(input: &InputConfig) -> Self {
        let (w, h) = (input.width, input.height);
        let resize_to: Box<dyn Fn(u32, u32) -> (u32, u32) + Send> = match input.resize {
            ResizeMode::Squash => {
                let size = (
                    input.resize_width.unwrap_or(w),
                    input.resize_height.unwrap_or(h),
                );
                Box::new(move |_, _| size)
            }
            ResizeMode::ShortSide => {
                let short = input.resize_short_side.unwrap_or(w.min(h));
                Box::new(move |sw, sh| {
                    let scale = f64::from(short) / f64::from(sw.min(sh).max(1));
                    let rw = ((f64::from(sw) * scale).round() as u32).max(w);
                    let rh = ((f64::from(sh) * scale).round() as u32).max(h);
                    (rw, rh)
                })
            }
        };
        Self {
            resizer: Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
            resize_to,
            width: w,
            height: h,
        }
    }

    /// `frame` resized and centre-cropped to the model's input size.
    pub fn apply(&mut self, frame: &RgbImage) -> RgbImage {
        let (rw, rh) = (self.resize_to)(frame.width(), frame.height());
        let mut resized = RgbImage::new(rw, rh);
        if (rw, rh) == frame.dimensions() {
            resized.copy_from_slice(frame.as_raw());
        } else if let Err(e) = self.resizer.resize(frame, &mut resized, &self.options) {
            // Only possible for a zero-sized image, which no decoder produces; keep the black frame.
            tracing::warn!(error = %e, "Could not resize a frame; using a black frame.");
        }
        if (rw, rh) == (self.width, self.height) {
            return resized;
        }
        let (x0, y0) = ((rw - self.width) / 2, (rh - self.height) / 2);
        image::imageops::crop_imm(&resized, x0, y0, self.width, self.height).to_image()
    }
}

/// Writes one clip into `out` (one batch item: CTHW or TCHW by `input.layout`), scaled and
/// normalised. `frames` must hold `input.frames` images of the input size.
pub fn write_clip(frames: &[Arc<RgbImage>], input: &InputConfig, mut out: ArrayViewMut4<'_, f32>) {
    let scale = input.pixel_scale;
    for (t, frame) in frames.iter().enumerate() {
        let mut frame_out = match input.layout {
            Layout::Ncthw => out.index_axis_mut(Axis(1), t),
            Layout::Ntchw => out.index_axis_mut(Axis(0), t),
        };
        for (c, mut plane) in frame_out.axis_iter_mut(Axis(0)).enumerate() {
            let (mean, std) = (input.mean[c], input.std[c]);
            for (dst, px) in plane.iter_mut().zip(frame.pixels()) {
                *dst = (f32::from(px.0[c]) * scale - mean) / std;
            }
        }
    }
}
