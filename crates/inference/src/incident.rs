//! Turning a camera's window scores into fight incidents.

use fightwatch_protocol::IncidentEvent;
use serde::Deserialize;

/// How window scores are smoothed before the thresholds apply.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Smoothing {
    /// Raw scores.
    None,
    /// Exponential moving average: `s = alpha * score + (1 - alpha) * s`.
    Ema {
        /// Weight of the newest score, 0–1.
        alpha: f32,
    },
    /// Mean of the last `windows` scores.
    Mean {
        /// How many windows.
        windows: usize,
    },
}

/// Incident detection settings.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// Smoothing of window scores.
    pub smoothing: Smoothing,
    /// An incident starts when the smoothed score is at or above this…
    pub start_threshold: f32,
    /// …for this many consecutive windows.
    pub min_windows: usize,
    /// An active incident ends when the smoothed score falls below this (hysteresis: lower
    /// than the start threshold, so a score hovering near it does not flap).
    pub end_threshold: f32,
    /// After an incident ends, no new one starts on the camera for this many seconds of media
    /// time.
    pub cooldown_s: f64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        Self {
            smoothing: Smoothing::Mean { windows: 2 },
            start_threshold: 0.6,
            min_windows: 2,
            end_threshold: 0.4,
            cooldown_s: 5.0,
        }
    }
}

