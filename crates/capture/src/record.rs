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

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use ffmpeg_next as ff;
use sha2::{Digest, Sha256};

use crate::Picture;

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

struct Output {
    params: ff::codec::Parameters,
    time_base: ff::Rational,
    method: ClipMethod,
}

struct ActiveClip {
    id: String,
    file: String,
    part: PathBuf,
    muxer: ff::format::context::Output,
    in_tb: ff::Rational,
    out_tb: ff::Rational,
    base_dts: Option<i64>,
    first_t: Option<f64>,
    last_t: f64,
    frames: u64,
    until: Option<f64>,
    method: ClipMethod,
}

/// A camera's recorder: the ring, the clip being written, and (raw sources) the encoder.
pub(crate) struct Recorder {
    config: RecordConfig,
    camera: Arc<str>,
    commands: Receiver<ClipCommand>,
    output: Option<Output>,
    ring: VecDeque<EncodedPacket>,
    ring_bytes: usize,
    encoder: Option<X264>,
    encoded: Vec<EncodedPacket>,
    active: Option<ActiveClip>,
    fps_hint: f64,
    ring_bytes_gauge: Arc<AtomicU64>,
}

impl Recorder {
    pub(crate) fn new(
        config: RecordConfig,
        camera: Arc<str>,
        commands: Receiver<ClipCommand>,
        ring_bytes_gauge: Arc<AtomicU64>,
    ) -> Self {
        Self {
            config,
            camera,
            commands,
            output: None,
            ring: VecDeque::new(),
            ring_bytes: 0,
            encoder: None,
            encoded: Vec::new(),
            active: None,
            fps_hint: 0.0,
            ring_bytes_gauge,
        }
    }

    /// A new session with the source: remux its packets when it offers them (and no mask
    /// forbids it), otherwise encode its frames. What was kept of the last session goes.
    pub(crate) fn begin(&mut self, stream: Option<EncodedStream>, fps: f64) {
        self.end_session();
        self.fps_hint = fps;
        self.output = match stream {
            Some(s) if !self.config.force_encode => Some(Output {
                params: s.params,
                time_base: s.time_base,
                method: ClipMethod::Remux,
            }),
            _ => None,
        };
    }

    /// Whether this session remuxes the source's packets.
    pub(crate) fn remuxes(&self) -> bool {
        self.output
            .as_ref()
            .is_some_and(|o| o.method == ClipMethod::Remux)
    }

    /// Packets of a remuxing session, `offset` added to their media time (looping files).
    pub(crate) fn packets(&mut self, packets: &mut Vec<EncodedPacket>, offset: f64) {
        self.poll();
        for mut p in packets.drain(..) {
            p.t += offset;
            self.push(p);
        }
    }

    /// A frame of an encoding session.
    pub(crate) fn frame(&mut self, picture: &Picture, t: f64) {
        self.poll();
        let (w, h) = (picture.width() & !1, picture.height() & !1);
        if w < 2 || h < 2 {
            return;
        }
        if self.encoder.as_ref().is_some_and(|e| e.size != (w, h)) {
            // New resolution: the kept video cannot be muxed with what follows.
            self.end_session();
        }
        if self.encoder.is_none() {
            match X264::open(w, h, self.fps_hint) {
                Ok(encoder) => {
                    self.output = Some(Output {
                        params: ff::codec::Parameters::from(&encoder.encoder),
                        time_base: ff::Rational(1, 1000),
                        method: ClipMethod::Encode,
                    });
                    self.encoder = Some(encoder);
                }
                Err(e) => {
                    tracing::error!(camera = %self.camera, error = %e, "Cannot open the clip encoder; no clips for this camera.");
                    return;
                }
            }
        }
        let mut out = std::mem::take(&mut self.encoded);
        if let Some(encoder) = self.encoder.as_mut()
            && let Err(e) = encoder.encode(picture, t, &mut out)
        {
            tracing::warn!(camera = %self.camera, error = %e, "A frame could not be encoded for clips.");
        }
        for p in out.drain(..) {
            self.push(p);
        }
        self.encoded = out;
    }

