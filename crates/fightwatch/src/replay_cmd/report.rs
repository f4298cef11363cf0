//! What `fightwatch replay` prints while the pipeline runs: incidents (and, verbose, every
//! window), source errors, a progress bar on a terminal, the snapshots and heat maps written to
//! `--out`, and the summary; as text or as JSON lines.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use fightwatch_capture::{CaptureState, StatusEvent};
use fightwatch_inference::{Located, PipelineEvent, PipelineSummary, Verdict};
use fightwatch_protocol::IncidentEvent;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::ReplayArgs;

/// The printer of one replay.
pub(super) struct Report<'a, W: Write> {
    out: W,
    json: bool,
    verbose: bool,
    out_dir: Option<&'a Path>,
    /// Each camera's source.
    source_of: HashMap<String, String>,
    progress: Option<ProgressBar>,
    /// Media seconds done, per camera (the progress bar's position).
    media_done: HashMap<String, f64>,
    incidents: u64,
    /// Sources that failed, as `camera: error`.
    failures: Vec<String>,
}

impl<'a, W: Write> Report<'a, W> {
    /// A report on `args`' sources (cameras `names`, `media_s` seconds of media in all).
    pub(super) fn new(args: &'a ReplayArgs, names: &[String], media_s: f64, out: W) -> Self {
        let progress = (!args.json && std::io::stderr().is_terminal()).then(|| {
            // Progress in tenths of a second of media time, summed over the sources.
            let bar = ProgressBar::new((media_s * 10.0).round() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {percent}% of the media  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            out,
            json: args.json,
            verbose: args.verbose,
            out_dir: args.out.as_deref(),
            source_of: names
                .iter()
                .cloned()
                .zip(args.sources.iter().cloned())
                .collect(),
            progress,
            media_done: HashMap::new(),
            incidents: 0,
            failures: Vec::new(),
        }
    }

    fn source(&self, camera: &str) -> String {
        self.source_of.get(camera).cloned().unwrap_or_default()
    }

    /// Reports one pipeline event.
    pub(super) fn event(&mut self, event: PipelineEvent) -> anyhow::Result<()> {
        match event {
            PipelineEvent::Skipped {
                camera,
                t,
                motion,
                verdict,
            } if self.verbose => self.skipped(&camera, t, motion, verdict),
            PipelineEvent::Window {
                camera,
                t,
                score,
                smoothed,
                motion,
                ..
            } => self.window(&camera, t, score, smoothed, motion),
            PipelineEvent::Incident {
                event,
                snapshot,
                located,
                ..
            } => self.incident(
                &event,
                snapshot.as_deref().map(Vec::as_slice),
                located.as_ref(),
            ),
            PipelineEvent::Camera(status) => self.camera(&status),
            PipelineEvent::Skipped { .. }
            | PipelineEvent::Metrics(_)
            | PipelineEvent::Thumbnail { .. }
            | PipelineEvent::Clip(_) => Ok(()),
        }
    }

    fn skipped(
        &mut self,
        camera: &str,
        t: f64,
        motion: Option<f32>,
        verdict: Verdict,
    ) -> anyhow::Result<()> {
        let reason = match verdict {
            Verdict::Still => "still",
            Verdict::Relaxed => "relaxed",
            Verdict::Behind => "behind",
            Verdict::Score => "scored",
        };
        if self.json {
            let source = self.source(camera);
            writeln!(
                self.out,
                "{}",
                json!({"event": "skipped", "source": source, "camera": camera, "t": t, "motion": motion, "reason": reason})
            )?;
        } else {
            writeln!(
                self.out,
                "{camera:>16}  t={t:7.2}s  not scored ({reason}, motion {})",
                motion.map_or("?".into(), |m| format!("{m:.4}"))
            )?;
        }
        Ok(())
    }

    fn window(
        &mut self,
        camera: &str,
        t: f64,
        score: f32,
        smoothed: f32,
        motion: Option<f32>,
    ) -> anyhow::Result<()> {
        if let Some(bar) = &self.progress {
            self.media_done.insert(camera.to_string(), t);
            bar.set_position((self.media_done.values().sum::<f64>() * 10.0).round() as u64);
            bar.set_message(format!("{camera} t={t:.1}s score={score:.2}"));
        }
        if !self.verbose {
            return Ok(());
        }
        if self.json {
            let source = self.source(camera);
            writeln!(
                self.out,
                "{}",
                json!({"event": "window", "source": source, "camera": camera, "t": t, "score": score, "smoothed": smoothed, "motion": motion})
            )?;
        } else {
            writeln!(
                self.out,
                "{camera:>16}  t={t:7.2}s  score {score:.3}  smoothed {smoothed:.3}"
            )?;
        }
        Ok(())
    }

    /// Writes `jpeg` as `--out`'s `{incident}-{kind}.jpg`, when `--out` was given.
    fn save(
        &self,
        event: &IncidentEvent,
        kind: &str,
        jpeg: Option<&[u8]>,
    ) -> anyhow::Result<Option<PathBuf>> {
        let (Some(dir), Some(jpeg)) = (self.out_dir, jpeg) else {
            return Ok(None);
        };
        let path = dir.join(format!("{}-{kind}.jpg", event.incident()));
        std::fs::write(&path, jpeg).with_context(|| format!("writing {}", path.display()))?;
        Ok(Some(path))
    }

    fn incident(
        &mut self,
        event: &IncidentEvent,
        snapshot: Option<&[u8]>,
        located: Option<&Located>,
    ) -> anyhow::Result<()> {
        let started = matches!(event, IncidentEvent::Started { .. });
        if started {
            self.incidents += 1;
        }
        let snapshot_path = self.save(event, if started { "start" } else { "peak" }, snapshot)?;
        let heatmap = located
            .and_then(|l| l.heatmap.as_deref())
            .map(Vec::as_slice);
        let heatmap_path = self.save(event, "heatmap", heatmap)?;
        if self.json {
            let mut v = serde_json::to_value(event)?;
            v["source"] = json!(self.source(event.camera()));
            if let Some(p) = &snapshot_path {
                v["snapshot"] = json!(p);
            }
            if let Some(l) = located {
                v["region"] = json!(l.region);
            }
            if let Some(p) = &heatmap_path {
                v["heatmap"] = json!(p);
            }
            writeln!(self.out, "{v}")?;
        } else {
            let line = describe(event);
            match &self.progress {
                Some(bar) => bar.println(line),
                None => writeln!(self.out, "{line}")?,
            }
        }
        Ok(())
    }

    fn camera(&mut self, status: &StatusEvent) -> anyhow::Result<()> {
        let CaptureState::Offline { error: Some(error) } = &status.status else {
            return Ok(());
        };
        self.failures.push(format!("{}: {error}", status.camera));
        if self.json {
            let source = self.source(&status.camera);
            writeln!(
                self.out,
                "{}",
                json!({"event": "source_error", "source": fightwatch_capture::redact_source(&source), "camera": &*status.camera, "error": error.to_string(), "reason": error.reason.as_str()})
            )?;
        }
        Ok(())
    }

    /// Prints the summary; returns the sources that failed.
    pub(super) fn finish(
        mut self,
        summary: &PipelineSummary,
        elapsed: f64,
    ) -> anyhow::Result<Vec<String>> {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        if self.json {
            writeln!(
                self.out,
                "{}",
                json!({
                    "event": "summary",
                    "frames": summary.frames,
                    "windows": summary.windows,
                    "skipped": summary.skipped,
                    "incidents": summary.incidents,
                    "batches": summary.batches,
                    "inference_s": summary.inference_s,
                    "fill_s": summary.fill_s,
                    "prefetched": summary.prefetched,
                    "elapsed_s": elapsed,
                })
            )?;
        } else {
            writeln!(
                self.out,
                "{} frames, {} windows ({} more not scored), {} incidents in {elapsed:.2} s ({:.1} windows/s; {:.2} s in the model, {:.2} s of it writing input)",
                summary.frames,
                summary.windows,
                summary.skipped,
                self.incidents,
                summary.windows as f64 / elapsed.max(1e-9),
                summary.inference_s,
                summary.fill_s,
            )?;
        }
        Ok(self.failures)
    }
}

fn describe(event: &IncidentEvent) -> String {
    match event {
        IncidentEvent::Started {
            incident,
            camera,
            t,
            score,
            label,
            ..
        } => {
            format!("{camera}: incident {incident} STARTED at {t:.2} s ({label}, score {score:.2})")
        }
        IncidentEvent::Updated {
            incident,
            camera,
            t,
            peak,
            ..
        } => {
            format!("{camera}: incident {incident} peak {peak:.2} at {t:.2} s")
        }
        IncidentEvent::Ended {
            incident,
            camera,
            t,
            duration_s,
            peak,
            ..
        } => {
            format!(
                "{camera}: incident {incident} ended at {t:.2} s after {duration_s:.1} s (peak {peak:.2})"
            )
        }
    }
}
