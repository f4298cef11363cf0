//! Frames to model input: the resize spec a model needs, and the clip tensor.

use std::sync::Arc;

use fightwatch_capture::{CaptureError, FrameResizer, Picture, ResizeMode, ResizeSpec};
use image::RgbImage;
use ndarray::{ArrayViewMut4, Axis};

use crate::config::{InputConfig, Layout};

/// The resize a model's `[input]` asks for.
pub fn resize_spec(input: &InputConfig) -> ResizeSpec {
    let (width, height) = (input.width, input.height);
    let mode = match input.resize {
        crate::config::ResizeMode::Squash => ResizeMode::Squash {
            width: input.resize_width.unwrap_or(width),
            height: input.resize_height.unwrap_or(height),
        },
        crate::config::ResizeMode::ShortSide => ResizeMode::ShortSide {
            short_side: input.resize_short_side.unwrap_or(width.min(height)),
        },
    };
    ResizeSpec {
        width,
        height,
        mode,
    }
}

/// Resizes frames for one model; keep one per camera thread.
pub struct Preprocessor(FrameResizer);

impl Preprocessor {
    /// A preprocessor for `input`.
    pub fn new(input: &InputConfig) -> Self {
        Self(FrameResizer::new(resize_spec(input)))
    }

    /// `picture` at the model's input size.
    pub fn apply(&mut self, picture: &Picture) -> Result<RgbImage, CaptureError> {
        self.0.resize_picture(picture)
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
