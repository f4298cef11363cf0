//! Per-camera incident settings from the operators' verdicts (`fightwatch tune`).
//!
//! Each resolved alert with a clip is a labelled sample: `confirmed` is a fight, `false_alarm` is
//! not. The clip's window scores (the model's, replayed) go through the real
//! [`IncidentDetector`] under every candidate `start_threshold` × `min_windows`; the proposal for
//! a camera is the candidate that still raises **every confirmed fight** — of every camera, so a
//! camera with false alarms only is never tuned deaf to fights — and drops the most of the
//! camera's false alarms. Among equals it keeps the camera's `min_windows` if it can and takes
//! the middle of the thresholds that do as well (the widest margin on both sides).

use fightwatch_inference::{IncidentConfig, IncidentDetector};
use serde::Serialize;

/// One labelled sample: an alert's clip, scored.
#[derive(Debug, Clone)]
pub struct TuneSample {
    /// The alert's id.
    pub alert: String,
    /// The alert's camera.
    pub camera: String,
    /// Confirmed fight (true) or false alarm (false).
    pub fight: bool,
    /// `(media time, fight score)` of each window of its clip.
    pub scores: Vec<(f64, f32)>,
}

/// How one candidate setting does on a camera's samples (the report's wire type).
pub use fightwatch_protocol::TuneCandidate as Candidate;

/// What `tune` proposes for one camera.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    /// The camera.
    pub camera: String,
    /// Confirmed fights the proposal must keep (every camera's).
    pub fights: usize,
    /// This camera's false alarms.
    pub false_alarms: usize,
    /// The camera's settings now, and how they do.
    pub current: Candidate,
    /// The proposed settings, and how they do.
    pub proposed: Candidate,
    /// Whether the proposal differs from the current settings.
    pub changed: bool,
    /// Every candidate tried (for the plot and the JSON report).
    pub candidates: Vec<Candidate>,
}

/// Thresholds tried: 0.30 to 0.95 by 0.05.
pub const THRESHOLDS: [f32; 14] = [
    0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95,
];
/// Most consecutive windows tried.
pub const MAX_MIN_WINDOWS: usize = 6;

/// Whether `config` starts an incident on these window scores.
pub fn raises(config: IncidentConfig, scores: &[(f64, f32)]) -> bool {
    let mut detector = IncidentDetector::new("tune", config);
    scores
        .iter()
        .any(|&(t, score)| !detector.push(t, 0, score, "fight").events.is_empty())
}

/// `current` with another start threshold and window count (the end threshold lowered with it
/// when it would be above the start).
pub fn with(current: IncidentConfig, start_threshold: f32, min_windows: usize) -> IncidentConfig {
    IncidentConfig {
        start_threshold,
        min_windows,
        end_threshold: current.end_threshold.min(start_threshold),
        ..current
    }
}

fn try_one(
    config: IncidentConfig,
    fights: &[&TuneSample],
    false_alarms: &[&TuneSample],
) -> Candidate {
    let count =
        |samples: &[&TuneSample]| samples.iter().filter(|s| raises(config, &s.scores)).count();
    Candidate {
        start_threshold: config.start_threshold,
        min_windows: config.min_windows,
        fights_raised: count(fights),
        false_alarms_raised: count(false_alarms),
    }
}

