/*!
Frame sources for fightwatch: video files, RTSP/HTTP IP cameras, USB cameras, image folders.

This is the first stage of the pipeline (**capture** → inference → alerts → broadcaster): it
turns a camera or a recording into a stream of RGB [`Frame`]s, each with its camera name,
sequence number, media timestamp and capture wall time.

Every source implements [`FrameSource`]. [`open`] picks one from a URI-like string:

| string | source |
|---|---|
| `rtsp://…`, `rtsps://…`, `http(s)://…` | [`FfmpegSource`] (network stream) |
| a directory, or `dir:PATH` | [`ImageDirSource`] (JPEG/PNG frames at a given fps) |
| `usb:INDEX`, `usb:NAME` | `UsbSource` (a local camera through nokhwa; feature `usb`) |
| anything else, or `file:PATH` | [`FfmpegSource`] (a video file FFmpeg can decode) |

Live use goes through [`Camera`]: a thread per camera that paces and samples frames, never
blocks a live source (the newest frame wins a full queue), reconnects with exponential backoff
and jitter, detects stalls, and reports [`CaptureState`] changes.

# Cargo features

| feature | enables | default |
|---|---|---|
| `usb` | local USB cameras through nokhwa (needs libclang to build) | yes |

```no_run
use fightwatch_capture::{open, FrameSource, SourceOptions};

let mut source = open("fixtures/fight_street.mp4", "cam1", &SourceOptions::default())?;
while let Some(frame) = source.next_frame()? {
    println!("frame {} at {:.3} s: {}x{}", frame.seq, frame.pts_s, frame.width(), frame.height());
}
# Ok::<(), fightwatch_capture::CaptureError>(())
```
*/

mod camera;
pub mod convert;
mod error;
mod ffmpeg_source;
pub mod fmp4;
mod frame;
mod hw_decode;
mod image_dir;
mod live;
mod mask;
mod motion;
mod record;
mod redact;
mod resize;
mod source;
#[cfg(feature = "usb")]
mod usb;

pub use camera::{Backoff, Camera, CameraConfig, CameraStats, CaptureState, Pacing, StatusEvent};
pub use error::CaptureError;
pub use ffmpeg_source::FfmpegSource;
pub use frame::{Frame, Picture, rgb_to_jpeg};
pub use hw_decode::Decode;
pub use image_dir::ImageDirSource;
pub use live::{LatestFrame, LiveFeed, LiveVideo, VideoEvent, VideoSubscription};
pub use mask::{MaskPainter, PrivacyMask};
pub use motion::MotionMeter;
pub use record::{
    ClipCommand, ClipControl, ClipMethod, ClipReport, EncodedPacket, EncodedStream, RecordConfig,
    SavedClip, clip_encoders_opened, hex, sha256_file,
};
pub use redact::{FaultReason, REDACTED, SourceFault, redact_source, scrub};
pub use resize::{FrameResizer, ResizeMode, ResizeSpec};
pub use source::{FrameSource, SourceInfo, SourceKind, SourceOptions, open};
#[cfg(feature = "usb")]
pub use usb::{DeviceInfo, UsbRequest, UsbSource, list_devices};
