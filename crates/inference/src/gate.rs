//! Which windows are worth a model run.
//!
//! A real model costs ~0.4 s of both cores per window on a small box, and most cameras show a
//! still scene most of the time. Two rules leave windows unscored, and three make sure nothing
//! is missed because of it:
//! - **still**: a window in which no frame changed more than `still_below` of the picture
//!   (`fightwatch_capture::MotionMeter`) is not scored;
//! - **relaxed**: while a camera's smoothed score is far below the threshold, it is scored every
//!   `relaxed_hop_s` instead of every hop, unless its motion jumps;
//! - never while an incident is open or the smoothed score is at or above the end threshold
//!   (something may be starting), never for longer than `max_unscored_s` on any camera, and a
//!   window whose motion is unknown counts as moving.
//!
//! The `max_unscored_s` checks of still cameras are staggered: each camera has a phase (its
//! place among the cameras), and its check falls due when media time crosses its own slot
//! boundary, so a site of cameras that went still together does not queue all its checks
//! for the same second (which made every camera lag behind at once).
//!
//! An unscored window is not fed to the incident detector: the scores around it stand for it.

/// Gate settings (see the module docs). [`GateConfig::off`] scores every window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// Windows whose frames changed less than this fraction of the picture are not scored
    /// (`None`: motion does not matter).
    pub still_below: Option<f32>,
    /// While the smoothed score is below this, a camera is scored every `relaxed_hop_s`.
    pub relaxed_below: f32,
    /// Seconds of media time between scored windows while relaxed (at or below the pipeline's
    /// hop: never relaxed).
    pub relaxed_hop_s: f64,
    /// Longest a camera goes without a scored window, seconds of media time.
    pub max_unscored_s: f64,
}

impl GateConfig {
    /// Every window is scored.
    pub fn off() -> Self {
        Self {
            still_below: None,
            relaxed_below: 0.0,
            relaxed_hop_s: 0.0,
            max_unscored_s: 0.0,
        }
    }

    /// The settings `fightwatch run` uses unless told otherwise: still below 0.2 % of the
    /// picture, relaxed to one window a second below a smoothed 0.2, every camera scored at
    /// least every 10 s.
    pub fn recommended() -> Self {
        Self {
            still_below: Some(0.002),
            relaxed_below: 0.2,
            relaxed_hop_s: 1.0,
            max_unscored_s: 10.0,
        }
    }

    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.still_below.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            return Err("still_below must be between 0 and 1".into());
        }
        if !(0.0..=1.0).contains(&self.relaxed_below) {
            return Err("relaxed_below must be between 0 and 1".into());
        }
        for (name, v) in [
            ("relaxed_hop_s", self.relaxed_hop_s),
            ("max_unscored_s", self.max_unscored_s),
        ] {
            if !(v.is_finite() && (0.0..=3600.0).contains(&v)) {
                return Err(format!("{name} must be between 0 and 3600 s, got {v}"));
            }
        }
        Ok(())
    }
}

impl Default for GateConfig {
    fn default() -> Self {
        Self::off()
    }
}

/// Why a window was or was not scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Run the model.
    Score,
    /// Nothing moved.
    Still,
    /// Far below the threshold and scored recently enough.
    Relaxed,
    /// Dropped unscored: analysis ran behind the camera and newer windows were waiting
    /// (`PipelineConfig::max_backlog`).
    Behind,
}

/// A motion jump that ends a relaxed stretch: the window moves this much more than the last
/// scored one (and by at least [`SURGE_MIN`]).
const SURGE_FACTOR: f32 = 1.5;
const SURGE_MIN: f32 = 0.01;

/// One camera's gate state.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Where in each `max_unscored_s` this camera's check falls, as a fraction of it.
    phase: f64,
    /// End (media time) and motion of the last window sent to the model.
    last: Option<(f64, Option<f32>)>,
    /// The detector's smoothed score after the last scored window.
    smoothed: f32,
}

