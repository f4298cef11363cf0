//! A camera: one thread that keeps a source open, paces and samples its frames, reconnects live
//! sources, and reports its status.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};

use crate::fmp4::Fmp4Writer;
use crate::record::{ClipCommand, ClipControl, RecordConfig, Recorder};
use crate::source::{SourceInfo, SourceOptions, is_network};
use crate::{
    CaptureError, EncodedPacket, FaultReason, Frame, FrameResizer, FrameSource, LatestFrame,
    LiveVideo, MaskPainter, MotionMeter, PrivacyMask, ResizeSpec, SourceFault,
};

/// How frames of a recorded file are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// As fast as the consumer takes them; every frame is delivered (a full queue blocks).
    AsFastAsPossible,
    /// At the speed they were recorded, by their timestamps.
    Realtime,
}

/// Reconnect delays (`fightwatch_retry`'s policy: 1 s doubling to 30 s, ±20 % so that many
/// cameras behind one failed switch do not reconnect in lockstep).
pub use fightwatch_retry::Backoff;

/// Everything a camera thread needs.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    /// Camera name: it goes into every frame and status event.
    pub name: String,
    /// The source string (see [`crate::open`]).
    pub source: String,
    /// Deliver at most this many frames per second of media time (`None`: every frame).
    pub analysis_fps: Option<f64>,
    /// Pacing of recorded files (live sources are always real time).
    pub pacing: Pacing,
    /// Start a recorded file again when it ends.
    pub loop_file: bool,
    /// Queue length between the camera and its consumer.
    pub queue: usize,
    /// Reconnect delays for live sources.
    pub backoff: Backoff,
    /// Source options (timeouts, RTSP transport, ...).
    pub options: SourceOptions,
    /// Resize each delivered frame for the model (`Frame::model_input`), on this camera's thread.
    pub model_resize: Option<ResizeSpec>,
    /// Keep a pre-roll ring and write incident clips ([`Camera::clips`] drives it).
    pub record: Option<RecordConfig>,
    /// Black these areas out of every frame (and so of snapshots, clips, live view).
    pub mask: Option<PrivacyMask>,
    /// Mask the model's input too (by default the model sees the whole picture).
    pub mask_inference: bool,
}

impl CameraConfig {
    /// A camera with default settings: every frame, as fast as possible, no loop, queue of 8.
    pub fn new(name: &str, source: &str) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            analysis_fps: None,
            pacing: Pacing::AsFastAsPossible,
            loop_file: false,
            queue: 8,
            backoff: Backoff::default(),
            options: SourceOptions::default(),
            model_resize: None,
            record: None,
            mask: None,
            mask_inference: false,
        }
    }
}

/// A camera thread's state, with its details (what it streams, why it is down); the wire's
/// `fightwatch_protocol::CameraStatus` is its summary for dashboards.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureState {
    /// Opened and delivering frames.
    Online(SourceInfo),
    /// Lost (or never reached); trying again after `retry_in`.
    Reconnecting {
        /// Why the last attempt failed.
        error: SourceFault,
        /// Attempts since the camera was last online.
        attempt: u32,
        /// Wait before the next attempt.
        retry_in: Duration,
    },
    /// Stopped for good: a recorded file failed, or the camera was stopped.
    Offline {
        /// Why; `None` when stopped on request.
        error: Option<SourceFault>,
    },
    /// A recorded file reached its end (and does not loop).
    Ended,
}

/// A status change with the camera's name.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    /// The camera.
    pub camera: Arc<str>,
    /// The new status.
    pub status: CaptureState,
}

/// Counters a camera keeps; read them at any time.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Frames decoded.
    pub decoded: AtomicU64,
    /// Frames delivered to the queue.
    pub delivered: AtomicU64,
    /// Frames dropped because the consumer was behind (live sources only).
    pub dropped: AtomicU64,
    /// Frames skipped to meet the analysis fps.
    pub sampled_out: AtomicU64,
    /// Successful reconnects.
    pub reconnects: AtomicU64,
    /// Corrupt packets skipped (all sessions).
    pub skipped_packets: AtomicU64,
    /// Bytes of encoded video in the clip pre-roll ring now.
    pub clip_ring_bytes: Arc<AtomicU64>,
}

