//! A camera's recorder: the ring of encoded packets and the clip being written.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Receiver;
use ffmpeg_next as ff;

use super::muxer::open_muxer;
use super::x264::X264;
use super::{
    ClipCommand, ClipMethod, ClipReport, EncodedPacket, EncodedStream, RecordConfig, SavedClip,
    sha256_file,
};
use crate::Picture;

pub(super) struct Output {
    pub(super) params: ff::codec::Parameters,
    pub(super) time_base: ff::Rational,
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

    /// Packets of a remuxing session (their media time on the camera's timeline).
    pub(crate) fn packets(&mut self, packets: &mut Vec<EncodedPacket>) {
        self.poll();
        for p in packets.drain(..) {
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
