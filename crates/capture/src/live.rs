//! What live view reads from a camera: its newest frame (the camera thread puts every frame
//! in, a pointer swap; MJPEG viewers' encoder takes the newest when it wants one) and, for H.264
//! cameras without a privacy mask, its own video as fragmented MP4 ([`LiveVideo`]).

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::Picture;
use crate::fmp4::{Fragment, InitSegment};

/// A camera's newest frame (masked when the camera has a privacy mask).
#[derive(Debug, Default)]
pub struct LatestFrame {
    slot: Mutex<Option<(u64, Arc<Picture>)>>,
}

impl LatestFrame {
    /// Puts frame number `seq` in, replacing the one before.
    pub fn put(&self, seq: u64, picture: Arc<Picture>) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some((seq, picture));
        }
    }

    /// The newest frame and its number, if any arrived.
    pub fn get(&self) -> Option<(u64, Arc<Picture>)> {
        self.slot.lock().ok()?.clone()
    }

    /// Forgets the frame (the camera stopped: a stale picture must not look live).
    pub fn clear(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }
}

/// What live view reads from one camera: its newest frame (MJPEG) and its own video (fMP4).
#[derive(Debug, Clone, Default)]
pub struct LiveFeed {
    /// The newest frame, masked when the camera has a privacy mask.
    pub frame: Arc<LatestFrame>,
    /// The camera's own H.264 as fMP4 (H.264 cameras without a mask).
    pub video: Arc<LiveVideo>,
}

/// Most bytes of the current keyframe's run of fragments kept for viewers who join: a camera
/// with very long keyframe intervals makes them wait for the next keyframe instead.
const MAX_BACKLOG_BYTES: usize = 8 << 20;
/// Fragments a viewer may fall behind before it skips to the next keyframe (~5 s at 25 fps).
const CHANNEL_FRAGMENTS: usize = 128;

/// What a live video viewer receives, in order.
#[derive(Debug, Clone)]
pub enum VideoEvent {
    /// A new stream (the camera reconnected with other parameters): its init segment; the
    /// fragments that follow belong to it.
    Init(Arc<InitSegment>),
    /// The next frame.
    Fragment(Arc<Fragment>),
    /// The camera's video is no longer available (stopped, reconnecting, or not H.264).
    Unavailable(Arc<str>),
}

/// A camera's own H.264 video as fragmented MP4, for live view without re-encoding: the
/// camera thread puts fragments in, every viewer of the camera gets the same bytes. A viewer
/// joins at the newest keyframe (the fragments since it are kept) and one that falls behind
/// skips to a later keyframe (newest wins), never queues without bound.
#[derive(Debug)]
pub struct LiveVideo {
    state: Mutex<VideoState>,
    events: broadcast::Sender<VideoEvent>,
}

#[derive(Debug)]
struct VideoState {
    /// The stream's init segment, or why there is none.
    init: Result<Arc<InitSegment>, Arc<str>>,
    /// Fragments since the newest keyframe.
    backlog: Vec<Arc<Fragment>>,
    backlog_bytes: usize,
}

/// A viewer's start: the init segment, the fragments since the newest keyframe, then
/// [`VideoSubscription::events`].
#[derive(Debug)]
pub struct VideoSubscription {
    /// The stream's init segment.
    pub init: Arc<InitSegment>,
    /// The fragments from the newest keyframe on (empty: wait for the next keyframe).
    pub backlog: Vec<Arc<Fragment>>,
    /// What comes next.
    pub events: broadcast::Receiver<VideoEvent>,
}

impl Default for LiveVideo {
    fn default() -> Self {
        Self {
            state: Mutex::new(VideoState {
                init: Err("the camera has not started".into()),
                backlog: Vec::new(),
                backlog_bytes: 0,
            }),
            events: broadcast::channel(CHANNEL_FRAGMENTS).0,
        }
    }
}

impl LiveVideo {
    /// The stream from its newest keyframe on, or why the camera has no video to send (live
    /// view then uses MJPEG).
    pub fn subscribe(&self) -> Result<VideoSubscription, Arc<str>> {
        let state = self
            .state
            .lock()
            .map_err(|_| Arc::<str>::from("live video lock poisoned"))?;
        let init = state.init.clone()?;
        // Under the lock: the camera thread publishes under it too, so nothing is missed or
        // sent twice between the backlog and the channel.
        Ok(VideoSubscription {
            init,
            backlog: state.backlog.clone(),
            events: self.events.subscribe(),
        })
    }

    /// Viewers subscribed now.
    pub fn viewers(&self) -> usize {
        self.events.receiver_count()
    }

    /// A stream starts (a session of the camera). The same parameters as before continue the
    /// stream (a looping file); others start a new one.
    pub(crate) fn begin(&self, init: Result<InitSegment, String>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match init {
            Ok(init) => {
                if state.init.as_ref().is_ok_and(|old| **old == init) {
                    return;
                }
                let init = Arc::new(init);
                state.init = Ok(init.clone());
                state.backlog.clear();
                state.backlog_bytes = 0;
                let _ = self.events.send(VideoEvent::Init(init));
            }
            Err(why) => Self::stop(&mut state, &self.events, why),
        }
    }

