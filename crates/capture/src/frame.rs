use std::sync::Arc;
use std::time::SystemTime;

use ffmpeg_next as ff;
use image::RgbImage;

use crate::CaptureError;

/// A frame's pixels as the source produced them.
///
/// Video decoders produce YUV; converting every frame to full-resolution RGB would cost more than
/// decoding it, and only a few frames are ever needed at full resolution (snapshots, thumbnails).
/// So decoded video frames stay in the decoder's format (reference-counted, no copy) and are
/// converted on demand by [`Picture::to_rgb`].
pub enum Picture {
    /// Packed RGB24 (image folders, USB cameras).
    Rgb(RgbImage),
    /// A decoded FFmpeg frame in its native pixel format.
    Video(ff::frame::Video),
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rgb(i) => write!(f, "Rgb({}x{})", i.width(), i.height()),
            Self::Video(v) => write!(f, "Video({:?} {}x{})", v.format(), v.width(), v.height()),
        }
    }
}

impl Picture {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        match self {
            Self::Rgb(i) => i.width(),
            Self::Video(v) => v.width(),
        }
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        match self {
            Self::Rgb(i) => i.height(),
            Self::Video(v) => v.height(),
        }
    }

    /// The picture as full-resolution RGB.
    pub fn to_rgb(&self) -> Result<RgbImage, CaptureError> {
        match self {
            Self::Rgb(i) => Ok(i.clone()),
            Self::Video(v) => video_to_rgb(v, v.width(), v.height()),
        }
    }

    /// The picture as RGB at most `max_width` pixels wide (aspect kept; video frames are
    /// scaled while converting, so a small copy of a large frame costs little).
    pub fn to_rgb_within(&self, max_width: u32) -> Result<RgbImage, CaptureError> {
        let (w, h) = (self.width(), self.height());
        if w <= max_width {
            return self.to_rgb();
        }
        let sh = (u64::from(h) * u64::from(max_width) / u64::from(w)).max(1) as u32;
        match self {
            Self::Rgb(i) => Ok(image::imageops::thumbnail(i, max_width, sh)),
            Self::Video(v) => video_to_rgb(v, max_width, sh),
        }
    }

    /// A JPEG of the picture at most `max_width` pixels wide.
    pub fn to_jpeg(&self, quality: u8, max_width: u32) -> Result<Vec<u8>, CaptureError> {
        rgb_to_jpeg(&self.to_rgb_within(max_width)?, quality)
    }
}

/// A JPEG of `rgb` at `quality` (1–100), by `jpeg-encoder`: an alert waits for its snapshot's
/// JPEG, and this is ~4x faster than `image`'s encoder (`cargo bench -p fightwatch-inference
/// --bench localize`).
pub fn rgb_to_jpeg(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, CaptureError> {
    let err = |e: String| CaptureError::InvalidOption(format!("JPEG encoding: {e}"));
    let (w, h) = rgb.dimensions();
    let (w, h) = (
        u16::try_from(w).map_err(|_| err(format!("{w} pixels wide")))?,
        u16::try_from(h).map_err(|_| err(format!("{h} pixels high")))?,
    );
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, quality.clamp(1, 100))
        .encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| err(e.to_string()))?;
    Ok(jpeg)
}

/// Converts (and scales) a decoded frame to packed RGB24 of `w` x `h` with swscale.
pub(crate) fn video_to_rgb(v: &ff::frame::Video, w: u32, h: u32) -> Result<RgbImage, CaptureError> {
    let err = |e: ff::Error| {
        CaptureError::InvalidOption(format!("RGB conversion of {:?}: {e}", v.format()))
    };
    let mut ctx = ff::software::scaling::Context::get(
        v.format(),
        v.width(),
        v.height(),
        ff::format::Pixel::RGB24,
        w,
        h,
        ff::software::scaling::Flags::BILINEAR,
    )
    .map_err(err)?;
    let mut rgb = ff::frame::Video::empty();
    ctx.run(v, &mut rgb).map_err(err)?;
    packed_rgb(&rgb)
}

/// An RGB24 FFmpeg frame holding `image` (rows copied to the frame's stride).
pub(crate) fn rgb_frame(image: &RgbImage) -> ff::frame::Video {
    let (w, h) = image.dimensions();
    let mut frame = ff::frame::Video::new(ff::format::Pixel::RGB24, w, h);
    let stride = frame.stride(0);
    let row = w as usize * 3;
    let data = frame.data_mut(0);
    for (y, src) in image.as_raw().chunks_exact(row.max(1)).enumerate() {
        if let Some(dst) = data.get_mut(y * stride..y * stride + row) {
            dst.copy_from_slice(src);
        }
    }
    frame
}

/// Copies a packed RGB24 FFmpeg frame (rows padded to its stride) into an `RgbImage`.
pub(crate) fn packed_rgb(rgb: &ff::frame::Video) -> Result<RgbImage, CaptureError> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let stride = rgb.stride(0);
    let data = rgb.data(0);
    let row = w * 3;
    let mut pixels = Vec::with_capacity(row * h);
    for y in 0..h {
        pixels.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    RgbImage::from_raw(w as u32, h as u32, pixels)
        .ok_or_else(|| CaptureError::InvalidOption("RGB buffer size mismatch".into()))
}

/// One decoded video frame at the source's native resolution.
///
/// Cloning is cheap: the name and pixels are shared (`Arc`), so a frame can fan out to the
/// inference stage and to snapshot keeping without copying pixels.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The camera (source) name.
    pub camera: Arc<str>,
    /// Sequence number within the camera, from 0, counting every decoded frame (frames dropped
    /// later still used a number, so gaps show drops).
    pub seq: u64,
    /// Media timestamp in seconds from the start of the stream.
    pub pts_s: f64,
    /// Wall-clock time the frame was decoded.
    pub captured_at: SystemTime,
    /// The full-resolution pixels.
    pub picture: Arc<Picture>,
    /// The frame resized for the model, when the camera was given a resize spec.
    pub model_input: Option<Arc<RgbImage>>,
    /// Fraction of the picture that changed lately ([`crate::MotionMeter`], measured on the
    /// model-size image); `None` when not measured or unknown (treat as motion).
    pub motion: Option<f32>,
}

impl Frame {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.picture.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.picture.height()
    }

    /// Full-resolution RGB (converted now for video frames).
    pub fn to_rgb(&self) -> Result<RgbImage, CaptureError> {
        self.picture.to_rgb()
    }
}