    /// The source ended or failed: the clip being written closes with what it has.
    pub(crate) fn end_session(&mut self) {
        self.poll();
        self.close("the camera's stream ended");
        self.ring.clear();
        self.ring_bytes = 0;
        self.ring_bytes_gauge.store(0, Ordering::Relaxed);
        self.encoder = None;
        self.output = None;
    }

    /// Handles the commands that arrived.
    fn poll(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                ClipCommand::Start { id, at_s } => {
                    self.close("another incident started");
                    self.start(id, at_s);
                }
                ClipCommand::Finish { id, at_s } => {
                    if let Some(active) = self.active.as_mut().filter(|a| a.id == id) {
                        active.until = Some(at_s + self.config.post_roll.as_secs_f64());
                    }
                }
            }
        }
    }

    fn report(&self, id: String, result: Result<SavedClip, String>) {
        if let Err(e) = &result {
            tracing::warn!(camera = %self.camera, clip = %id, error = %e, "No clip for this incident.");
        }
        let _ = self.config.reports.send(ClipReport {
            id,
            camera: self.camera.clone(),
            result,
        });
    }

    fn start(&mut self, id: String, at_s: f64) {
        let Some(output) = &self.output else {
            self.report(id, Err("the camera has no video to record yet".into()));
            return;
        };
        let file = format!(
            "{}-{}-{:08x}.mp4",
            fightwatch_protocol::file_safe(&self.camera),
            fightwatch_protocol::file_safe(&id),
            fastrand::u32(..)
        );
        let part = self.config.dir.join(format!("{file}.part"));
        let muxer = match open_muxer(&self.config.dir, &part, output) {
            Ok(m) => m,
            Err(e) => {
                self.report(id, Err(format!("cannot write {}: {e}", part.display())));
                return;
            }
        };
        let out_tb = muxer.stream(0).map_or(output.time_base, |s| s.time_base());
        self.active = Some(ActiveClip {
            id,
            file,
            part,
            muxer,
            in_tb: output.time_base,
            out_tb,
            base_dts: None,
            first_t: None,
            last_t: 0.0,
            frames: 0,
            until: None,
            method: output.method,
        });
        // From the last keyframe at or before the pre-roll's start (the oldest one if the ring
        // does not reach back that far).
        let from = at_s - self.config.pre_roll.as_secs_f64();
        let keys = self
            .ring
            .iter()
            .enumerate()
            .filter(|(_, p)| p.packet.is_key());
        let first = keys
            .clone()
            .rev()
            .find(|(_, p)| p.t <= from)
            .or_else(|| keys.clone().next())
            .map(|(i, _)| i);
        if let Some(first) = first {
            let kept: Vec<(ff::Packet, f64)> = self
                .ring
                .range(first..)
                .map(|p| (p.packet.clone(), p.t))
                .collect();
            for (packet, t) in kept {
                self.write(&packet, t);
            }
        }
    }

    fn push(&mut self, p: EncodedPacket) {
        self.write(&p.packet, p.t);
        let newest = p.t;
        self.ring_bytes += p.packet.size();
        let key = p.packet.is_key();
        self.ring.push_back(p);
        if key {
            self.trim(newest);
        }
        self.ring_bytes_gauge
            .store(self.ring_bytes as u64, Ordering::Relaxed);
    }

    /// Drops whole GOPs from the front while the next one still starts early enough (or the
    /// ring is over its byte limit).
    fn trim(&mut self, newest: f64) {
        let keep_s = (self.config.pre_roll + self.config.detection_allowance).as_secs_f64();
        loop {
            let Some(next_key) = self
                .ring
                .iter()
                .skip(1)
                .position(|p| p.packet.is_key())
                .map(|i| i + 1)
            else {
                return;
            };
            let over = self.ring_bytes > self.config.max_ring_bytes;
            if !(over || self.ring[next_key].t <= newest - keep_s) {
                return;
            }
            for p in self.ring.drain(..next_key) {
                self.ring_bytes -= p.packet.size();
            }
        }
    }

    /// Writes a packet to the clip being recorded, and closes the clip when it is done.
    fn write(&mut self, packet: &ff::Packet, t: f64) {
        let max_s = self.config.max_length.as_secs_f64();
        let Some(active) = self.active.as_ref() else {
            return;
        };
        if active.first_t.is_none() && !packet.is_key() {
            return; // a clip starts on a keyframe
        }
        if active.until.is_some_and(|u| t > u) || active.first_t.is_some_and(|f| t - f >= max_s) {
            self.close("");
            return;
        }
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let (Some(dts), Some(pts)) = (packet.dts().or(packet.pts()), packet.pts().or(packet.dts()))
        else {
            return;
        };
        let base = *active.base_dts.get_or_insert(dts);
        let mut p = packet.clone();
        p.set_dts(Some(dts - base));
        p.set_pts(Some(pts - base));
        p.rescale_ts(active.in_tb, active.out_tb);
        p.set_stream(0);
        p.set_position(-1);
        match p.write(&mut active.muxer) {
            Ok(_) => {
                active.first_t.get_or_insert(t);
                active.last_t = active.last_t.max(t);
                active.frames += 1;
            }
            Err(e) => {
                let id = active.id.clone();
                let part = active.part.clone();
                self.active = None;
                let _ = std::fs::remove_file(&part);
                self.report(id, Err(format!("writing the clip: {e}")));
            }
        }
    }

    /// Finishes the clip being written (if any) and reports it. `why` is logged when the clip
    /// is cut short.
    fn close(&mut self, why: &str) {
        let Some(mut active) = self.active.take() else {
            return;
        };
        if !why.is_empty() {
            tracing::info!(camera = %self.camera, clip = %active.id, reason = why, "Clip closed early.");
        }
        let id = active.id.clone();
        let finished = active
            .first_t
            .ok_or_else(|| "no keyframe arrived before the clip had to close".to_string())
            .and_then(|first_t| {
                active
                    .muxer
                    .write_trailer()
                    .map(|()| first_t)
                    .map_err(|e| format!("finishing the MP4: {e}"))
            });
        drop(active.muxer);
        let first_t = match finished {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(&active.part);
                self.report(id, Err(e));
                return;
            }
        };
        // Hashing a long clip reads tens of MB: not on the camera's thread, which must keep
        // decoding.
        let span = active.last_t - first_t;
        let step = if active.frames > 1 {
            span / (active.frames - 1) as f64
        } else {
            0.0
        };
        let path = self.config.dir.join(&active.file);
        let (reports, camera) = (self.config.reports.clone(), self.camera.clone());
        let (part, file, frames, method) = (active.part, active.file, active.frames, active.method);
        let finish = move || {
            let result = std::fs::rename(&part, &path)
                .and_then(|()| sha256_file(&path))
                .map(|(bytes, sha256)| SavedClip {
                    file,
                    first_s: first_t,
                    duration_s: span + step,
                    frames,
                    bytes,
                    sha256,
                    method,
                })
                .map_err(|e| format!("{}: {e}", path.display()));
            if let Err(e) = &result {
                let _ = std::fs::remove_file(&part);
                tracing::warn!(%camera, clip = %id, error = %e, "No clip for this incident.");
            }
            let _ = reports.send(ClipReport { id, camera, result });
        };
        if let Err(e) = std::thread::Builder::new()
            .name("clip-finish".into())
            .spawn(finish)
        {
            tracing::error!(error = %e, "Cannot start a thread to finish a clip.");
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.poll();
        self.close("the camera stopped");
    }
}

