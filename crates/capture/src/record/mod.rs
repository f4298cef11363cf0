//! Incident clips with pre-roll: a bounded ring of the camera's last seconds of *encoded*
//! video, written out to MP4 when an incident starts and closed after its post-roll.
//!
//! Sources that arrive as H.264/H.265 (files, RTSP) hand their packets over as they are and
//! the clip is a remux: no decoder or encoder work at all (the "smart record" of NVRs). Raw
//! sources (USB, MJPEG, image folders), and every camera with a privacy mask, are encoded
//! once, continuously, with libx264 `ultrafast` on one thread, into the same ring. Either way a
//! clip starts on a keyframe at or before `start - pre_roll`.
//!
//! The recorder lives on its camera's thread; the alert stage drives it through a
//! [`ClipControl`] and hears back through [`RecordConfig::reports`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;
use ffmpeg_next as ff;

/// Encoders opened for clips in this process (a remuxing camera opens none).
static ENCODERS_OPENED: AtomicU64 = AtomicU64::new(0);

/// How many clip encoders this process has opened.
pub fn clip_encoders_opened() -> u64 {
    ENCODERS_OPENED.load(Ordering::Relaxed)
}

/// Clip recording settings of a camera.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// Folder the MP4 files go to.
    pub dir: PathBuf,
    /// Video kept before an incident's start.
    pub pre_roll: Duration,
    /// Video kept after an incident's end.
    pub post_roll: Duration,
    /// Longest clip; a longer incident's clip is closed at this length.
    pub max_length: Duration,
    /// Video the ring keeps beyond the pre-roll, for the time detection takes to decide.
    pub detection_allowance: Duration,
    /// Most bytes the ring may hold (whole GOPs are dropped, oldest first).
    pub max_ring_bytes: usize,
    /// Encode even when the source's packets could be remuxed (a privacy mask must be burnt in).
    pub force_encode: bool,
    /// Where finished (or failed) clips are reported.
    pub reports: Sender<ClipReport>,
}

impl RecordConfig {
    /// Defaults: 5 s pre-roll and post-roll, clips of at most 120 s, a 32 MiB ring.
    pub fn new(dir: impl Into<PathBuf>, reports: Sender<ClipReport>) -> Self {
        Self {
            dir: dir.into(),
            pre_roll: Duration::from_secs(5),
            post_roll: Duration::from_secs(5),
            max_length: Duration::from_secs(120),
            detection_allowance: Duration::from_secs(10),
            max_ring_bytes: 32 << 20,
            force_encode: false,
            reports,
        }
    }
}

/// What the alert stage asks of a camera's recorder. Times are the camera's media time
/// ([`crate::Frame::pts_s`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ClipCommand {
    /// Start clip `id` covering `at_s - pre_roll` onwards.
    Start {
        /// The clip's id (the alert's).
        id: String,
        /// The incident's start.
        at_s: f64,
    },
    /// Close clip `id` once `at_s + post_roll` is recorded.
    Finish {
        /// The clip's id.
        id: String,
        /// The incident's end.
        at_s: f64,
    },
}

/// Sends [`ClipCommand`]s to one camera's recorder. Commands to a stopped camera are dropped.
#[derive(Debug, Clone)]
pub struct ClipControl(pub(crate) Sender<ClipCommand>);

impl ClipControl {
    /// Starts a clip.
    pub fn start(&self, id: &str, at_s: f64) {
        let _ = self.0.send(ClipCommand::Start {
            id: id.into(),
            at_s,
        });
    }

    /// Schedules a clip's end.
    pub fn finish(&self, id: &str, at_s: f64) {
        let _ = self.0.send(ClipCommand::Finish {
            id: id.into(),
            at_s,
        });
    }
}

/// How a clip was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipMethod {
    /// The source's packets, remuxed.
    Remux,
    /// Encoded here with libx264.
    Encode,
}

impl ClipMethod {
    /// `remux` or `encode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remux => "remux",
            Self::Encode => "encode",
        }
    }
}

/// A finished clip file.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedClip {
    /// File name inside [`RecordConfig::dir`].
    pub file: String,
    /// Media time of its first frame.
    pub first_s: f64,
    /// Its length, seconds.
    pub duration_s: f64,
    /// Video frames in it.
    pub frames: u64,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Remuxed or encoded.
    pub method: ClipMethod,
}

/// The outcome of a [`ClipCommand::Start`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClipReport {
    /// The clip's id.
    pub id: String,
    /// The camera.
    pub camera: Arc<str>,
    /// The file, or why there is none.
    pub result: Result<SavedClip, String>,
}

/// A source's encoded stream, for remuxing.
pub struct EncodedStream {
    /// Codec parameters (with the SPS/PPS extradata).
    pub params: ff::codec::Parameters,
    /// Time base of the packets' timestamps.
    pub time_base: ff::Rational,
}

/// One encoded packet and its media time.
pub struct EncodedPacket {
    /// The packet (its buffer is reference-counted: keeping it copies nothing).
    pub packet: ff::Packet,
    /// Media time of its presentation, seconds.
    pub t: f64,
}

mod hash;
mod muxer;
mod recorder;
mod x264;

pub use hash::{hex, sha256_file};
pub(crate) use recorder::Recorder;
