//! The newest frame of a camera, for live view: the camera thread puts every frame in (a
//! pointer swap), viewers' encoders take the newest when they want one.

use std::sync::{Arc, Mutex};

use crate::Picture;

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
