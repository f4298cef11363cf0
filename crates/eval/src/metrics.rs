//! Clip-level detection metrics.

/// One evaluated clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipResult {
    /// Ground truth: the clip contains a fight.
    pub fight: bool,
    /// Highest window score.
    pub max_score: f32,
    /// The pipeline raised an incident.
    pub flagged: bool,
    /// Seconds from the labelled fight start to the first incident, when both exist.
    pub delay_s: Option<f64>,
}

/// Confusion counts and the measures derived from them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// Clips evaluated.
    pub clips: usize,
    /// Fights flagged.
    pub true_positives: usize,
    /// Calm clips flagged.
    pub false_positives: usize,
    /// Calm clips passed.
    pub true_negatives: usize,
    /// Fights missed.
    pub false_negatives: usize,
    /// Share of clips judged right.
    pub accuracy: f64,
    /// Share of flagged clips that are fights.
    pub precision: f64,
    /// Share of fights flagged.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Area under the ROC curve of the clips' max scores; `None` with only one class.
    pub roc_auc: Option<f64>,
    /// Mean seconds from fight start to incident, over detected fights with labelled segments.
    pub mean_detection_delay_s: Option<f64>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Computes the metrics of `results`.
pub fn metrics(results: &[ClipResult]) -> Metrics {
    let tp = results.iter().filter(|r| r.fight && r.flagged).count();
    let fp = results.iter().filter(|r| !r.fight && r.flagged).count();
    let tn = results.iter().filter(|r| !r.fight && !r.flagged).count();
    let fn_ = results.iter().filter(|r| r.fight && !r.flagged).count();
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let delays: Vec<f64> = results.iter().filter_map(|r| r.delay_s).collect();
    Metrics {
        clips: results.len(),
        true_positives: tp,
        false_positives: fp,
        true_negatives: tn,
        false_negatives: fn_,
        accuracy: ratio(tp + tn, results.len()),
        precision,
        recall,
        f1,
        roc_auc: roc_auc(results),
        mean_detection_delay_s: (!delays.is_empty())
            .then(|| delays.iter().sum::<f64>() / delays.len() as f64),
    }
}

/// ROC AUC as the probability that a random fight clip outscores a random calm one (ties count
/// half): the Mann-Whitney U statistic, exact for any number of clips.
pub fn roc_auc(results: &[ClipResult]) -> Option<f64> {
    let pos: Vec<f32> = results
        .iter()
        .filter(|r| r.fight)
        .map(|r| r.max_score)
        .collect();
    let neg: Vec<f32> = results
        .iter()
        .filter(|r| !r.fight)
        .map(|r| r.max_score)
        .collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (pos.len() * neg.len()) as f64)
}

/// ROC curve points (false positive rate, true positive rate), from (0,0) to (1,1), thresholding
/// the max scores at every distinct value.
pub fn roc_curve(results: &[ClipResult]) -> Vec<(f64, f64)> {
    let p = results.iter().filter(|r| r.fight).count().max(1) as f64;
    let n = results.iter().filter(|r| !r.fight).count().max(1) as f64;
    let mut thresholds: Vec<f32> = results.iter().map(|r| r.max_score).collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut points = vec![(0.0, 0.0)];
    for t in thresholds {
        let tp = results
            .iter()
            .filter(|r| r.fight && r.max_score >= t)
            .count() as f64;
        let fp = results
            .iter()
            .filter(|r| !r.fight && r.max_score >= t)
            .count() as f64;
        points.push((fp / n, tp / p));
    }
    points.push((1.0, 1.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(fight: bool, max_score: f32, flagged: bool) -> ClipResult {
        ClipResult {
            fight,
            max_score,
            flagged,
            delay_s: None,
        }
    }

    #[test]
    fn confusion_and_derived_measures() {
        let results = [
            r(true, 0.9, true),
            r(true, 0.3, false),
            r(false, 0.7, true),
            r(false, 0.1, false),
            r(false, 0.2, false),
        ];
        let m = metrics(&results);
        assert_eq!(
            (
                m.true_positives,
                m.false_negatives,
                m.false_positives,
                m.true_negatives
            ),
            (1, 1, 1, 2)
        );
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!(
            (m.precision - 0.5).abs() < 1e-12
                && (m.recall - 0.5).abs() < 1e-12
                && (m.f1 - 0.5).abs() < 1e-12
        );
        // Pairs (fight, calm): 0.9 beats all 3; 0.3 beats 0.1 and 0.2: 5 of 6.
        assert!((m.roc_auc.unwrap() - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn auc_extremes_ties_and_one_class() {
        assert_eq!(
            roc_auc(&[r(true, 0.9, true), r(false, 0.1, false)]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[r(true, 0.1, true), r(false, 0.9, false)]),
            Some(0.0)
        );
        assert_eq!(
            roc_auc(&[r(true, 0.5, true), r(false, 0.5, false)]),
            Some(0.5)
        );
        assert_eq!(roc_auc(&[r(true, 0.5, true)]), None);
    }

    #[test]
    fn roc_curve_runs_from_origin_to_one_one_and_is_monotone() {
        let results = [
            r(true, 0.9, true),
            r(false, 0.7, true),
            r(true, 0.6, true),
            r(false, 0.1, false),
        ];
        let pts = roc_curve(&results);
        assert_eq!(pts.first(), Some(&(0.0, 0.0)));
        assert_eq!(pts.last(), Some(&(1.0, 1.0)));
        assert!(pts.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1));
        assert_eq!(pts[1], (0.0, 0.5));
    }

    #[test]
    fn delay_is_averaged_over_detected_fights() {
        let mut a = r(true, 0.9, true);
        a.delay_s = Some(2.0);
        let mut b = r(true, 0.9, true);
        b.delay_s = Some(3.0);
        assert_eq!(
            metrics(&[a, b, r(false, 0.1, false)]).mean_detection_delay_s,
            Some(2.5)
        );
    }
}