impl IncidentConfig {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        if !unit(self.start_threshold) || !unit(self.end_threshold) {
            return Err("thresholds must be between 0 and 1".into());
        }
        if self.end_threshold > self.start_threshold {
            return Err(format!(
                "end threshold {} is above start threshold {}",
                self.end_threshold, self.start_threshold
            ));
        }
        if self.min_windows == 0 {
            return Err("min_windows must be at least 1".into());
        }
        if self.cooldown_s.is_nan() || self.cooldown_s < 0.0 {
            return Err("cooldown_s must be >= 0".into());
        }
        match self.smoothing {
            Smoothing::Ema { alpha } if !(alpha > 0.0 && alpha <= 1.0) => {
                Err("ema alpha must be in (0, 1]".into())
            }
            Smoothing::Mean { windows: 0 } => Err("mean windows must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

/// A camera's own incident settings: each one given replaces the site-wide value
/// (`[cameras.incident]` in the config; `fightwatch tune` writes them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentOverrides {
    /// Replaces [`IncidentConfig::smoothing`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<Smoothing>,
    /// Replaces [`IncidentConfig::start_threshold`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_threshold: Option<f32>,
    /// Replaces [`IncidentConfig::min_windows`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_windows: Option<usize>,
    /// Replaces [`IncidentConfig::end_threshold`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_threshold: Option<f32>,
    /// Replaces [`IncidentConfig::cooldown_s`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_s: Option<f64>,
}

impl IncidentOverrides {
    /// `base` with these values in place of its own.
    pub fn apply(&self, base: IncidentConfig) -> IncidentConfig {
        IncidentConfig {
            smoothing: self.smoothing.unwrap_or(base.smoothing),
            start_threshold: self.start_threshold.unwrap_or(base.start_threshold),
            min_windows: self.min_windows.unwrap_or(base.min_windows),
            end_threshold: self.end_threshold.unwrap_or(base.end_threshold),
            cooldown_s: self.cooldown_s.unwrap_or(base.cooldown_s),
        }
    }
}

#[derive(Debug)]
struct Active {
    id: String,
    start_t: f64,
    peak: f32,
    peak_t: f64,
}

/// What [`IncidentDetector::push`] decided for one window.
#[derive(Debug, Default)]
pub struct Decision {
    /// The smoothed score.
    pub smoothed: f32,
    /// Events caused by this window.
    pub events: Vec<IncidentEvent>,
    /// True when this window is the new peak of the active incident (keep its frame).
    pub new_peak: bool,
}

/// Incident state of one camera.
#[derive(Debug)]
pub struct IncidentDetector {
    camera: String,
    config: IncidentConfig,
    recent: std::collections::VecDeque<f32>,
    ema: Option<f32>,
    above: usize,
    active: Option<Active>,
    cooldown_until: f64,
    count: u64,
}

impl IncidentDetector {
    /// A detector for `camera`.
    pub fn new(camera: &str, config: IncidentConfig) -> Self {
        Self {
            camera: camera.into(),
            config,
            recent: Default::default(),
            ema: None,
            above: 0,
            active: None,
            cooldown_until: f64::NEG_INFINITY,
            count: 0,
        }
    }

    /// Whether an incident is open.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    fn smooth(&mut self, score: f32) -> f32 {
        match self.config.smoothing {
            Smoothing::None => score,
            Smoothing::Ema { alpha } => {
                let s = self
                    .ema
                    .map_or(score, |prev| alpha * score + (1.0 - alpha) * prev);
                self.ema = Some(s);
                s
            }
            Smoothing::Mean { windows } => {
                self.recent.push_back(score);
                while self.recent.len() > windows {
                    self.recent.pop_front();
                }
                self.recent.iter().sum::<f32>() / self.recent.len() as f32
            }
        }
    }

    /// Feeds the fight score of the window ending at media time `t`.
    pub fn push(&mut self, t: f64, wall_ms: u64, score: f32, label: &str) -> Decision {
        let smoothed = self.smooth(score);
        let mut d = Decision {
            smoothed,
            ..Default::default()
        };
        match &mut self.active {
            Some(active) => {
                if smoothed < self.config.end_threshold {
                    d.events.push(self.end(t, wall_ms));
                } else if smoothed > active.peak {
                    active.peak = smoothed;
                    active.peak_t = t;
                    d.new_peak = true;
                    d.events.push(IncidentEvent::Updated {
                        incident: active.id.clone(),
                        camera: self.camera.clone(),
                        t,
                        wall_ms,
                        peak: smoothed,
                    });
                }
            }
            None => {
                self.above = if smoothed >= self.config.start_threshold {
                    self.above + 1
                } else {
                    0
                };
                if self.above >= self.config.min_windows && t >= self.cooldown_until {
                    self.count += 1;
                    let id = format!("{}-{}", self.camera, self.count);
                    self.active = Some(Active {
                        id: id.clone(),
                        start_t: t,
                        peak: smoothed,
                        peak_t: t,
                    });
                    self.above = 0;
                    d.new_peak = true;
                    d.events.push(IncidentEvent::Started {
                        incident: id,
                        camera: self.camera.clone(),
                        t,
                        wall_ms,
                        score: smoothed,
                        label: label.into(),
                    });
                }
            }
        }
        d
    }

    fn end(&mut self, t: f64, wall_ms: u64) -> IncidentEvent {
        self.above = 0;
        self.cooldown_until = t + self.config.cooldown_s;
        match self.active.take() {
            Some(a) => IncidentEvent::Ended {
                incident: a.id,
                camera: self.camera.clone(),
                t,
                wall_ms,
                duration_s: t - a.start_t,
                peak: a.peak,
                peak_t: a.peak_t,
            },
            None => unreachable!("end() is only called with an active incident"),
        }
    }

    /// Closes an open incident at the end of the stream (media time `t`).
    pub fn finish(&mut self, t: f64, wall_ms: u64) -> Option<IncidentEvent> {
        self.active.is_some().then(|| self.end(t, wall_ms))
    }

    /// Forgets the smoothing history (the stream restarted); an open incident stays open.
    pub fn reset_smoothing(&mut self) {
        self.recent.clear();
        self.ema = None;
        self.above = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = IncidentConfig::default();
        let own: IncidentOverrides =
            toml::from_str("start_threshold = 0.8\nmin_windows = 3\n").expect("parses");
        let merged = own.apply(base);
        assert_eq!((merged.start_threshold, merged.min_windows), (0.8, 3));
        assert_eq!(merged.end_threshold, base.end_threshold);
        assert_eq!(merged.smoothing, base.smoothing);
        assert_eq!(IncidentOverrides::default().apply(base), base);
        assert!(toml::from_str::<IncidentOverrides>("start = 0.8").is_err());
    }

    fn raw(start: f32, end: f32, min_windows: usize, cooldown_s: f64) -> IncidentConfig {
        IncidentConfig {
            smoothing: Smoothing::None,
            start_threshold: start,
            end_threshold: end,
            min_windows,
            cooldown_s,
        }
    }

    /// Runs scores at t = 1, 2, 3 … and returns (kind, t) of every event, plus the final close.
    fn run(cfg: IncidentConfig, scores: &[f32]) -> Vec<(&'static str, f64)> {
        let mut d = IncidentDetector::new("cam", cfg);
        let mut out = Vec::new();
        for (i, s) in scores.iter().enumerate() {
            for ev in d.push(i as f64 + 1.0, 0, *s, "fight").events {
                out.push((kind(&ev), ev.t()));
            }
        }
        if let Some(ev) = d.finish(scores.len() as f64 + 1.0, 0) {
            out.push((kind(&ev), ev.t()));
        }
        out
    }

    fn kind(ev: &IncidentEvent) -> &'static str {
        match ev {
            IncidentEvent::Started { .. } => "start",
            IncidentEvent::Updated { .. } => "peak",
            IncidentEvent::Ended { .. } => "end",
        }
    }

