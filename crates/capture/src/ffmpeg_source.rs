//! Video files and network streams decoded in-process by FFmpeg (ffmpeg-next).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use ff::media::Type;
use ffmpeg_next as ff;

use crate::source::{SourceInfo, SourceKind, SourceOptions, is_network};
use crate::{CaptureError, EncodedPacket, EncodedStream, Frame, FrameSource, Picture};

static FFMPEG_INIT: Once = Once::new();

fn init_ffmpeg() {
    FFMPEG_INIT.call_once(|| {
        // init() only registers devices and network state; it cannot fail in practice, and if
        // it did, the open that follows reports the real problem.
        let _ = ff::init();
        // FFmpeg's own log goes to stderr, unstructured; keep it quiet unless asked for, since
        // every error it reports also comes back as a typed error here.
        use ff::util::log::Level;
        let level = match std::env::var("FIGHTWATCH_FFMPEG_LOG").as_deref() {
            Ok("error") => Level::Error,
            Ok("warning") => Level::Warning,
            Ok("info") => Level::Info,
            Ok("debug") => Level::Debug,
            _ => Level::Fatal,
        };
        ff::util::log::set_level(level);
    });
}

/// Milliseconds since a process-wide start instant: a clock an atomic can hold.
fn monotonic_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Lets FFmpeg's blocking calls give up: on shutdown (the cancel flag) or when no data has
/// arrived for the stall timeout. FFmpeg polls it from inside connect and read calls.
struct Watchdog {
    cancel: Arc<AtomicBool>,
    last_progress_ms: AtomicU64,
    stall_ms: u64,
}

impl Watchdog {
    fn should_interrupt(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
            || (self.stall_ms > 0
                && monotonic_ms().saturating_sub(self.last_progress_ms.load(Ordering::Relaxed))
                    > self.stall_ms)
    }

    fn progress(&self) {
        self.last_progress_ms
            .store(monotonic_ms(), Ordering::Relaxed);
    }
}

/// A video file or network stream decoded by FFmpeg, converted to RGB24.
pub struct FfmpegSource {
    watchdog: Arc<Watchdog>,
    name: String,
    camera: Arc<str>,
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream_index: usize,
    time_base: f64,
    start_pts: Option<i64>,
    info: SourceInfo,
    seq: u64,
    eof_sent: bool,
    /// Corrupt packets skipped so far (a decoder error on one packet is not fatal).
    skipped_packets: u64,
    /// The stream's codec parameters, for remuxing (H.264/H.265 only).
    params: Option<ff::codec::Parameters>,
    time_base_q: ff::Rational,
    /// Packets kept for the recorder since it last took them.
    kept: Option<Vec<EncodedPacket>>,
}

/// More packets than this between two decoded frames means nobody takes them: stop keeping.
const MAX_KEPT_PACKETS: usize = 4096;

