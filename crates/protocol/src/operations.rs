//! Admin views of a node's operation: webhook/MQTT/Web Push delivery (`GET /api/integrations`)
//! and the last `fightwatch tune` report (`GET /api/tune`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// A delivery target's state (`GET /api/integrations`, `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct TargetStatus {
    /// The target.
    pub name: String,
    /// Its URL's scheme and host (no path or query: they may hold tokens).
    pub endpoint: String,
    /// The last event it was given (or skipped).
    pub cursor: u64,
    /// Events posted and taken.
    pub delivered: u64,
    /// Failed attempts (each retried).
    pub failed_attempts: u64,
    /// Events the receiver refused for good (4xx other than 408/429): logged, skipped.
    pub rejected: u64,
    /// Whether the last attempt failed (the event is being retried).
    pub retrying: bool,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the last event was taken, ms since the epoch.
    pub last_delivered_at: Option<u64>,
}

/// How one incident setting does on a camera's verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct TuneCandidate {
    /// Start threshold tried.
    #[serde(serialize_with = "two_decimals")]
    pub start_threshold: f32,
    /// Consecutive windows tried.
    pub min_windows: usize,
    /// Confirmed fights (all cameras) it would still raise.
    pub fights_raised: usize,
    /// The camera's false alarms it would still raise.
    pub false_alarms_raised: usize,
}

/// 0.6 rather than 0.6000000238418579 in reports.
fn two_decimals<S: serde::Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((f64::from(*v) * 100.0).round() / 100.0)
}

/// What `fightwatch tune` proposes for one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct TuneProposal {
    /// The camera.
    pub camera: String,
    /// Confirmed fights the proposal must keep (every camera's).
    pub fights: usize,
    /// This camera's false alarms.
    pub false_alarms: usize,
    /// The camera's settings now, and how they do.
    pub current: TuneCandidate,
    /// The proposed settings, and how they do.
    pub proposed: TuneCandidate,
    /// Whether the proposal differs from the current settings.
    pub changed: bool,
    /// Every candidate tried.
    pub candidates: Vec<TuneCandidate>,
    /// Its trade-off plot, `tune-CAMERA.png`, served at `/api/tune/{plot}`.
    pub plot: String,
}

/// The report `fightwatch tune` leaves in `DATA_DIR/tune/tune.json` (`GET /api/tune`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct TuneReport {
    /// When it was made, ms since the epoch.
    pub generated_at: u64,
    /// Verdicts (resolved alerts with a clip) it used.
    pub samples: usize,
    /// Resolved alerts without a clip to score (left out).
    pub without_clip: usize,
    /// Alerts resolved as tests (left out).
    pub tests: usize,
    /// Verdicts of cameras the config no longer has, per camera.
    pub unknown_cameras: BTreeMap<String, usize>,
    /// Whether `--apply` wrote the proposals into the config.
    pub applied: bool,
    /// One per camera with verdicts.
    pub proposals: Vec<TuneProposal>,
}