impl Gate {
    /// A gate whose still-camera checks fall at `phase` (0..1) of every `max_unscored_s`.
    pub(crate) fn with_phase(phase: f64) -> Self {
        Self {
            phase: if phase.is_finite() {
                phase.clamp(0.0, 1.0)
            } else {
                0.0
            },
            ..Self::default()
        }
    }

    /// Whether a camera last scored at `last_end` is due for its check at `end_s`: always
    /// after `max_unscored_s`, and from half of it on when media time crosses this camera's
    /// slot boundary (`phase` into each period): the gap stays at most `max_unscored_s`, and
    /// cameras with different phases are checked at different times.
    fn check_due(&self, config: &GateConfig, last_end: f64, end_s: f64) -> bool {
        let period = config.max_unscored_s;
        let since = end_s - last_end;
        if since >= period {
            return true;
        }
        let slot = |t: f64| ((t - self.phase * period) / period).floor();
        since >= period / 2.0 && slot(end_s) > slot(last_end)
    }

    /// Whether the window ending at `end_s` with `motion` is scored; `active` / `end_threshold`
    /// are the incident detector's.
    pub(crate) fn decide(
        &self,
        config: &GateConfig,
        end_s: f64,
        motion: Option<f32>,
        active: bool,
        end_threshold: f32,
    ) -> Verdict {
        let Some((last_end, last_motion)) = self.last else {
            return Verdict::Score;
        };
        let since = end_s - last_end;
        // Timestamps went back (a restart), an incident is open or may be starting, or the
        // camera has waited long enough.
        if since < 0.0
            || active
            || self.smoothed >= end_threshold
            || self.check_due(config, last_end, end_s)
        {
            return Verdict::Score;
        }
        let Some(motion) = motion else {
            return Verdict::Score;
        };
        if config.still_below.is_some_and(|still| motion < still) {
            return Verdict::Still;
        }
        let surge = last_motion.is_none_or(|m| motion >= (m * SURGE_FACTOR).max(m + SURGE_MIN));
        if self.smoothed < config.relaxed_below && since + 1e-6 < config.relaxed_hop_s && !surge {
            return Verdict::Relaxed;
        }
        Verdict::Score
    }

    /// Records a window sent to the model.
    pub(crate) fn sent(&mut self, end_s: f64, motion: Option<f32>) {
        self.last = Some((end_s, motion));
    }