impl FfmpegSource {
    /// Opens `url` (a path or a network URL) as camera `camera`.
    pub fn open(url: &str, camera: &str, options: &SourceOptions) -> Result<Self, CaptureError> {
        init_ffmpeg();
        let network = is_network(url);
        let mut dict = ff::Dictionary::new();
        if network {
            let timeout_us = options.io_timeout.as_micros().to_string();
            if url.starts_with("rtsp") {
                dict.set("rtsp_transport", &options.rtsp_transport);
                // For RTSP, `timeout` is the socket I/O timeout in microseconds.
                dict.set("timeout", &timeout_us);
                // Hand packets over as they arrive instead of buffering for stream analysis
                // (lower latency). Only for RTSP: the HLS demuxer ends at once with it.
                dict.set("fflags", "nobuffer");
            } else {
                dict.set("rw_timeout", &timeout_us);
            }
        }
        let watchdog = Arc::new(Watchdog {
            cancel: options.cancel.clone().unwrap_or_default(),
            last_progress_ms: AtomicU64::new(monotonic_ms()),
            // Files never stall; a network stream that sends nothing for this long is dead.
            stall_ms: if network {
                stall_ms(options.stall_timeout)
            } else {
                0
            },
        });
        let dog = watchdog.clone();
        let input = ff::format::input_with_interrupt_and_dictionary(
            url,
            move || dog.should_interrupt(),
            dict,
        )
        .map_err(|e| {
            let message = if watchdog.cancel.load(Ordering::Relaxed) {
                "cancelled".to_string()
            } else if matches!(e, ff::Error::Exit) {
                format!("no data for {:?} (stalled)", options.stall_timeout)
            } else {
                e.to_string()
            };
            CaptureError::Open {
                source_name: crate::redact_source(url),
                message,
            }
        })?;
        watchdog.progress();
        let stream = input
            .streams()
            .best(Type::Video)
            .ok_or_else(|| CaptureError::NoVideoStream(crate::redact_source(url)))?;
        let stream_index = stream.index();
        let tb = stream.time_base();
        let time_base = f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
        let decoder_err = |e: ff::Error| CaptureError::Decoder {
            source_name: crate::redact_source(url),
            message: e.to_string(),
        };
        let mut context = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(decoder_err)?;
        let on_gpu = gpu_decoding(&mut context, stream.parameters().id(), options.decode, url)?;
        // NVDEC decodes in order on the device: one thread feeds it.
        let threads = if on_gpu { 1 } else { options.decode_threads };
        let mut threading = ff::threading::Config::count(threads);
        threading.kind = ff::threading::Type::Frame;
        context.set_threading(threading);
        let decoder = context.decoder().video().map_err(decoder_err)?;
        let rate = stream.avg_frame_rate();
        let rate = if rate.denominator() != 0 && rate.numerator() != 0 {
            rate
        } else {
            stream.rate()
        };
        let fps = if rate.denominator() != 0 {
            f64::from(rate.numerator()) / f64::from(rate.denominator())
        } else {
            0.0
        };
        let duration_s = (stream.duration() > 0)
            .then(|| stream.duration() as f64 * time_base)
            .or_else(|| {
                (input.duration() > 0)
                    .then(|| input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE))
            });
        let start_pts =
            (stream.start_time() != ff::ffi::AV_NOPTS_VALUE).then_some(stream.start_time());
        let params = matches!(
            stream.parameters().id(),
            ff::codec::Id::H264 | ff::codec::Id::HEVC
        )
        .then(|| stream.parameters().clone());
        let info = SourceInfo {
            kind: if network {
                SourceKind::Network
            } else {
                SourceKind::File
            },
            codec: decoder
                .codec()
                .map(|c| c.name().to_string())
                .unwrap_or_else(|| "unknown".into()),
            container: input.format().name().to_string(),
            width: decoder.width(),
            height: decoder.height(),
            fps,
            duration_s: if network { None } else { duration_s },
            frames_hint: (stream.frames() > 0).then_some(stream.frames() as u64),
        };
        Ok(Self {
            watchdog,
            // The name goes into errors and log lines: never the password.
            name: crate::redact_source(url),
            camera: camera.into(),
            input,
            decoder,
            stream_index,
            time_base,
            start_pts,
            info,
            seq: 0,
            eof_sent: false,
            skipped_packets: 0,
            params,
            time_base_q: tb,
            kept: None,
        })
    }

    fn read_error(&self, message: String) -> CaptureError {
        CaptureError::Read {
            source_name: self.name.clone(),
            frames: self.seq,
            message,
        }
    }

    /// Keeps a copy (a reference, no bytes copied) of a packet for the recorder.
    fn keep(&mut self, packet: &ff::Packet) {
        let Some(kept) = self.kept.as_mut() else {
            return;
        };
        if kept.len() >= MAX_KEPT_PACKETS {
            tracing::warn!(source = %self.name, "Packets kept for clips were never taken; no longer keeping them.");
            self.kept = None;
            return;
        }
        let Some(pts) = packet.pts().or(packet.dts()) else {
            return;
        };
        let start = *self.start_pts.get_or_insert(pts);
        kept.push(EncodedPacket {
            packet: packet.clone(),
            t: (pts - start) as f64 * self.time_base,
        });
    }

    /// Wraps a decoded frame (no pixel conversion: see [`crate::Picture`]); a GPU frame is
    /// copied to system memory first.
    fn wrap_frame(&mut self, decoded: ff::frame::Video) -> Result<Frame, CaptureError> {
        let decoded = if crate::hw_decode::on_gpu(&decoded) {
            crate::hw_decode::download(&decoded).map_err(|e| self.read_error(e))?
        } else {
            decoded
        };
        if decoded.width() == 0 || decoded.height() == 0 {
            return Err(self.read_error("decoder produced an empty frame".into()));
        }
        let pts = decoded.timestamp().or(decoded.pts());
        let pts_s = match pts {
            Some(p) => {
                let start = *self.start_pts.get_or_insert(p);
                (p - start) as f64 * self.time_base
            }
            None if self.info.fps > 0.0 => self.seq as f64 / self.info.fps,
            None => 0.0,
        };
        let frame = Frame {
            camera: self.camera.clone(),
            seq: self.seq,
            pts_s,
            captured_at: SystemTime::now(),
            picture: Arc::new(Picture::Video(decoded)),
            model_input: None,
            motion: None,
        };
        self.seq += 1;
        Ok(frame)
    }
}