/// The proposal for `camera`, whose settings are `current`, from `samples` of every camera.
pub fn propose(camera: &str, current: IncidentConfig, samples: &[TuneSample]) -> Proposal {
    let fights: Vec<&TuneSample> = samples.iter().filter(|s| s.fight).collect();
    let false_alarms: Vec<&TuneSample> = samples
        .iter()
        .filter(|s| !s.fight && s.camera == camera)
        .collect();
    let now = try_one(current, &fights, &false_alarms);
    let mut candidates = Vec::with_capacity(THRESHOLDS.len() * MAX_MIN_WINDOWS);
    for min_windows in 1..=MAX_MIN_WINDOWS {
        for &t in &THRESHOLDS {
            candidates.push(try_one(
                with(current, t, min_windows),
                &fights,
                &false_alarms,
            ));
        }
    }
    // Keep every fight the current settings keep (more when they can), then drop the most
    // false alarms.
    let rank = |c: &Candidate| (c.fights_raised, std::cmp::Reverse(c.false_alarms_raised));
    let best = candidates.iter().map(rank).max();
    let proposed = match best {
        Some(best) if best > rank(&now) => {
            let equal: Vec<&Candidate> = candidates.iter().filter(|c| rank(c) == best).collect();
            let windows = if equal.iter().any(|c| c.min_windows == current.min_windows) {
                current.min_windows
            } else {
                equal
                    .iter()
                    .map(|c| c.min_windows)
                    .min_by_key(|w| w.abs_diff(current.min_windows))
                    .unwrap_or(current.min_windows)
            };
            let same: Vec<&&Candidate> =
                equal.iter().filter(|c| c.min_windows == windows).collect();
            // The lower middle: of two equals, the one further from the fights.
            same.get(same.len().saturating_sub(1) / 2)
                .map_or(now, |c| ***c)
        }
        // Nothing does better than what runs now: leave it.
        _ => now,
    };
    Proposal {
        camera: camera.into(),
        fights: fights.len(),
        false_alarms: false_alarms.len(),
        current: now,
        changed: proposed != now,
        proposed,
        candidates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fightwatch_inference::Smoothing;

    /// Windows every 0.5 s: `calm` low scores, then `high` windows at `level`, then calm again.
    fn trace(level: f32, high: usize) -> Vec<(f64, f32)> {
        let mut s = vec![0.1; 4];
        s.extend(std::iter::repeat_n(level, high));
        s.extend([0.1; 4]);
        s.into_iter()
            .enumerate()
            .map(|(i, v)| (i as f64 * 0.5, v))
            .collect()
    }

    fn sample(camera: &str, fight: bool, level: f32, high: usize) -> TuneSample {
        TuneSample {
            alert: format!("{camera}-{level}-{high}"),
            camera: camera.into(),
            fight,
            scores: trace(level, high),
        }
    }

    fn raw() -> IncidentConfig {
        IncidentConfig {
            smoothing: Smoothing::None,
            start_threshold: 0.6,
            min_windows: 2,
            end_threshold: 0.4,
            cooldown_s: 5.0,
        }
    }

    #[test]
    fn a_higher_threshold_drops_weaker_false_alarms_and_keeps_fights() {
        let samples = [
            sample("gym", true, 0.95, 6),
            sample("gym", true, 0.9, 4),
            sample("gym", false, 0.7, 6), // boxing practice: strong, long
            sample("gym", false, 0.65, 3),
        ];
        let p = propose("gym", raw(), &samples);
        assert_eq!(
            (p.current.fights_raised, p.current.false_alarms_raised),
            (2, 2)
        );
        assert!(p.changed);
        assert_eq!(p.proposed.fights_raised, 2);
        assert_eq!(p.proposed.false_alarms_raised, 0);
        // Separating thresholds run from 0.75 to 0.90 at 2 windows: the middle is taken.
        assert_eq!(p.proposed.min_windows, 2);
        assert!((0.75..=0.9).contains(&p.proposed.start_threshold));
        assert!(p.proposed.start_threshold > 0.75, "{:?}", p.proposed);
        // Applying it: the fights start an incident, the false alarms do not.
        let tuned = with(raw(), p.proposed.start_threshold, p.proposed.min_windows);
        for s in &samples {
            assert_eq!(raises(tuned, &s.scores), s.fight, "{}", s.alert);
        }
    }

    #[test]
    fn short_false_alarms_are_dropped_by_more_windows_when_the_threshold_cannot() {
        // Horseplay scores as high as a fight but only for a moment.
        let samples = [sample("yard", true, 0.8, 6), sample("yard", false, 0.9, 2)];
        let p = propose("yard", raw(), &samples);
        assert_eq!(
            (p.proposed.fights_raised, p.proposed.false_alarms_raised),
            (1, 0)
        );
        assert!(p.proposed.min_windows >= 3, "{:?}", p.proposed);
    }

    #[test]
    fn a_camera_is_never_tuned_deaf_to_other_cameras_fights() {
        // The lobby has a false alarm at 0.9 and no fight of its own; the street's fight peaks
        // at 0.85, so no threshold drops the false alarm and keeps the fight.
        let samples = [
            sample("street", true, 0.85, 4),
            sample("lobby", false, 0.9, 4),
        ];
        let p = propose("lobby", raw(), &samples);
        assert_eq!(p.proposed.fights_raised, 1);
        assert!(!p.changed, "{:?}", p.proposed);
    }

    #[test]
    fn nothing_to_learn_changes_nothing() {
        let p = propose("x", raw(), &[sample("x", true, 0.9, 4)]);
        assert!(!p.changed);
        assert_eq!(p.proposed, p.current);
    }
}
