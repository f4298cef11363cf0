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
| anything else, or `file:PATH` | [`FfmpegSource`] (a video file FFmpeg can decode) |

```no_run
use fightwatch_capture::{open, FrameSource, SourceOptions};

let mut source = open("fixtures/fight_street.mp4", "cam1", &SourceOptions::default())?;
while let Some(frame) = source.next_frame()? {
    println!("frame {} at {:.3} s: {}x{}", frame.seq, frame.pts_s, frame.width(), frame.height());
}
# Ok::<(), fightwatch_capture::CaptureError>(())
```
*/

mod error;
mod ffmpeg_source;
mod frame;
mod image_dir;
mod source;

pub use error::CaptureError;
pub use ffmpeg_source::FfmpegSource;
pub use frame::Frame;
pub use image_dir::ImageDirSource;
pub use source::{FrameSource, SourceInfo, SourceKind, SourceOptions, open};