/// Sets a decoder up for the GPU when `decode` asks: whether it is. `cuda` fails when it
/// cannot (the error says why); `auto` falls back to the CPU and logs why.
fn gpu_decoding(
    context: &mut ff::codec::context::Context,
    codec: ff::codec::Id,
    decode: crate::Decode,
    url: &str,
) -> Result<bool, CaptureError> {
    if decode == crate::Decode::Cpu {
        return Ok(false);
    }
    match crate::hw_decode::attach_cuda(context, codec) {
        Ok(()) => {
            tracing::info!(source = %crate::redact_source(url), "Decoding on the GPU (CUDA).");
            Ok(true)
        }
        Err(reason) if decode == crate::Decode::Auto => {
            tracing::info!(source = %crate::redact_source(url), %reason, "CUDA decoding unavailable; decoding on the CPU.");
            Ok(false)
        }
        Err(reason) => Err(CaptureError::Decoder {
            source_name: crate::redact_source(url),
            message: format!("decode = \"cuda\": {reason}"),
        }),
    }
}

impl FrameSource for FfmpegSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn skipped_packets(&self) -> u64 {
        self.skipped_packets
    }

    fn keep_packets(&mut self) -> Option<EncodedStream> {
        let params = self.params.clone()?;
        self.kept = Some(Vec::new());
        Some(EncodedStream {
            params,
            time_base: self.time_base_q,
        })
    }

    fn take_packets(&mut self, out: &mut Vec<EncodedPacket>) {
        if let Some(kept) = self.kept.as_mut() {
            out.append(kept);
        }
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let mut decoded = ff::frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => return self.wrap_frame(decoded).map(Some),
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(e) => return Err(self.read_error(format!("decoding: {e}"))),
            }
            if self.eof_sent {
                return Ok(None);
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    self.watchdog.progress();
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    self.keep(&packet);
                    if let Err(e) = self.decoder.send_packet(&packet) {
                        // One corrupt packet: skip it and keep decoding.
                        self.skipped_packets += 1;
                        tracing::debug!(source = %self.name, error = %e, "Skipped a packet the decoder refused.");
                    }
                }
                Err(ff::Error::Eof) => {
                    self.eof_sent = true;
                    self.decoder
                        .send_eof()
                        .map_err(|e| self.read_error(format!("flushing decoder: {e}")))?;
                }
                Err(ff::Error::InvalidData) => {
                    self.skipped_packets += 1;
                }
                Err(ff::Error::Exit) if self.watchdog.cancel.load(Ordering::Relaxed) => {
                    return Err(self.read_error("cancelled".into()));
                }
                Err(ff::Error::Exit) => {
                    return Err(self.read_error(format!(
                        "no data for {} ms (stalled)",
                        self.watchdog.stall_ms
                    )));
                }
                Err(e) => return Err(self.read_error(e.to_string())),
            }
        }
    }
}

fn stall_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
