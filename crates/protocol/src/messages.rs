//! WebSocket messages between the server and dashboards (JSON text frames `{"type": …}`).
//!
//! Times are milliseconds since the Unix epoch. Every persisted event carries `seq`, a number
//! that only grows: a dashboard that reconnects sends `resume { after_seq }` and gets what it
//! missed, in order.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{CameraStatus, Role};

/// State of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The fight is going on.
    Active,
    /// The fight ended (nobody acknowledged it yet).
    Ended,
    /// An operator acknowledged it.
    Acknowledged,
    /// An operator closed it with an outcome (confirmed, false alarm, test).
    Resolved,
}

/// How an operator closed an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A real fight.
    Confirmed,
    /// Not a fight (the reason says what it was).
    FalseAlarm,
    /// A test of the system.
    Test,
}

/// What a false alarm was: what fight detectors are known to fire on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FalseAlarmReason {
    /// People dancing.
    Dancing,
    /// Boxing practice, martial arts, other sport.
    Sport,
    /// Horseplay, children playing.
    Play,
    /// A dense crowd moving.
    Crowd,
    /// The camera (shaking, glare, a bad picture).
    CameraIssue,
    /// Anything else (the note says what).
    Other,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::FalseAlarm => "false_alarm",
            Self::Test => "test",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Confirmed, Self::FalseAlarm, Self::Test]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

impl FalseAlarmReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dancing => "dancing",
            Self::Sport => "sport",
            Self::Play => "play",
            Self::Crowd => "crowd",
            Self::CameraIssue => "camera_issue",
            Self::Other => "other",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Dancing,
            Self::Sport,
            Self::Play,
            Self::Crowd,
            Self::CameraIssue,
            Self::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl AlertStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "ended" => Some(Self::Ended),
            "acknowledged" => Some(Self::Acknowledged),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// A new fight alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FightAlert {
    /// Alert id.
    pub id: String,
    /// Event sequence number.
    pub seq: u64,
    /// Camera name.
    pub camera: String,
    /// Site the camera belongs to.
    pub site: String,
    /// What was detected (`fight`).
    pub label: String,
    /// Fight score, 0–1.
    pub score: f32,
    /// When the fight started, ms since the epoch.
    pub started_at: u64,
    /// Where the snapshot JPEG is served, when there is one.
    pub snapshot_url: Option<String>,
    /// Who raised it: `pipeline` or the detector client's user name.
    pub source: String,
    /// Where in the snapshot the fight is, `[x0, y0, x1, y1]` in 0–1 picture coordinates
    /// (left, top, right, bottom), when the model could tell (its class activation map).
    #[serde(default)]
    pub region: Option<[f32; 4]>,
    /// Where the heat map JPEG is served: the snapshot with the model's activation map laid
    /// over it and the region drawn.
    #[serde(default)]
    pub heatmap_url: Option<String>,
}

/// A change to an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertUpdate {
    /// Alert id.
    pub id: String,
    /// Event sequence number.
    pub seq: u64,
    /// The alert's camera, so that an update can be routed to the dashboards that may see it
    /// (empty in events stored before it was added).
    #[serde(default)]
    pub camera: String,
    /// The alert's site (empty in events stored before it was added).
    #[serde(default)]
    pub site: String,
    /// New status.
    pub status: AlertStatus,
    /// Highest score so far.
    pub peak_score: f32,
    /// When the fight ended, ms since the epoch.
    pub ended_at: Option<u64>,
    /// Operator who acknowledged it.
    pub acked_by: Option<String>,
    /// The operator's note.
    pub note: Option<String>,
    /// The incident clip, once it is written (absent before and in events stored before clips
    /// existed).
    #[serde(default)]
    pub clip: Option<Box<ClipInfo>>,
    /// Set on the update that records an evidence export: who exported the alert.
    #[serde(default)]
    pub exported_by: Option<String>,
    /// The operator who owns the alert (took it or was assigned it).
    #[serde(default)]
    pub assignee: Option<String>,
    /// How it was resolved.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// What a false alarm was.
    #[serde(default)]
    pub reason: Option<FalseAlarmReason>,
    /// Who resolved it.
    #[serde(default)]
    pub resolved_by: Option<String>,
    /// Detections grouped into this alert (1 for one; 0 in events stored before grouping).
    #[serde(default)]
    pub count: u32,
    /// Set on the update of a grouped detection that brought a snapshot of its own: where it
    /// is served (`/api/alerts/{id}/detections/{count}.jpg`).
    #[serde(default)]
    pub detection_snapshot_url: Option<String>,
    /// Set on the update that brings the clip of a grouped detection recorded after the
    /// alert's own clip was finished.
    #[serde(default)]
    pub detection_clip: Option<Box<ClipInfo>>,
    /// Where that clip is served (`/api/alerts/{id}/detections/{n}.mp4`).
    #[serde(default)]
    pub detection_clip_url: Option<String>,
}

