//! Snapshot and thumbnail JPEGs, encoded on a thread of their own.
//!
//! A 1080p snapshot costs tens of milliseconds to convert and encode; on the inference thread
//! that time would hold up every camera's next window. Incident events go through this thread in
//! the order they were raised (each with its JPEG), so a start still comes before its end.
//! Thumbnails are best effort: when the encoder is behind, a thumbnail is dropped rather than
//! queued.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use fightwatch_capture::{Picture, ResizeSpec, rgb_to_jpeg};
use fightwatch_protocol::IncidentEvent;

use crate::localize::{ActivationMap, heat_overlay, within};
use crate::{Located, PipelineEvent};

enum Job {
    Incident {
        event: IncidentEvent,
        frame_ms: Option<u64>,
        picture: Option<Arc<Picture>>,
        map: Option<ActivationMap>,
    },
    Thumbnail {
        camera: Arc<str>,
        picture: Arc<Picture>,
    },
}

/// Jobs waiting at most; beyond it thumbnails are dropped and incidents wait for room.
const QUEUE: usize = 64;
/// Widest thumbnail.
const THUMBNAIL_WIDTH: u32 = 480;
/// Widest heat map: enough to see who is where, and a 4K frame's overlay stays cheap.
const HEATMAP_WIDTH: u32 = 1280;

/// The encoder thread of one pipeline run.
pub(crate) struct SnapshotEncoder {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotEncoder {
    /// Starts the thread; its results go to `events`. `spec` is the model's resize: what part
    /// of a picture an activation map covers.
    pub(crate) fn start(events: Sender<PipelineEvent>, quality: u8, spec: ResizeSpec) -> Self {
        let (jobs, rx) = crossbeam_channel::bounded(QUEUE);
        let thread = std::thread::Builder::new()
            .name("fw-snapshots".into())
            .spawn(move || encode_all(&rx, &events, quality, spec))
            .map_err(|e| tracing::error!(error = %e, "Could not start the snapshot thread."))
            .ok();
        Self {
            jobs: thread.is_some().then_some(jobs),
            thread,
        }
    }

    /// Sends an incident event on, with a JPEG of `picture` when given, and with `map`, where
    /// in it the fight is (a box and a heat map).
    pub(crate) fn incident(
        &self,
        event: IncidentEvent,
        frame_ms: Option<u64>,
        picture: Option<Arc<Picture>>,
        map: Option<ActivationMap>,
        events: &Sender<PipelineEvent>,
    ) {
        let job = Job::Incident {
            event,
            frame_ms,
            picture,
            map,
        };
        match &self.jobs {
            Some(jobs) => {
                // Blocks only when 64 jobs wait: an incident is never dropped.
                if let Err(e) = jobs.send(job) {
                    forward_unencoded(e.0, events);
                }
            }
            None => forward_unencoded(job, events),
        }
    }

    /// Makes a thumbnail of `picture` unless the encoder is busy.
    pub(crate) fn thumbnail(&self, camera: Arc<str>, picture: Arc<Picture>) {
        if let Some(jobs) = &self.jobs {
            // Full or gone: this thumbnail is skipped, the next comes in a few seconds.
            let _ = jobs.try_send(Job::Thumbnail { camera, picture });
        }
    }

    /// Waits for every job sent so far.
    pub(crate) fn finish(mut self) {
        self.join();
    }

    fn join(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("The snapshot thread panicked.");
        }
    }
}

impl Drop for SnapshotEncoder {
    fn drop(&mut self) {
        self.join();
    }
}

/// Without the thread (it could not start or died), incidents still go out, without a JPEG.
fn forward_unencoded(job: Job, events: &Sender<PipelineEvent>) {
    if let Job::Incident {
        event, frame_ms, ..
    } = job
    {
        let _ = events.send(PipelineEvent::Incident {
            event,
            frame_ms,
            snapshot: None,
            located: None,
        });
    }
}

fn encode_all(jobs: &Receiver<Job>, events: &Sender<PipelineEvent>, quality: u8, spec: ResizeSpec) {
    for job in jobs {
        let event = match job {
            Job::Incident {
                event,
                frame_ms,
                picture,
                map,
            } => {
                let snapshot = |p: &Picture| {
                    let _span = tracing::debug_span!("snapshot_jpeg").entered();
                    jpeg(p, quality, u32::MAX)
                };
                // The heat map is made beside the snapshot's JPEG, not after it: the alert
                // waits for both, so it costs the alert little beyond what the snapshot does.
                let (snapshot, located) = match (&picture, &map) {
                    (Some(p), Some(map)) => std::thread::scope(|s| {
                        let heat = std::thread::Builder::new()
                            .name("fw-heatmap".into())
                            .spawn_scoped(s, || locate(p, map, spec, quality));
                        let snapshot = snapshot(p);
                        let located = match heat {
                            Ok(heat) => heat.join().ok().flatten(),
                            // No thread to spare: one after the other.
                            Err(_) => locate(p, map, spec, quality),
                        };
                        (snapshot, located)
                    }),
                    (Some(p), None) => (snapshot(p), None),
                    (None, _) => (None, None),
                };
                PipelineEvent::Incident {
                    snapshot,
                    located,
                    event,
                    frame_ms,
                }
            }
            Job::Thumbnail { camera, picture } => {
                let Some(jpeg) = jpeg(&picture, quality, THUMBNAIL_WIDTH) else {
                    continue;
                };
                PipelineEvent::Thumbnail { camera, jpeg }
            }
        };
        let _ = events.send(event);
    }
}

/// Where in `picture` the fight is by `map`: its box, and the picture with the map laid over.
/// `None` when no part of the map speaks for a fight; the box without a heat map when the
/// JPEG cannot be made.
fn locate(
    picture: &Picture,
    map: &ActivationMap,
    spec: ResizeSpec,
    quality: u8,
) -> Option<Located> {
    let _span = tracing::debug_span!("heatmap_jpeg").entered();
    let view = spec.view(picture.width(), picture.height());
    let region = within(view, map.hot_box()?);
    let heatmap = picture
        .to_rgb_within(HEATMAP_WIDTH)
        .and_then(|rgb| rgb_to_jpeg(&heat_overlay(&rgb, map, view, Some(region)), quality))
        .map_err(|e| tracing::warn!(error = %e, "Could not make a heat map."))
        .ok()
        .map(Arc::new);
    Some(Located { region, heatmap })
}

/// A JPEG of `picture` at most `max_width` wide; `None` (and a warning) if it cannot be made.
fn jpeg(picture: &Picture, quality: u8, max_width: u32) -> Option<Arc<Vec<u8>>> {
    match picture.to_jpeg(quality, max_width) {
        Ok(jpeg) => Some(Arc::new(jpeg)),
        Err(e) => {
            tracing::warn!(error = %e, "Could not make a snapshot JPEG.");
            None
        }
    }
}
