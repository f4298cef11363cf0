//! Local USB cameras through nokhwa (V4L2 on Linux).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};

use crate::convert::{PixelFormat, to_rgb};
use crate::source::{SourceInfo, SourceKind};
use crate::{CaptureError, Frame, FrameSource, Picture};

/// A local camera as [`list_devices`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Index to open it by (`usb:INDEX`).
    pub index: String,
    /// Human-readable name (`usb:NAME` also opens it).
    pub name: String,
    /// Driver's description (bus, path).
    pub description: String,
}

/// Lists local cameras. No cameras is an empty list, not an error.
pub fn list_devices() -> Result<Vec<DeviceInfo>, CaptureError> {
    let cams = nokhwa::query(ApiBackend::Auto).map_err(|e| CaptureError::Open {
        source_name: "camera list".into(),
        message: e.to_string(),
    })?;
    Ok(cams
        .into_iter()
        .map(|c| DeviceInfo {
            index: c.index().to_string(),
            name: c.human_name(),
            description: c.description().to_string(),
        })
        .collect())
}

/// What to ask a USB camera for; unset fields let the camera choose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsbRequest {
    /// Frame size.
    pub resolution: Option<(u32, u32)>,
    /// Frame rate.
    pub fps: Option<u32>,
    /// Wire format: `mjpeg` or `yuyv`.
    pub format: Option<String>,
}

/// A USB camera, by index (`usb:0`) or name (`usb:HD Webcam`).
pub struct UsbSource {
    name: String,
    camera: Arc<str>,
    cam: nokhwa::Camera,
    info: SourceInfo,
    started: Instant,
    seq: u64,
}

impl UsbSource {
    /// Opens camera `device` (an index or a name) and starts streaming.
    pub fn open(device: &str, camera: &str, request: &UsbRequest) -> Result<Self, CaptureError> {
        let source_name = format!("usb:{device}");
        let open_err = |message: String| CaptureError::Open {
            source_name: source_name.clone(),
            message,
        };
        let index = match device.parse::<u32>() {
            Ok(i) => CameraIndex::Index(i),
            Err(_) => list_devices()?
                .into_iter()
                .find(|d| d.name == device)
                .map(|d| {
                    d.index
                        .parse::<u32>()
                        .map_or(CameraIndex::String(d.index.clone()), CameraIndex::Index)
                })
                .ok_or_else(|| {
                    open_err(format!(
                        "no camera named {device:?} (see `fightwatch devices`)"
                    ))
                })?,
        };
        let wire = match request.format.as_deref() {
            None => None,
            Some("mjpeg") => Some(FrameFormat::MJPEG),
            Some("yuyv") => Some(FrameFormat::YUYV),
            Some(other) => {
                return Err(CaptureError::InvalidOption(format!(
                    "USB format {other:?}: use mjpeg or yuyv"
                )));
            }
        };
        let requested = match (request.resolution, request.fps) {
            (Some((w, h)), fps) => RequestedFormatType::Closest(CameraFormat::new(
                Resolution::new(w, h),
                wire.unwrap_or(FrameFormat::MJPEG),
                fps.unwrap_or(30),
            )),
            (None, Some(fps)) => RequestedFormatType::HighestFrameRate(fps),
            (None, None) => RequestedFormatType::AbsoluteHighestFrameRate,
        };
        let mut cam = nokhwa::Camera::new(index, RequestedFormat::new::<RgbFormat>(requested))
            .map_err(|e| open_err(e.to_string()))?;
        cam.open_stream().map_err(|e| open_err(e.to_string()))?;
        let fmt = cam.camera_format();
        let info = SourceInfo {
            kind: SourceKind::Usb,
            codec: fmt.format().to_string().to_lowercase(),
            container: "v4l2".into(),
            width: fmt.resolution().width(),
            height: fmt.resolution().height(),
            fps: f64::from(fmt.frame_rate()),
            duration_s: None,
            frames_hint: None,
        };
        Ok(Self {
            name: source_name,
            camera: camera.into(),
            cam,
            info,
            started: Instant::now(),
            seq: 0,
        })
    }
}

impl FrameSource for UsbSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let read_err = |message: String, frames: u64| CaptureError::Read {
            source_name: self.name.clone(),
            frames,
            message,
        };
        let buffer = self
            .cam
            .frame()
            .map_err(|e| read_err(e.to_string(), self.seq))?;
        let res = buffer.resolution();
        let format = match buffer.source_frame_format() {
            FrameFormat::MJPEG => PixelFormat::Mjpeg,
            FrameFormat::YUYV => PixelFormat::Yuyv,
            FrameFormat::NV12 => PixelFormat::Nv12,
            FrameFormat::GRAY => PixelFormat::Gray,
            FrameFormat::RAWRGB => PixelFormat::Rgb,
            FrameFormat::RAWBGR => PixelFormat::Bgr,
        };
        let image = to_rgb(format, res.width(), res.height(), buffer.buffer())?;
        let frame = Frame {
            camera: self.camera.clone(),
            seq: self.seq,
            // USB frames carry no stream clock we trust across drivers: use arrival time.
            pts_s: self.started.elapsed().as_secs_f64(),
            captured_at: SystemTime::now(),
            picture: Arc::new(Picture::Rgb(image)),
            model_input: None,
            motion: None,
        };
        self.seq += 1;
        Ok(Some(frame))
    }
}