/// A running camera. Dropping it stops the thread.
pub struct Camera {
    name: Arc<str>,
    frames: Receiver<Frame>,
    cancel: Arc<AtomicBool>,
    stats: Arc<CameraStats>,
    clips: Option<ClipControl>,
    latest: Arc<LatestFrame>,
    video: Arc<LiveVideo>,
    thread: Option<JoinHandle<()>>,
}

impl Camera {
    /// Starts the camera thread. Status changes go to `status`.
    pub fn start(config: CameraConfig, status: Sender<StatusEvent>) -> Result<Self, CaptureError> {
        if config
            .analysis_fps
            .is_some_and(|f| !(f.is_finite() && f > 0.0))
        {
            return Err(CaptureError::InvalidOption(format!(
                "analysis fps must be > 0, got {:?}",
                config.analysis_fps
            )));
        }
        let (tx, rx) = crossbeam_channel::bounded(config.queue.max(1));
        let cancel = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(CameraStats::default());
        let name: Arc<str> = config.name.as_str().into();
        let mut options = config.options.clone();
        options.cancel = Some(cancel.clone());
        let (clips, commands) = match &config.record {
            Some(_) => {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Some(ClipControl(tx)), Some(rx))
            }
            None => (None, None),
        };
        let latest = Arc::new(LatestFrame::default());
        let video = Arc::new(LiveVideo::default());
        let worker = Worker {
            commands,
            latest: latest.clone(),
            video: video.clone(),
            live: is_network(&config.source) || config.source.starts_with("usb:"),
            config: CameraConfig { options, ..config },
            name: name.clone(),
            frames: tx,
            drain: rx.clone(),
            status,
            cancel: cancel.clone(),
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("camera-{name}"))
            .spawn(move || worker.run())
            .map_err(|e| CaptureError::InvalidOption(format!("cannot start camera thread: {e}")))?;
        Ok(Self {
            name,
            frames: rx,
            cancel,
            stats,
            clips,
            latest,
            video,
            thread: Some(thread),
        })
    }

    /// Starts and finishes incident clips (cameras configured with [`CameraConfig::record`]).
    pub fn clips(&self) -> Option<&ClipControl> {
        self.clips.as_ref()
    }

    /// The newest frame, for live view.
    pub fn latest(&self) -> &Arc<LatestFrame> {
        &self.latest
    }

    /// The camera's own video as fragmented MP4, for live view (H.264 cameras without a
    /// privacy mask; others say why not).
    pub fn live_video(&self) -> &Arc<LiveVideo> {
        &self.video
    }

    /// What live view reads: the newest frame and the camera's own video.
    pub fn live_feed(&self) -> crate::LiveFeed {
        crate::LiveFeed {
            frame: self.latest.clone(),
            video: self.video.clone(),
        }
    }

    /// The camera's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The frame queue. It disconnects when the camera stops.
    pub fn frames(&self) -> &Receiver<Frame> {
        &self.frames
    }

    /// Counters.
    pub fn stats(&self) -> &Arc<CameraStats> {
        &self.stats
    }

    /// Asks the thread to stop and waits for it (blocked network calls are interrupted).
    pub fn stop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // A panicking camera thread has already reported itself through the panic hook.
            let _ = t.join();
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    config: CameraConfig,
    live: bool,
    name: Arc<str>,
    frames: Sender<Frame>,
    /// A receiver clone used to drop the oldest queued frame when a live camera's queue is full.
    drain: Receiver<Frame>,
    status: Sender<StatusEvent>,
    cancel: Arc<AtomicBool>,
    stats: Arc<CameraStats>,
    commands: Option<Receiver<ClipCommand>>,
    latest: Arc<LatestFrame>,
    video: Arc<LiveVideo>,
}

