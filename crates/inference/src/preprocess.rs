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
///
/// Each channel's 256 possible values are normalised once into a table, so a pixel costs one
/// lookup instead of a multiply, a subtract and a divide (`cargo bench -p fightwatch-inference
/// --bench tensor`); the values are bit for bit those of the formula.
pub fn write_clip(frames: &[Arc<RgbImage>], input: &InputConfig, mut out: ArrayViewMut4<'_, f32>) {
    let tables = normalisation_tables(input);
    for (t, frame) in frames.iter().enumerate() {
        let mut frame_out = match input.layout {
            Layout::Ncthw => out.index_axis_mut(Axis(1), t),
            Layout::Ntchw => out.index_axis_mut(Axis(0), t),
        };
        let pixels = frame.as_raw().chunks_exact(3);
        for (c, mut plane) in frame_out.axis_iter_mut(Axis(0)).enumerate() {
            let table = &tables[c];
            match plane.as_slice_mut() {
                Some(dst) => {
                    for (d, px) in dst.iter_mut().zip(pixels.clone()) {
                        *d = table[usize::from(px[c])];
                    }
                }
                None => {
                    for (d, px) in plane.iter_mut().zip(pixels.clone()) {
                        *d = table[usize::from(px[c])];
                    }
                }
            }
        }
    }
}

/// `(v * pixel_scale - mean[c]) / std[c]` for every byte `v`, per channel.
fn normalisation_tables(input: &InputConfig) -> [[f32; 256]; 3] {
    let mut tables = [[0.0; 256]; 3];
    for (c, table) in tables.iter_mut().enumerate() {
        let (mean, std) = (input.mean[c], input.std[c]);
        for (v, out) in table.iter_mut().enumerate() {
            *out = (f32::from(v as u8) * input.pixel_scale - mean) / std;
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    #[test]
    fn the_tables_give_the_formulas_values_in_both_layouts() {
        let text = include_str!("../../../models/fight-mc3-18/model.toml");
        let mut config =
            crate::ModelConfig::parse(text, "model.toml").expect("mc3_18's model.toml");
        let input = &mut config.input;
        (input.frames, input.width, input.height) = (3, 5, 4);
        let frames: Vec<Arc<RgbImage>> = (0..3u8)
            .map(|t| {
                Arc::new(RgbImage::from_fn(5, 4, |x, y| {
                    image::Rgb([t * 80 + x as u8 * 7, y as u8 * 60, 255 - x as u8 * 30])
                }))
            })
            .collect();
        for layout in [Layout::Ncthw, Layout::Ntchw] {
            input.layout = layout;
            // 3 channels and 3 frames: the same shape in both layouts.
            let mut out = Array4::<f32>::zeros((3, 3, 4, 5));
            write_clip(&frames, input, out.view_mut());
            for (t, frame) in frames.iter().enumerate() {
                for (x, y, px) in frame.enumerate_pixels() {
                    for c in 0..3 {
                        let want =
                            (f32::from(px.0[c]) * input.pixel_scale - input.mean[c]) / input.std[c];
                        let (x, y) = (x as usize, y as usize);
                        let got = match layout {
                            Layout::Ncthw => out[[c, t, y, x]],
                            Layout::Ntchw => out[[t, c, y, x]],
                        };
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{layout:?} t{t} c{c} ({x},{y})"
                        );
                    }
                }
            }
        }
    }
}
