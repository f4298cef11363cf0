//! What goes into and comes out of an [`crate::AlertStore`] besides the wire types.

use fightwatch_protocol::{AlertStatus, Role};

/// An alert to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// Camera name.
    pub camera: String,
    /// Site.
    pub site: String,
    /// Label (`fight`).
    pub label: String,
    /// Score at start.
    pub score: f32,
    /// When the fight started, ms since the epoch.
    pub started_at: u64,
    /// Snapshot file name inside the snapshot folder, if any.
    pub snapshot: Option<String>,
    /// `pipeline` or the detector's user name.
    pub source: String,
    /// Where in the snapshot the fight is, `[x0, y0, x1, y1]` in 0–1 picture coordinates.
    pub region: Option<[f32; 4]>,
    /// Heat map file name inside the snapshot folder, if any.
    pub heatmap: Option<String>,
}

/// When [`crate::AlertStore::raise_or_group`] counts a new alert into the camera's newest one
/// instead of raising it: that alert has the same label, is not resolved, and is either still
/// active or was last seen at most `window_ms` before `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grouping {
    /// The group window, ms (0: never group).
    pub window_ms: u64,
    /// Now, ms since the epoch.
    pub now_ms: u64,
}

/// What [`crate::AlertStore::raise_or_group`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RaiseOrGroup {
    /// A new alert (its `fight_alert` event).
    Raised(fightwatch_protocol::FightAlert),
    /// The detection counted into an open alert (its `alert_update` event, whose `count` is
    /// the detection's number).
    Grouped {
        /// The update.
        update: fightwatch_protocol::AlertUpdate,
        /// When the update says the detection's snapshot is kept
        /// (`detection_snapshot_url`): the alert's own snapshot, which the detection's file is
        /// named after.
        alert_snapshot: Option<String>,
    },
}

/// A change to an alert (any combination).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertChange {
    /// Raises the peak score (a lower one is ignored).
    pub peak: Option<f32>,
    /// Ends an active alert, ms since the epoch.
    pub ended_at: Option<u64>,
    /// Acknowledges it: (user, note).
    pub ack: Option<(String, Option<String>)>,
    /// Attaches the incident clip.
    pub clip: Option<fightwatch_protocol::ClipInfo>,
    /// Records an evidence export by this user (the alert's timeline keeps who and when).
    pub exported_by: Option<String>,
    /// Makes this operator the alert's assignee.
    pub assign: Option<String>,
    /// Closes the alert with an outcome.
    pub resolve: Option<Resolution>,
    /// Groups another detection into it: (its score, when, ms since the epoch). The alert
    /// counts it, raises its peak, and is active again if it had ended.
    pub regroup: Option<(f32, u64)>,
    /// With `regroup`: the grouped detection's snapshot was saved (the alert's media folder
    /// holds it as its `count`th detection), so the update says where it is served.
    pub detection_snapshot: bool,
    /// The clip of the alert's `n`th detection, recorded after its own clip was finished: it
    /// goes in this update's event (the alert keeps its own clip).
    pub detection_clip: Option<(u32, fightwatch_protocol::ClipInfo)>,
}

/// How and by whom an alert is resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// Who resolves it.
    pub user: String,
    /// How it ended.
    pub outcome: fightwatch_protocol::Outcome,
    /// What a false alarm was (required for one, absent otherwise: the caller checks).
    pub reason: Option<fightwatch_protocol::FalseAlarmReason>,
    /// A note (replaces the acknowledgement's when given).
    pub note: Option<String>,
}

/// Filters for [`crate::AlertStore::alerts`].
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only this camera.
    pub camera: Option<String>,
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only alerts started at or after this, ms since the epoch.
    pub since: Option<u64>,
    /// Only alerts started before this, ms since the epoch (with `since`: a date range).
    pub until: Option<u64>,
    /// Only alerts with seq below this (paging: pass the last seq of the previous page).
    pub before_seq: Option<u64>,
    /// At most this many (newest first); 0 means 100, more than 1000 means 1000.
    pub limit: usize,
}

/// A user account (the password is stored only as an argon2 hash, made by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    /// Login name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// PHC-format password hash.
    pub password_hash: String,
    /// Cameras the user may see; `None`: all.
    pub cameras: Option<Vec<String>>,
}

/// A stored login session: every token names one (its `jti`), and a token is only as good
/// as its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The token's `jti`.
    pub id: String,
    /// Whose session it is.
    pub user: String,
    /// Created, ms since the epoch.
    pub created_at: u64,
    /// Expires, ms since the epoch.
    pub expires_at: u64,
    /// Revoked (logout, user changed or deleted), ms since the epoch.
    pub revoked_at: Option<u64>,
}

impl SessionRecord {
    /// Whether a token of this session is still good at `now_ms`.
    pub fn is_valid(&self, now_ms: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now_ms
    }
}

/// A browser's Web Push subscription (`PushSubscription.toJSON()` of the console's service
/// worker): where to POST, and the keys to encrypt for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The user who subscribed (pushes respect that user's camera permissions).
    pub user: String,
    /// The push service's URL for this browser (unique).
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
    /// When it was stored, ms since the epoch.
    pub created_at: u64,
}