/// An alert nobody acknowledged in time: raised at the acknowledgement deadline and again at
/// every escalation interval until an operator acknowledges or resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertEscalated {
    /// Alert id.
    pub id: String,
    /// Event sequence number.
    pub seq: u64,
    /// The alert's camera.
    pub camera: String,
    /// The alert's site.
    pub site: String,
    /// 1 at the deadline, 2 at the next interval, …
    pub level: u32,
    /// How long the alert has waited for an acknowledgement, seconds.
    pub waiting_s: u64,
}

/// An alert's incident clip: MP4 (H.264), served at `/api/alerts/{id}/clip.mp4`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipInfo {
    /// File name on the server.
    pub file: String,
    /// Length, ms.
    pub duration_ms: u64,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// `remux` (the camera's own video) or `encode` (encoded here: raw sources, masks).
    pub method: String,
    /// Where in the clip the incident started, ms from the clip's start.
    pub start_ms: u64,
    /// Where in the clip its score peaked, ms, when known.
    pub peak_ms: Option<u64>,
    /// Where in the clip it ended, ms, when the clip reaches that far.
    pub end_ms: Option<u64>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// Event sequence number.
    pub seq: u64,
    /// Room (`site:NAME`, a chat room, or a 1:1 room `dm:A:B`).
    pub room: String,
    /// Sender.
    pub from: String,
    /// The text.
    pub text: String,
    /// When it was sent, ms since the epoch.
    pub at: u64,
}

/// A camera's state, as `camera_status` and `GET /api/cameras` report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraState {
    /// Camera name.
    pub camera: String,
    /// Site.
    pub site: String,
    /// What the camera is doing.
    pub status: CameraStatus,
    /// Why it is not online, when it is not.
    pub error: Option<String>,
    /// When this state began, ms since the epoch.
    pub since: u64,
    /// The node that runs the camera (several nodes: docs/deploy.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub node: Option<String>,
}

/// Per-camera figures of a `metric_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraMetrics {
    /// Camera name.
    pub camera: String,
    /// Frames received from the camera per second.
    pub capture_fps: f64,
    /// Windows scored per second.
    pub inference_fps: f64,
    /// Mean model run time of the last second's windows, ms.
    pub inference_ms: f64,
    /// Frames dropped so far because inference was behind.
    pub dropped_frames: u64,
    /// Frames waiting in the camera's queue.
    pub queue_depth: usize,
    /// Windows left unscored per second: nothing moved, or the score was far below the
    /// threshold (docs/inference.md, "Which windows are scored").
    #[serde(default)]
    pub skipped_fps: f64,
    /// Longest time this second from a window's last frame to its score (or to the decision
    /// not to score it), ms: how far analysis runs behind the camera.
    #[serde(default)]
    pub analysis_lag_ms: f64,
}

/// A `metric_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// When, ms since the epoch.
    pub at: u64,
    /// Per camera.
    pub cameras: Vec<CameraMetrics>,
    /// Process CPU use over the last second, percent of one core.
    pub cpu_percent: f64,
    /// Process resident memory, bytes.
    pub rss_bytes: u64,
    /// Connected dashboards (of the node that sent this update).
    pub clients: usize,
    /// The node whose process and cameras these are (several nodes: docs/deploy.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub node: Option<String>,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on a connection.
    WelcomeMessage {
        /// Connection id.
        session: String,
        /// Authenticated user.
        user: String,
        /// The user's role.
        role: Role,
        /// Server version.
        server_version: String,
        /// Newest event sequence number.
        last_seq: u64,
    },
    /// A new fight alert.
    FightAlert(FightAlert),
    /// A change to an alert.
    AlertUpdate(AlertUpdate),
    /// An alert nobody acknowledged in time.
    AlertEscalated(AlertEscalated),
    /// A chat message.
    ReceiveMessage(ChatMessage),
    /// A camera changed state (live only, not persisted).
    CameraStatus(CameraState),
    /// Once a second: pipeline and server health (live only).
    MetricUpdate(Metrics),
    /// A request could not be served.
    Error {
        /// Stable machine-readable code (`bad_message`, `forbidden`, `rate_limited`, …).
        code: String,
        /// What went wrong, for people.
        message: String,
    },
}

