use std::sync::Arc;
use std::time::SystemTime;

use image::RgbImage;

/// One decoded video frame, RGB, at the source's native resolution.
///
/// Cloning is cheap: the name and pixels are shared (`Arc`), so a frame can fan out to the
/// inference stage and to snapshot keeping without copying pixels.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The camera (source) name.
    pub camera: Arc<str>,
    /// Sequence number within the source, from 0, counting every decoded frame (frames dropped
    /// later still used a number, so gaps show drops).
    pub seq: u64,
    /// Media timestamp in seconds from the start of the stream.
    pub pts_s: f64,
    /// Wall-clock time the frame was decoded.
    pub captured_at: SystemTime,
    /// The pixels.
    pub image: Arc<RgbImage>,
}

impl Frame {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.image.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.image.height()
    }
}
