//! Resizing frames to a model's input size, on the capture side (never on the inference thread).

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use ffmpeg_next as ff;
use image::RgbImage;

use crate::Picture;

/// How a frame is brought to the target size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeMode {
    /// Resize to `width` x `height` ignoring the aspect ratio, then centre-crop to the target.
    Squash {
        /// Width before the crop (at least the target width).
        width: u32,
        /// Height before the crop (at least the target height).
        height: u32,
    },
    /// Resize so the short side is `short_side`, keeping the aspect ratio, then centre-crop.
    ShortSide {
        /// Short side before the crop (at least the target's short side).
        short_side: u32,
    },
}

/// Target size and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeSpec {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// How to get there.
    pub mode: ResizeMode,
}

impl ResizeSpec {
    /// Squash straight to `width` x `height`.
    pub fn squash(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            mode: ResizeMode::Squash { width, height },
        }
    }

    /// Size before the centre crop, for a `src_w` x `src_h` frame.
    pub fn intermediate(&self, src_w: u32, src_h: u32) -> (u32, u32) {
        match self.mode {
            ResizeMode::Squash { width, height } => {
                (width.max(self.width), height.max(self.height))
            }
            ResizeMode::ShortSide { short_side } => {
                let scale = f64::from(short_side) / f64::from(src_w.min(src_h).max(1));
                let w = ((f64::from(src_w) * scale).round() as u32).max(self.width);
                let h = ((f64::from(src_h) * scale).round() as u32).max(self.height);
                (w, h)
            }
        }
    }

    /// The part of a `src_w` x `src_h` frame the output shows, as `[x0, y0, x1, y1]` in 0–1
    /// frame coordinates: the centre crop mapped back through the resize (the crop's offsets
    /// rounded down, as [`FrameResizer`] crops).
    pub fn view(&self, src_w: u32, src_h: u32) -> [f64; 4] {
        let (rw, rh) = self.intermediate(src_w, src_h);
        let (rw, rh) = (rw.max(1), rh.max(1));
        let x0 = f64::from(rw.saturating_sub(self.width) / 2);
        let y0 = f64::from(rh.saturating_sub(self.height) / 2);
        [
            x0 / f64::from(rw),
            y0 / f64::from(rh),
            ((x0 + f64::from(self.width)) / f64::from(rw)).min(1.0),
            ((y0 + f64::from(self.height)) / f64::from(rh)).min(1.0),
        ]
    }
}

/// Resizes frames by a [`ResizeSpec`].
///
/// RGB pictures go through fast_image_resize's bilinear convolution, whose filter widens with
/// the downscale factor (antialiasing) as Pillow's `Image.resize(..., BILINEAR)` does; OpenCV's
/// `INTER_LINEAR` instead samples 2x2 pixels at any scale. Decoded video frames are scaled and
/// converted to RGB in one swscale pass (`SWS_BILINEAR`, also antialiased when shrinking)
/// straight from YUV, which costs a fraction of converting the full frame first.
pub struct FrameResizer {
    spec: ResizeSpec,
    resizer: Resizer,
    options: ResizeOptions,
    /// swscale context for the last video format seen: (context, format, src w, src h).
    sws: Option<(ff::software::scaling::Context, ff::format::Pixel, u32, u32)>,
}

impl FrameResizer {
    /// A resizer for `spec`. Keep one per camera thread: it caches filter coefficients.
    pub fn new(spec: ResizeSpec) -> Self {
        Self {
            spec,
            resizer: Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
            sws: None,
        }
    }

    /// A picture of any kind resized and centre-cropped to the spec's size.
    pub fn resize_picture(&mut self, picture: &Picture) -> Result<RgbImage, crate::CaptureError> {
        let v = match picture {
            Picture::Rgb(img) => return Ok(self.resize(img)),
            Picture::Video(v) => v,
        };
        let (sw, sh, fmt) = (v.width(), v.height(), v.format());
        let (rw, rh) = self.spec.intermediate(sw, sh);
        let err = |e: ff::Error| {
            crate::CaptureError::InvalidOption(format!("scaling {fmt:?} {sw}x{sh}: {e}"))
        };
        if self
            .sws
            .as_ref()
            .is_none_or(|(_, f, w, h)| (*f, *w, *h) != (fmt, sw, sh))
        {
            let ctx = ff::software::scaling::Context::get(
                fmt,
                sw,
                sh,
                ff::format::Pixel::RGB24,
                rw,
                rh,
                ff::software::scaling::Flags::BILINEAR,
            )
            .map_err(err)?;
            self.sws = Some((ctx, fmt, sw, sh));
        }
        let mut rgb = ff::frame::Video::empty();
        if let Some((ctx, ..)) = self.sws.as_mut() {
            ctx.run(v, &mut rgb).map_err(err)?;
        }
        let resized = crate::frame::packed_rgb(&rgb)?;
        Ok(self.crop(resized))
    }