impl ServerMessage {
    /// The event sequence number, for persisted events.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::FightAlert(a) => Some(a.seq),
            Self::AlertUpdate(u) => Some(u.seq),
            Self::AlertEscalated(e) => Some(e.seq),
            Self::ReceiveMessage(m) => Some(m.seq),
            _ => None,
        }
    }
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Narrow the feed to a room (`camera:NAME`, `site:NAME`) or enter a chat room.
    JoinRoom {
        /// The room.
        room: String,
    },
    /// Leave a room.
    LeaveRoom {
        /// The room.
        room: String,
    },
    /// Send every event after `after_seq`, then live ones.
    Resume {
        /// Last sequence number the client has.
        after_seq: u64,
    },
    /// Acknowledge an alert (operators).
    AckAlert {
        /// Alert id.
        id: String,
        /// Optional note.
        #[serde(default)]
        #[ts(optional)]
        note: Option<String>,
    },
    /// Take an alert: the sender becomes its assignee (operators).
    TakeAlert {
        /// Alert id.
        id: String,
    },
    /// Assign an alert to an operator who may see its camera (operators).
    AssignAlert {
        /// Alert id.
        id: String,
        /// The operator's user name.
        to: String,
    },
    /// Resolve an alert with its outcome (operators); a false alarm needs a reason.
    ResolveAlert {
        /// Alert id.
        id: String,
        /// How it ended.
        outcome: Outcome,
        /// What a false alarm was.
        #[serde(default)]
        #[ts(optional)]
        reason: Option<FalseAlarmReason>,
        /// Optional note.
        #[serde(default)]
        #[ts(optional)]
        note: Option<String>,
    },
    /// Post to a chat room (it must have been joined).
    SendMessage {
        /// The room.
        room: String,
        /// The text (at most 2,000 characters).
        text: String,
    },
    /// A 1:1 message; it goes to the room `dm:A:B` (the two names sorted).
    PrivateMessage {
        /// Recipient user name.
        to: String,
        /// The text.
        text: String,
    },
    /// An external detector reports a fight (detector or admin role); it becomes a
    /// `fight_alert` exactly like the built-in pipeline's.
    FightDetected(Detection),
}

/// A fight reported by an external detector (`fight_detected`, `POST /api/detections`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// Camera name.
    pub camera: String,
    /// Site; default `default`.
    #[serde(default)]
    #[ts(optional)]
    pub site: Option<String>,
    /// Fight score, 0–1.
    pub score: f32,
    /// Label; default `fight`.
    #[serde(default)]
    #[ts(optional)]
    pub label: Option<String>,
    /// JPEG snapshot, base64.
    #[serde(default)]
    #[ts(optional)]
    pub snapshot_jpeg: Option<String>,
}

/// The deterministic 1:1 room of two users.
pub fn private_room(a: &str, b: &str) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("dm:{x}:{y}")
}

/// Text messages of a camera's live video socket (`/api/cameras/{name}/live.ws`); the binary
/// messages between them are fragmented MP4 (an init segment right after `stream`, then one
/// `moof` + `mdat` per frame).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveVideoMessage {
    /// A stream starts: the next binary message is its init segment.
    Stream {
        /// RFC 6381 codec, for `MediaSource.isTypeSupported` (e.g. `avc1.64001e`).
        codec: String,
        /// Picture width.
        width: u32,
        /// Picture height.
        height: u32,
    },
    /// No video to send (a privacy mask, a codec other than H.264, a camera offline or on
    /// another node): use the MJPEG live view. The socket closes after it.
    Unavailable {
        /// Why, for people.
        reason: String,
    },
}