/// What a session does with each decoded frame besides delivering it.
struct Taps {
    resizer: Option<FrameResizer>,
    recorder: Option<Recorder>,
    painter: Option<MaskPainter>,
    /// The source's packets are kept this session (for clips or live video).
    keeps_packets: bool,
    packets: Vec<EncodedPacket>,
    /// This session's live video: its writer and the packets' time base (seconds a tick).
    video: Option<(Fmp4Writer, f64)>,
    motion: MotionMeter,
}

/// Why one session with the source ended.
enum SessionEnd {
    /// End of file.
    Eof,
    /// The consumer went away or stop was asked.
    Stopped,
}

impl Worker {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn report(&self, status: CaptureState) {
        match &status {
            CaptureState::Online(info) => {
                tracing::info!(camera = %self.name, codec = %info.codec, width = info.width, height = info.height, fps = info.fps, "Camera online.")
            }
            CaptureState::Reconnecting {
                error,
                attempt,
                retry_in,
            } => {
                tracing::warn!(camera = %self.name, %error, attempt, retry_in_ms = retry_in.as_millis() as u64, "Camera lost; reconnecting.")
            }
            CaptureState::Offline { error: Some(error) } => {
                tracing::error!(camera = %self.name, %error, "Camera offline.")
            }
            CaptureState::Offline { error: None } => {
                tracing::info!(camera = %self.name, "Camera stopped.")
            }
            CaptureState::Ended => tracing::info!(camera = %self.name, "Recording ended."),
        }
        // Nobody listening is fine: status is advisory.
        let _ = self.status.send(StatusEvent {
            camera: self.name.clone(),
            status,
        });
    }

    fn run(self) {
        // Built here, not in start(): swscale contexts, codec parameters and the clip encoder
        // stay on the thread that uses them.
        let mut taps = Taps {
            resizer: self.config.model_resize.map(FrameResizer::new),
            motion: MotionMeter::new(),
            recorder: self.config.record.clone().zip(self.commands.clone()).map(
                |(config, commands)| {
                    Recorder::new(
                        config,
                        self.name.clone(),
                        commands,
                        self.stats.clip_ring_bytes.clone(),
                    )
                },
            ),
            painter: self.config.mask.clone().map(MaskPainter::new),
            keeps_packets: false,
            packets: Vec::new(),
            video: None,
        };
        let mut seq = 0u64;
        let mut pts_offset = 0.0;
        let mut attempt = 0u32;
        let mut ever_online = false;
        // A looping file reopened at its end is the same camera carrying on, not a reconnect.
        let mut looped = false;
        loop {
            if self.cancelled() {
                self.report(CaptureState::Offline { error: None });
                return;
            }
            let opened = crate::open(&self.config.source, &self.name, &self.config.options);
            let result = match opened {
                Ok(mut source) => {
                    attempt = 0;
                    if std::mem::take(&mut looped) {
                        tracing::debug!(camera = %self.name, "Looping the file from its start.");
                    } else {
                        if ever_online {
                            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                        }
                        self.report(CaptureState::Online(source.info().clone()));
                    }
                    ever_online = true;
                    self.begin_taps(source.as_mut(), &mut taps);
                    let result =
                        self.session(source.as_mut(), &mut taps, &mut seq, &mut pts_offset);
                    if let Some(recorder) = taps.recorder.as_mut() {
                        recorder.end_session();
                    }
                    self.end_video(&mut taps, &result);
                    self.latest.clear();
                    self.stats
                        .skipped_packets
                        .fetch_add(source.skipped_packets(), Ordering::Relaxed);
                    result
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(SessionEnd::Stopped) => {
                    self.report(CaptureState::Offline { error: None });
                    return;
                }
                Ok(SessionEnd::Eof) if self.live => {
                    attempt += 1;
                    if !self.wait_reconnect(
                        SourceFault::other(FaultReason::StreamEnded, "stream ended"),
                        attempt,
                    ) {
                        return;
                    }
                }
                Ok(SessionEnd::Eof) if self.config.loop_file => looped = true,
                Ok(SessionEnd::Eof) => {
                    self.report(CaptureState::Ended);
                    return;
                }
                Err(_) if self.cancelled() => {
                    self.report(CaptureState::Offline { error: None });
                    return;
                }
                Err(e) if self.live => {
                    attempt += 1;
                    if !self.wait_reconnect(SourceFault::new(&e, &self.config.source), attempt) {
                        return;
                    }
                }
                Err(e) => {
                    self.report(CaptureState::Offline {
                        error: Some(SourceFault::new(&e, &self.config.source)),
                    });
                    return;
                }
            }
        }
    }

    /// Asks the new session's source for its packets when clips or live video want them, and
    /// starts the session's recorder and live video.
    fn begin_taps(&self, source: &mut dyn FrameSource, taps: &mut Taps) {
        let masked = self.config.mask.is_some();
        let forced = self.config.record.as_ref().is_some_and(|r| r.force_encode);
        let remux_clips = taps.recorder.is_some() && !forced;
        let stream = if remux_clips || !masked {
            source.keep_packets()
        } else {
            None
        };
        taps.keeps_packets = stream.is_some();
        taps.video = None;
        let video = match (&stream, masked) {
            // A mask must be burnt in: the camera's own video shows everything.
            (_, true) => Err("the camera has a privacy mask, burnt into its JPEG live view".into()),
            (None, false) => Err("the camera's frames are not encoded video".into()),
            (Some(s), false) => match Fmp4Writer::new(&s.params, source.info().fps) {
                Ok((writer, init)) => {
                    taps.video = Some((writer, f64::from(s.time_base)));
                    Ok(init)
                }
                Err(e) => Err(e.to_string()),
            },
        };
        self.video.begin(video);
        if let Some(recorder) = taps.recorder.as_mut() {
            recorder.begin(stream.filter(|_| !forced), source.info().fps);
        }
    }

    /// This session's packets to live video.
    fn send_video(&self, taps: &mut Taps) {
        let Some((writer, time_base)) = taps.video.as_mut() else {
            return;
        };
        for p in &taps.packets {
            let (Some(data), Some(pts)) = (p.packet.data(), p.packet.pts()) else {
                continue;
            };
            let dts = p.packet.dts().unwrap_or(pts);
            let dts_s = p.t + (dts - pts) as f64 * *time_base;
            match writer.push(data, p.packet.is_key(), dts_s, p.t) {
                Ok(Some(fragment)) => self.video.fragment(fragment),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(camera = %self.name, error = %e, "Live video stopped for this session.");
                    self.video.end(&e.to_string());
                    taps.video = None;
                    return;
                }
            }
        }
    }