    /// Records the smoothed score a scored window gave.
    pub(crate) fn scored(&mut self, smoothed: f32) {
        self.smoothed = smoothed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate_after(end: f64, motion: f32, smoothed: f32) -> Gate {
        phased_after(0.5, end, motion, smoothed)
    }

    fn phased_after(phase: f64, end: f64, motion: f32, smoothed: f32) -> Gate {
        let mut g = Gate::with_phase(phase);
        g.sent(end, Some(motion));
        g.scored(smoothed);
        g
    }

    const ON: GateConfig = GateConfig {
        still_below: Some(0.002),
        relaxed_below: 0.2,
        relaxed_hop_s: 1.0,
        max_unscored_s: 10.0,
    };

    #[test]
    fn off_scores_everything() {
        let g = gate_after(1.0, 0.0, 0.0);
        for m in [None, Some(0.0), Some(0.5)] {
            assert_eq!(
                g.decide(&GateConfig::off(), 1.5, m, false, 0.4),
                Verdict::Score
            );
        }
        assert_eq!(GateConfig::off().validate(), Ok(()));
        assert_eq!(GateConfig::recommended().validate(), Ok(()));
    }

    #[test]
    fn still_windows_wait_but_not_forever() {
        let g = gate_after(1.0, 0.0, 0.05);
        assert_eq!(g.decide(&ON, 1.5, Some(0.001), false, 0.4), Verdict::Still);
        // Phase 0.5 of 10 s: this camera's slots turn at 5, 15, 25 s... It was last scored at
        // 1 s: the turn at 5 s is passed, and the check is due once half a period has gone too.
        assert_eq!(g.decide(&ON, 5.5, Some(0.001), false, 0.4), Verdict::Still);
        assert_eq!(g.decide(&ON, 6.0, Some(0.001), false, 0.4), Verdict::Score);
        // Phase 0: the turn at 10 s.
        let g = phased_after(0.0, 1.0, 0.0, 0.05);
        assert_eq!(g.decide(&ON, 9.5, Some(0.001), false, 0.4), Verdict::Still);
        assert_eq!(g.decide(&ON, 10.0, Some(0.001), false, 0.4), Verdict::Score);
        // Never more than max_unscored_s, whatever the phase.
        let g = phased_after(0.0, 10.0, 0.0, 0.05);
        assert_eq!(g.decide(&ON, 19.5, Some(0.001), false, 0.4), Verdict::Still);
        assert_eq!(g.decide(&ON, 20.0, Some(0.001), false, 0.4), Verdict::Score);
        // Unknown motion counts as motion.
        assert_eq!(g.decide(&ON, 1.5, None, false, 0.4), Verdict::Score);
    }

    /// Still cameras that started together are checked at their own times, never more than
    /// `max_unscored_s` apart, and they keep their spread.
    #[test]
    fn still_cameras_are_checked_at_staggered_times() {
        let checks = |phase: f64| {
            let mut g = Gate::with_phase(phase);
            let mut at = Vec::new();
            let mut last = 0.0;
            for k in 2..=120 {
                let t = f64::from(k) * 0.5;
                if g.last.is_none() || g.decide(&ON, t, Some(0.0), false, 0.4) == Verdict::Score {
                    assert!(
                        t - last <= ON.max_unscored_s + 1e-9,
                        "phase {phase}: {last} -> {t}"
                    );
                    g.sent(t, Some(0.0));
                    g.scored(0.0);
                    at.push(t);
                    last = t;
                }
            }
            at
        };
        for i in 0..4 {
            let phase = f64::from(i) / 4.0;
            let at = checks(phase);
            // After the first period every check falls on this camera's own slot boundary.
            let steady: Vec<f64> = at.iter().copied().filter(|t| *t > 20.0).collect();
            assert!(steady.len() >= 3, "{at:?}");
            for t in steady {
                assert_eq!(
                    (t - phase * 10.0).rem_euclid(10.0),
                    0.0,
                    "phase {phase}: {at:?}"
                );
            }
        }
    }

    #[test]
    fn an_open_incident_or_a_rising_score_is_always_scored() {
        let g = gate_after(1.0, 0.0, 0.05);
        assert_eq!(g.decide(&ON, 1.5, Some(0.0), true, 0.4), Verdict::Score);
        let g = gate_after(1.0, 0.0, 0.45);
        assert_eq!(g.decide(&ON, 1.5, Some(0.0), false, 0.4), Verdict::Score);
        // A restart (media time went back).
        let g = gate_after(100.0, 0.0, 0.05);
        assert_eq!(g.decide(&ON, 1.0, Some(0.0), false, 0.4), Verdict::Score);
    }

    #[test]
    fn relaxed_far_below_the_threshold_unless_motion_jumps() {
        let g = gate_after(1.0, 0.02, 0.1);
        assert_eq!(g.decide(&ON, 1.5, Some(0.02), false, 0.4), Verdict::Relaxed);
        assert_eq!(g.decide(&ON, 2.0, Some(0.02), false, 0.4), Verdict::Score);
        assert_eq!(g.decide(&ON, 1.5, Some(0.05), false, 0.4), Verdict::Score);
        // Nearer the threshold: every hop.
        let g = gate_after(1.0, 0.02, 0.3);
        assert_eq!(g.decide(&ON, 1.5, Some(0.02), false, 0.4), Verdict::Score);
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = [
            GateConfig {
                still_below: Some(1.5),
                ..ON
            },
            GateConfig {
                relaxed_below: -0.1,
                ..ON
            },
            GateConfig {
                relaxed_hop_s: f64::NAN,
                ..ON
            },
            GateConfig {
                max_unscored_s: 1e9,
                ..ON
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
    }
}
