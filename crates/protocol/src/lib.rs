/*!
Shared event and WebSocket message types of fightwatch.

Every stage exchanges these types, so they live in one small crate with no heavy dependencies:
the inference stage produces [`IncidentEvent`]s, the store persists them as alerts, and the
broadcaster sends [`ServerMessage`]s to dashboards and reads [`ClientMessage`]s from them. Field
names are the wire names; `docs/protocol.md` documents them with examples.

```
use fightwatch_protocol::IncidentEvent;

let ev = IncidentEvent::Started {
    incident: "cam1-1".into(), camera: "cam1".into(), t: 3.5, wall_ms: 1_764_000_000_000,
    score: 0.93, label: "fight".into(),
};
assert_eq!(
    serde_json::to_string(&ev).unwrap(),
    r#"{"event":"incident_started","incident":"cam1-1","camera":"cam1","t":3.5,"wall_ms":1764000000000,"score":0.93,"label":"fight"}"#
);
```
*/

mod messages;
mod operations;
mod rest;
mod role;
pub mod typescript;

pub use messages::{
    AlertEscalated, AlertStatus, AlertUpdate, CameraMetrics, CameraState, ChatMessage,
    ClientMessage, ClipInfo, Detection, FalseAlarmReason, FightAlert, LiveVideoMessage, Metrics,
    Outcome, ServerMessage, private_room,
};
pub use operations::{TargetStatus, TuneCandidate, TuneProposal, TuneReport};
pub use rest::{
    AckRequest, AlertRecord, AssignRequest, CameraView, ErrorBody, Health, LoginRequest,
    LoginResponse, Me, PushInfo, PushKeys, PushSubscribeRequest, PushUnsubscribeRequest,
    ResolveRequest, TimelineEntry, UserSummary,
};
pub use role::{CameraStatus, Role};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A file-name-safe version of a name: camera names and alert ids go into media file names
/// (snapshots, clips, exports), where only ASCII letters, digits, `-` and `_` are kept.
pub fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Milliseconds since the Unix epoch, the unit of every time on the wire (0 if the clock is
/// set before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A change in a fight incident on one camera, as the incident detector reports it.
///
/// `t` is media time in seconds (the end of the window that caused the event), `wall_ms` the
/// wall-clock time in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IncidentEvent {
    /// A fight began: the smoothed score crossed the start threshold for long enough.
    #[serde(rename = "incident_started")]
    Started {
        /// Incident id, unique per process run (`CAMERA-N`).
        incident: String,
        /// Camera name.
        camera: String,
        /// Media time, seconds.
        t: f64,
        /// Wall time, ms since the epoch.
        wall_ms: u64,
        /// Smoothed fight score when it started.
        score: f32,
        /// The winning fight label.
        label: String,
    },
    /// The incident reached a new peak score.
    #[serde(rename = "incident_updated")]
    Updated {
        /// Incident id.
        incident: String,
        /// Camera name.
        camera: String,
        /// Media time of the new peak, seconds.
        t: f64,
        /// Wall time, ms since the epoch.
        wall_ms: u64,
        /// The new peak (smoothed) score.
        peak: f32,
    },
    /// The fight ended: the smoothed score fell below the end threshold, or the stream ended.
    #[serde(rename = "incident_ended")]
    Ended {
        /// Incident id.
        incident: String,
        /// Camera name.
        camera: String,
        /// Media time it ended, seconds.
        t: f64,
        /// Wall time, ms since the epoch.
        wall_ms: u64,
        /// Media time from start to end, seconds.
        duration_s: f64,
        /// Highest smoothed score.
        peak: f32,
        /// Media time of the peak, seconds.
        peak_t: f64,
    },
}

impl IncidentEvent {
    /// The incident id.
    pub fn incident(&self) -> &str {
        match self {
            Self::Started { incident, .. }
            | Self::Updated { incident, .. }
            | Self::Ended { incident, .. } => incident,
        }
    }

    /// The camera.
    pub fn camera(&self) -> &str {
        match self {
            Self::Started { camera, .. }
            | Self::Updated { camera, .. }
            | Self::Ended { camera, .. } => camera,
        }
    }

    /// Media time of the event, seconds.
    pub fn t(&self) -> f64 {
        match self {
            Self::Started { t, .. } | Self::Updated { t, .. } | Self::Ended { t, .. } => *t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_safe_names_keep_letters_digits_dashes_and_underscores_only() {
        assert_eq!(file_safe("lobby-2_east"), "lobby-2_east");
        assert_eq!(file_safe("../etc/passwd"), "___etc_passwd");
        assert_eq!(file_safe("caméra 1"), "cam_ra_1");
    }

    #[test]
    fn client_messages_are_strict() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"resume","after_seq":41}"#).unwrap();
        assert_eq!(m, ClientMessage::Resume { after_seq: 41 });
        let m: ClientMessage = serde_json::from_str(r#"{"type":"ack_alert","id":"a1"}"#).unwrap();
        assert_eq!(
            m,
            ClientMessage::AckAlert {
                id: "a1".into(),
                note: None
            }
        );
        for bad in [
            r#"{"type":"resume"}"#,
            r#"{"type":"resume","after_seq":1,"x":2}"#,
            r#"{"type":"nope"}"#,
            "[]",
            "{",
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fight_alert_wire_form() {
        let m = ServerMessage::FightAlert(FightAlert {
            id: "a1".into(),
            seq: 7,
            camera: "lobby".into(),
            site: "hq".into(),
            label: "fight".into(),
            score: 0.5,
            started_at: 1,
            snapshot_url: None,
            source: "pipeline".into(),
            region: Some([0.5, 0.25, 1.0, 0.75]),
            heatmap_url: None,
        });
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            json.starts_with(r#"{"type":"fight_alert","id":"a1","seq":7"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ServerMessage>(&json).unwrap(), m);
        assert_eq!(m.seq(), Some(7));
    }

    #[test]
    fn ended_round_trips_through_json() {
        let ev = IncidentEvent::Ended {
            incident: "c-2".into(),
            camera: "c".into(),
            t: 9.0,
            wall_ms: 5,
            duration_s: 4.5,
            peak: 0.99,
            peak_t: 6.0,
        };
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.starts_with(r#"{"event":"incident_ended""#), "{json}");
        assert_eq!(serde_json::from_str::<IncidentEvent>(&json).unwrap(), ev);
        assert_eq!((ev.incident(), ev.camera(), ev.t()), ("c-2", "c", 9.0));
    }
}
