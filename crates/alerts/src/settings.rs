//! `[workflow]` and `[sites.NAME]` of a node's configuration file: how alerts wait, escalate and
//! group, and where a site's armed hours are read, with their defaults and checks.

use std::time::Duration;

use serde::Deserialize;

use crate::{ArmedSchedule, EscalationPolicy, ScheduleError};

/// Detections on a camera whose alert is still open and was seen this recently count into
/// that alert instead of raising another (`[workflow] group_window_s`).
pub const DEFAULT_GROUP_WINDOW: Duration = Duration::from_secs(120);

/// Longest a workflow duration may be, seconds (a day).
const MAX_SECONDS: f64 = 86_400.0;

/// `[workflow]`: how long an alert may wait for an acknowledgement, and which detections
/// count into an open alert.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowSettings {
    /// Seconds to acknowledge an alert before it escalates (0: never escalate).
    pub ack_deadline_s: f64,
    /// Seconds between further escalations.
    pub escalate_every_s: f64,
    /// A camera down (reconnecting, failed) this many seconds raises a `camera_offline` alert,
    /// ended when it is back (0: never).
    pub camera_offline_s: f64,
    /// A detection on a camera whose alert is still open (not resolved) and was last seen
    /// this many seconds ago at most counts into that alert instead of raising another (0:
    /// every detection is an alert).
    pub group_window_s: f64,
}

impl Default for WorkflowSettings {
    /// [`EscalationPolicy::default`]'s deadlines, [`DEFAULT_GROUP_WINDOW`], and a camera
    /// offline after 30 s.
    fn default() -> Self {
        let escalation = EscalationPolicy::default();
        Self {
            ack_deadline_s: escalation.deadline.as_secs_f64(),
            escalate_every_s: escalation.interval.as_secs_f64(),
            camera_offline_s: 30.0,
            group_window_s: DEFAULT_GROUP_WINDOW.as_secs_f64(),
        }
    }
}

/// `Some(s seconds)`, or `None` for 0.
fn unless_zero(seconds: f64) -> Option<Duration> {
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
}

impl WorkflowSettings {
    /// Whether `seconds` may be a deadline (0 to a day): `[workflow]`'s and a camera's own.
    pub fn is_valid_deadline(seconds: f64) -> bool {
        seconds.is_finite() && (0.0..=MAX_SECONDS).contains(&seconds)
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        let ok = [
            self.ack_deadline_s,
            self.camera_offline_s,
            self.group_window_s,
            self.escalate_every_s,
        ]
        .into_iter()
        .all(Self::is_valid_deadline)
            && self.escalate_every_s >= 1.0;
        if ok {
            Ok(())
        } else {
            Err(
                "ack_deadline_s, camera_offline_s and group_window_s must be 0 to 86400, \
                 escalate_every_s 1 to 86400"
                    .into(),
            )
        }
    }

    /// The escalation policy (`None`: alerts never escalate), with the deadlines of cameras
    /// that have their own.
    pub fn escalation(
        &self,
        per_camera: impl IntoIterator<Item = (String, Duration)>,
    ) -> Option<EscalationPolicy> {
        Some(EscalationPolicy {
            deadline: unless_zero(self.ack_deadline_s)?,
            interval: Duration::from_secs_f64(self.escalate_every_s),
            per_camera: per_camera.into_iter().collect(),
        })
    }

    /// How long a camera may be down before its `camera_offline` alert (`None`: never).
    pub fn camera_offline_after(&self) -> Option<Duration> {
        unless_zero(self.camera_offline_s)
    }

    /// The grouping window (`None`: every detection is an alert).
    pub fn group_window(&self) -> Option<Duration> {
        unless_zero(self.group_window_s)
    }
}

/// `[sites.NAME]`: a site's settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSettings {
    /// IANA time zone (`Europe/Berlin`) of the site's armed hours (default: this machine's).
    pub time_zone: Option<String>,
}

impl SiteSettings {
    /// Checks the time zone is known.
    pub fn check(&self) -> Result<(), ScheduleError> {
        match &self.time_zone {
            Some(zone) => ArmedSchedule::parse(&["daily 00:00-24:00"], Some(zone)).map(drop),
            None => Ok(()),
        }
    }

    /// `spans` of a camera of this site as a schedule in the site's zone.
    pub fn schedule<S: AsRef<str>>(&self, spans: &[S]) -> Result<ArmedSchedule, ScheduleError> {
        ArmedSchedule::parse(spans, self.time_zone.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_escalate_group_and_report_offline_cameras() {
        let settings = WorkflowSettings::default();
        assert!(settings.check().is_ok());
        assert_eq!(settings.group_window(), Some(DEFAULT_GROUP_WINDOW));
        assert_eq!(
            settings.camera_offline_after(),
            Some(Duration::from_secs(30))
        );
        let policy = settings
            .escalation([("gate".to_string(), Duration::from_secs(5))])
            .unwrap();
        assert_eq!(policy.deadline, EscalationPolicy::default().deadline);
        assert_eq!(policy.per_camera["gate"], Duration::from_secs(5));
    }

    #[test]
    fn zero_turns_a_step_off_and_bad_values_are_refused() {
        let off = WorkflowSettings {
            ack_deadline_s: 0.0,
            camera_offline_s: 0.0,
            group_window_s: 0.0,
            ..WorkflowSettings::default()
        };
        assert!(off.check().is_ok());
        assert!(off.escalation([]).is_none());
        assert!(off.camera_offline_after().is_none() && off.group_window().is_none());
        for bad in [
            WorkflowSettings {
                escalate_every_s: 0.5,
                ..WorkflowSettings::default()
            },
            WorkflowSettings {
                ack_deadline_s: f64::INFINITY,
                ..WorkflowSettings::default()
            },
            WorkflowSettings {
                group_window_s: -1.0,
                ..WorkflowSettings::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_sites_zone_is_checked() {
        assert!(SiteSettings::default().check().is_ok());
        let site = SiteSettings {
            time_zone: Some("Europe/Berlin".into()),
        };
        assert!(site.check().is_ok());
        assert!(site.schedule(&["Mon-Fri 18:00-07:00"]).is_ok());
        let bad = SiteSettings {
            time_zone: Some("Mars/Olympus".into()),
        };
        assert!(bad.check().is_err());
    }
}