    /// Flushes the session's live video; unless a file loops on, viewers hear it ended.
    fn end_video(&self, taps: &mut Taps, result: &Result<SessionEnd, CaptureError>) {
        if let Some((mut writer, _)) = taps.video.take()
            && let Ok(Some(last)) = writer.finish()
        {
            self.video.fragment(last);
        }
        let loops_on = matches!(result, Ok(SessionEnd::Eof)) && self.config.loop_file && !self.live;
        if !loops_on {
            self.video.end("the camera's stream ended");
        }
    }

    /// Reports and sleeps before the next attempt; false when stopped meanwhile.
    fn wait_reconnect(&self, error: SourceFault, attempt: u32) -> bool {
        let retry_in = self.config.backoff.delay(attempt);
        self.report(CaptureState::Reconnecting {
            error,
            attempt,
            retry_in,
        });
        let until = Instant::now() + retry_in;
        while Instant::now() < until {
            if self.cancelled() {
                self.report(CaptureState::Offline { error: None });
                return false;
            }
            std::thread::sleep(
                Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())),
            );
        }
        true
    }

    /// Reads one opened source until it ends, fails, or the camera stops.
    fn session(
        &self,
        source: &mut dyn FrameSource,
        taps: &mut Taps,
        seq: &mut u64,
        pts_offset: &mut f64,
    ) -> Result<SessionEnd, CaptureError> {
        let realtime = self.live || self.config.pacing == Pacing::Realtime;
        let lossless = !self.live && self.config.pacing == Pacing::AsFastAsPossible;
        let period = self.config.analysis_fps.map(|f| 1.0 / f);
        let mut last_slot: Option<i64> = None;
        let mut clock: Option<(Instant, f64)> = None;
        let mut last_pts = *pts_offset;
        let frame_step = if source.info().fps > 0.0 {
            1.0 / source.info().fps
        } else {
            0.0
        };
        loop {
            if self.cancelled() {
                return Ok(SessionEnd::Stopped);
            }
            let Some(mut frame) = source.next_frame()? else {
                // The next loop of a file continues the timeline one frame after this one.
                *pts_offset = last_pts + frame_step;
                return Ok(SessionEnd::Eof);
            };
            self.stats.decoded.fetch_add(1, Ordering::Relaxed);
            if !self.live {
                frame.pts_s += *pts_offset;
            }
            frame.seq = *seq;
            *seq += 1;
            last_pts = frame.pts_s;
            // The model may see the unmasked picture; nothing else does.
            let unmasked = frame.picture.clone();
            if let Some(painter) = taps.painter.as_mut() {
                frame.picture = Arc::new(painter.paint(&frame.picture)?);
            }
            if taps.keeps_packets {
                source.take_packets(&mut taps.packets);
                // Looping files: the next loop's packets continue the timeline.
                let offset = if self.live { 0.0 } else { *pts_offset };
                for p in &mut taps.packets {
                    p.t += offset;
                }
                self.send_video(taps);
            }
            if let Some(recorder) = taps.recorder.as_mut() {
                if recorder.remuxes() {
                    recorder.packets(&mut taps.packets);
                } else {
                    recorder.frame(&frame.picture, frame.pts_s);
                }
            }
            taps.packets.clear();
            self.latest.put(frame.seq, frame.picture.clone());
            if let Some(period) = period {
                // Keep the first frame of each analysis slot.
                let slot = (frame.pts_s / period + 1e-6).floor() as i64;
                if last_slot.is_some_and(|s| slot <= s) {
                    self.stats.sampled_out.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                last_slot = Some(slot);
            }
            if let Some(r) = taps.resizer.as_mut() {
                let input = if self.config.mask_inference {
                    &frame.picture
                } else {
                    &unmasked
                };
                let small = r.resize_picture(input)?;
                frame.motion = taps.motion.measure(frame.pts_s, &small);
                frame.model_input = Some(Arc::new(small));
            }
            if realtime && !self.live {
                let (start, first_pts) = *clock.get_or_insert((Instant::now(), frame.pts_s));
                let due = start + Duration::from_secs_f64((frame.pts_s - first_pts).max(0.0));
                while Instant::now() < due {
                    if self.cancelled() {
                        return Ok(SessionEnd::Stopped);
                    }
                    std::thread::sleep(
                        Duration::from_millis(10)
                            .min(due.saturating_duration_since(Instant::now())),
                    );
                }
                // A file played like a camera: its frame is "captured" when it is due, as a
                // live camera's would arrive, not when it was decoded ahead of time.
                frame.captured_at = std::time::SystemTime::now();
            }
            if lossless {
                if !self.send_blocking(frame) {
                    return Ok(SessionEnd::Stopped);
                }
            } else if !self.send_newest(frame) {
                return Ok(SessionEnd::Stopped);
            }
        }
    }

    /// Waits for room in the queue; false when the consumer is gone or the camera stops.
    fn send_blocking(&self, mut frame: Frame) -> bool {
        loop {
            match self.frames.send_timeout(frame, Duration::from_millis(50)) {
                Ok(()) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(SendTimeoutError::Timeout(f)) => {
                    if self.cancelled() {
                        return false;
                    }
                    frame = f;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }

    /// Never blocks the camera: when the queue is full the oldest frame is dropped.
    fn send_newest(&self, mut frame: Frame) -> bool {
        loop {
            match self.frames.try_send(frame) {
                Ok(()) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(TrySendError::Full(f)) => {
                    frame = f;
                    match self.drain.recv_timeout(Duration::ZERO) {
                        Ok(_) => {
                            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return false,
                    }
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }
}