fn open_muxer(
    dir: &Path,
    part: &Path,
    output: &Output,
) -> Result<ff::format::context::Output, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| e.to_string())?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut muxer = ff::format::output_as(part, "mp4").map_err(|e| e.to_string())?;
    // FFmpeg creates the file as the umask allows; evidence is its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(part, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    {
        let mut stream = muxer
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| e.to_string())?;
        stream.set_parameters(output.params.clone());
        stream.set_time_base(output.time_base);
    }
    let mut options = ff::Dictionary::new();
    // The index up front: a browser can play and seek before it has the whole file.
    options.set("movflags", "+faststart");
    muxer
        .write_header_with(options)
        .map_err(|e| format!("MP4 header: {e}"))?;
    Ok(muxer)
}

/// Size and SHA-256 (lowercase hex) of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((bytes, hex(&hasher.finalize())))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// libx264 `ultrafast`, one thread, a keyframe every second, no B-frames: the cheapest encoder
/// that a browser plays.
struct X264 {
    encoder: ff::encoder::video::Encoder,
    size: (u32, u32),
    scaler: Option<(ff::format::Pixel, u32, u32, ff::software::scaling::Context)>,
    yuv: ff::frame::Video,
    last_pts: Option<i64>,
}

impl X264 {
    fn open(width: u32, height: u32, fps: f64) -> Result<Self, String> {
        let codec = ff::encoder::find_by_name("libx264")
            .ok_or("FFmpeg was built without libx264 (Debian's libavcodec has it)")?;
        let mut encoder = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| e.to_string())?;
        let fps = if fps.is_finite() && fps >= 1.0 {
            fps
        } else {
            15.0
        };
        encoder.set_width(width);
        encoder.set_height(height);
        encoder.set_format(ff::format::Pixel::YUV420P);
        encoder.set_time_base(ff::Rational(1, 1000));
        encoder.set_frame_rate(Some(ff::Rational(fps.round() as i32, 1)));
        encoder.set_gop(fps.round() as u32);
        encoder.set_max_b_frames(0);
        // MP4 wants the SPS/PPS in the stream header, not only in the packets.
        encoder.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        let mut options = ff::Dictionary::new();
        options.set("preset", "ultrafast");
        options.set("tune", "zerolatency");
        options.set("crf", "26");
        options.set("threads", "1");
        let encoder = encoder
            .open_as_with(codec, options)
            .map_err(|e| format!("opening libx264: {e}"))?;
        ENCODERS_OPENED.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            encoder,
            size: (width, height),
            scaler: None,
            yuv: ff::frame::Video::empty(),
            last_pts: None,
        })
    }

    fn encode(
        &mut self,
        picture: &Picture,
        t: f64,
        out: &mut Vec<EncodedPacket>,
    ) -> Result<(), String> {
        let rgb_frame;
        let source: &ff::frame::Video = match picture {
            Picture::Video(v) => v,
            Picture::Rgb(image) => {
                rgb_frame = crate::frame::rgb_frame(image);
                &rgb_frame
            }
        };
        let (w, h) = self.size;
        let key = (source.format(), source.width(), source.height());
        if self
            .scaler
            .as_ref()
            .is_none_or(|(f, sw, sh, _)| (*f, *sw, *sh) != key)
        {
            let ctx = ff::software::scaling::Context::get(
                key.0,
                key.1,
                key.2,
                ff::format::Pixel::YUV420P,
                w,
                h,
                ff::software::scaling::Flags::BILINEAR,
            )
            .map_err(|e| e.to_string())?;
            self.scaler = Some((key.0, key.1, key.2, ctx));
        }
        if let Some((_, _, _, scaler)) = self.scaler.as_mut() {
            scaler
                .run(source, &mut self.yuv)
                .map_err(|e| e.to_string())?;
        }
        let mut pts = (t * 1000.0).round() as i64;
        if let Some(last) = self.last_pts
            && pts <= last
        {
            pts = last + 1;
        }
        self.last_pts = Some(pts);
        self.yuv.set_pts(Some(pts));
        self.encoder
            .send_frame(&self.yuv)
            .map_err(|e| e.to_string())?;
        let mut packet = ff::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let t = packet.pts().unwrap_or(pts) as f64 / 1000.0;
            out.push(EncodedPacket {
                packet: std::mem::replace(&mut packet, ff::Packet::empty()),
                t,
            });
        }
        Ok(())
    }
}
