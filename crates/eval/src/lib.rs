/*!
Clip-level evaluation of a model and incident settings on labelled clips (`fightwatch eval`).

Each clip of a labelled folder ([`load`]: fightwatch's `labels.csv`, a `split.csv` with a split
chosen, or class folders) is played through the real capture → inference → incident path as a
camera of its own, several at once so their clips share model runs. A clip counts as flagged
when an incident started in it, or ([`Decision::Window`]) when one of its windows reached the
operating threshold; [`metrics`] gives accuracy, precision, recall, F1, ROC AUC (over each clip's highest
window score) and the mean delay from a labelled fight start to its incident.
[`write_report`] writes `scores.csv`, `scores.json`, `metrics.json`, `roc.png` and `scores.png`.

The metrics are plain functions of the per-clip results:

```
use fightwatch_eval::{ClipResult, metrics};

let clip = |fight, max_score, flagged| ClipResult { fight, max_score, flagged, delay_s: None };
let results = [
    clip(true, 0.97, true),
    clip(true, 0.41, false), // a fight the threshold missed
    clip(false, 0.12, false),
    clip(false, 0.55, true), // a false alarm
];
let m = metrics(&results);
assert_eq!((m.true_positives, m.false_negatives, m.false_positives), (1, 1, 1));
// Every fight clip's highest window outscores every calm one but one (0.41 < 0.55): 3/4.
assert_eq!(m.roc_auc, Some(0.75));
```
*/

mod dataset;
mod error;
mod evaluate;
mod metrics;
mod plot;
mod tune;

pub use dataset::{LabelledClip, load};
pub use error::EvalError;
pub use evaluate::{ClipOutcome, Decision, Evaluation, evaluate, write_report};
pub use metrics::{ClipResult, Metrics, metrics, roc_auc, roc_curve};
pub use plot::tuning as plot_tuning;
pub use tune::{
    Candidate, MAX_MIN_WINDOWS, Proposal, THRESHOLDS, TuneSample, propose, raises, with,
};