    fn crop(&self, resized: RgbImage) -> RgbImage {
        let (rw, rh) = resized.dimensions();
        let (w, h) = (self.spec.width, self.spec.height);
        if (rw, rh) == (w, h) {
            return resized;
        }
        image::imageops::crop_imm(&resized, (rw - w) / 2, (rh - h) / 2, w, h).to_image()
    }

    /// The spec.
    pub fn spec(&self) -> &ResizeSpec {
        &self.spec
    }

    /// `frame` resized and centre-cropped to the spec's size.
    pub fn resize(&mut self, frame: &RgbImage) -> RgbImage {
        let (rw, rh) = self.spec.intermediate(frame.width(), frame.height());
        let resized = if (rw, rh) == frame.dimensions() {
            frame.clone()
        } else {
            let mut out = RgbImage::new(rw, rh);
            if let Err(e) = self.resizer.resize(frame, &mut out, &self.options) {
                // Only a zero-sized image can fail, and no decoder produces one.
                tracing::warn!(error = %e, "Could not resize a frame; using a black frame.");
            }
            out
        };
        self.crop(resized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_then_crop_and_short_side_then_crop() {
        let spec = ResizeSpec {
            width: 112,
            height: 112,
            mode: ResizeMode::Squash {
                width: 171,
                height: 128,
            },
        };
        assert_eq!(spec.intermediate(640, 360), (171, 128));
        let spec = ResizeSpec {
            width: 224,
            height: 224,
            mode: ResizeMode::ShortSide { short_side: 256 },
        };
        assert_eq!(spec.intermediate(640, 360), (455, 256));
        assert_eq!(spec.intermediate(360, 640), (256, 455));
        let mut r = FrameResizer::new(spec);
        let out = r.resize(&RgbImage::from_pixel(640, 360, image::Rgb([10, 20, 30])));
        assert_eq!(out.dimensions(), (224, 224));
        assert_eq!(out.get_pixel(100, 100).0, [10, 20, 30]);
    }

    #[test]
    fn the_view_is_the_centre_crop_in_frame_coordinates() {
        // fight-mc3-18-6x80-int8: squash to 122x91, crop 80x80 from (21, 5).
        let spec = ResizeSpec {
            width: 80,
            height: 80,
            mode: ResizeMode::Squash {
                width: 122,
                height: 91,
            },
        };
        let close = |a: [f64; 4], b: [f64; 4]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-9);
        let want = [21.0 / 122.0, 5.0 / 91.0, 101.0 / 122.0, 85.0 / 91.0];
        assert!(
            close(spec.view(640, 480), want),
            "{:?}",
            spec.view(640, 480)
        );
        assert!(close(
            ResizeSpec::squash(96, 96).view(1920, 1080),
            [0.0, 0.0, 1.0, 1.0]
        ));
        // Short side 256 of a 640x360 frame: 455x256, crop 224 from (115, 16).
        let spec = ResizeSpec {
            width: 224,
            height: 224,
            mode: ResizeMode::ShortSide { short_side: 256 },
        };
        let want = [115.0 / 455.0, 16.0 / 256.0, 339.0 / 455.0, 240.0 / 256.0];
        assert!(
            close(spec.view(640, 360), want),
            "{:?}",
            spec.view(640, 360)
        );
    }

    #[test]
    fn centre_crop_keeps_the_middle() {
        // Left half black, right half white, squashed to 4x2 then cropped to the middle 2x2.
        let src = RgbImage::from_fn(8, 2, |x, _| {
            if x < 4 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let mut r = FrameResizer::new(ResizeSpec {
            width: 2,
            height: 2,
            mode: ResizeMode::Squash {
                width: 4,
                height: 2,
            },
        });
        let out = r.resize(&src);
        assert!(out.get_pixel(0, 0).0[0] < 128 && out.get_pixel(1, 0).0[0] > 128);
    }
}
