//! The [`FrameSource`] trait and choosing a source from a string.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::{CaptureError, FfmpegSource, Frame, ImageDirSource};

/// What kind of input a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A recorded video file.
    File,
    /// A network stream (RTSP, HTTP MJPEG, HLS).
    Network,
    /// A folder of image files.
    ImageDir,
    /// A local USB camera.
    Usb,
}

/// What a source knows about its stream after opening.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// File, network or folder.
    pub kind: SourceKind,
    /// Codec name (`h264`, `mjpeg`, `vp9`, `jpeg`, ...).
    pub codec: String,
    /// Container or protocol name (`mov,mp4,m4a,3gp,3g2,mj2`, `rtsp`, `image-dir`, ...).
    pub container: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Nominal frame rate; 0 when unknown.
    pub fps: f64,
    /// Duration in seconds, when known (files).
    pub duration_s: Option<f64>,
    /// Frame count from the container header, when it has one (may be absent or approximate).
    pub frames_hint: Option<u64>,
}

/// Options shared by all sources.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// RTSP transport: `tcp` (default, survives NAT and loss) or `udp`.
    pub rtsp_transport: String,
    /// Network I/O timeout: a read or connect blocked longer than this fails.
    pub io_timeout: Duration,
    /// A network stream that delivers no data for this long is treated as dead (the blocked
    /// read is interrupted).
    pub stall_timeout: Duration,
    /// Decoder threads per camera; 0 lets FFmpeg choose (one per core, plus one). With many
    /// cameras on few cores, 1 avoids oversubscription.
    pub decode_threads: usize,
    /// Where video is decoded: CPU, CUDA (NVDEC), or CUDA when it can.
    pub decode: crate::Decode,
    /// Frame rate of image folders without an `fps.txt`.
    pub image_dir_fps: f64,
    /// Set to true to make blocked FFmpeg calls (connect, read) return at once: shutdown.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Resolution, fps and format to ask USB cameras for.
    #[cfg(feature = "usb")]
    pub usb: crate::usb::UsbRequest,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            rtsp_transport: "tcp".into(),
            io_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(10),
            decode_threads: 0,
            decode: crate::Decode::Cpu,
            image_dir_fps: 15.0,
            cancel: None,
            #[cfg(feature = "usb")]
            usb: crate::usb::UsbRequest::default(),
        }
    }
}

/// A stream of frames from one camera or recording.
///
/// Sources are not `Send`: some camera APIs are tied to the thread that opened them, so a
/// [`crate::Camera`] opens its source on its own thread and keeps it there.
pub trait FrameSource {
    /// Stream facts known after opening.
    fn info(&self) -> &SourceInfo;

    /// The next frame, `Ok(None)` at the end of a file, or an error.
    ///
    /// After an error the source is finished; live sources are reopened by the caller.
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError>;

    /// Corrupt packets skipped so far (decoding went on without them).
    fn skipped_packets(&self) -> u64 {
        0
    }

    /// Starts keeping the encoded packets it reads, for clips that remux them; the stream's
    /// codec parameters, or `None` when this source has no packets a browser plays in MP4
    /// (only H.264 and H.265 qualify).
    fn keep_packets(&mut self) -> Option<crate::EncodedStream> {
        None
    }

    /// Moves the packets kept since the last call into `out`.
    fn take_packets(&mut self, _out: &mut Vec<crate::EncodedPacket>) {}
}

/// Whether `s` names a network stream.
pub(crate) fn is_network(s: &str) -> bool {
    ["rtsp://", "rtsps://", "http://", "https://"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Opens the source `spec` (see the crate docs for the forms) as camera `camera`.
pub fn open(
    spec: &str,
    camera: &str,
    options: &SourceOptions,
) -> Result<Box<dyn FrameSource>, CaptureError> {
    if is_network(spec) {
        return Ok(Box::new(FfmpegSource::open(spec, camera, options)?));
    }
    if let Some(device) = spec.strip_prefix("usb:") {
        #[cfg(feature = "usb")]
        return Ok(Box::new(crate::usb::UsbSource::open(
            device,
            camera,
            &options.usb,
        )?));
        #[cfg(not(feature = "usb"))]
        return Err(CaptureError::UnsupportedScheme(format!(
            "usb:{device} (built without the `usb` feature)"
        )));
    }
    if let Some(path) = spec.strip_prefix("dir:") {
        return Ok(Box::new(ImageDirSource::open(
            Path::new(path),
            camera,
            options,
        )?));
    }
    if let Some((scheme, _)) = spec.split_once("://") {
        return Err(CaptureError::UnsupportedScheme(format!("{scheme}://")));
    }
    let path = Path::new(spec.strip_prefix("file:").unwrap_or(spec));
    if path.is_dir() {
        return Ok(Box::new(ImageDirSource::open(path, camera, options)?));
    }
    if !path.exists() {
        return Err(CaptureError::NotFound(path.to_path_buf()));
    }
    Ok(Box::new(FfmpegSource::open(
        spec.strip_prefix("file:").unwrap_or(spec),
        camera,
        options,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_and_missing_files_are_typed_errors() {
        let o = SourceOptions::default();
        assert!(
            matches!(open("ftp://example/x.mp4", "c", &o), Err(CaptureError::UnsupportedScheme(s)) if s == "ftp://")
        );
        assert!(matches!(
            open("/nonexistent/clip.mp4", "c", &o),
            Err(CaptureError::NotFound(_))
        ));
        assert!(matches!(
            open("file:/nonexistent/clip.mp4", "c", &o),
            Err(CaptureError::NotFound(_))
        ));
    }

    #[test]
    fn network_prefixes() {
        assert!(is_network("rtsp://127.0.0.1:8554/cam"));
        assert!(is_network("https://cam.example/mjpeg"));
        assert!(!is_network("/videos/rtsp.mp4"));
    }
}
