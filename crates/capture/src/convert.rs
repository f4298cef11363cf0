//! Camera pixel formats to RGB: the raw buffers USB cameras deliver.

use image::RgbImage;

use crate::CaptureError;

/// Raw camera pixel formats fightwatch converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Motion JPEG: each buffer is a JPEG image.
    Mjpeg,
    /// YUYV 4:2:2 (Y0 U Y1 V per two pixels), BT.601 limited range.
    Yuyv,
    /// NV12: a Y plane, then an interleaved UV plane at half resolution, BT.601 limited range.
    Nv12,
    /// 8-bit grey.
    Gray,
    /// Packed RGB24.
    Rgb,
    /// Packed BGR24.
    Bgr,
}

/// Converts one raw buffer of `width` x `height` pixels to RGB.
pub fn to_rgb(
    format: PixelFormat,
    width: u32,
    height: u32,
    data: &[u8],
) -> Result<RgbImage, CaptureError> {
    let (w, h) = (width as usize, height as usize);
    let need = match format {
        PixelFormat::Mjpeg => 0,
        PixelFormat::Yuyv => w * h * 2,
        PixelFormat::Nv12 => w * h + 2 * w.div_ceil(2) * h.div_ceil(2),
        PixelFormat::Gray => w * h,
        PixelFormat::Rgb | PixelFormat::Bgr => w * h * 3,
    };
    if data.len() < need {
        return Err(CaptureError::InvalidOption(format!(
            "{format:?} buffer of {} bytes is too small for {width}x{height} ({need} needed)",
            data.len()
        )));
    }
    let mut out = vec![0u8; w * h * 3];
    match format {
        PixelFormat::Mjpeg => {
            let img = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
                .map_err(|e| CaptureError::InvalidOption(format!("bad MJPEG frame: {e}")))?;
            return Ok(img.into_rgb8());
        }
        PixelFormat::Yuyv => {
            if w % 2 != 0 {
                return Err(CaptureError::InvalidOption(format!(
                    "YUYV needs an even width, got {width}"
                )));
            }
            for (src, dst) in data[..need].chunks_exact(4).zip(out.chunks_exact_mut(6)) {
                let (y0, u, y1, v) = (src[0], src[1], src[2], src[3]);
                dst[..3].copy_from_slice(&yuv_to_rgb(y0, u, v));
                dst[3..].copy_from_slice(&yuv_to_rgb(y1, u, v));
            }
        }
        PixelFormat::Nv12 => {
            let uv = &data[w * h..];
            let uv_stride = 2 * w.div_ceil(2);
            for y in 0..h {
                for x in 0..w {
                    let c = (y / 2) * uv_stride + (x / 2) * 2;
                    let px = yuv_to_rgb(data[y * w + x], uv[c], uv[c + 1]);
                    out[(y * w + x) * 3..][..3].copy_from_slice(&px);
                }
            }
        }
        PixelFormat::Gray => {
            for (g, dst) in data[..need].iter().zip(out.chunks_exact_mut(3)) {
                dst.fill(*g);
            }
        }
        PixelFormat::Rgb => out.copy_from_slice(&data[..need]),
        PixelFormat::Bgr => {
            for (src, dst) in data[..need].chunks_exact(3).zip(out.chunks_exact_mut(3)) {
                dst.copy_from_slice(&[src[2], src[1], src[0]]);
            }
        }
    }
    RgbImage::from_raw(width, height, out)
        .ok_or_else(|| CaptureError::InvalidOption("RGB buffer size mismatch".into()))
}

/// BT.601 limited-range YCbCr to RGB, in integer arithmetic (as libyuv and V4L2 drivers do).
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(298 * c + 409 * e),
        clamp(298 * c - 100 * d - 208 * e),
        clamp(298 * c + 516 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_known_colours() {
        // Two pixels per 4 bytes: black+white share neutral chroma; then pure red.
        let data = [16, 128, 235, 128, 81, 90, 81, 240];
        let img = to_rgb(PixelFormat::Yuyv, 4, 1, &data).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
        let red = img.get_pixel(2, 0).0;
        assert!(red[0] >= 250 && red[1] <= 5 && red[2] <= 5, "{red:?}");
    }

    #[test]
    fn nv12_uses_one_chroma_sample_per_2x2_block() {
        // 2x2 pixels share one UV pair.
        let data = [41, 41, 41, 41, 240, 110]; // BT.601 pure blue
        let img = to_rgb(PixelFormat::Nv12, 2, 2, &data).unwrap();
        for p in img.pixels() {
            assert!(p.0[2] > 200 && p.0[0] < 60, "{:?}", p.0);
        }
    }

    #[test]
    fn bgr_gray_and_rgb() {
        assert_eq!(
            to_rgb(PixelFormat::Bgr, 1, 1, &[1, 2, 3])
                .unwrap()
                .get_pixel(0, 0)
                .0,
            [3, 2, 1]
        );
        assert_eq!(
            to_rgb(PixelFormat::Gray, 1, 1, &[7])
                .unwrap()
                .get_pixel(0, 0)
                .0,
            [7, 7, 7]
        );
        assert_eq!(
            to_rgb(PixelFormat::Rgb, 1, 1, &[1, 2, 3])
                .unwrap()
                .get_pixel(0, 0)
                .0,
            [1, 2, 3]
        );
    }

    #[test]
    fn mjpeg_round_trip() {
        let src = RgbImage::from_pixel(8, 8, image::Rgb([200, 40, 40]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&src)
            .unwrap();
        let img = to_rgb(PixelFormat::Mjpeg, 8, 8, &jpeg).unwrap();
        let p = img.get_pixel(4, 4).0;
        assert!(p[0].abs_diff(200) < 8 && p[1].abs_diff(40) < 8, "{p:?}");
    }

    #[test]
    fn short_or_broken_buffers_are_errors() {
        assert!(to_rgb(PixelFormat::Yuyv, 4, 4, &[0; 8]).is_err());
        assert!(to_rgb(PixelFormat::Yuyv, 3, 1, &[0; 8]).is_err());
        assert!(to_rgb(PixelFormat::Mjpeg, 8, 8, b"not a jpeg").is_err());
    }
}
