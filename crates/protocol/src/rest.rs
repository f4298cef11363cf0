//! Bodies of the REST API (`/api/...`): what each route takes and answers. The OpenAPI
//! document (`GET /api/openapi.json`) and the console's TypeScript types are made from these.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{AlertStatus, CameraState, Role, ServerMessage};

/// An alert as stored and as `GET /api/alerts` answers it: the `fight_alert` fields and the
/// alert's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct AlertRecord {
    /// Alert id.
    pub id: String,
    /// Sequence number of its creation.
    pub seq: u64,
    /// Camera.
    pub camera: String,
    /// Site.
    pub site: String,
    /// Label (`fight`).
    pub label: String,
    /// Score at start, 0–1.
    pub score: f32,
    /// Highest score so far.
    pub peak_score: f32,
    /// Status.
    pub status: AlertStatus,
    /// Start, ms since the epoch.
    pub started_at: u64,
    /// End, ms since the epoch.
    pub ended_at: Option<u64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// Acknowledgement note.
    pub note: Option<String>,
    /// Snapshot file name on the server (served at `/api/alerts/{id}/snapshot.jpg`).
    pub snapshot: Option<String>,
    /// Heat map file name on the server (served at `/api/alerts/{id}/heatmap.jpg`).
    #[serde(default)]
    pub heatmap: Option<String>,
    /// Where in the snapshot the fight is, `[x0, y0, x1, y1]` in 0–1 picture coordinates.
    #[serde(default)]
    pub region: Option<[f32; 4]>,
    /// Who raised it: `pipeline` or a detector's user name.
    pub source: String,
    /// The incident clip, when one was written.
    #[serde(default)]
    pub clip: Option<crate::ClipInfo>,
    /// The operator who owns it.
    #[serde(default)]
    pub assignee: Option<String>,
    /// How it was resolved.
    #[serde(default)]
    pub outcome: Option<crate::Outcome>,
    /// What a false alarm was.
    #[serde(default)]
    pub reason: Option<crate::FalseAlarmReason>,
    /// Who resolved it.
    #[serde(default)]
    pub resolved_by: Option<String>,
    /// How many times it was escalated (nobody acknowledged it in time).
    #[serde(default)]
    pub escalations: u32,
    /// Detections grouped into it (later ones on its camera while it was open).
    #[serde(default = "one")]
    pub count: u32,
    /// The last detection grouped into it, ms since the epoch.
    #[serde(default)]
    pub last_seen_at: Option<u64>,
}

fn one() -> u32 {
    1
}

/// `POST /api/alerts/{id}/assign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The operator's user name.
    pub to: String,
}

/// `POST /api/alerts/{id}/resolve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// How it ended.
    pub outcome: crate::Outcome,
    /// What a false alarm was (required for `false_alarm`).
    #[serde(default)]
    #[ts(optional)]
    pub reason: Option<crate::FalseAlarmReason>,
    /// Optional note (at most 2,000 characters).
    #[serde(default)]
    #[ts(optional)]
    pub note: Option<String>,
}

/// `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// The answer to a login; the token is also set as an HttpOnly cookie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct LoginResponse {
    /// A JWT for `Authorization: Bearer`, `?token=` or the cookie.
    pub token: String,
    /// User name.
    pub user: String,
    /// The user's role.
    pub role: Role,
    /// Seconds the token lasts.
    pub expires_in: u64,
    /// The newest event's seq: the console replays from here, so nothing raised between
    /// sign-in and its WebSocket's welcome is missed.
    pub last_seq: u64,
}

/// `GET /api/me`: who a token belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct Me {
    /// User name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// The cameras this user may see; `null`: all.
    pub cameras: Option<Vec<String>>,
    /// When the token expires, ms since the epoch.
    pub expires_at: u64,
}

/// One entry of `GET /api/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct UserSummary {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// One entry of an alert's timeline (`GET /api/alerts/{id}/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct TimelineEntry {
    /// When the server committed the event, ms since the epoch.
    pub at: u64,
    /// The event (`fight_alert` or `alert_update`).
    pub event: ServerMessage,
}

/// One camera of `GET /api/cameras`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct CameraView {
    /// Its state.
    #[serde(flatten)]
    pub state: CameraState,
    /// Where a recent thumbnail is served, once there is one.
    pub latest_url: Option<String>,
}

/// `POST /api/alerts/{id}/ack` (the body may be left out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// What was done (at most 2,000 characters).
    #[serde(default)]
    #[ts(optional)]
    pub note: Option<String>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (503) when the store does not answer.
    pub status: String,
    /// The node's name in a cluster (absent when it runs alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub node: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
}

/// `GET /api/push`: whether Web Push is on, and the key a browser subscribes with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct PushInfo {
    /// Web Push is configured on this server.
    pub enabled: bool,
    /// The VAPID public key (uncompressed P-256 point, base64url): `applicationServerKey`.
    pub public_key: Option<String>,
}

/// A browser's keys (`PushSubscription.toJSON().keys`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushKeys {
    /// P-256 public key, base64url.
    pub p256dh: String,
    /// 16-byte authentication secret, base64url.
    pub auth: String,
}

/// `POST /api/push/subscriptions`: `PushSubscription.toJSON()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct PushSubscribeRequest {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// Its keys.
    pub keys: PushKeys,
}

/// `DELETE /api/push/subscriptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushUnsubscribeRequest {
    /// The endpoint to forget.
    pub endpoint: String,
}
