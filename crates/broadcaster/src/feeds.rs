//! What this node's cameras show now, for the camera list and live view.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fightwatch_capture::LiveFeed;

/// Each of this node's cameras' latest thumbnail JPEG and newest frame. The node's pipeline
/// fills it (`fightwatch-node`'s `PipelineAlerts`); `GET /api/cameras/{name}/latest.jpg` and
/// live view read it. Cameras of other nodes are not here.
#[derive(Debug, Default)]
pub struct CameraFeeds {
    thumbnails: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    live: Mutex<HashMap<String, LiveFeed>>,
}

impl CameraFeeds {
    /// Keeps a camera's latest thumbnail.
    pub fn set_thumbnail(&self, camera: &str, jpeg: Arc<Vec<u8>>) {
        if let Ok(mut t) = self.thumbnails.lock() {
            t.insert(camera.to_string(), jpeg);
        }
    }

    /// A camera's latest thumbnail, if this node has one.
    pub fn thumbnail(&self, camera: &str) -> Option<Arc<Vec<u8>>> {
        self.thumbnails.lock().ok()?.get(camera).cloned()
    }

    /// Makes `feed` the live view source of `camera`.
    pub fn set_live_source(&self, camera: &str, feed: LiveFeed) {
        if let Ok(mut live) = self.live.lock() {
            live.insert(camera.to_string(), feed);
        }
    }

    /// A camera's live view source, if it runs on this node.
    pub fn live_source(&self, camera: &str) -> Option<LiveFeed> {
        self.live.lock().ok()?.get(camera).cloned()
    }
}
