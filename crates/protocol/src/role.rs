//! What a signed-in user may do.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// A user's role. Ordered: viewer < operator < admin; a detector only reports detections.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reports detections; may not watch.
    Detector,
    /// Watches alerts, cameras and chat.
    Viewer,
    /// Also acknowledges alerts.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Self::Detector, Self::Viewer, Self::Operator, Self::Admin];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detector => "detector",
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may watch dashboards.
    pub fn can_view(self) -> bool {
        self >= Self::Viewer
    }

    /// Whether this role may acknowledge alerts.
    pub fn can_ack(self) -> bool {
        self >= Self::Operator
    }

    /// Whether this role may report detections.
    pub fn can_detect(self) -> bool {
        matches!(self, Self::Detector | Self::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: use viewer, operator, admin or detector"))
    }
}

/// What a camera is doing, as `camera_status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraStatus {
    /// Frames are arriving.
    Online,
    /// The source failed; reconnecting with backoff.
    Reconnecting,
    /// Failed for good, or stopped.
    Offline,
    /// A recorded file reached its end.
    Ended,
}

impl CameraStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Reconnecting => "reconnecting",
            Self::Offline => "offline",
            Self::Ended => "ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_print_and_order() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Operator.can_ack() && !Role::Viewer.can_ack() && !Role::Detector.can_view());
        assert!(Role::Admin.can_detect() && !Role::Operator.can_detect());
    }
}