    /// The next frame of the stream.
    pub(crate) fn fragment(&self, fragment: Fragment) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.init.is_err() {
            return;
        }
        let fragment = Arc::new(fragment);
        if fragment.key {
            state.backlog.clear();
            state.backlog_bytes = 0;
        }
        if state.backlog_bytes + fragment.bytes.len() <= MAX_BACKLOG_BYTES
            && (fragment.key || !state.backlog.is_empty())
        {
            state.backlog_bytes += fragment.bytes.len();
            state.backlog.push(fragment.clone());
        } else {
            state.backlog.clear();
            state.backlog_bytes = 0;
        }
        // No viewers is fine: the backlog is for the next one.
        let _ = self.events.send(VideoEvent::Fragment(fragment));
    }

    /// The stream ended: viewers are told, new ones fall back to MJPEG.
    pub(crate) fn end(&self, why: &str) {
        if let Ok(mut state) = self.state.lock()
            && state.init.is_ok()
        {
            Self::stop(&mut state, &self.events, why.to_string());
        }
    }

    fn stop(state: &mut VideoState, events: &broadcast::Sender<VideoEvent>, why: String) {
        let why: Arc<str> = why.into();
        state.init = Err(why.clone());
        state.backlog.clear();
        state.backlog_bytes = 0;
        let _ = events.send(VideoEvent::Unavailable(why));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn init(codec: &str) -> InitSegment {
        InitSegment {
            codec: codec.into(),
            width: 640,
            height: 360,
            bytes: bytes::Bytes::from_static(b"init"),
        }
    }

    fn frame(key: bool, t: u64, size: usize) -> Fragment {
        Fragment {
            key,
            decode_time: t,
            bytes: vec![0; size].into(),
        }
    }

    fn fragments(events: &mut broadcast::Receiver<VideoEvent>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(e) = events.try_recv() {
            match e {
                VideoEvent::Fragment(f) => out.push(f.decode_time),
                VideoEvent::Init(i) => out.push(1_000_000 + i.codec.len() as u64),
                VideoEvent::Unavailable(_) => out.push(u64::MAX),
            }
        }
        out
    }

    #[test]
    fn a_viewer_joins_at_the_newest_keyframe_and_misses_nothing_after() {
        let video = LiveVideo::default();
        assert!(
            video.subscribe().is_err(),
            "nothing before the camera starts"
        );
        video.begin(Ok(init("avc1.64001e")));
        video.fragment(frame(false, 0, 10)); // before any keyframe: not a place to start
        assert!(video.subscribe().unwrap().backlog.is_empty());
        for (i, key) in [true, false, false, true, false].into_iter().enumerate() {
            video.fragment(frame(key, 10 + i as u64, 10));
        }
        let mut sub = video.subscribe().unwrap();
        let backlog: Vec<u64> = sub.backlog.iter().map(|f| f.decode_time).collect();
        assert_eq!(backlog, vec![13, 14], "from the newest keyframe");
        video.fragment(frame(false, 15, 10));
        assert_eq!(fragments(&mut sub.events), vec![15]);
        assert_eq!(video.viewers(), 1);
    }

    #[test]
    fn a_looping_file_continues_and_other_parameters_start_a_new_stream() {
        let video = LiveVideo::default();
        video.begin(Ok(init("avc1.64001e")));
        let mut sub = video.subscribe().unwrap();
        video.begin(Ok(init("avc1.64001e")));
        assert_eq!(
            fragments(&mut sub.events),
            Vec::<u64>::new(),
            "the same stream goes on"
        );
        video.begin(Ok(init("avc1.4d4028")));
        assert_eq!(
            fragments(&mut sub.events),
            vec![1_000_000 + 11],
            "a new init segment"
        );
        video.end("the camera's stream ended");
        assert_eq!(fragments(&mut sub.events), vec![u64::MAX]);
        assert!(video.subscribe().unwrap_err().contains("ended"));
        video.fragment(frame(true, 1, 1));
        assert!(video.subscribe().is_err(), "no fragments without a stream");
    }

    #[test]
    fn the_backlog_is_bounded_and_a_slow_viewer_lags_instead_of_queueing() {
        let video = LiveVideo::default();
        video.begin(Ok(init("avc1.64001e")));
        video.fragment(frame(true, 0, MAX_BACKLOG_BYTES / 2));
        video.fragment(frame(false, 1, MAX_BACKLOG_BYTES / 2));
        video.fragment(frame(false, 2, 1));
        assert!(
            video.subscribe().unwrap().backlog.is_empty(),
            "over the bound: new viewers wait for the next keyframe"
        );
        video.fragment(frame(true, 3, 1));
        assert_eq!(video.subscribe().unwrap().backlog.len(), 1);
        let mut slow = video.subscribe().unwrap().events;
        for t in 0..(CHANNEL_FRAGMENTS as u64 + 10) {
            video.fragment(frame(t % 50 == 0, 10 + t, 1));
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
    }
}