    #[test]
    fn one_incident_per_fight_not_one_per_window() {
        let ev = run(raw(0.6, 0.4, 1, 0.0), &[0.1, 0.9, 0.9, 0.9, 0.9, 0.1]);
        assert_eq!(ev, vec![("start", 2.0), ("end", 6.0)]);
    }

    #[test]
    fn hysteresis_keeps_an_incident_open_between_the_thresholds() {
        // 0.5 is below start (0.6) but above end (0.4): the incident stays open.
        let ev = run(raw(0.6, 0.4, 1, 0.0), &[0.7, 0.5, 0.45, 0.5, 0.3]);
        assert_eq!(ev, vec![("start", 1.0), ("end", 5.0)]);
        // Without hysteresis (end = start) the same scores end it at once.
        let ev = run(raw(0.6, 0.6, 1, 0.0), &[0.7, 0.5, 0.45, 0.5, 0.3]);
        assert_eq!(ev, vec![("start", 1.0), ("end", 2.0)]);
    }

    #[test]
    fn min_windows_ignores_a_single_spike() {
        assert_eq!(run(raw(0.6, 0.4, 2, 0.0), &[0.1, 0.95, 0.1, 0.2]), vec![]);
        assert_eq!(
            run(raw(0.6, 0.4, 2, 0.0), &[0.1, 0.95, 0.9, 0.2]),
            vec![("start", 3.0), ("end", 4.0)]
        );
    }

    #[test]
    fn cooldown_suppresses_a_restart_right_after_the_end() {
        let scores = [0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1];
        // Ends at t=2; cooldown 3 s blocks t=3,4; the t=9 fight starts again.
        assert_eq!(
            run(raw(0.6, 0.4, 1, 3.0), &scores),
            vec![("start", 1.0), ("end", 2.0), ("start", 9.0), ("end", 10.0)]
        );
        assert_eq!(
            run(raw(0.6, 0.4, 1, 0.0), &scores),
            vec![
                ("start", 1.0),
                ("end", 2.0),
                ("start", 3.0),
                ("end", 5.0),
                ("start", 9.0),
                ("end", 10.0)
            ]
        );
    }

    #[test]
    fn peaks_are_reported_and_an_open_incident_closes_at_end_of_stream() {
        let ev = run(raw(0.6, 0.4, 1, 0.0), &[0.7, 0.8, 0.75, 0.9]);
        assert_eq!(
            ev,
            vec![("start", 1.0), ("peak", 2.0), ("peak", 4.0), ("end", 5.0)]
        );
        let mut d = IncidentDetector::new("cam", raw(0.6, 0.4, 1, 0.0));
        d.push(1.0, 0, 0.7, "fight");
        d.push(2.0, 0, 0.95, "fight");
        match d.finish(3.0, 0) {
            Some(IncidentEvent::Ended {
                duration_s,
                peak,
                peak_t,
                incident,
                ..
            }) => {
                assert_eq!(
                    (duration_s, peak, peak_t, incident.as_str()),
                    (2.0, 0.95, 2.0, "cam-1")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(d.finish(4.0, 0).is_none());
    }

    #[test]
    fn smoothing_bridges_a_dip() {
        let mean = IncidentConfig {
            smoothing: Smoothing::Mean { windows: 3 },
            ..raw(0.6, 0.4, 1, 0.0)
        };
        // Raw, the 0.2 dip would end the incident; the 3-window mean (0.63) keeps it open.
        assert_eq!(
            run(raw(0.6, 0.4, 1, 0.0), &[0.9, 0.9, 0.8, 0.2, 0.9]).len(),
            4
        );
        assert_eq!(
            run(mean, &[0.9, 0.9, 0.8, 0.2, 0.9]),
            vec![("start", 1.0), ("end", 6.0)]
        );
        let ema = IncidentConfig {
            smoothing: Smoothing::Ema { alpha: 0.5 },
            ..raw(0.6, 0.4, 1, 0.0)
        };
        assert_eq!(
            run(ema, &[0.2, 0.9, 0.9]),
            vec![("start", 3.0), ("end", 4.0)]
        );
    }

    #[test]
    fn bad_configs_are_rejected() {
        assert!(raw(0.6, 0.7, 1, 0.0).validate().is_err());
        assert!(raw(1.5, 0.4, 1, 0.0).validate().is_err());
        assert!(raw(0.6, 0.4, 0, 0.0).validate().is_err());
        assert!(
            IncidentConfig {
                smoothing: Smoothing::Ema { alpha: 0.0 },
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(IncidentConfig::default().validate().is_ok());
    }
}
