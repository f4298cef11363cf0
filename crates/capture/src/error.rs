use std::path::PathBuf;

/// Errors from opening and reading frame sources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file or directory does not exist.
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    /// The source string names a scheme fightwatch cannot read.
    #[error(
        "unsupported source {0:?}: use a file path, dir:PATH, rtsp://, http(s):// or usb:INDEX"
    )]
    UnsupportedScheme(String),
    /// FFmpeg could not open the input (not a video, unreachable host, refused connection, ...).
    #[error("cannot open {source_name}: {message}")]
    Open {
        /// The source as given.
        source_name: String,
        /// What FFmpeg said.
        message: String,
    },
    /// The input opened but holds no video stream.
    #[error("{0} has no video stream")]
    NoVideoStream(String),
    /// The video codec cannot be decoded by this FFmpeg build.
    #[error("cannot decode the video of {source_name}: {message}")]
    Decoder {
        /// The source as given.
        source_name: String,
        /// What FFmpeg said.
        message: String,
    },
    /// Reading or decoding failed after the source opened (truncated file, dropped connection).
    #[error("reading {source_name} failed after {frames} frames: {message}")]
    Read {
        /// The source as given.
        source_name: String,
        /// Frames delivered before the failure.
        frames: u64,
        /// What failed.
        message: String,
    },
    /// An image in an image folder could not be decoded.
    #[error("cannot decode image {path}: {message}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// An image folder holds no JPEG or PNG files.
    #[error("{0} holds no .jpg, .jpeg or .png frames")]
    EmptyImageDir(PathBuf),
    /// A parameter is out of range (fps ≤ 0, ...).
    #[error("invalid source option: {0}")]
    InvalidOption(String),
}
